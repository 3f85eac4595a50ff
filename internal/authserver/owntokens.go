package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/boundedmap"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// ownTokenCache is how many of its own tokens the IdP remembers as
// verified: a few per run in flight, and the clients' API tokens.
const ownTokenCache = 4096

// ownTokens verifies the IdP's own access tokens, whatever their audience
// (callers check aud): as token.Verifier does, and then exp with no leeway
// (§4). The leeway exists for clocks that differ; a token is judged here
// by the clock of the IdP that set its exp, so from exp on it is expired,
// on the APIs, in introspection and as a token-exchange subject alike.
// iat and nbf keep the leeway: another node of the IdP may run ahead.
//
// Tokens whose signature is known good (verified once, or signed here) are
// remembered by their exact bytes with the kid that signed them, so that
// the next check skips the signature (as token.WithCache does for the
// enforcers). Every hit still looks the kid up in the key set (a key
// dropped from it refuses the token), decodes the claims from the bytes
// and checks issuer and times; revocation is the callers' business and is
// never cached.
type ownTokens struct {
	v      *token.Verifier
	keys   token.KeySource
	issuer string
	now    func() time.Time
	known  *boundedmap.Map[string, string] // token → kid
}

func newOwnTokens(issuer string, keys token.KeySource, now func() time.Time) (*ownTokens, error) {
	v, err := token.NewVerifier(issuer, "", keys, token.AnyAudience(), token.WithClock(now))
	if err != nil {
		return nil, err
	}
	return &ownTokens{v: v, keys: keys, issuer: strings.TrimSuffix(issuer, "/"), now: now,
		known: boundedmap.New[string, string](ownTokenCache)}, nil
}

func (o *ownTokens) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	c, err := o.verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if o.now().Unix() >= c.ExpiresAt {
		return nil, protocol.ErrExpired.WithDescription("token expired")
	}
	return c, nil
}

func (o *ownTokens) verify(ctx context.Context, raw string) (*token.Claims, error) {
	if kid, ok := o.known.Get(raw); ok {
		c, err := o.recheck(ctx, raw, kid)
		if err != nil {
			o.known.Delete(raw) // verified afresh next time
		}
		return c, err
	}
	c, err := o.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if kid := headerKID(raw); kid != "" {
		o.known.Put(raw, kid)
	}
	return c, nil
}

// minted remembers a token just signed with key kid: the IdP checks it
// when the agent completes its step, and need not verify its own
// signature. token.Issuer.Mint refuses claims the verifier would refuse,
// so what recheck skips holds for these bytes as it does for verified
// ones.
func (o *ownTokens) minted(raw, kid string) { o.known.Put(raw, kid) }

// recheck runs on a remembered token what can change between two
// requests (the key set, the clock) and decodes its claims afresh from
// the bytes, so that no caller shares or edits another's copy. The
// bytes are those whose signature was checked, or that were signed here:
// decoding them is what Verify does once the signature holds.
func (o *ownTokens) recheck(ctx context.Context, raw, kid string) (*token.Claims, error) {
	key, err := o.keys.PublicKey(ctx, kid)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, protocol.ErrUnknownKey.Wrap(err)
	}
	if key == nil {
		return nil, protocol.ErrUnknownKey.WithDescription("key source returned no public key for the kid")
	}
	c, err := token.UnsafeParseClaims(raw)
	if err != nil {
		return nil, err
	}
	if c.Issuer != o.issuer {
		return nil, protocol.ErrWrongIssuer.WithDescription("token is from another issuer")
	}
	return c, checkTimes(c, o.now().Unix(), int64(protocol.DefaultLeeway/time.Second))
}

// checkTimes is token.Verifier's time check (its default leeway, which
// newOwnTokens keeps).
func checkTimes(c *token.Claims, now, leeway int64) error {
	switch {
	case c.ExpiresAt <= 0:
		return protocol.ErrMissingClaim.WithDescription("exp is required")
	case now-leeway >= c.ExpiresAt:
		return protocol.ErrExpired.WithDescription("token expired")
	case c.NotBefore > now+leeway:
		return protocol.ErrNotYetValid.WithDescription("token not valid yet")
	case c.IssuedAt <= 0:
		return protocol.ErrMissingClaim.WithDescription("iat is required")
	case c.IssuedAt > now+leeway:
		return protocol.ErrIssuedInFuture.WithDescription("token issued in the future")
	}
	return nil
}

// headerKID is the kid of a token that verified ("" if unreadable, then
// not remembered).
func headerKID(raw string) string {
	head, _, ok := strings.Cut(raw, ".")
	if !ok {
		return ""
	}
	b, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		KID string `json:"kid"`
	}
	if json.Unmarshal(b, &h) != nil {
		return ""
	}
	return h.KID
}
