package authserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// clientEntries returns the feed's client entries (§9) as id → at.
func (h *harness) clientEntries() []map[string]any {
	h.t.Helper()
	res := h.feed("")
	if res.status != 200 {
		h.t.Fatalf("feed: %d %s", res.status, res.raw)
	}
	var out []map[string]any
	for _, e := range res.body["revoked"].([]any) {
		if m := e.(map[string]any); m["type"] == store.RevokedClient {
			out = append(out, m)
		}
	}
	return out
}

// auditEvents lists the audit entries of event about client.
func (h *harness) auditEvents(event, client string) []*store.AuditEntry {
	h.t.Helper()
	ctx := h.t.Context()
	if err := h.st.FlushAudit(ctx); err != nil {
		h.t.Fatal(err)
	}
	var all []*store.AuditEntry
	if err := h.st.View(ctx, func(tx store.Tx) (err error) { all, err = tx.Audit(ctx, store.AuditFilter{Limit: 10_000}); return err }); err != nil {
		h.t.Fatal(err)
	}
	var out []*store.AuditEntry
	for _, e := range all {
		if e.Event == event && e.ClientID == client {
			out = append(out, e)
		}
	}
	return out
}

func (h *harness) revokeClient(auth, id string) *response {
	h.t.Helper()
	return h.jsonReq(http.MethodPost, "/v1/clients/"+id+"/revoke", auth, nil, nil)
}

// TestRevokeClientEndpoint: POST /v1/clients/{client_id}/revoke is for
// admins (§9); it answers the revocation time, which the feed entry and an
// audit entry carry too. A refused call writes nothing.
func TestRevokeClientEndpoint(t *testing.T) {
	tests := []struct {
		name   string
		caller string // "" for no token
		id     string
		status int
		code   string
	}{
		{"admin revokes a configured client", "admin", "app", 200, ""},
		{"admin revokes itself", "admin", "admin", 200, ""},
		{"run client", "app", "other-app", 403, protocol.CodeInsufficientScope},
		{"approver", "approver", "app", 403, protocol.CodeInsufficientScope},
		{"client the IdP never knew", "admin", "ghost", 404, "not_found"},
		{"malformed client id", "admin", "no%20such", 404, "not_found"},
		{"no token", "", "app", 401, protocol.CodeInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			auth := ""
			if tt.caller != "" {
				auth = h.bearer(tt.caller)
			}
			res := h.revokeClient(auth, tt.id)
			entries := h.clientEntries()
			if tt.status != 200 {
				wantError(t, res, tt.status, tt.code)
				if len(entries) != 0 || len(h.auditEvents("revoke_client", tt.id)) != 0 {
					t.Fatalf("a refused revocation wrote feed entries %v or an audit entry", entries)
				}
				return
			}
			at := h.clock.Now().Unix()
			if res.status != 200 || res.str("client_id") != tt.id || res.body["revoked_at"] != float64(at) {
				t.Fatalf("revoke: %d %s, want client_id %s revoked_at %d", res.status, res.raw, tt.id, at)
			}
			if len(entries) != 1 || entries[0]["id"] != tt.id || entries[0]["at"] != float64(at) {
				t.Fatalf("feed client entries %v, want one for %s at %d", entries, tt.id, at)
			}
			audit := h.auditEvents("revoke_client", tt.id)
			if len(audit) != 1 || audit[0].Outcome != "ok" || !strings.Contains(audit[0].Detail, "by="+tt.caller) {
				t.Fatalf("audit entries %+v", audit)
			}
		})
	}
}

// clientRevocationFixture is a run with a directly held step (lead, boss),
// a step delegated under it (work, worker) and an agent outside workflows
// (solo), with tokens of each obtained before app is revoked.
type clientRevocationFixture struct {
	h                         *harness
	run                       string
	legacy, other             string // client_credentials tokens of app and other-app
	bossTok, workTok, soloTok string
	sameSecond                string // app's token obtained in the second of the revocation
	at                        int64
	assertions                atomic.Int64
}

func newClientRevocationFixture(t *testing.T) *clientRevocationFixture {
	h := newHarness(t)
	h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
	h.registerAgent("worker", "app", []string{"repo:read"}, nil)
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
		{"id": "lead", "agent": "boss", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "work", "agent": "worker", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"boss"}},
	}})
	f := &clientRevocationFixture{h: h, run: h.startRun("app", "w", nil)}
	f.legacy, f.other = h.clientToken("app"), h.clientToken("other-app")
	f.bossTok = h.mustGrant("app", "boss", f.run, "lead", nil)
	f.workTok = h.mustGrant("app", "worker", f.run, "work", url.Values{"delegation_assertion": {f.assertion()}})
	f.soloTok = h.mustGrant("app", "solo", "", "", nil)
	res := h.revokeClient(h.bearer("admin"), "app")
	if res.status != 200 {
		t.Fatalf("revoke app: %d %s", res.status, res.raw)
	}
	f.at = int64(res.body["revoked_at"].(float64))
	f.sameSecond = h.clientToken("app")
	return f
}

