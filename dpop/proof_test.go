package dpop

import (
	"crypto"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/keys"
)

// TestNewProofContents checks header and claims of a proof for every
// algorithm: only typ, alg and a public jwk in the header (go-jose must
// embed the public key, and no kid), and the claims of RFC 9449 §4.2.
func TestNewProofContents(t *testing.T) {
	for _, alg := range keys.DefaultAlgs() {
		t.Run(string(alg), func(t *testing.T) {
			key, err := keys.Generate(alg, nil)
			if err != nil {
				t.Fatal(err)
			}
			proof := mustProof(t, key, "POST", "HTTPS://API.example:443/repos/acme/web/pulls?page=2#f",
				ProofOptions{AccessToken: "tok", Nonce: "n-1", JTI: "jti-1"})
			header, claims := segments(t, proof)
			if len(header) != 3 || header["typ"] != "dpop+jwt" || header["alg"] != string(alg) {
				t.Fatalf("header %v", header)
			}
			jwk := header["jwk"].(map[string]any)
			for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "kid"} {
				if _, ok := jwk[m]; ok {
					t.Fatalf("embedded jwk has %q: %v", m, jwk)
				}
			}
			want := map[string]any{"jti": "jti-1", "htm": "POST", "htu": api, "iat": float64(t0.Unix()),
				"ath": AccessTokenHash("tok"), "nonce": "n-1"}
			if !sameMap(claims, want) {
				t.Fatalf("claims %v, want %v", claims, want)
			}
		})
	}
}

func sameMap(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestNewProofOmitsEmptyOptions(t *testing.T) {
	_, claims := segments(t, mustProof(t, seedKey(t, 1), "GET", api, ProofOptions{}))
	for _, m := range []string{"ath", "nonce"} {
		if _, ok := claims[m]; ok {
			t.Errorf("claims have %q without the option: %v", m, claims)
		}
	}
}

// TestNewProofRandomJTI: a default jti is 128 random bits (22 base64url
// characters), different each time.
func TestNewProofRandomJTI(t *testing.T) {
	key := seedKey(t, 1)
	seen := map[any]bool{}
	for range 100 {
		_, claims := segments(t, mustProof(t, key, "GET", api, ProofOptions{}))
		jti, _ := claims["jti"].(string)
		if len(jti) != 22 || seen[jti] {
			t.Fatalf("jti %q (len %d, seen before: %v)", jti, len(jti), seen[jti])
		}
		seen[jti] = true
	}
}

// kmsKey hides the concrete key type, as a KMS or HSM signer does, so
// keys.Signer takes go-jose's opaque-signer path.
type kmsKey struct{ crypto.Signer }

func (k kmsKey) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	return k.Signer.Sign(r, d, o)
}

func TestNewProofWithOpaqueSigner(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA} {
		t.Run(string(alg), func(t *testing.T) {
			plain, _ := keys.Generate(alg, nil)
			key, err := keys.NewSigner(kmsKey{plain.CryptoSigner()}, alg, "")
			if err != nil {
				t.Fatal(err)
			}
			proof := mustProof(t, key, "GET", api, ProofOptions{AccessToken: "tok"})
			header, _ := segments(t, proof)
			if _, ok := header["kid"]; ok {
				t.Fatalf("header has a kid: %v", header)
			}
			now := t0
			p, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: proof, Method: "GET", URL: api, AccessToken: "tok", JKT: plain.Thumbprint()})
			if err != nil || p.JKT != plain.Thumbprint() {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func TestNewProofRefuses(t *testing.T) {
	key := seedKey(t, 1)
	tests := []struct {
		name        string
		key         *keys.Signer
		method, uri string
		opts        ProofOptions
	}{
		{"nil key", nil, "GET", api, ProofOptions{}},
		{"empty method", key, "", api, ProofOptions{}},
		{"method with a space", key, "GET X", api, ProofOptions{}},
		{"relative URI", key, "GET", "/repos", ProofOptions{}},
		{"not http", key, "GET", "ftp://api.example/x", ProofOptions{}},
		{"jti over 256 bytes", key, "GET", api, ProofOptions{JTI: strings.Repeat("j", 257)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if p, err := NewProof(tt.key, tt.method, tt.uri, tt.opts); err == nil || p != "" {
				t.Fatalf("NewProof = %q, %v; want an error", p, err)
			}
		})
	}
}

func TestProofFromHeader(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   string
	}{
		{"none", nil, ""},
		{"one", []string{"a.b.c"}, "a.b.c"},
		{"two", []string{"a.b.c", "d.e.f"}, "a.b.c,d.e.f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			for _, v := range tt.values {
				h.Add("Dpop", v)
			}
			if got := ProofFromHeader(h); got != tt.want {
				t.Fatalf("ProofFromHeader = %q, want %q", got, tt.want)
			}
		})
	}
}
