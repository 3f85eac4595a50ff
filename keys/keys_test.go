package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
)

func TestDeriveAgentKeyVectors(t *testing.T) {
	data, err := os.ReadFile("../testdata/vectors/keys-derive.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			MasterHex     string `json:"master_hex"`
			AgentID       string `json:"agent_id"`
			AgentChecksum string `json:"agent_checksum"`
			SeedHex       string `json:"seed_hex"`
			X             string `json:"x"`
			JKT           string `json:"jkt"`
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range doc.Vectors {
		t.Run(v.AgentID, func(t *testing.T) {
			master, _ := hex.DecodeString(v.MasterHex)
			priv, err := DeriveAgentKey(master, v.AgentID, v.AgentChecksum)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(priv.Seed()); got != v.SeedHex {
				t.Fatalf("seed %s, want %s (independent HKDF)", got, v.SeedHex)
			}
			s, _ := NewSigner(priv, EdDSA, "")
			if s.Thumbprint() != v.JKT {
				t.Fatalf("jkt %s, want %s", s.Thumbprint(), v.JKT)
			}
			pub, _ := json.Marshal(s.Public())
			if !strings.Contains(string(pub), `"x":"`+v.X+`"`) {
				t.Fatalf("public JWK %s lacks x %s", pub, v.X)
			}
		})
	}
}

func TestDeriveAgentKeyRefuses(t *testing.T) {
	good := strings.Repeat("k", 32)
	sum := "sha256:" + strings.Repeat("0", 64)
	tests := map[string][3]string{
		"short master":      {"short", "a", sum},
		"bad agent id":      {good, "A", sum},
		"bare checksum":     {good, "a", strings.Repeat("0", 64)},
		"uppercase sum":     {good, "a", "sha256:" + strings.Repeat("A", 64)},
		"empty checksum":    {good, "a", ""},
		"agent id with \\0": {good, "a\x00b", sum},
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := DeriveAgentKey([]byte(in[0]), in[1], in[2]); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	a, _ := DeriveAgentKey([]byte(good), "a", sum)
	b, _ := DeriveAgentKey([]byte(good), "b", sum)
	c, _ := DeriveAgentKey([]byte(good), "a", "sha256:"+strings.Repeat("1", 64))
	if a.Equal(b) || a.Equal(c) {
		t.Fatal("different agents or checksums derived the same key")
	}
}

func TestParseMasterSecret(t *testing.T) {
	if b, err := ParseMasterSecret([]byte(strings.Repeat("ab", 32) + "\n")); err != nil || len(b) != 32 || b[0] != 0xab {
		t.Fatalf("hex: %x %v", b, err)
	}
	if b, err := ParseMasterSecret([]byte(strings.Repeat("z", 40))); err != nil || len(b) != 40 {
		t.Fatalf("raw: %v", err)
	}
	if _, err := ParseMasterSecret([]byte("too short")); err == nil {
		t.Fatal("short secret accepted")
	}
}

// TestRFC7638Example is the thumbprint example of RFC 7638 §3.1.
func TestRFC7638Example(t *testing.T) {
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	k, err := ParsePublicJWK([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	if tp, _ := Thumbprint(k); tp != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s", tp)
	}
}

func TestParsePublicJWK(t *testing.T) {
	ec, _ := Generate(ES256, nil)
	pub, _ := json.Marshal(ec.Public())
	if _, err := ParsePublicJWK(pub); err != nil {
		t.Fatalf("public EC key refused: %v", err)
	}
	private, _ := json.Marshal(jose.JSONWebKey{Key: ec.CryptoSigner()})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384pub, _ := json.Marshal(jose.JSONWebKey{Key: &p384.PublicKey})
	bad := map[string]string{
		"private member": string(private),
		"symmetric":      `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`,
		"P-384":          string(p384pub),
		"garbage":        `{"kty":`,
		"empty":          `{}`,
		"small RSA":      smallRSA(t),
	}
	for name, js := range bad {
		t.Run(name, func(t *testing.T) {
			if _, err := ParsePublicJWK([]byte(js)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func smallRSA(t *testing.T) string {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey})
	return string(b)
}

func TestPEMAndJWKRoundTrip(t *testing.T) {
	for _, alg := range []Alg{ES256, EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			s, err := Generate(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			pem, _ := MarshalPrivatePEM(s.CryptoSigner())
			back, err := ParsePrivateKey(pem)
			if err != nil {
				t.Fatal(err)
			}
			s2, _ := NewSigner(back, alg, "")
			if s2.Thumbprint() != s.Thumbprint() {
				t.Fatal("PEM round trip changed the key")
			}
			jwk, _ := json.Marshal(jose.JSONWebKey{Key: s.CryptoSigner()})
			back, err = ParsePrivateKey(jwk)
			if err != nil {
				t.Fatal(err)
			}
			s3, _ := NewSigner(back, alg, "")
			if s3.Thumbprint() != s.Thumbprint() {
				t.Fatal("JWK round trip changed the key")
			}
			path := t.TempDir() + "/k.pem"
			os.WriteFile(path, pem, 0o600)
			if s4, err := LoadSignerFile(path, alg); err != nil || s4.KeyID() != s.Thumbprint() {
				t.Fatalf("LoadSignerFile: %v", err)
			}
		})
	}
	if _, err := ParsePrivateKey([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")); err == nil {
		t.Fatal("certificate accepted as a private key")
	}
}

func TestNewSignerChecksKeyAgainstAlg(t *testing.T) {
	ed, _ := Generate(EdDSA, nil)
	if _, err := NewSigner(ed.CryptoSigner(), ES256, ""); err == nil {
		t.Fatal("Ed25519 key accepted for ES256")
	}
	if _, err := ParseAlg("HS256"); err == nil {
		t.Fatal("HS256 parsed")
	}
	if _, err := ParseAlg("none"); err == nil {
		t.Fatal("none parsed")
	}
	if s := fmt.Sprintf("%v %#v %s", ed, ed, ed); strings.Contains(s, "PrivateKey") || strings.Contains(s, "[") {
		t.Fatalf("Signer prints private material: %s", s)
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
			if parsed.Signatures[0].Header.KeyID != "kms-key" {
				t.Fatalf("kid %q", parsed.Signatures[0].Header.KeyID)
			}
		})
	}
}

func TestDerivedKeyIsEd25519(t *testing.T) {
	priv, _ := DeriveAgentKey(make([]byte, 32), "a", "sha256:"+strings.Repeat("0", 64))
	if len(priv) != ed25519.PrivateKeySize {
		t.Fatal("not an Ed25519 key")
	}
}

func FuzzParsePublicJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicJWK(data)
		if err == nil && !k.IsPublic() {
			t.Fatal("accepted a non-public key")
		}
	})
}

func FuzzParsePrivateKey(f *testing.F) {
	s, _ := Generate(ES256, rand.Reader)
	pem, _ := MarshalPrivatePEM(s.CryptoSigner())
	f.Add(pem)
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ParsePrivateKey(data) // never panics
	})
}
