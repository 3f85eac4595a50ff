package token

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

type verifyCase struct {
	name string
	raw  string
	want *protocol.Error
}

func runVerifyCases(t *testing.T, v *Verifier, cases []verifyCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(context.Background(), tt.raw)
			if !errors.Is(err, tt.want) || c != nil {
				t.Fatalf("err = %v, want %s (%s)", err, tt.want.Code, tt.want.Reason)
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Status != 401 {
				t.Fatalf("not a 401 *protocol.Error: %#v", err)
			}
		})
	}
}

// signedBy returns a signer of hand-made tokens for key.
func signedBy(t *testing.T, key *keys.Signer) func(extra map[string]any, claims any) string {
	return func(extra map[string]any, claims any) string {
		payload, ok := claims.(string)
		if !ok {
			payload = claimsJSON(claims)
		}
		return rawSign(t, key, header(key, extra), payload)
	}
}

func TestVerifyRefusesStructure(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	valid := f.mint(t, intentClaims())
	parts := strings.Split(valid, ".")
	sign := signedBy(t, f.key)
	big := mutate(intentClaims(), func(c *Claims) { c.Scope = strings.Repeat("s ", protocol.MaxTokenSize/2) })
	runVerifyCases(t, f.verifier, []verifyCase{
		{"random bytes over the size cap", strings.Repeat("a", protocol.MaxTokenSize+1), protocol.ErrTokenTooLarge},
		{"signed token over the size cap", sign(nil, withIss(big)), protocol.ErrTokenTooLarge},
		{"empty", "", protocol.ErrMalformedToken},
		{"two parts", parts[0] + "." + parts[1], protocol.ErrMalformedToken},
		{"four parts", valid + ".", protocol.ErrMalformedToken},
		{"JWE-like five parts", parts[0] + ".." + parts[1] + "." + parts[2] + ".x", protocol.ErrMalformedToken},
		{"garbage", "a.b.c", protocol.ErrMalformedToken},
		{"padded header", parts[0] + "=." + parts[1] + "." + parts[2], protocol.ErrMalformedToken},
		{"standard base64 alphabet", stdAlphabet(valid), protocol.ErrMalformedToken},
		{"newline in the signature", parts[0] + "." + parts[1] + "." + parts[2][:10] + "\n" + parts[2][10:], protocol.ErrMalformedToken},
		{"non-canonical last signature character", parts[0] + "." + parts[1] + "." + nonCanonical(parts[2]), protocol.ErrMalformedToken},
		{"header is not JSON", base64.RawURLEncoding.EncodeToString([]byte("{alg")) + "." + parts[1] + "." + parts[2], protocol.ErrMalformedToken},
		{"header is an array", b64json([]string{"EdDSA"}) + "." + parts[1] + "." + parts[2], protocol.ErrMalformedToken},
		{"header is null", b64json(nil) + "." + parts[1] + "." + parts[2], protocol.ErrMalformedToken},
		{"duplicate typ in the header", rawSign(t, f.key, `{"alg":"EdDSA","kid":"`+f.key.KeyID()+`","typ":"at+jwt","typ":"JWT"}`, claimsJSON(withIss(intentClaims()))), protocol.ErrMalformedToken},
		{"duplicate alg in the header", rawSign(t, f.key, `{"alg":"none","alg":"EdDSA","kid":"`+f.key.KeyID()+`","typ":"at+jwt"}`, claimsJSON(withIss(intentClaims()))), protocol.ErrMalformedToken},
	})
}

// nonCanonical changes the unused low bits of the last base64url character
// of a 64-byte signature: a lenient decoder reads the same bytes.
func nonCanonical(sig string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, sig[len(sig)-1])
	return sig[:len(sig)-1] + string(alphabet[last|0x0f])
}

