package keys

import (
	"crypto"
	"crypto/ed25519"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestNewSignerChecksKeyAgainstAlg(t *testing.T) {
	ed, _ := Generate(EdDSA, nil)
	ec, _ := Generate(ES256, nil)
	rs, _ := Generate(RS256, nil)
	tests := []struct {
		name string
		key  crypto.Signer
		alg  Alg
	}{
		{"Ed25519 key for ES256", ed.CryptoSigner(), ES256},
		{"Ed25519 key under the verification-only name Ed25519", ed.CryptoSigner(), Ed25519},
		{"P-256 key for RS256", ec.CryptoSigner(), RS256},
		{"RSA key for EdDSA", rs.CryptoSigner(), EdDSA},
		{"P-256 key for HS256", ec.CryptoSigner(), "HS256"},
		{"nil key", nil, ES256},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if s, err := NewSigner(tt.key, tt.alg, ""); err == nil || s != nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestParseAlgRefuses(t *testing.T) {
	// Ed25519 is accepted on verification only: nothing signs under it.
	for _, a := range []string{"HS256", "none", "None", "es256", "ES384", "PS256", "", "Ed25519", "Ed448"} {
		if _, err := ParseAlg(a); err == nil {
			t.Errorf("ParseAlg(%q) accepted", a)
		}
	}
	if _, err := JOSEAlgs(nil); err == nil {
		t.Error("empty allow-list accepted")
	}
	for _, a := range []Alg{"HS256", "none", "Ed448", "ed25519"} {
		if _, err := JOSEAlgs([]Alg{ES256, a}); err == nil {
			t.Errorf("JOSEAlgs accepted %q", a)
		}
	}
	if got, err := JOSEAlgs(ProofAlgs()); err != nil || len(got) != 4 || got[1] != "Ed25519" {
		t.Errorf("JOSEAlgs(ProofAlgs()) = %v, %v", got, err)
	}
	if _, err := Generate(Ed25519, nil); err == nil {
		t.Error("generated a key to sign under Ed25519")
	}
}

func TestSignerNeverPrintsPrivateKey(t *testing.T) {
	ed, _ := Generate(EdDSA, nil)
	seed := fmt.Sprintf("%x", ed.CryptoSigner().(ed25519.PrivateKey).Seed())
	for _, s := range []string{fmt.Sprintf("%v", ed), fmt.Sprintf("%+v", ed), fmt.Sprintf("%#v", ed), fmt.Sprintf("%s", ed)} {
		if strings.Contains(s, seed) || strings.Contains(s, "[") {
			t.Fatalf("Signer prints private material: %s", s)
		}
	}
}

// hsm is a crypto.Signer that is none of the concrete key types, like a
// KMS or HSM client: it exercises the opaque signing path.
type hsm struct{ inner crypto.Signer }

func (h hsm) Public() crypto.PublicKey { return h.inner.Public() }
func (h hsm) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return h.inner.Sign(r, d, o)
}

func TestOpaqueSignerProducesVerifiableJWS(t *testing.T) {
	for _, alg := range []Alg{ES256, EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			base, _ := Generate(alg, nil)
			s, err := NewSigner(hsm{base.CryptoSigner()}, alg, "kms-key")
			if err != nil {
				t.Fatal(err)
			}
			js, err := s.JOSE("at+jwt", nil)
			if err != nil {
				t.Fatal(err)
			}
			obj, err := js.Sign([]byte(`{"hello":"world"}`))
			if err != nil {
				t.Fatal(err)
			}
			compact, _ := obj.CompactSerialize()
			parsed, err := jose.ParseSignedCompact(compact, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(alg)})
			if err != nil {
				t.Fatal(err)
			}
			pub := s.Public()
			if _, err := parsed.Verify(&pub); err != nil {
				t.Fatalf("verify: %v", err)
			}
			h := parsed.Signatures[0].Header
			if h.KeyID != "kms-key" || h.ExtraHeaders["typ"] != "at+jwt" {
				t.Fatalf("header %+v", h)
			}
		})
	}
}

// badHSM returns a fixed DER signature, as a broken or hostile KMS might.
type badHSM struct {
	hsm
	der []byte
}

func (b badHSM) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) { return b.der, nil }

func TestOpaqueES256RefusesOutOfRangeSignature(t *testing.T) {
	base, _ := Generate(ES256, nil)
	big257 := new(big.Int).Lsh(big.NewInt(1), 256)
	der := func(r, s *big.Int) []byte { b, _ := asn1.Marshal(struct{ R, S *big.Int }{r, s}); return b }
	tests := map[string][]byte{
		"r of 257 bits":      der(big257, big.NewInt(1)),
		"s of 257 bits":      der(big.NewInt(1), big257),
		"zero r":             der(big.NewInt(0), big.NewInt(1)),
		"negative s":         der(big.NewInt(1), big.NewInt(-1)),
		"trailing bytes":     append(der(big.NewInt(1), big.NewInt(1)), 0),
		"not DER":            []byte("garbage"),
		"empty signature":    nil,
		"a single 0x30 byte": {0x30},
	}
	for name, sig := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := NewSigner(badHSM{hsm{base.CryptoSigner()}, sig}, ES256, "kms")
			js, err := s.JOSE("at+jwt", nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := js.Sign([]byte("{}")); err == nil {
				t.Fatal("signed with an out-of-range signature")
			}
		})
	}
}

func TestJOSELeavesCallerOptionsAlone(t *testing.T) {
	s, _ := Generate(EdDSA, nil)
	opts := (&jose.SignerOptions{}).WithHeader("x-test", "1")
	if _, err := s.JOSE("dpop+jwt", opts); err != nil {
		t.Fatal(err)
	}
	if len(opts.ExtraHeaders) != 1 {
		t.Fatalf("caller's options changed: %v", opts.ExtraHeaders)
	}
}
