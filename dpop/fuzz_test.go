package dpop

import (
	"errors"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

// FuzzVerify feeds arbitrary proofs, methods and URLs to Verify. Whatever
// comes in, a failure is a *protocol.Error and an accepted proof is one by
// the bound key, for this method and this URL.
func FuzzVerify(f *testing.F) {
	key := seedKey(f, 7)
	valid := mustProof(f, key, "POST", api, ProofOptions{AccessToken: "tok", JTI: "j"})
	f.Add(valid, "POST", api)
	header, claims := proofJSON(f, key)
	header["alg"] = "Ed25519" // RFC 9864's name for the same algorithm
	f.Add(forge(f, key, mustJSON(f, header), mustJSON(f, claims)), "POST", api)
	f.Add(valid+","+valid, "POST", api)
	f.Add(valid, "POST", "HTTPS://API.EXAMPLE:443/repos/acme/web/pulls?q")
	f.Add(strings.TrimRight(valid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"), "POST", api)
	f.Add(b64json(map[string]any{"typ": "dpop+jwt", "alg": "none"})+"."+b64json(map[string]any{"jti": "j"})+".", "GET", "https://x/")
	f.Add("a.b.c", "GET", "https://x/")
	f.Fuzz(func(t *testing.T, proof, method, url string) {
		now := t0
		p, err := newVerifier(t, &now).Verify(t.Context(), Request{Proof: proof, Method: method, URL: url, AccessToken: "tok", JKT: key.Thumbprint()})
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || p != nil {
				t.Fatalf("Verify = %v, %v; want a *protocol.Error and no proof", p, err)
			}
			return
		}
		want, _ := NormalizeHTU(url)
		if got, _ := NormalizeHTU(p.HTU); p.JKT != key.Thumbprint() || p.HTM != method || got != want {
			t.Fatalf("accepted %+v for %s %s", p, method, url)
		}
	})
}

// FuzzNormalizeHTU: a normal form is an http(s) URI without query or
// fragment that normalises to itself.
func FuzzNormalizeHTU(f *testing.F) {
	for _, s := range []string{"https://API.example:443/a/%7e?q#f", "http://[::1]:80/", "http://:#", "https://x/a%2F b/é", "https://x?/#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, uri string) {
		n, err := NormalizeHTU(uri)
		if err != nil {
			return
		}
		if !strings.HasPrefix(n, "http://") && !strings.HasPrefix(n, "https://") || strings.ContainsAny(n, "?# ") {
			t.Fatalf("%q → %q: not a bare http(s) URI", uri, n)
		}
		if again, err := NormalizeHTU(n); err != nil || again != n {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", uri, n, again, err)
		}
	})
}
