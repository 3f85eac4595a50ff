package keys

import (
	"crypto"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

// signCompact signs header and payload JSON with s as a compact JWS, so
// that the header may name an algorithm go-jose would not sign under.
func signCompact(t *testing.T, s *Signer, header map[string]any, payload string) string {
	t.Helper()
	h, _ := json.Marshal(header)
	input := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString([]byte(payload))
	var sig []byte
	var err error
	if s.Alg() == EdDSA {
		sig, err = s.CryptoSigner().Sign(nil, []byte(input), crypto.Hash(0))
	} else {
		sig, err = opaque{s}.SignPayload([]byte(input), jose.SignatureAlgorithm(s.Alg()))
	}
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// TestJOSEVerificationKey: through go-jose, an Ed25519 key verifies a JWS
// named Ed25519 or EdDSA and nothing else; other keys verify as before.
func TestJOSEVerificationKey(t *testing.T) {
	ed, other := mustSigner(t, EdDSA), mustSigner(t, EdDSA)
	ec, rs := mustSigner(t, ES256), mustSigner(t, RS256)
	named := func(s *Signer, alg string) string {
		return signCompact(t, s, map[string]any{"alg": alg, "typ": "JWT"}, `{"sub":"x"}`)
	}
	tests := []struct {
		name string
		jws  string
		key  crypto.PublicKey
		ok   bool
	}{
		{"Ed25519 by an Ed25519 key", named(ed, "Ed25519"), ed.CryptoSigner().Public(), true},
		{"EdDSA by an Ed25519 key", named(ed, "EdDSA"), ed.CryptoSigner().Public(), true},
		{"Ed25519 signed by another key", named(other, "Ed25519"), ed.CryptoSigner().Public(), false},
		{"Ed25519 renamed ES256", named(ed, "ES256"), ed.CryptoSigner().Public(), false},
		{"Ed25519 signature altered", flipLast(named(ed, "Ed25519")), ed.CryptoSigner().Public(), false},
		{"Ed25519 checked with a P-256 key", named(ed, "Ed25519"), ec.CryptoSigner().Public(), false},
		{"Ed25519 checked with an RSA key", named(ed, "Ed25519"), rs.CryptoSigner().Public(), false},
		{"ES256 by a P-256 key", named(ec, "ES256"), ec.CryptoSigner().Public(), true},
		{"RS256 by an RSA key", named(rs, "RS256"), rs.CryptoSigner().Public(), true},
		{"RS256 renamed Ed25519", named(rs, "Ed25519"), rs.CryptoSigner().Public(), false},
	}
	algs, _ := JOSEAlgs(ProofAlgs())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := jose.ParseSigned(tt.jws, algs)
			if err != nil {
				t.Fatal(err)
			}
			_, err = obj.Verify(JOSEVerificationKey(tt.key))
			if (err == nil) != tt.ok {
				t.Fatalf("Verify: %v, want ok = %v", err, tt.ok)
			}
		})
	}
}

// TestGoJOSEKnowsOnlyEdDSA pins the reason JOSEVerificationKey exists: the
// day go-jose verifies Ed25519 by itself, this fails and the wrapper can go.
func TestGoJOSEKnowsOnlyEdDSA(t *testing.T) {
	ed := mustSigner(t, EdDSA)
	jws := signCompact(t, ed, map[string]any{"alg": "Ed25519"}, `{}`)
	obj, err := jose.ParseSigned(jws, []jose.SignatureAlgorithm{"Ed25519"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := obj.Verify(ed.CryptoSigner().Public()); err == nil {
		t.Fatal("go-jose now verifies Ed25519 itself")
	}
}

func mustSigner(t *testing.T, alg Alg) *Signer {
	t.Helper()
	s, err := Generate(alg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// flipLast changes the last signature character to another base64url one.
func flipLast(jws string) string {
	last := jws[len(jws)-2]
	repl := "A"
	if last == 'A' {
		repl = "B"
	}
	return jws[:len(jws)-2] + repl + jws[len(jws)-1:]
}
