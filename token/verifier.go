package token

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/boundedmap"
	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// maxKIDLength bounds the kid handed to a KeySource.
const maxKIDLength = 256

// Verifier checks access tokens. It is safe for concurrent use.
type Verifier struct {
	issuer      string
	audience    string
	anyAudience bool
	keys        KeySource
	algs        []jose.SignatureAlgorithm
	leeway      time.Duration
	now         func() time.Time
	cache       *boundedmap.Map[string, cachedToken] // nil unless WithCache
}

// VerifierOption configures NewVerifier.
type VerifierOption func(*Verifier) error

// WithAlgs narrows the algorithm allow-list (default ES256, EdDSA, RS256).
// An empty list is an error, never "any".
func WithAlgs(algs ...keys.Alg) VerifierOption {
	return func(v *Verifier) (err error) {
		v.algs, err = keys.JOSEAlgs(algs)
		return err
	}
}

// WithLeeway sets the clock-skew leeway for exp, nbf and iat (default 5 s,
// at most 60 s: §8).
func WithLeeway(d time.Duration) VerifierOption {
	return func(v *Verifier) error {
		if d < 0 || d > protocol.MaxLeeway {
			return fmt.Errorf("token: leeway %s outside 0–%s", d, protocol.MaxLeeway)
		}
		v.leeway = d
		return nil
	}
}

// WithClock injects time.
func WithClock(now func() time.Time) VerifierOption {
	return func(v *Verifier) error {
		if now == nil {
			return errors.New("token: nil clock")
		}
		v.now = now
		return nil
	}
}

// AnyAudience accepts any aud (aud must still be present). Only the IdP
// uses it, for its own tokens on endpoints that are not resources (step
// completion, §5); every resource server verifies its own audience.
func AnyAudience() VerifierOption {
	return func(v *Verifier) error { v.anyAudience = true; return nil }
}

// NewVerifier makes a verifier for tokens of issuer addressed to audience.
// An empty audience is refused unless AnyAudience is given, and an
// audience together with AnyAudience is refused too: empty never means
// "don't check", and a set value is never silently ignored.
func NewVerifier(issuer, audience string, ks KeySource, opts ...VerifierOption) (*Verifier, error) {
	v := &Verifier{issuer: strings.TrimSuffix(issuer, "/"), audience: audience, keys: ks, leeway: protocol.DefaultLeeway, now: time.Now}
	var err error
	if v.algs, err = keys.JOSEAlgs(keys.DefaultAlgs()); err != nil {
		return nil, err
	}
	for _, o := range opts {
		if err := o(v); err != nil {
			return nil, err
		}
	}
	switch {
	case v.issuer == "":
		return nil, errors.New("token: verifier needs an issuer")
	case ks == nil:
		return nil, errors.New("token: verifier needs a key source")
	case v.audience == "" && !v.anyAudience:
		return nil, errors.New("token: verifier needs an audience (or AnyAudience)")
	case v.audience != "" && v.anyAudience:
		return nil, errors.New("token: AnyAudience with an audience is contradictory")
	}
	return v, nil
}

// Verify checks raw and returns its claims. The checks run in this order
// and the first failure is returned as a *protocol.Error (errors.Is
// matches the protocol sentinels):
//
//	size ≤ MaxTokenSize                                  too_large
//	three canonical base64url parts, strict JSON header  malformed
//	alg in the allow-list (never none or HMAC)           alg_not_allowed
//	no jku, x5u, jwk, x5c, x5t, x5t#S256, crit, b64      forbidden_header
//	typ at+jwt or application/at+jwt                     wrong_type
//	kid present and known to the KeySource               unknown_key
//	key type (and its alg, use) fit the token's alg      alg_not_allowed
//	signature                                            bad_signature
//	claims: one strict JSON object of the right types    malformed
//	iss exact                                            wrong_issuer
//	aud present / contains the audience                  missing_claim / wrong_audience
//	exp present, now < exp + leeway                      missing_claim / expired
//	nbf ≤ now + leeway                                   not_yet_valid
//	iat present, iat ≤ now + leeway                      missing_claim / issued_in_future
//	jti, sub, client_id present                          missing_claim
//	intent claims complete and consistent (checkIntent)  missing_claim / malformed
func (v *Verifier) Verify(ctx context.Context, raw string) (*Claims, error) {
	if v.cache != nil {
		if c, hit, err := v.cached(ctx, raw); hit {
			return c, err
		}
	}
	tok, err := splitCompact(raw)
	if err != nil {
		return nil, err
	}
	alg, kid, err := v.checkHeader(tok)
	if err != nil {
		return nil, err
	}
	key, err := v.lookupKey(ctx, kid, alg)
	if err != nil {
		return nil, err
	}
	jws, err := jose.ParseSignedCompact(raw, v.algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, malformed("not a valid JWS")
	}
	payload, err := jws.Verify(key)
	if err != nil || !bytes.Equal(payload, tok.payload) {
		return nil, protocol.ErrBadSignature.WithDescription("signature does not verify")
	}
	claims, err := v.checkClaims(payload)
	if err == nil && v.cache != nil {
		v.cache.Put(raw, cachedToken{claims: claims.clone(), kid: kid, alg: alg})
	}
	return claims, err
}