func (f *clientRevocationFixture) assertion() string {
	return f.h.assertion(f.h.agents["boss"].key, "boss", "worker", f.run, "work", 30*time.Second, fmt.Sprint("a", f.assertions.Add(1)))
}

func (f *clientRevocationFixture) exchange(subject string) *response {
	v := url.Values{"grant_type": {protocol.GrantTokenExchange}, "subject_token": {subject},
		"subject_token_type": {protocol.TokenTypeAccessToken}, "scope": {"repo:read"}}
	return f.h.form("/token", "app", secrets["app"], v, f.h.proof(f.h.agents["solo"].key, http.MethodPost, "/token", ""))
}

func (f *clientRevocationFixture) getRun(tok string) *response {
	return f.h.jsonReq(http.MethodGet, "/v1/runs/"+f.run, "Bearer "+tok, nil, nil)
}

// TestClientRevocationAtTheIdP: a client entry revokes, at the IdP, every
// token the client obtained at or before its time (§9) — on the APIs, in
// introspection, as the subject of an exchange and as the parent of a
// delegation — while the still configured client obtains working tokens
// from the next second on.
func TestClientRevocationAtTheIdP(t *testing.T) {
	f := newClientRevocationFixture(t)
	h := f.h
	revoked := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"earlier client token on the run API", func(t *testing.T) {
			wantReason(t, f.getRun(f.legacy), 401, protocol.CodeInvalidToken, protocol.ReasonClientRevoked)
		}},
		{"token of the revocation's second on the run API", func(t *testing.T) {
			wantReason(t, f.getRun(f.sameSecond), 401, protocol.CodeInvalidToken, protocol.ReasonClientRevoked)
		}},
		{"earlier intent token completing its step", func(t *testing.T) {
			wantReason(t, h.complete("worker", f.run, "work", f.workTok), 401, protocol.CodeInvalidToken, protocol.ReasonClientRevoked)
		}},
		{"introspection", func(t *testing.T) {
			for name, tok := range map[string]string{"legacy": f.legacy, "same second": f.sameSecond, "boss": f.bossTok, "work": f.workTok, "solo": f.soloTok} {
				if h.introspect(tok) {
					t.Errorf("%s token still active", name)
				}
			}
			if !h.introspect(f.other) {
				t.Error("another client's token inactive")
			}
		}},
		{"exchange of an earlier subject token", func(t *testing.T) {
			wantError(t, f.exchange(f.soloTok), 400, protocol.CodeInvalidRequest)
		}},
	}
	for _, tt := range revoked {
		t.Run(tt.name, tt.check)
	}
	h.clock.Advance(time.Second)
	later := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"a new client token works", func(t *testing.T) {
			tok := h.clientToken("app")
			if res := f.getRun(tok); res.status != 200 || !h.introspect(tok) {
				t.Fatalf("new token: %d %s", res.status, res.raw)
			}
		}},
		{"renewal under a delegation whose parent is revoked", func(t *testing.T) {
			wantError(t, h.grant("app", "worker", f.run, "work", nil), 403, protocol.CodeInvalidDelegation)
		}},
		{"delegation off the delegator's revoked token", func(t *testing.T) {
			wantError(t, h.grant("app", "worker", f.run, "work", url.Values{"delegation_assertion": {f.assertion()}}), 403, protocol.CodeInvalidDelegation)
		}},
		{"delegation off the delegator's new token", func(t *testing.T) {
			h.mustGrant("app", "boss", f.run, "lead", nil)
			tok := h.mustGrant("app", "worker", f.run, "work", url.Values{"delegation_assertion": {f.assertion()}})
			if res := h.complete("worker", f.run, "work", tok); res.status != 200 {
				t.Fatalf("complete with the new delegated token: %d %s", res.status, res.raw)
			}
		}},
		{"exchange of a new subject token", func(t *testing.T) {
			if res := f.exchange(h.mustGrant("app", "solo", "", "", nil)); res.status != 200 {
				t.Fatalf("exchange: %d %s", res.status, res.raw)
			}
		}},
	}
	for _, tt := range later {
		t.Run(tt.name, tt.check)
	}
}

// restartable serves one issuer URL from whichever server the test
// started last over one store's data, as a node restarted with a new
// configuration does.
type restartable struct {
	h    *harness
	open func(now func() time.Time) store.Store
	cur  atomic.Pointer[Server]
}

func newRestartable(t *testing.T, open func(now func() time.Time) store.Store) *restartable {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &restartable{open: open}
	r.h = &harness{t: t, issuer: "http://" + ln.Addr().String(), clock: &fakeClock{t: time.Now()}, agents: map[string]*testAgent{}}
	r.h.ts = &httptest.Server{Listener: ln, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		r.cur.Load().Handler().ServeHTTP(w, req)
	})}}
	r.h.ts.Start()
	t.Cleanup(func() { r.stop(); r.h.ts.Close() })
	return r
}

