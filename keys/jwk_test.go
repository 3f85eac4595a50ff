package keys

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/protocol"
)

// TestRFC7638Example is the thumbprint example of RFC 7638 §3.1.
func TestRFC7638Example(t *testing.T) {
	const jwk = `{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw","e":"AQAB","alg":"RS256","kid":"2011-04-29"}`
	k, err := ParsePublicJWK([]byte(jwk))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := Thumbprint(k)
	if err != nil || tp != "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" {
		t.Fatalf("thumbprint %s (%v)", tp, err)
	}
	if _, err := Thumbprint(&jose.JSONWebKey{}); err == nil {
		t.Fatal("thumbprint of an empty key")
	}
}

func TestParsePublicJWK(t *testing.T) {
	for _, alg := range []Alg{ES256, EdDSA, RS256} {
		s, _ := Generate(alg, nil)
		pub, _ := json.Marshal(s.Public())
		k, err := ParsePublicJWK(pub)
		if err != nil {
			t.Fatalf("public %s key refused: %v", alg, err)
		}
		if tp, _ := Thumbprint(k); tp != s.Thumbprint() {
			t.Fatalf("%s: thumbprint changed", alg)
		}
	}
}

func TestParsePublicJWKRefuses(t *testing.T) {
	ec, _ := Generate(ES256, nil)
	pub, _ := json.Marshal(ec.Public())
	private, _ := json.Marshal(jose.JSONWebKey{Key: ec.CryptoSigner()})
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p384pub, _ := json.Marshal(jose.JSONWebKey{Key: &p384.PublicKey})
	withMember := func(name, value string) string {
		return strings.Replace(string(pub), "{", `{"`+name+`":`+value+",", 1)
	}
	tests := []struct{ name, jwk string }{
		{"private EC key", string(private)},
		{"public key with a d member", withMember("d", `"AAAA"`)},
		{"public key with an empty d member", withMember("d", `""`)},
		{"RSA private member p", withMember("p", `"AAAA"`)},
		{"RSA private member qi", withMember("qi", `"AAAA"`)},
		{"symmetric key", `{"kty":"oct","k":"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}`},
		{"P-384", string(p384pub)},
		{"RSA 1024", smallRSA(t)},
		{"X25519", `{"kty":"OKP","crv":"X25519","x":"hSDwCYkwp1R0i33ctD73Wg2_Og0mOBr066SpjqqbTmo"}`},
		{"alg contradicts key", strings.Replace(string(pub), `"ES256"`, `"RS256"`, 1)},
		{"alg Ed25519 on a P-256 key", strings.Replace(string(pub), `"ES256"`, `"Ed25519"`, 1)},
		{"alg EdDSA on a P-256 key", strings.Replace(string(pub), `"ES256"`, `"EdDSA"`, 1)},
		{"alg Ed25519 on an RSA key", rsaJWKWithAlg(t, "Ed25519")},
		{"alg Ed448 on an Ed25519 key", ed25519JWK(`"alg":"Ed448",`)},
		{"alg ed25519 in lower case", ed25519JWK(`"alg":"ed25519",`)},
		{"alg HS256", strings.Replace(string(pub), `"ES256"`, `"HS256"`, 1)},
		{"use enc", strings.Replace(string(pub), `"sig"`, `"enc"`, 1)},
		{"truncated", `{"kty":`},
		{"empty object", `{}`},
		{"array", `[]`},
		{"over MaxTokenSize", withMember("pad", `"`+strings.Repeat("a", protocol.MaxTokenSize)+`"`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if k, err := ParsePublicJWK([]byte(tt.jwk)); err == nil || k != nil {
				t.Fatal("accepted")
			}
		})
	}
}

// TestParsePublicJWKAlgNames: an Ed25519 key's alg member may be either
// name RFC 9864 gives the algorithm, or absent; the thumbprint ignores it.
func TestParsePublicJWKAlgNames(t *testing.T) {
	want := ""
	for _, member := range []string{``, `"alg":"EdDSA",`, `"alg":"Ed25519",`} {
		k, err := ParsePublicJWK([]byte(ed25519JWK(member)))
		if err != nil {
			t.Fatalf("%s refused: %v", member, err)
		}
		tp, _ := Thumbprint(k)
		if want == "" {
			want = tp
		}
		if tp != want {
			t.Fatalf("%s: thumbprint %s, want %s", member, tp, want)
		}
	}
}

