package authserver

import (
	"context"
	"time"

	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// ownTokens verifies the IdP's own access tokens, whatever their audience
// (callers check aud): as token.Verifier does, and then exp with no leeway
// (§4). The leeway exists for clocks that differ; a token is judged here
// by the clock of the IdP that set its exp, so from exp on it is expired,
// on the APIs, in introspection and as a token-exchange subject alike.
// iat and nbf keep the leeway: another node of the IdP may run ahead.
type ownTokens struct {
	v   *token.Verifier
	now func() time.Time
}

func newOwnTokens(issuer string, keys token.KeySource, now func() time.Time) (*ownTokens, error) {
	v, err := token.NewVerifier(issuer, "", keys, token.AnyAudience(), token.WithClock(now))
	if err != nil {
		return nil, err
	}
	return &ownTokens{v: v, now: now}, nil
}

func (o *ownTokens) Verify(ctx context.Context, raw string) (*token.Claims, error) {
	c, err := o.v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if o.now().Unix() >= c.ExpiresAt {
		return nil, protocol.ErrExpired.WithDescription("token expired")
	}
	return c, nil
}
