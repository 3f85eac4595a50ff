package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "https://forge.example"
)

var t0 = time.Unix(1_800_000_000, 0)

type fixture struct {
	key      *keys.Signer
	issuer   *Issuer
	verifier *Verifier
	now      time.Time
}

func newFixture(t testing.TB, alg keys.Alg) *fixture {
	t.Helper()
	key, err := keys.Generate(alg, nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{key: key, now: t0}
	f.issuer, _ = NewIssuer(testIssuer, key)
	ks, err := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	f.verifier, err = NewVerifier(testIssuer, testAudience, ks, WithClock(func() time.Time { return f.now }))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func intentClaims() *Claims {
	chain := []string{"supervisor", "patcher"}
	return &Claims{
		Subject: "patcher", Audience: Audience{testAudience}, ClientID: "patch-app",
		IssuedAt: t0.Unix(), ExpiresAt: t0.Add(5 * time.Minute).Unix(), ID: "jti-1", Scope: "repo:write",
		Cnf:        &Confirmation{JKT: "thumb"},
		AgentProof: &AgentProof{AgentChecksum: "sha256:" + strings.Repeat("a", 64), RegistrationID: "reg", Version: 2},
		Intent: &Intent{WorkflowID: "vuln-patch", WorkflowVersion: 1, RunID: "run-1", WorkflowStep: "patch", ExecutedBy: "patcher",
			InitiatedBy: "user:alice", DelegationChain: chain, DelegationChainHash: ChainHash(chain),
			StepSequenceHash: StepSequenceHash([]string{"plan", "approve"}, "patch"), CompletedSteps: []string{"plan", "approve"},
			ExecutionContext: map[string]string{"repo": "acme/web"}},
	}
}

func (f *fixture) mint(t testing.TB, c *Claims) string {
	t.Helper()
	raw, err := f.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

func TestRoundTrip(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			c, err := f.verifier.Verify(context.Background(), f.mint(t, intentClaims()))
			if err != nil {
				t.Fatal(err)
			}
			if !c.IsIntent() || c.Issuer != testIssuer || c.Intent.ExecutionContext["repo"] != "acme/web" || c.AgentProof.Version != 2 {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

// sign builds a token by hand with arbitrary header members, for attacks
// the issuer would never produce.
func sign(t *testing.T, key *keys.Signer, header map[string]any, claims any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	for k, v := range header {
		opts = opts.WithHeader(jose.HeaderKey(k), v)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.SignatureAlgorithm(key.Alg()), Key: key.CryptoSigner()}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := obj.CompactSerialize()
	return raw
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyRefuses(t *testing.T) {
	f := newFixture(t, keys.ES256)
	good := intentClaims()
	hdr := func(extra map[string]any) map[string]any {
		h := map[string]any{"typ": "at+jwt", "kid": f.key.KeyID()}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	with := func(mut func(*Claims)) *Claims { c := *intentClaims(); mut(&c); return &c }
	valid := f.mint(t, good)
	parts := strings.Split(valid, ".")
	pubDER, _ := x509.MarshalPKIXPublicKey(f.key.CryptoSigner().Public())
	mac := hmac.New(sha256.New, pubDER)
	hsHeader := b64(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": f.key.KeyID()})
	mac.Write([]byte(hsHeader + "." + parts[1]))
	algConfusion := hsHeader + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
	other, _ := keys.Generate(keys.ES256, nil)
	edited := parts[0] + "." + b64(with(func(c *Claims) { c.Scope = "repo:admin" })) + "." + parts[2]

	tests := []struct {
		name string
		raw  string
		want *protocol.Error
	}{
		{"alg none", b64(map[string]any{"alg": "none", "typ": "at+jwt", "kid": f.key.KeyID()}) + "." + parts[1] + ".", protocol.ErrAlgNotAllowed},
		{"HS256 with the public key (alg confusion)", algConfusion, protocol.ErrAlgNotAllowed},
		{"jku header", sign(t, f.key, hdr(map[string]any{"jku": "https://evil.example/jwks"}), good), protocol.ErrForbiddenHeader},
		{"x5u header", sign(t, f.key, hdr(map[string]any{"x5u": "https://evil.example/cert"}), good), protocol.ErrForbiddenHeader},
		{"embedded jwk", sign(t, f.key, hdr(map[string]any{"jwk": map[string]any{"kty": "EC"}}), good), protocol.ErrForbiddenHeader},
		{"crit header", sign(t, f.key, hdr(map[string]any{"crit": []string{"exp"}}), good), protocol.ErrForbiddenHeader},
		{"wrong typ", sign(t, f.key, hdr(map[string]any{"typ": "JWT"}), good), protocol.ErrWrongType},
		{"dpop typ", sign(t, f.key, hdr(map[string]any{"typ": "dpop+jwt"}), good), protocol.ErrWrongType},
		{"no kid", sign(t, f.key, map[string]any{"typ": "at+jwt"}, good), protocol.ErrUnknownKey},
		{"unknown kid", sign(t, f.key, hdr(map[string]any{"kid": "other"}), good), protocol.ErrUnknownKey},
		{"path traversal kid", sign(t, f.key, hdr(map[string]any{"kid": "../../etc/passwd"}), good), protocol.ErrUnknownKey},
		{"sql kid", sign(t, f.key, hdr(map[string]any{"kid": "' OR '1'='1"}), good), protocol.ErrUnknownKey},
		{"signed by another key with our kid", sign(t, other, hdr(nil), good), protocol.ErrBadSignature},
		{"signature stripped", parts[0] + "." + parts[1] + ".", protocol.ErrBadSignature},
		{"signature truncated", valid[:len(valid)-10], protocol.ErrBadSignature},
		{"claims edited after signing", edited, protocol.ErrBadSignature},
		{"two parts", parts[0] + "." + parts[1], protocol.ErrMalformedToken},
		{"garbage", "a.b.c", protocol.ErrMalformedToken},
		{"too large", strings.Repeat("a", protocol.MaxTokenSize+1), protocol.ErrTokenTooLarge},
		{"wrong issuer", sign(t, f.key, hdr(nil), with(func(c *Claims) { c.Issuer = "https://evil.example" })), protocol.ErrWrongIssuer},
		{"wrong audience", f.mint(t, with(func(c *Claims) { c.Audience = Audience{"https://other.example"} })), protocol.ErrWrongAudience},
		{"expired", f.mint(t, with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(-time.Hour).Unix(), t0.Add(-6*time.Second).Unix() })), protocol.ErrExpired},
		{"not yet valid", f.mint(t, with(func(c *Claims) { c.NotBefore = t0.Add(time.Minute).Unix() })), protocol.ErrNotYetValid},
		{"issued in the future", f.mint(t, with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = t0.Add(time.Minute).Unix(), t0.Add(time.Hour).Unix() })), protocol.ErrIssuedInFuture},
		{"no exp", sign(t, f.key, hdr(nil), map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "x", "jti": "j", "iat": t0.Unix()}), protocol.ErrMissingClaim},
		{"no jti", sign(t, f.key, hdr(nil), map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "x", "iat": t0.Unix(), "exp": t0.Add(time.Minute).Unix()}), protocol.ErrMissingClaim},
		{"intent without cnf", sign(t, f.key, hdr(nil), with(func(c *Claims) { c.Cnf, c.Issuer = nil, testIssuer })), protocol.ErrMissingClaim},
		{"executed_by not sub", sign(t, f.key, hdr(nil), with(func(c *Claims) { c.Subject, c.Issuer = "classifier", testIssuer })), protocol.ErrMissingClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.verifier.Verify(context.Background(), tt.raw)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Reason)
			}
		})
	}
}

