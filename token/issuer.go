package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// DefaultMaxLifetime bounds exp − iat of minted tokens unless
// WithMaxLifetime changes it: the IdP's token_ttl may not exceed it either.
const DefaultMaxLifetime = time.Hour

// Issuer signs access tokens with one key. It is safe for concurrent use:
// the go-jose signer built once in NewIssuer only reads its configuration
// when signing.
type Issuer struct {
	issuer      string
	key         *keys.Signer
	signer      jose.Signer
	maxLifetime time.Duration
}

// IssuerOption configures NewIssuer.
type IssuerOption func(*Issuer) error

// WithMaxLifetime changes the longest lifetime (exp − iat) Mint accepts;
// default DefaultMaxLifetime, at most 24 hours.
func WithMaxLifetime(d time.Duration) IssuerOption {
	return func(i *Issuer) error {
		if d <= 0 || d > 24*time.Hour {
			return fmt.Errorf("token: max lifetime %s outside (0, 24h]", d)
		}
		i.maxLifetime = d
		return nil
	}
}

// NewIssuer makes an issuer whose tokens carry iss = issuer (without a
// trailing slash) and are signed by key (ES256 by default in ajwt; EdDSA
// and RS256 work too). The header is {"alg","kid","typ":"at+jwt"}.
func NewIssuer(issuer string, key *keys.Signer, opts ...IssuerOption) (*Issuer, error) {
	issuer = strings.TrimSuffix(issuer, "/")
	if issuer == "" || key == nil {
		return nil, errors.New("token: issuer and key are required")
	}
	signer, err := key.JOSE(protocol.TypeAccessToken, nil)
	if err != nil {
		return nil, err
	}
	i := &Issuer{issuer: issuer, key: key, signer: signer, maxLifetime: DefaultMaxLifetime}
	for _, o := range opts {
		if err := o(i); err != nil {
			return nil, err
		}
	}
	return i, nil
}

// KeyID is the kid of the signing key.
func (i *Issuer) KeyID() string { return i.key.KeyID() }

// Mint sets iss and signs a copy of c. It refuses claims a verifier would
// refuse: no sub, aud, jti or client_id, iat missing, exp not after iat, a
// lifetime over the maximum, or an incomplete intent token (see Verify).
func (i *Issuer) Mint(c *Claims) (string, error) {
	if err := i.checkMintable(c); err != nil {
		return "", fmt.Errorf("token: refusing to mint: %w", err)
	}
	claims := *c
	claims.Issuer = i.issuer
	payload, err := json.Marshal(&claims)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	obj, err := i.signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return obj.CompactSerialize()
}

func (i *Issuer) checkMintable(c *Claims) error {
	switch {
	case c == nil:
		return errors.New("no claims")
	case c.Subject == "" || c.ID == "" || c.ClientID == "":
		return errors.New("sub, jti and client_id are required")
	case len(c.Audience) == 0 || c.Audience.Contains(""):
		return errors.New("aud is required and may not contain an empty value")
	case c.IssuedAt <= 0 || c.ExpiresAt <= c.IssuedAt:
		return errors.New("iat is required and exp must be after it")
	case c.ExpiresAt-c.IssuedAt > int64(i.maxLifetime/time.Second):
		return fmt.Errorf("lifetime %ds exceeds %s", c.ExpiresAt-c.IssuedAt, i.maxLifetime)
	case c.NotBefore < 0 || (c.NotBefore != 0 && c.NotBefore >= c.ExpiresAt):
		return errors.New("nbf must be before exp")
	}
	return checkIntent(c)
}
