package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// feedBound is how soon a revocation is enforced by default (§8).
const feedBound = 2 * time.Second

// clientCredential is a token of client app and the request it is sent on.
type clientCredential struct {
	name, path, tok string
	key             *keys.Signer // nil: a Bearer client token
}

func (w *world) sendCredential(base string, c clientCredential) (int, map[string]any) {
	w.t.Helper()
	if c.key == nil {
		code, body, _ := w.call(http.MethodGet, base+c.path, "Bearer "+c.tok, nil, nil)
		return code, body
	}
	return w.send(base, http.MethodGet, c.path, c.tok, c.key)
}

// revokeApp revokes client app at the IdP and returns the feed cursor
// from before and the revocation time.
func (w *world) revokeApp() (string, int64) {
	w.t.Helper()
	_, feed, _ := w.call(http.MethodGet, w.idp.URL+"/v1/revocations", "", nil, nil)
	admin := "Bearer " + w.clientToken("admin", "admin-secret", "")
	code, body, _ := w.call(http.MethodPost, w.idp.URL+"/v1/clients/app/revoke", admin, nil, nil)
	if code != 200 || body["client_id"] != "app" {
		w.t.Fatalf("revoke client: %d %v", code, body)
	}
	return feed["cursor"].(string), int64(body["revoked_at"].(float64))
}

// TestClientRevocationReachesEnforcers: a client revoked at the IdP
// (§9) reaches the middleware and the proxy through the feed: the
// client's tokens obtained up to the revocation are refused with
// client_revoked within the feed's bound, and its tokens obtained after it
// pass.
func TestClientRevocationReachesEnforcers(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	credentials := func() []clientCredential {
		return []clientCredential{
			{"client token", "/legacy/x", w.clientToken("app", "app-secret", "https://forge.example"), nil},
			{"intent token", "/repos/acme/web/contents/go.mod", w.grant("planner", run, "plan"), w.agents["planner"].key},
		}
	}
	enforcers := []struct{ name, base string }{{"middleware", w.api.URL}, {"proxy", w.prx.URL}}
	earlier := credentials()
	for _, e := range enforcers {
		for _, c := range earlier {
			if code, body := w.sendCredential(e.base, c); code != 200 {
				t.Fatalf("%s, %s before the revocation: %d %v", e.name, c.name, code, body)
			}
		}
	}

	cursor, at := w.revokeApp()
	code, feed, _ := w.call(http.MethodGet, w.idp.URL+"/v1/revocations?wait=10&since="+cursor, "", nil, nil)
	entries, _ := feed["revoked"].([]any)
	if code != 200 || len(entries) != 1 {
		t.Fatalf("long poll after the revocation: %d %v", code, feed)
	}
	if e := entries[0].(map[string]any); e["type"] != "client" || e["id"] != "app" || e["at"] != float64(at) {
		t.Fatalf("feed entry %v, want client app at %d", e, at)
	}
	deadline := time.Now().Add(feedBound)
	for _, e := range enforcers {
		for _, c := range earlier {
			t.Run(e.name+"/earlier "+c.name, func(t *testing.T) {
				for {
					code, body := w.sendCredential(e.base, c)
					if code == 401 && body["reason"] == protocol.ReasonClientRevoked {
						return
					}
					if time.Now().After(deadline) {
						t.Fatalf("still %d %v after the feed's bound", code, body)
					}
					time.Sleep(10 * time.Millisecond)
				}
			})
		}
	}

	// A token of the revocation's second counts as earlier: the next
	// tokens are those of the second after it.
	time.Sleep(time.Until(time.Unix(at+1, 0)))
	for _, c := range credentials() {
		claims, err := token.UnsafeParseClaims(c.tok)
		if err != nil || claims.IssuedAt <= at {
			t.Fatalf("%s obtained after the revocation: iat %v (%v), want > %d", c.name, claims, err, at)
		}
		for _, e := range enforcers {
			t.Run(e.name+"/later "+c.name, func(t *testing.T) {
				if code, body := w.sendCredential(e.base, c); code != 200 {
					t.Fatalf("%d %v", code, body)
				}
			})
		}
	}
}
