package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// Issuer signs access tokens with one key. It is safe for concurrent use.
type Issuer struct {
	issuer string
	key    *keys.Signer
	signer jose.Signer
}

// NewIssuer makes an issuer for the iss value issuer.
func NewIssuer(issuer string, key *keys.Signer) (*Issuer, error) {
	if issuer == "" || key == nil {
		return nil, errors.New("token: issuer and key are required")
	}
	signer, err := key.JOSE(protocol.TypeAccessToken, nil)
	if err != nil {
		return nil, err
	}
	return &Issuer{issuer: strings.TrimSuffix(issuer, "/"), key: key, signer: signer}, nil
}

// KeyID is the kid of the signing key.
func (i *Issuer) KeyID() string { return i.key.KeyID() }

// Mint sets iss and signs c. It refuses claims a verifier would refuse:
// no sub, no aud, no jti, or exp not after iat.
func (i *Issuer) Mint(c *Claims) (string, error) {
	if c.Subject == "" || len(c.Audience) == 0 || c.ID == "" || c.ExpiresAt <= c.IssuedAt || c.IssuedAt == 0 {
		return "", errors.New("token: claims need sub, aud, jti, iat and exp > iat")
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