// checkHeader applies the header rules to the decoded header; it returns
// the alg and kid.
func (v *Verifier) checkHeader(tok *compact) (string, string, error) {
	alg, _ := tok.headerString("alg")
	if !v.allowed(alg) {
		return "", "", protocol.ErrAlgNotAllowed.WithDescription("alg %q not allowed", clip.Text(alg, clip.Short))
	}
	if name := tok.forbiddenHeader(); name != "" {
		return "", "", protocol.ErrForbiddenHeader.WithDescription("header %q not allowed on access tokens", name)
	}
	if typ, _ := tok.headerString("typ"); !isAccessTokenType(typ) {
		return "", "", protocol.ErrWrongType.WithDescription("typ must be %s", protocol.TypeAccessToken)
	}
	kid, _ := tok.headerString("kid")
	if kid == "" || len(kid) > maxKIDLength {
		return "", "", protocol.ErrUnknownKey.WithDescription("token has no usable kid")
	}
	return alg, kid, nil
}

func (v *Verifier) allowed(alg string) bool {
	for _, a := range v.algs {
		if string(a) == alg {
			return true
		}
	}
	return false
}

// lookupKey asks the KeySource for kid (never a URL or key from the token)
// and checks that the key is public and made for alg: an EC key cannot
// verify an RS256 token, whatever the token claims.
func (v *Verifier) lookupKey(ctx context.Context, kid, alg string) (*jose.JSONWebKey, error) {
	key, err := v.keys.PublicKey(ctx, kid)
	if err != nil {
		var pe *protocol.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, protocol.ErrUnknownKey.Wrap(err)
	}
	if key == nil || !key.IsPublic() {
		return nil, protocol.ErrUnknownKey.WithDescription("key source returned no public key for the kid")
	}
	keyAlg, err := keys.AlgForKey(key.Key)
	if err != nil || string(keyAlg) != alg || (key.Algorithm != "" && key.Algorithm != alg) || (key.Use != "" && key.Use != "sig") {
		return nil, protocol.ErrAlgNotAllowed.WithDescription("alg %s does not fit the key", alg)
	}
	return key, nil
}

func (v *Verifier) checkClaims(payload []byte) (*Claims, error) {
	if err := strictjson.Check(payload, protocol.MaxJSONDepth); err != nil {
		return nil, malformed("claims: %v", err)
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, malformed("claims: %v", err)
	}
	if err := v.checkRegistered(&c); err != nil {
		return nil, err
	}
	if err := checkIntent(&c); err != nil {
		return nil, err
	}
	return &c, nil
}

func (v *Verifier) checkRegistered(c *Claims) error {
	if c.Issuer != v.issuer {
		return protocol.ErrWrongIssuer.WithDescription("token is from another issuer")
	}
	if len(c.Audience) == 0 || c.Audience.Contains("") {
		return missing("aud is required")
	}
	if !v.anyAudience && !c.Audience.Contains(v.audience) {
		return protocol.ErrWrongAudience.WithDescription("token is not addressed to %s", v.audience)
	}
	if err := v.checkTimes(c); err != nil {
		return err
	}
	if c.ID == "" || c.Subject == "" || c.ClientID == "" {
		return missing("jti, sub and client_id are required")
	}
	return nil
}

// checkTimes compares in a form that cannot overflow, whatever exp holds.
func (v *Verifier) checkTimes(c *Claims) error {
	now := v.now().Unix()
	leeway := int64(v.leeway / time.Second)
	switch {
	case c.ExpiresAt <= 0:
		return missing("exp is required")
	case now-leeway >= c.ExpiresAt:
		return protocol.ErrExpired.WithDescription("token expired")
	case c.NotBefore > now+leeway:
		return protocol.ErrNotYetValid.WithDescription("token not valid yet")
	case c.IssuedAt <= 0:
		return missing("iat is required")
	case c.IssuedAt > now+leeway:
		return protocol.ErrIssuedInFuture.WithDescription("token issued in the future")
	}
	return nil
}

// UnsafeParseClaims reads claims WITHOUT verifying anything: for display
// and tests only, never for decisions.
func UnsafeParseClaims(raw string) (*Claims, error) {
	if len(raw) > protocol.MaxTokenSize {
		return nil, protocol.ErrTokenTooLarge
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, protocol.ErrMalformedToken
	}
	data, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, protocol.ErrMalformedToken.Wrap(err)
	}
	var c Claims
	if err := json.Unmarshal(data, &c); err != nil {
		return nil, protocol.ErrMalformedToken.Wrap(err)
	}
	return &c, nil
}
