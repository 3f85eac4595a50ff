package token

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
)

const (
	testIssuer   = "https://idp.example"
	testAudience = "https://forge.example"
	testJKT      = "BCUnDMW8-7p4WJbBFY4DmByys8N4WOKHpNNMFz5FpVs"
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
	if f.issuer, err = NewIssuer(testIssuer, key); err != nil {
		t.Fatal(err)
	}
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

func (f *fixture) mint(t testing.TB, c *Claims) string {
	t.Helper()
	raw, err := f.issuer.Mint(c)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// intentClaims is a complete intent token of §7 at t0.
func intentClaims() *Claims {
	chain := []string{"supervisor", "patcher"}
	done := []string{"plan", "approve"}
	return &Claims{
		Subject: "patcher", Audience: Audience{testAudience}, ClientID: "patch-app",
		IssuedAt: t0.Unix(), ExpiresAt: t0.Add(5 * time.Minute).Unix(), ID: "jti-1", Scope: "repo:write",
		Cnf:        &Confirmation{JKT: testJKT},
		AgentProof: &AgentProof{AgentChecksum: "sha256:" + strings.Repeat("a", 64), RegistrationID: "reg", Version: 2},
		Intent: &Intent{WorkflowID: "vuln-patch", WorkflowVersion: 1, RunID: "run-1", WorkflowStep: "patch",
			ExecutedBy: "patcher", InitiatedBy: "user:alice", DelegationChain: chain, DelegationChainHash: ChainHash(chain),
			StepSequenceHash: StepSequenceHash(done, "patch"), CompletedSteps: done,
			ExecutionContext: map[string]string{"repo": "acme/web"}},
	}
}

// legacyClaims is a client_credentials token of §6.1 at t0.
func legacyClaims() *Claims {
	return &Claims{Subject: "patch-app", Audience: Audience{testAudience}, ClientID: "patch-app",
		IssuedAt: t0.Unix(), ExpiresAt: t0.Add(5 * time.Minute).Unix(), ID: "jti-legacy", Scope: "repo:read repo:write"}
}

// mutate returns a deep copy of base changed by fn.
func mutate(base *Claims, fn func(*Claims)) *Claims {
	c := base.clone()
	fn(c)
	return c
}

func b64json(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// rawSign signs header and payload exactly as given (including duplicate
// members or any header the issuer would never write), for attacks.
func rawSign(t testing.TB, key *keys.Signer, header, payload string) string {
	t.Helper()
	input := base64.RawURLEncoding.EncodeToString([]byte(header)) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	return input + "." + base64.RawURLEncoding.EncodeToString(signBytes(t, key, []byte(input)))
}

func signBytes(t testing.TB, key *keys.Signer, input []byte) []byte {
	t.Helper()
	digest := sha256.Sum256(input)
	var sig []byte
	var err error
	switch k := key.CryptoSigner().(type) {
	case ed25519.PrivateKey:
		sig = ed25519.Sign(k, input)
	case *ecdsa.PrivateKey:
		var r, s []byte
		if r, s, err = signP256(k, digest[:]); err == nil {
			sig = append(r, s...)
		}
	case *rsa.PrivateKey:
		sig, err = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, digest[:])
	}
	if err != nil || sig == nil {
		t.Fatalf("signing: %v", err)
	}
	return sig
}

func signP256(k *ecdsa.PrivateKey, digest []byte) ([]byte, []byte, error) {
	r, s, err := ecdsa.Sign(rand.Reader, k, digest)
	if err != nil {
		return nil, nil, err
	}
	return r.FillBytes(make([]byte, 32)), s.FillBytes(make([]byte, 32)), nil
}

// header builds a header JSON for key with extra members (nil deletes).
func header(key *keys.Signer, extra map[string]any) string {
	h := map[string]any{"alg": string(key.Alg()), "typ": "at+jwt", "kid": key.KeyID()}
	for k, v := range extra {
		if v == nil {
			delete(h, k)
			continue
		}
		h[k] = v
	}
	b, _ := json.Marshal(h)
	return string(b)
}

func claimsJSON(c any) string {
	b, err := json.Marshal(c)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// withIss sets iss, which Mint would otherwise set, for hand-signed claims.
func withIss(c *Claims) *Claims { return mutate(c, func(c *Claims) { c.Issuer = testIssuer }) }

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
