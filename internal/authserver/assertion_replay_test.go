package authserver

import (
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// TestClientAssertionReplayInLeeway: a private_key_jwt assertion is
// accepted up to the leeway after its exp, so its jti is remembered that
// long, by every node (the store is shared): replayed 3 s after exp it is
// refused; at exp + leeway even a fresh one is.
func TestClientAssertionReplayInLeeway(t *testing.T) {
	for name, kind := range storeKinds(t) {
		t.Run(name, func(t *testing.T) {
			ck, _ := keys.Generate(keys.ES256, nil)
			pub, _ := json.Marshal(ck.Public())
			cfg := testConfig + "  - client_id: jwt-app\n    scopes: [repo:read]\n    jwks: {keys: [" + string(pub) + "]}\n"
			open := kind(t)
			h, _ := newHarnessOver(t, cfg, Options{}, open)
			other := otherNode(t, h, name, open)
			exp := h.clock.Now().Add(time.Minute)
			assertion := func(jti string, exp time.Time) string {
				signer, _ := ck.JOSE("", nil)
				raw, _ := jwt.Signed(signer).Claims(map[string]any{"iss": "jwt-app", "sub": "jwt-app", "aud": h.issuer, "jti": jti,
					"iat": h.clock.Now().Unix(), "exp": exp.Unix()}).Serialize()
				return raw
			}
			post := func(srv *Server, a string) *response {
				v := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionTypeJWTBearer}, "client_assertion": {a}}
				return serveForm(t, srv, "/token", v, nil)
			}
			a := assertion("once", exp)
			if res := post(h.srv, a); res.status != 200 {
				t.Fatalf("first use: %d %s", res.status, res.raw)
			}
			h.clock.Advance(time.Minute + 3*time.Second) // exp + 3 s, inside the leeway
			if res := post(h.srv, assertion("fresh-in-leeway", exp)); res.status != 200 {
				t.Fatalf("a fresh assertion 3 s after exp (within the %s leeway): %d %s", protocol.DefaultLeeway, res.status, res.raw)
			}
			for _, srv := range []*Server{h.srv, other} {
				wantError(t, post(srv, a), 401, protocol.CodeInvalidClient)
			}
			h.clock.Advance(protocol.DefaultLeeway - 3*time.Second) // exp + leeway
			wantError(t, post(other, assertion("too-late", exp)), 401, protocol.CodeInvalidClient)
		})
	}
}
