package authserver

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// harness runs a real server over HTTP on loopback with a SQLite store in a
// temp dir, and plays clients, agents and approvers against it.
type harness struct {
	t      *testing.T
	ts     *httptest.Server
	srv    *Server
	st     store.Store
	issuer string
	clock  *fakeClock
	agents map[string]*testAgent
}

type testAgent struct {
	spec *agentspec.Spec
	sum  agentspec.Checksum
	key  *keys.Signer
}

// fakeClock is settable time for expiry tests; it starts at the real time
// so that HTTP-level timestamps stay plausible.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

const testConfig = `
issuer: ISSUER
token_ttl: 300s
failed_grants_per_minute: 1000
clients:
  - client_id: admin
    client_secret: admin-secret
    scopes: [ajwt:admin]
  - client_id: app
    client_secret: app-secret
    scopes: [ajwt:run, repo:read]
    audiences: [https://forge.example]
  - client_id: other-app
    client_secret: other-secret
    scopes: [ajwt:run]
  - client_id: approver
    client_secret: approver-secret
    scopes: [ajwt:approve]
    approves_for: [app]
`

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessAt(t, filepath.Join(t.TempDir(), "ajwt.db"), testConfig)
}

func newHarnessAt(t *testing.T, dbPath, config string) *harness {
	t.Helper()
	return newHarnessWith(t, dbPath, config, Options{})
}

func newHarnessWith(t *testing.T, dbPath, config string, opts Options) *harness {
	t.Helper()
	h, _ := newHarnessOver(t, config, opts, func(func() time.Time) store.Store {
		st, err := sqlstore.OpenSQLite(context.Background(), dbPath, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return st
	})
	return h
}

// newHarnessOver is newHarness on the store open makes (given the fake
// clock), its handler wrapped by wrap if given; the store is closed with
// the server.
func newHarnessOver(t *testing.T, config string, opts Options, open func(now func() time.Time) store.Store, wrap ...func(http.Handler) http.Handler) (*harness, store.Store) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, issuer: "http://" + ln.Addr().String(), clock: &fakeClock{t: time.Now()}, agents: map[string]*testAgent{}}
	cfg, err := ParseConfig([]byte(strings.ReplaceAll(config, "ISSUER", h.issuer)))
	if err != nil {
		t.Fatal(err)
	}
	h.st = open(h.clock.Now)
	opts.Now = h.clock.Now
	if h.srv, err = New(context.Background(), cfg, h.st, opts); err != nil {
		t.Fatal(err)
	}
	handler := h.srv.Handler()
	for _, w := range wrap {
		handler = w(handler)
	}
	h.ts = &httptest.Server{Listener: ln, Config: &http.Server{Handler: handler}}
	h.ts.Start()
	// The server first: it releases the feed's waiters, which the HTTP
	// server's Close would otherwise wait for.
	t.Cleanup(func() { h.srv.Close(); h.ts.Close(); h.st.Close() })
	return h, h.st
}

// response is a decoded HTTP answer.
type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    []byte
}

func (r *response) str(k string) string { s, _ := r.body[k].(string); return s }

