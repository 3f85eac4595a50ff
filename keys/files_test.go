package keys

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestKeyFileVectors(t *testing.T) {
	var doc struct {
		Files []struct {
			File, Format, Alg, JKT string
			Independent            bool
		}
	}
	loadJSON(t, "../testdata/vectors/keys-files.json", &doc)
	if len(doc.Files) == 0 {
		t.Fatal("no key files listed")
	}
	for _, f := range doc.Files {
		t.Run(f.Format+" "+f.File, func(t *testing.T) {
			alg, err := ParseAlg(f.Alg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := LoadSignerFile(filepath.Join("../testdata/keys", f.File), alg)
			if err != nil {
				t.Fatal(err)
			}
			if s.Thumbprint() != f.JKT || s.KeyID() != f.JKT {
				t.Fatalf("thumbprint %s kid %s, want %s", s.Thumbprint(), s.KeyID(), f.JKT)
			}
		})
	}
}

func TestPEMAndJWKRoundTrip(t *testing.T) {
	for _, alg := range []Alg{ES256, EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			s, err := Generate(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if s.Alg() != alg || s.KeyID() != s.Thumbprint() {
				t.Fatalf("Generate: alg %s kid %s", s.Alg(), s.KeyID())
			}
			pemBytes, err := MarshalPrivatePEM(s.CryptoSigner())
			if err != nil {
				t.Fatal(err)
			}
			requireSameKey(t, s, pemBytes)
			jwk, _ := json.Marshal(jose.JSONWebKey{Key: s.CryptoSigner()})
			requireSameKey(t, s, jwk)
			path := filepath.Join(t.TempDir(), "k.pem")
			if err := os.WriteFile(path, pemBytes, 0o600); err != nil {
				t.Fatal(err)
			}
			if s2, err := LoadSignerFile(path, alg); err != nil || s2.KeyID() != s.Thumbprint() {
				t.Fatalf("LoadSignerFile: %v", err)
			}
		})
	}
}

func requireSameKey(t *testing.T, s *Signer, data []byte) {
	t.Helper()
	back, err := ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := NewSigner(back, s.Alg(), "")
	if err != nil {
		t.Fatal(err)
	}
	if s2.Thumbprint() != s.Thumbprint() {
		t.Fatal("round trip changed the key")
	}
}

func TestParsePrivateKeyRefuses(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384der, _ := x509.MarshalPKCS8PrivateKey(p384)
	ed, _ := Generate(EdDSA, nil)
	pubJWK, _ := json.Marshal(ed.Public())
	tests := []struct{ name, data string }{
		{"empty", ""},
		{"certificate", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"},
		{"encrypted PKCS#8", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"},
		{"garbage in a PKCS#8 block", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		{"P-384 key", string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: p384der}))},
		{"public JWK", string(pubJWK)},
		{"symmetric JWK", `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`},
		{"malformed JWK", `{"kty":"EC",`},
		{"larger than 64 KiB", strings.Repeat(" ", maxKeyFile+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := ParsePrivateKey([]byte(tt.data)); err == nil || k != nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestKeyErrorsNameFileNotKey checks that a key file error says which file
// failed and never echoes its content.
func TestKeyErrorsNameFileNotKey(t *testing.T) {
	dir := t.TempDir()
	secret := "MHcCAQEEIJKn639T83mWaLjAtadQG3OrGrDxpkifKEfkG2qRqp5L"
	files := map[string]string{
		"corrupt.pem": "-----BEGIN EC PRIVATE KEY-----\n" + secret + "\n-----END EC PRIVATE KEY-----\n",
		"wrong.jwk":   `{"kty":"EC","crv":"P-256","d":"` + secret + `"}`,
	}
	for name, content := range files {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := LoadSignerFile(path, ES256)
			if err == nil || !strings.Contains(err.Error(), path) || strings.Contains(err.Error(), secret[:16]) {
				t.Fatalf("error %v: want the path and no key material", err)
			}
		})
	}
	if _, err := LoadSignerFile(filepath.Join(dir, "missing.pem"), ES256); err == nil || !strings.Contains(err.Error(), "missing.pem") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := LoadSignerFile("../testdata/keys/issuer-ed25519.pem", ES256); err == nil {
		t.Fatal("Ed25519 key file loaded for ES256")
	}
}

func TestGenerateRefusesOtherAlgs(t *testing.T) {
	for _, alg := range []Alg{"HS256", "none", "ES384", ""} {
		if s, err := Generate(alg, nil); err == nil || s != nil {
			t.Errorf("Generate(%q) succeeded", alg)
		}
	}
}

func FuzzParsePrivateKey(f *testing.F) {
	for _, name := range []string{"issuer-ed25519.pem", "issuer-es256.pem", "issuer-es256-sec1.pem", "issuer-es256.jwk", "rsa-pkcs1.pem"} {
		data, err := os.ReadFile(filepath.Join("../testdata/keys", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePrivateKey(data)
		if err != nil {
			return
		}
		if _, err := AlgForKey(k.Public()); err != nil {
			t.Fatalf("accepted a key ajwt cannot use: %v", err)
		}
	})
}