func TestVerifyRefusesHeaders(t *testing.T) {
	f := newFixture(t, keys.ES256)
	good := withIss(intentClaims())
	valid := f.mint(t, intentClaims())
	parts := strings.Split(valid, ".")
	sign := signedBy(t, f.key)
	pubDER, _ := x509.MarshalPKIXPublicKey(f.key.CryptoSigner().Public())
	jwk, _ := keys.MarshalPublicJWK(f.key.CryptoSigner(), "")
	runVerifyCases(t, f.verifier, []verifyCase{
		{"alg none, empty signature", b64json(map[string]any{"alg": "none", "typ": "at+jwt", "kid": f.key.KeyID()}) + "." + parts[1] + ".", protocol.ErrAlgNotAllowed},
		{"alg None", b64json(map[string]any{"alg": "None", "typ": "at+jwt", "kid": f.key.KeyID()}) + "." + parts[1] + ".", protocol.ErrAlgNotAllowed},
		{"HS256 keyed with the public key (alg confusion)", hs256(f.key.KeyID(), pubDER, parts[1]), protocol.ErrAlgNotAllowed},
		{"HS256 keyed with the public JWK", hs256(f.key.KeyID(), jwk, parts[1]), protocol.ErrAlgNotAllowed},
		{"ES512", sign(map[string]any{"alg": "ES512"}, good), protocol.ErrAlgNotAllowed},
		{"PS256", sign(map[string]any{"alg": "PS256"}, good), protocol.ErrAlgNotAllowed},
		{"lowercase es256", sign(map[string]any{"alg": "es256"}, good), protocol.ErrAlgNotAllowed},
		{"no alg", sign(map[string]any{"alg": nil}, good), protocol.ErrAlgNotAllowed},
		{"alg as a number", sign(map[string]any{"alg": 256}, good), protocol.ErrAlgNotAllowed},
		{"alg none with a jku (alg is checked first)", b64json(map[string]any{"alg": "none", "jku": "https://evil.example"}) + "." + parts[1] + ".", protocol.ErrAlgNotAllowed},
		{"jku", sign(map[string]any{"jku": "https://evil.example/jwks"}, good), protocol.ErrForbiddenHeader},
		{"x5u", sign(map[string]any{"x5u": "https://evil.example/cert"}, good), protocol.ErrForbiddenHeader},
		{"embedded jwk (our own public key)", sign(map[string]any{"jwk": f.key.Public()}, good), protocol.ErrForbiddenHeader},
		{"x5c", sign(map[string]any{"x5c": []string{"MIIB"}}, good), protocol.ErrForbiddenHeader},
		{"x5t", sign(map[string]any{"x5t": "abc"}, good), protocol.ErrForbiddenHeader},
		{"crit", sign(map[string]any{"crit": []string{"exp"}, "exp": 1}, good), protocol.ErrForbiddenHeader},
		{"b64 false", sign(map[string]any{"b64": false}, good), protocol.ErrForbiddenHeader},
		{"jku with a wrong typ (forbidden header is checked before typ)", sign(map[string]any{"jku": "https://e.example", "typ": "JWT"}, good), protocol.ErrForbiddenHeader},
		{"typ JWT", sign(map[string]any{"typ": "JWT"}, good), protocol.ErrWrongType},
		{"typ dpop+jwt (a proof presented as a token)", sign(map[string]any{"typ": "dpop+jwt"}, good), protocol.ErrWrongType},
		{"typ delegation+jwt", sign(map[string]any{"typ": "delegation+jwt"}, good), protocol.ErrWrongType},
		{"typ at+jwt with spaces", sign(map[string]any{"typ": " at+jwt"}, good), protocol.ErrWrongType},
		{"no typ", sign(map[string]any{"typ": nil}, good), protocol.ErrWrongType},
		{"typ as an array", sign(map[string]any{"typ": []string{"at+jwt"}}, good), protocol.ErrWrongType},
		{"no kid", sign(map[string]any{"kid": nil}, good), protocol.ErrUnknownKey},
		{"empty kid", sign(map[string]any{"kid": ""}, good), protocol.ErrUnknownKey},
		{"unknown kid", sign(map[string]any{"kid": "other"}, good), protocol.ErrUnknownKey},
		{"path traversal kid", sign(map[string]any{"kid": "../../etc/passwd"}, good), protocol.ErrUnknownKey},
		{"SQL kid", sign(map[string]any{"kid": "' OR '1'='1"}, good), protocol.ErrUnknownKey},
		{"URL kid", sign(map[string]any{"kid": "https://evil.example/key.json"}, good), protocol.ErrUnknownKey},
		{"kid of 300 characters", sign(map[string]any{"kid": strings.Repeat("k", 300)}, good), protocol.ErrUnknownKey},
		{"kid as a number", sign(map[string]any{"kid": 1}, good), protocol.ErrUnknownKey},
	})
}