func (h *harness) do(req *http.Request) *response {
	h.t.Helper()
	res, err := h.ts.Client().Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &response{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// form posts a form to path with client_secret_basic credentials.
func (h *harness) form(path, client, secret string, v url.Values, hdr http.Header) *response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.issuer+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if client != "" {
		req.SetBasicAuth(client, secret)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return h.do(req)
}

func (h *harness) jsonReq(method, path, auth string, body any, hdr http.Header) *response {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, h.issuer+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	return h.do(req)
}

var secrets = map[string]string{"admin": "admin-secret", "app": "app-secret", "other-app": "other-secret", "approver": "approver-secret"}

// clientToken gets a client_credentials token.
func (h *harness) clientToken(client string) string {
	h.t.Helper()
	res := h.form("/token", client, secrets[client], url.Values{"grant_type": {"client_credentials"}}, nil)
	if res.status != 200 {
		h.t.Fatalf("client_credentials for %s: %d %s", client, res.status, res.raw)
	}
	return res.str("access_token")
}

func (h *harness) bearer(client string) string { return "Bearer " + h.clientToken(client) }

// registerAgent makes a spec and key for id and registers it for client.
func (h *harness) registerAgent(id, client string, scopes []string, extra map[string]any) *testAgent {
	h.t.Helper()
	spec := &agentspec.Spec{AgentID: id, PromptTemplate: "You are " + id + ".", Tools: []agentspec.Tool{{Name: "t_" + strings.ReplaceAll(id, "-", "_")}}}
	sum, err := agentspec.Sum(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	key, err := keys.Generate(keys.EdDSA, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	a := &testAgent{spec: spec, sum: sum, key: key}
	body := map[string]any{"client_id": client, "spec": spec, "public_jwk": key.Public(), "scopes": scopes,
		"audiences": []string{"https://forge.example", "https://osv.example"}}
	for k, v := range extra {
		body[k] = v
	}
	res := h.jsonReq(http.MethodPut, "/v1/agents/"+id, h.bearer("admin"), body, nil)
	if res.status != 201 && res.status != 200 {
		h.t.Fatalf("register %s: %d %s", id, res.status, res.raw)
	}
	h.agents[id] = a
	return a
}

func (h *harness) registerWorkflow(id string, def map[string]any) {
	h.t.Helper()
	res := h.jsonReq(http.MethodPut, "/v1/workflows/"+id, h.bearer("admin"), def, nil)
	if res.status != 201 && res.status != 200 {
		h.t.Fatalf("register workflow %s: %d %s", id, res.status, res.raw)
	}
}

func (h *harness) startRun(client, workflow string, ctx map[string]string) string {
	h.t.Helper()
	res := h.jsonReq(http.MethodPost, "/v1/runs", h.bearer(client),
		map[string]any{"workflow_id": workflow, "initiated_by": "user:alice", "execution_context": ctx}, nil)
	if res.status != 201 {
		h.t.Fatalf("start run: %d %s", res.status, res.raw)
	}
	return res.str("run_id")
}

// proof makes a DPoP proof by key for method and path on the issuer.
func (h *harness) proof(key *keys.Signer, method, path, accessToken string) http.Header {
	h.t.Helper()
	p, err := dpop.NewProof(key, method, h.issuer+path, dpop.ProofOptions{AccessToken: accessToken, Now: h.clock.Now()})
	if err != nil {
		h.t.Fatal(err)
	}
	return http.Header{"Dpop": {p}}
}

// grant requests an agent_checksum token; extra overrides parameters.
func (h *harness) grant(client, agentID, runID, step string, extra url.Values) *response {
	h.t.Helper()
	a := h.agents[agentID]
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {agentID}, "agent_checksum": {string(a.sum)}}
	if runID != "" {
		v.Set("run_id", runID)
		v.Set("workflow_step", step)
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return h.form("/token", client, secrets[client], v, h.proof(a.key, http.MethodPost, "/token", ""))
}

func (h *harness) mustGrant(client, agentID, runID, step string, extra url.Values) string {
	h.t.Helper()
	res := h.grant(client, agentID, runID, step, extra)
	if res.status != 200 {
		h.t.Fatalf("grant %s/%s: %d %s", agentID, step, res.status, res.raw)
	}
	return res.str("access_token")
}

// complete completes a step with the agent's own token and a fresh proof.
func (h *harness) complete(agentID, runID, step, tok string) *response {
	h.t.Helper()
	path := "/v1/runs/" + runID + "/steps/" + step + "/complete"
	return h.jsonReq(http.MethodPost, path, "DPoP "+tok, nil, h.proof(h.agents[agentID].key, http.MethodPost, path, tok))
}

func (h *harness) approve(runID, step string) *response {
	h.t.Helper()
	return h.jsonReq(http.MethodPost, "/v1/runs/"+runID+"/steps/"+step+"/approve", h.bearer("approver"),
		map[string]string{"approver": "user:bob", "comment": "ok"}, nil)
}

func wantError(t *testing.T, res *response, status int, code string) {
	t.Helper()
	if res.status != status || res.str("error") != code {
		t.Fatalf("got %d %s, want %d %s", res.status, res.raw, status, code)
	}
}