// clientsConfig configures admin and the given clients (secret: id+"-secret").
func clientsConfig(ids ...string) string {
	var b strings.Builder
	b.WriteString("issuer: ISSUER\ntoken_ttl: 300s\nclients:\n  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "  - {client_id: %s, client_secret: %s-secret, scopes: [ajwt:run]}\n", id, id)
	}
	return b.String()
}

func (r *restartable) stop() {
	if old := r.cur.Load(); old != nil {
		old.Close()
		r.h.st.Close()
	}
}

// start starts nodes servers at once on stores of their own over the same
// data, and keeps serving from the first.
func (r *restartable) start(nodes int, config string) {
	t := r.h.t
	t.Helper()
	r.stop()
	cfg, err := ParseConfig([]byte(strings.ReplaceAll(config, "ISSUER", r.h.issuer)))
	if err != nil {
		t.Fatal(err)
	}
	srvs, stores, errs := make([]*Server, nodes), make([]store.Store, nodes), make([]error, nodes)
	var wg sync.WaitGroup
	for i := range nodes {
		stores[i] = r.open(r.h.clock.Now)
		wg.Go(func() { srvs[i], errs[i] = New(context.Background(), cfg, stores[i], Options{Now: r.h.clock.Now}) })
	}
	wg.Wait()
	for i := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		if i > 0 {
			srvs[i].Close()
			stores[i].Close()
		}
	}
	r.h.srv, r.h.st = srvs[0], stores[0]
	r.cur.Store(srvs[0])
}

func (r *restartable) token(client string) string {
	r.h.t.Helper()
	res := r.h.form("/token", client, client+"-secret", url.Values{"grant_type": {"client_credentials"}}, nil)
	if res.status != 200 {
		r.h.t.Fatalf("client_credentials for %s: %d %s", client, res.status, res.raw)
	}
	return res.str("access_token")
}

// TestClientRemovedFromConfiguration: the IdP keeps the ids of the
// clients it served; a start without one of them writes one client entry
// and one audit entry for it (§9), and no other start does — not the next
// ones, not a start that configures it again, not a second node starting
// at the same moment; removing it again does.
func TestClientRemovedFromConfiguration(t *testing.T) {
	for kind, stores := range storeKinds(t) {
		t.Run(kind, func(t *testing.T) {
			r := newRestartable(t, stores(t))
			h := r.h
			steps := []struct {
				name    string
				nodes   int
				clients []string
				entries int // client entries for gone in the feed after the start
			}{
				{"first start", 1, []string{"app", "gone"}, 0},
				{"removed", 1, []string{"app"}, 1},
				{"restart without it", 1, []string{"app"}, 1},
				{"configured again", 1, []string{"app", "gone"}, 1},
				{"removed again", 1, []string{"app"}, 2},
				{"configured once more", 1, []string{"app", "gone"}, 2},
				{"removed while two nodes start", 2, []string{"app"}, 3},
			}
			var before string // gone's token from the start before
			for i, st := range steps {
				if kind == "sqlite" && st.nodes > 1 {
					continue // one node per SQLite file (serve's lock)
				}
				h.clock.Advance(time.Second)
				r.start(st.nodes, clientsConfig(st.clients...))
				if got := h.clientEntries(); countID(got, "gone") != st.entries || countID(got, "app") != 0 {
					t.Fatalf("step %d (%s): feed client entries %v, want %d for gone", i, st.name, got, st.entries)
				}
				if n := len(h.auditEvents("revoke_client", "gone")); n != st.entries {
					t.Fatalf("step %d (%s): %d revoke_client audit entries, want %d", i, st.name, n, st.entries)
				}
				appTok := r.token("app")
				if res := h.form("/introspect", "app", "app-secret", url.Values{"token": {appTok}}, nil); res.body["active"] != true {
					t.Fatalf("step %d (%s): app's token inactive: %s", i, st.name, res.raw)
				}
				if before != "" {
					res := h.form("/introspect", "app", "app-secret", url.Values{"token": {before}}, nil)
					if active := res.body["active"] == true; active == (len(st.clients) == 1) {
						t.Fatalf("step %d (%s): gone's earlier token active = %v", i, st.name, active)
					}
				}
				before = ""
				if len(st.clients) == 2 {
					before = r.token("gone")
					if res := h.form("/introspect", "app", "app-secret", url.Values{"token": {before}}, nil); res.body["active"] != true {
						t.Fatalf("step %d (%s): gone's new token inactive: %s", i, st.name, res.raw)
					}
				}
			}
			// The IdP still knows the removed client: an admin may revoke it.
			if res := h.revokeClient("Bearer "+r.token("admin"), "gone"); res.status != 200 {
				t.Fatalf("revoking a removed client: %d %s", res.status, res.raw)
			}
		})
	}
}

func countID(entries []map[string]any, id string) int {
	n := 0
	for _, e := range entries {
		if e["id"] == id {
			n++
		}
	}
	return n
}