func hs256(kid string, secret []byte, payload string) string {
	input := b64json(map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": kid}) + "." + payload
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(input))
	return input + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// TestVerifyKeyFamily: a token's alg must fit the key its kid names, so an
// attacker cannot have an EC key "verify" an RS256 signature or the like.
func TestVerifyKeyFamily(t *testing.T) {
	ec, _ := keys.Generate(keys.ES256, nil)
	ed, _ := keys.Generate(keys.EdDSA, nil)
	rs, _ := keys.Generate(keys.RS256, nil)
	ks, err := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{ec.Public(), ed.Public(), rs.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	v, _ := NewVerifier(testIssuer, testAudience, ks, WithClock(func() time.Time { return t0 }))
	good := withIss(intentClaims())
	// Each token is validly signed by the key of its alg but names another key.
	cross := func(signer, named *keys.Signer) string {
		return rawSign(t, signer, header(signer, map[string]any{"kid": named.KeyID()}), claimsJSON(good))
	}
	runVerifyCases(t, v, []verifyCase{
		{"EdDSA token naming the P-256 key", cross(ed, ec), protocol.ErrAlgNotAllowed},
		{"RS256 token naming the P-256 key", cross(rs, ec), protocol.ErrAlgNotAllowed},
		{"ES256 token naming the Ed25519 key", cross(ec, ed), protocol.ErrAlgNotAllowed},
		{"ES256 token naming the RSA key", cross(ec, rs), protocol.ErrAlgNotAllowed},
	})
	for _, k := range []*keys.Signer{ec, ed, rs} {
		if _, err := v.Verify(context.Background(), rawSign(t, k, header(k, nil), claimsJSON(good))); err != nil {
			t.Fatalf("%s: own key refused: %v", k.Alg(), err)
		}
	}
	narrow, _ := NewVerifier(testIssuer, testAudience, ks, WithAlgs(keys.EdDSA), WithClock(func() time.Time { return t0 }))
	if _, err := narrow.Verify(context.Background(), rawSign(t, ec, header(ec, nil), claimsJSON(good))); !errors.Is(err, protocol.ErrAlgNotAllowed) {
		t.Fatalf("ES256 under an EdDSA-only allow-list: %v", err)
	}
}

func TestVerifyRefusesSignature(t *testing.T) {
	f := newFixture(t, keys.ES256)
	valid := f.mint(t, intentClaims())
	parts := strings.Split(valid, ".")
	other, _ := keys.Generate(keys.ES256, nil)
	otherToken := f.mint(t, mutate(intentClaims(), func(c *Claims) { c.ID = "jti-2" }))
	editedHeader := b64json(map[string]any{"alg": "ES256", "kid": f.key.KeyID(), "typ": "application/at+jwt"})
	runVerifyCases(t, f.verifier, []verifyCase{
		{"signed by another key under our kid", rawSign(t, other, header(other, map[string]any{"kid": f.key.KeyID()}), claimsJSON(withIss(intentClaims()))), protocol.ErrBadSignature},
		{"signature stripped", parts[0] + "." + parts[1] + ".", protocol.ErrBadSignature},
		{"signature truncated by 3 bytes", parts[0] + "." + parts[1] + "." + truncateSig(parts[2], 3), protocol.ErrBadSignature},
		{"signature truncated to a non-canonical length", parts[0] + "." + parts[1] + "." + parts[2][:len(parts[2])-5], protocol.ErrMalformedToken},
		{"signature of another token", parts[0] + "." + parts[1] + "." + strings.Split(otherToken, ".")[2], protocol.ErrBadSignature},
		{"scope edited after signing", parts[0] + "." + b64json(withIss(mutate(intentClaims(), func(c *Claims) { c.Scope = "repo:admin" }))) + "." + parts[2], protocol.ErrBadSignature},
		{"header edited after signing", editedHeader + "." + parts[1] + "." + parts[2], protocol.ErrBadSignature},
		{"signature zeroed", parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)), protocol.ErrBadSignature},
	})
}

func truncateSig(sig string, n int) string {
	b, _ := base64.RawURLEncoding.DecodeString(sig)
	return base64.RawURLEncoding.EncodeToString(b[:len(b)-n])
}