func TestLeewayAndAudienceForms(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	c := intentClaims()
	c.Audience = Audience{"https://a.example", testAudience}
	raw := f.mint(t, c)
	if _, err := f.verifier.Verify(context.Background(), raw); err != nil {
		t.Fatalf("array audience: %v", err)
	}
	f.now = time.Unix(c.ExpiresAt+4, 0) // inside the 5 s leeway
	if _, err := f.verifier.Verify(context.Background(), raw); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	f.now = time.Unix(c.ExpiresAt+5, 0)
	if _, err := f.verifier.Verify(context.Background(), raw); !errors.Is(err, protocol.ErrExpired) {
		t.Fatalf("past leeway: %v", err)
	}
}

func TestNewVerifierInvariants(t *testing.T) {
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{})
	if _, err := NewVerifier(testIssuer, "", ks); err == nil {
		t.Fatal("empty audience accepted without AnyAudience")
	}
	if _, err := NewVerifier("", testAudience, ks); err == nil {
		t.Fatal("empty issuer accepted")
	}
	if _, err := NewVerifier(testIssuer, testAudience, nil); err == nil {
		t.Fatal("nil key source accepted")
	}
	if _, err := NewVerifier(testIssuer, testAudience, ks, WithLeeway(2*time.Minute)); err == nil {
		t.Fatal("leeway over 60 s accepted")
	}
	if _, err := NewVerifier(testIssuer, testAudience, ks, WithAlgs()); err == nil {
		t.Fatal("empty algorithm list accepted")
	}
	if _, err := NewVerifier(testIssuer, testAudience, ks, WithAlgs("HS256")); err == nil {
		t.Fatal("HS256 accepted in the allow-list")
	}
}

func TestHashes(t *testing.T) {
	// sha256("supervisor|patcher") and sha256("plan|approve|patch"), computed with sha256sum.
	if got := ChainHash([]string{"supervisor", "patcher"}); got != "sha256:"+sha256hex("supervisor|patcher") {
		t.Fatal(got)
	}
	if got := StepSequenceHash([]string{"plan", "approve"}, "patch"); got != "sha256:"+sha256hex("plan|approve|patch") {
		t.Fatal(got)
	}
}

func sha256hex(s string) string {
	h := sha256.Sum256([]byte(s))
	const digits = "0123456789abcdef"
	out := make([]byte, 64)
	for i, b := range h {
		out[2*i], out[2*i+1] = digits[b>>4], digits[b&0xf]
	}
	return string(out)
}

func FuzzVerify(f *testing.F) {
	fx := newFixture(f, keys.EdDSA)
	valid := fx.mint(f, intentClaims())
	f.Add(valid)
	f.Add("a.b.c")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.verifier.Verify(context.Background(), raw)
		if err == nil && raw != valid {
			// Only a byte-identical token (or an equivalent base64 encoding of
			// the same signed bytes) may verify.
			if c.ID != "jti-1" {
				t.Fatalf("accepted a forged token %q", raw)
			}
		}
	})
}

func BenchmarkMint(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			c := intentClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.issuer.Mint(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			raw := f.mint(b, intentClaims())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