// ed25519JWK is RFC 8037 §A.2's public key with member inserted first.
func ed25519JWK(member string) string {
	return `{` + member + `"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`
}

func rsaJWKWithAlg(t *testing.T, alg string) string {
	rs, _ := Generate(RS256, nil)
	b, _ := json.Marshal(jose.JSONWebKey{Key: rs.CryptoSigner().Public(), Algorithm: alg})
	return string(b)
}

func TestFitsKey(t *testing.T) {
	ed, ec, rs := mustKey(t, EdDSA), mustKey(t, ES256), mustKey(t, RS256)
	tests := []struct {
		alg  string
		key  any
		want bool
	}{
		{"EdDSA", ed, true},
		{"Ed25519", ed, true},
		{"ES256", ec, true},
		{"RS256", rs, true},
		{"Ed25519", ec, false},
		{"Ed25519", rs, false},
		{"EdDSA", ec, false},
		{"EdDSA", rs, false},
		{"ES256", ed, false},
		{"RS256", ed, false},
		{"ed25519", ed, false},
		{"Ed448", ed, false},
		{"none", ed, false},
		{"HS256", ed, false},
		{"", ed, false},
		{"Ed25519", ed25519.PublicKey(make([]byte, 31)), false},
		{"Ed25519", []byte("secret"), false},
	}
	for _, tt := range tests {
		if got := FitsKey(tt.alg, tt.key); got != tt.want {
			t.Errorf("FitsKey(%q, %T) = %v, want %v", tt.alg, tt.key, got, tt.want)
		}
	}
}

func mustKey(t *testing.T, alg Alg) any {
	t.Helper()
	s, err := Generate(alg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s.CryptoSigner().Public()
}

func smallRSA(t *testing.T) string {
	k, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(jose.JSONWebKey{Key: &k.PublicKey})
	return string(b)
}

func TestMarshalPublicJWK(t *testing.T) {
	for _, alg := range []Alg{ES256, EdDSA, RS256} {
		t.Run(string(alg), func(t *testing.T) {
			s, _ := Generate(alg, nil)
			for name, key := range map[string]any{"public key": s.CryptoSigner().Public(), "private key": s.CryptoSigner()} {
				data, err := MarshalPublicJWK(key, "")
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				k, err := ParsePublicJWK(data) // refuses private members
				if err != nil {
					t.Fatalf("%s: %s does not parse back: %v", name, data, err)
				}
				if k.KeyID != s.Thumbprint() || k.Algorithm != string(alg) || k.Use != "sig" {
					t.Fatalf("%s: kid %s alg %s use %s", name, k.KeyID, k.Algorithm, k.Use)
				}
			}
			if data, _ := MarshalPublicJWK(s.CryptoSigner(), "issuer-1"); !strings.Contains(string(data), `"kid":"issuer-1"`) {
				t.Fatalf("kid not kept: %s", data)
			}
		})
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if _, err := MarshalPublicJWK(&p384.PublicKey, ""); err == nil {
		t.Fatal("P-384 key marshalled")
	}
}

func TestAlgForKey(t *testing.T) {
	for _, alg := range []Alg{ES256, EdDSA, RS256} {
		s, _ := Generate(alg, nil)
		if got, err := AlgForKey(s.CryptoSigner().Public()); err != nil || got != alg {
			t.Fatalf("%s key: got %s, %v", alg, got, err)
		}
		if _, err := AlgForKey(s.CryptoSigner()); err == nil {
			t.Fatalf("%s private key named as a public key", alg)
		}
	}
	if _, err := AlgForKey([]byte("secret")); err == nil {
		t.Fatal("symmetric key got an algorithm")
	}
}

func FuzzParsePublicJWK(f *testing.F) {
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Add([]byte(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`))
	f.Add([]byte(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}`))
	f.Add([]byte(`{"kty":"oct","k":"AAAA"}`))
	f.Add([]byte(`{"alg":"Ed25519","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParsePublicJWK(data)
		if err != nil {
			return
		}
		if !k.IsPublic() {
			t.Fatal("accepted a non-public key")
		}
		if _, err := AlgForKey(k.Key); err != nil {
			t.Fatalf("accepted a key type ajwt does not use: %v", err)
		}
		if k.Algorithm != "" && !FitsKey(k.Algorithm, k.Key) {
			t.Fatalf("accepted alg %q on a %T key", k.Algorithm, k.Key)
		}
	})
}