func TestVerifyRefusesClaims(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	sign := signedBy(t, f.key)
	in := func(fn func(*Claims)) *Claims { return mutate(withIss(intentClaims()), fn) }
	leg := func(fn func(*Claims)) *Claims { return mutate(withIss(legacyClaims()), fn) }
	asMap := func(c *Claims, drop string) map[string]any {
		var m map[string]any
		_ = jsonUnmarshal(claimsJSON(c), &m)
		delete(m, drop)
		return m
	}
	good := claimsJSON(withIss(legacyClaims()))
	runVerifyCases(t, f.verifier, []verifyCase{
		{"claims not JSON", sign(nil, "not json"), protocol.ErrMalformedToken},
		{"claims an array", sign(nil, `[1,2]`), protocol.ErrMalformedToken},
		{"duplicate sub", sign(nil, strings.Replace(good, `"sub":"patch-app"`, `"sub":"patch-app","sub":"admin"`, 1)), protocol.ErrMalformedToken},
		{"trailing data", sign(nil, good+`{}`), protocol.ErrMalformedToken},
		{"exp as a string", sign(nil, strings.Replace(good, `"exp":1800000300`, `"exp":"1800000300"`, 1)), protocol.ErrMalformedToken},
		{"exp as a float", sign(nil, strings.Replace(good, `"exp":1800000300`, `"exp":1.8000003e9`, 1)), protocol.ErrMalformedToken},
		{"aud as a number", sign(nil, strings.Replace(good, `"aud":"`+testAudience+`"`, `"aud":1`, 1)), protocol.ErrMalformedToken},
		{"nesting deeper than MaxJSONDepth", sign(nil, strings.Replace(good, "{", `{"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+",", 1)), protocol.ErrMalformedToken},
		{"wrong issuer", sign(nil, leg(func(c *Claims) { c.Issuer = "https://evil.example" })), protocol.ErrWrongIssuer},
		{"issuer with a trailing slash", sign(nil, leg(func(c *Claims) { c.Issuer = testIssuer + "/" })), protocol.ErrWrongIssuer},
		{"no issuer", sign(nil, asMap(withIss(legacyClaims()), "iss")), protocol.ErrWrongIssuer},
		{"wrong audience", sign(nil, leg(func(c *Claims) { c.Audience = Audience{"https://other.example"} })), protocol.ErrWrongAudience},
		{"audience array without ours", sign(nil, leg(func(c *Claims) { c.Audience = Audience{"https://a.example", "https://b.example"} })), protocol.ErrWrongAudience},
		{"audience differing in case", sign(nil, leg(func(c *Claims) { c.Audience = Audience{strings.ToUpper(testAudience)} })), protocol.ErrWrongAudience},
		{"no audience", sign(nil, asMap(withIss(legacyClaims()), "aud")), protocol.ErrMissingClaim},
		{"audience null", sign(nil, strings.Replace(good, `"aud":"`+testAudience+`"`, `"aud":null`, 1)), protocol.ErrMissingClaim},
		{"audience empty array", sign(nil, strings.Replace(good, `"aud":"`+testAudience+`"`, `"aud":[]`, 1)), protocol.ErrMissingClaim},
		{"audience empty string", sign(nil, leg(func(c *Claims) { c.Audience = Audience{""} })), protocol.ErrMissingClaim},
		{"no exp", sign(nil, asMap(withIss(legacyClaims()), "exp")), protocol.ErrMissingClaim},
		{"negative exp", sign(nil, leg(func(c *Claims) { c.ExpiresAt = -1 })), protocol.ErrMissingClaim},
		{"expired long ago", sign(nil, leg(func(c *Claims) { c.IssuedAt, c.ExpiresAt = 1, 2 })), protocol.ErrExpired},
		{"nbf in the future", sign(nil, leg(func(c *Claims) { c.NotBefore = t0.Add(time.Minute).Unix() })), protocol.ErrNotYetValid},
		{"no iat", sign(nil, asMap(withIss(legacyClaims()), "iat")), protocol.ErrMissingClaim},
		{"iat in the future", sign(nil, leg(func(c *Claims) { c.IssuedAt = t0.Add(time.Minute).Unix() })), protocol.ErrIssuedInFuture},
		{"no jti", sign(nil, asMap(withIss(legacyClaims()), "jti")), protocol.ErrMissingClaim},
		{"no sub", sign(nil, asMap(withIss(legacyClaims()), "sub")), protocol.ErrMissingClaim},
		{"no client_id", sign(nil, asMap(withIss(legacyClaims()), "client_id")), protocol.ErrMissingClaim},
		{"intent without cnf", sign(nil, in(func(c *Claims) { c.Cnf = nil })), protocol.ErrMissingClaim},
		{"intent without agent_proof", sign(nil, in(func(c *Claims) { c.AgentProof = nil })), protocol.ErrMissingClaim},
		{"cnf without intent", sign(nil, in(func(c *Claims) { c.Intent = nil })), protocol.ErrMissingClaim},
		{"empty cnf.jkt", sign(nil, in(func(c *Claims) { c.Cnf.JKT = "" })), protocol.ErrMissingClaim},
		{"cnf.jkt not a thumbprint", sign(nil, in(func(c *Claims) { c.Cnf.JKT = "thumb" })), protocol.ErrMalformedToken},
		{"no agent_checksum", sign(nil, in(func(c *Claims) { c.AgentProof.AgentChecksum = "" })), protocol.ErrMissingClaim},
		{"agent_checksum without prefix", sign(nil, in(func(c *Claims) { c.AgentProof.AgentChecksum = strings.Repeat("a", 64) })), protocol.ErrMalformedToken},
		{"no registration_id", sign(nil, in(func(c *Claims) { c.AgentProof.RegistrationID = "" })), protocol.ErrMissingClaim},
		{"version 0", sign(nil, in(func(c *Claims) { c.AgentProof.Version = 0 })), protocol.ErrMalformedToken},
		{"executed_by is not sub", sign(nil, in(func(c *Claims) { c.Subject = "classifier" })), protocol.ErrMalformedToken},
		{"no executed_by", sign(nil, in(func(c *Claims) { c.Intent.ExecutedBy = "" })), protocol.ErrMissingClaim},
		{"empty delegation chain", sign(nil, in(func(c *Claims) { c.Intent.DelegationChain = nil })), protocol.ErrMissingClaim},
		{"chain not ending with executed_by", sign(nil, in(func(c *Claims) { setChain(c, "patcher", "supervisor") })), protocol.ErrMalformedToken},
		{"chain over the depth limit", sign(nil, in(func(c *Claims) { setChain(c, "a", "b", "c", "d", "e", "f", "patcher") })), protocol.ErrMalformedToken},
		{"chain hash not matching the chain", sign(nil, in(func(c *Claims) { c.Intent.DelegationChain = []string{"patcher"} })), protocol.ErrMalformedToken},
		{"run_id without workflow_step", sign(nil, in(func(c *Claims) { c.Intent.WorkflowStep = "" })), protocol.ErrMissingClaim},
		{"workflow_step without run", sign(nil, in(func(c *Claims) { c.Intent.RunID = "" })), protocol.ErrMissingClaim},
		{"run without workflow_version", sign(nil, in(func(c *Claims) { c.Intent.WorkflowVersion = 0 })), protocol.ErrMissingClaim},
		{"no step_sequence_hash", sign(nil, in(func(c *Claims) { c.Intent.StepSequenceHash = "" })), protocol.ErrMissingClaim},
		{"step hash not matching completed steps", sign(nil, in(func(c *Claims) { c.Intent.CompletedSteps = []string{"plan"} })), protocol.ErrMalformedToken},
	})
}

func setChain(c *Claims, chain ...string) {
	c.Intent.DelegationChain = chain
	c.Intent.DelegationChainHash = ChainHash(chain)
}

func TestVerifyAccepts(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	sign := signedBy(t, f.key)
	noRun := mutate(intentClaims(), func(c *Claims) {
		c.Intent = &Intent{ExecutedBy: "patcher", DelegationChain: []string{"patcher"}, DelegationChainHash: ChainHash([]string{"patcher"}),
			CompletedSteps: []string{}, StepSequenceHash: StepSequenceHash(nil, "")}
	})
	tests := []struct {
		name string
		raw  string
	}{
		{"intent token", f.mint(t, intentClaims())},
		{"legacy token", f.mint(t, legacyClaims())},
		{"intent token of an agent without a run", f.mint(t, noRun)},
		{"audience array containing ours", f.mint(t, mutate(legacyClaims(), func(c *Claims) { c.Audience = Audience{"https://a.example", testAudience} }))},
		{"typ application/at+jwt", sign(map[string]any{"typ": "application/at+jwt"}, withIss(legacyClaims()))},
		{"typ AT+JWT", sign(map[string]any{"typ": "AT+JWT"}, withIss(legacyClaims()))},
		{"unknown extra claims and headers", sign(map[string]any{"cty": "x"}, `{"iss":"`+testIssuer+`","sub":"a","aud":"`+testAudience+`","client_id":"a","iat":1800000000,"exp":1800000060,"jti":"j","auth_time":1}`)},
		{"delegated chain at the depth limit", f.mint(t, mutate(intentClaims(), func(c *Claims) { setChain(c, "a", "b", "c", "d", "e", "patcher") }))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := f.verifier.Verify(context.Background(), tt.raw); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestVerifyTimeEdges checks each time rule one second either side of its
// edge, with the default 5 s leeway and with none.
func TestVerifyTimeEdges(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	exp := t0.Add(5 * time.Minute)
	plain := f.mint(t, legacyClaims())
	withNBF := f.mint(t, mutate(legacyClaims(), func(c *Claims) { c.NotBefore = t0.Add(time.Minute).Unix() }))
	future := f.mint(t, mutate(legacyClaims(), func(c *Claims) { c.IssuedAt = t0.Add(time.Minute).Unix() }))
	leeway := protocol.DefaultLeeway
	tests := []struct {
		name string
		raw  string
		now  time.Time
		want *protocol.Error // nil: accepted
	}{
		{"at iat", plain, t0, nil},
		{"exp + leeway − 1 s", plain, exp.Add(leeway - time.Second), nil},
		{"exp + leeway", plain, exp.Add(leeway), protocol.ErrExpired},
		{"exp + leeway + 1 s", plain, exp.Add(leeway + time.Second), protocol.ErrExpired},
		{"nbf − leeway", withNBF, t0.Add(time.Minute - leeway), nil},
		{"nbf − leeway − 1 s", withNBF, t0.Add(time.Minute - leeway - time.Second), protocol.ErrNotYetValid},
		{"iat − leeway", future, t0.Add(time.Minute - leeway), nil},
		{"iat − leeway − 1 s", future, t0.Add(time.Minute - leeway - time.Second), protocol.ErrIssuedInFuture},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.now = tt.now
			_, err := f.verifier.Verify(context.Background(), tt.raw)
			if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.Public()}})
	strict, _ := NewVerifier(testIssuer, testAudience, ks, WithLeeway(0), WithClock(func() time.Time { return exp }))
	if _, err := strict.Verify(context.Background(), plain); !errors.Is(err, protocol.ErrExpired) {
		t.Fatalf("zero leeway at exp: %v", err)
	}
}

func TestAnyAudience(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{f.key.Public()}})
	idp, err := NewVerifier(testIssuer, "", ks, AnyAudience(), WithClock(func() time.Time { return t0 }))
	if err != nil {
		t.Fatal(err)
	}
	other := f.mint(t, mutate(intentClaims(), func(c *Claims) { c.Audience = Audience{"https://elsewhere.example"} }))
	if _, err := idp.Verify(context.Background(), other); err != nil {
		t.Fatalf("AnyAudience refused another audience: %v", err)
	}
	noAud := rawSign(t, f.key, header(f.key, nil), `{"iss":"`+testIssuer+`","sub":"a","client_id":"a","iat":1800000000,"exp":1800000060,"jti":"j"}`)
	if _, err := idp.Verify(context.Background(), noAud); !errors.Is(err, protocol.ErrMissingClaim) {
		t.Fatalf("AnyAudience accepted a token without aud: %v", err)
	}
}

func TestNewVerifierInvariants(t *testing.T) {
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{})
	tests := []struct {
		name     string
		issuer   string
		audience string
		ks       KeySource
		opts     []VerifierOption
	}{
		{"empty audience without AnyAudience", testIssuer, "", ks, nil},
		{"audience and AnyAudience", testIssuer, testAudience, ks, []VerifierOption{AnyAudience()}},
		{"empty issuer", "", testAudience, ks, nil},
		{"issuer of a slash only", "/", testAudience, ks, nil},
		{"nil key source", testIssuer, testAudience, nil, nil},
		{"leeway over 60 s", testIssuer, testAudience, ks, []VerifierOption{WithLeeway(61 * time.Second)}},
		{"negative leeway", testIssuer, testAudience, ks, []VerifierOption{WithLeeway(-time.Second)}},
		{"empty algorithm list", testIssuer, testAudience, ks, []VerifierOption{WithAlgs()}},
		{"HS256 in the allow-list", testIssuer, testAudience, ks, []VerifierOption{WithAlgs(keys.ES256, "HS256")}},
		{"none in the allow-list", testIssuer, testAudience, ks, []VerifierOption{WithAlgs("none")}},
		{"nil clock", testIssuer, testAudience, ks, []VerifierOption{WithClock(nil)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if v, err := NewVerifier(tt.issuer, tt.audience, tt.ks, tt.opts...); err == nil || v != nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestNewStaticKeysRefuses(t *testing.T) {
	ec, _ := keys.Generate(keys.ES256, nil)
	pub := ec.Public()
	noKid := pub
	noKid.KeyID = ""
	wrongAlg := pub
	wrongAlg.Algorithm = "RS256"
	enc := pub
	enc.Use = "enc"
	tests := map[string][]jose.JSONWebKey{
		"private key":        {{Key: ec.CryptoSigner(), KeyID: "k"}},
		"symmetric key":      {{Key: []byte("secret"), KeyID: "k"}},
		"no kid":             {noKid},
		"duplicate kid":      {pub, pub},
		"alg contradicts":    {wrongAlg},
		"use enc":            {enc},
		"empty key":          {{KeyID: "k"}},
		"private in the set": {pub, {Key: ec.CryptoSigner(), KeyID: "k2"}},
	}
	for name, set := range tests {
		t.Run(name, func(t *testing.T) {
			if s, err := NewStaticKeys(jose.JSONWebKeySet{Keys: set}); err == nil || s != nil {
				t.Fatal("accepted")
			}
		})
	}
}

// brokenSource is a KeySource that fails or misbehaves.
type brokenSource struct {
	key *jose.JSONWebKey
	err error
}

func (b brokenSource) PublicKey(context.Context, string) (*jose.JSONWebKey, error) {
	return b.key, b.err
}

func TestVerifyKeySourceFailures(t *testing.T) {
	f := newFixture(t, keys.ES256)
	raw := f.mint(t, intentClaims())
	private := jose.JSONWebKey{Key: f.key.CryptoSigner(), KeyID: f.key.KeyID()}
	tests := []struct {
		name string
		src  brokenSource
		want *protocol.Error
	}{
		{"plain error", brokenSource{err: errors.New("jwks fetch failed")}, protocol.ErrUnknownKey},
		{"nil key and nil error", brokenSource{}, protocol.ErrUnknownKey},
		{"private key returned", brokenSource{key: &private}, protocol.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, _ := NewVerifier(testIssuer, testAudience, tt.src, WithClock(func() time.Time { return t0 }))
			if _, err := v.Verify(context.Background(), raw); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %s", err, tt.want.Reason)
			}
		})
	}
}

func TestUnsafeParseClaims(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	raw := f.mint(t, intentClaims())
	c, err := UnsafeParseClaims(raw)
	if err != nil || c.Intent.RunID != "run-1" || c.Issuer != testIssuer {
		t.Fatalf("%+v %v", c, err)
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", "a." + b64json("x") + ".c", strings.Repeat("a", protocol.MaxTokenSize+1)} {
		if c, err := UnsafeParseClaims(bad); err == nil || c != nil {
			t.Fatalf("UnsafeParseClaims(%.20q) accepted", bad)
		}
	}
}

// stdAlphabet rewrites a token in the standard base64 alphabet. A token
// that happens to contain neither '-' nor '_' would come out unchanged
// (and verify), so then the signature's first character is made '+'.
func stdAlphabet(tok string) string {
	std := strings.ReplaceAll(strings.ReplaceAll(tok, "-", "+"), "_", "/")
	if std != tok {
		return std
	}
	p := strings.Split(tok, ".")
	return p[0] + "." + p[1] + ".+" + p[2][1:]
}
