package middleware_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
)

// boundClientToken gets a client_credentials token for resource bound to
// key by a DPoP proof (PROTOCOL.md §6.1), failing unless the IdP binds it.
func (w *world) boundClientToken(key *keys.Signer, resource string) string {
	w.t.Helper()
	proof, err := dpop.NewProof(key, http.MethodPost, w.idp.URL+"/token", dpop.ProofOptions{})
	if err != nil {
		w.t.Fatal(err)
	}
	v := url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}
	code, body, _ := w.call(http.MethodPost, w.idp.URL+"/token", basic("app", "app-secret"), strings.NewReader(v.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Dpop": {proof}})
	if code != 200 || body["token_type"] != "DPoP" {
		w.t.Fatalf("client_credentials with a DPoP proof: %d %v, want a DPoP token", code, body)
	}
	return body["access_token"].(string)
}

// TestDPoPBoundLegacyToken: a client token with cnf and no intent is a
// legacy token that needs a proof of its key (§3, §6.1, §8): accepted on a
// legacy: allow route with the DPoP scheme and a proof, refused without
// one or as a bearer token, and still refused where intent is required.
func TestDPoPBoundLegacyToken(t *testing.T) {
	w := newWorld(t)
	key, _ := keys.Generate(keys.ES256, nil)
	thief, _ := keys.Generate(keys.EdDSA, nil)
	tok := w.boundClientToken(key, "https://forge.example")
	for _, base := range []string{w.api.URL, w.prx.URL} {
		name := map[bool]string{true: "middleware", false: "proxy"}[base == w.api.URL]
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				name   string
				do     func() (int, map[string]any)
				status int
				reason string // "" for a success
			}{
				{"legacy route with a proof", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, "/legacy/x", tok, key)
				}, 200, ""},
				{"legacy route as a bearer token", func() (int, map[string]any) {
					code, body, _ := w.call(http.MethodGet, base+"/legacy/x", "Bearer "+tok, nil, nil)
					return code, body
				}, 401, "missing_proof"},
				{"legacy route without a proof", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, "/legacy/x", tok, nil)
				}, 401, "missing_proof"},
				{"legacy route, proof by another key", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, "/legacy/x", tok, thief)
				}, 401, "key_mismatch"},
				{"intent route with a proof", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, "/repos/acme/web/contents/go.mod", tok, key)
				}, 401, "legacy_token_refused"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, body := tt.do()
					if code != tt.status || (tt.reason != "" && body["reason"] != tt.reason) {
						t.Fatalf("got %d %v, want %d %s", code, body, tt.status, tt.reason)
					}
				})
			}
		})
	}
}
