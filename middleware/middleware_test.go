package middleware_test

import (
	"context"
	"encoding/json"
	"github.com/ajwt/ajwt/internal/forgery"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/proxy"
)

// world is a real IdP, an API behind the enforcer (middleware) and the same
// API behind the proxy, all on loopback.
type world struct {
	t        *testing.T
	idp      *httptest.Server
	api      *httptest.Server // middleware-protected
	prx      *httptest.Server // proxy-protected
	upstream *httptest.Server
	agents   map[string]*agent
	enf      *middleware.Enforcer
	store    store.Store // the IdP's
	lastSeen http.Header // headers the upstream saw last
	lastURI  string      // request URI the upstream saw last
	hits     atomic.Int64
}

type agent struct {
	key *keys.Signer
	sum agentspec.Checksum
}

const idpConfig = `
issuer: ISSUER
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: app, client_secret: app-secret, scopes: [ajwt:run, repo:read, repo:write], audiences: [https://forge.example]}
  - {client_id: approver, client_secret: approver-secret, scopes: [ajwt:approve]}
`

// policyYAML is the attack matrices' policy, shared with internal/authz.
var policyYAML = forgery.MatrixPolicy

func newWorld(t *testing.T) *world {
	t.Helper()
	w := &world{t: t, agents: map[string]*agent{}}
	w.startIdP()
	w.register()
	w.upstream = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.hits.Add(1)
		w.lastSeen, w.lastURI = r.Header.Clone(), r.RequestURI
		io.WriteString(rw, "upstream:"+r.URL.Path)
	}))
	t.Cleanup(w.upstream.Close)
	w.enforce(policyYAML, http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if v, ok := middleware.FromContext(r.Context()); ok {
			io.WriteString(rw, "ok:"+v.Claims.Subject)
			return
		}
		io.WriteString(rw, "ok: public")
	}))
	return w
}

// enforce puts the policy (ISSUER replaced by the IdP's URL) in front of
// app through the middleware (w.api) and of w.upstream through the proxy
// (w.prx), with one enforcer (w.enf).
func (w *world) enforce(policyText string, app http.Handler) {
	w.t.Helper()
	pol, err := policyfile.Parse([]byte(strings.ReplaceAll(policyText, "ISSUER", w.idp.URL)))
	if err != nil {
		w.t.Fatal(err)
	}
	if w.enf, err = middleware.New(context.Background(), pol); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(w.enf.Close)
	w.api = httptest.NewServer(w.enf.Handler(app))
	w.t.Cleanup(w.api.Close)
	up, _ := url.Parse(w.upstream.URL)
	h, err := proxy.New(up, w.enf, proxy.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.prx = httptest.NewServer(h)
	w.t.Cleanup(w.prx.Close)
}

func (w *world) startIdP() {
	var srv *authserver.Server
	w.idp = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { srv.Handler().ServeHTTP(rw, r) }))
	cfg, err := authserver.ParseConfig([]byte(strings.ReplaceAll(idpConfig, "ISSUER", w.idp.URL)))
	if err != nil {
		w.t.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(w.t.TempDir(), "idp.db"), sqlstore.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	srv, err = authserver.New(context.Background(), cfg, st, authserver.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	w.store = st
	w.t.Cleanup(func() { w.idp.Close(); srv.Close(); st.Close() })
}

func (w *world) call(method, url, auth string, body io.Reader, hdr http.Header) (int, map[string]any, http.Header) {
	w.t.Helper()
	req, _ := http.NewRequest(method, url, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	if json.Unmarshal(raw, &out) != nil {
		out = map[string]any{"text": string(raw)}
	}
	return res.StatusCode, out, res.Header
}

func (w *world) clientToken(id, secret, resource string) string {
	w.t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}}
	if resource != "" {
		v.Set("resource", resource)
	}
	code, body, _ := w.call(http.MethodPost, w.idp.URL+"/token", "", strings.NewReader(v.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Authorization": {basic(id, secret)}})
	if code != 200 {
		w.t.Fatalf("client_credentials: %d %v", code, body)
	}
	return body["access_token"].(string)
}

func basic(id, secret string) string {
	r, _ := http.NewRequest("GET", "/", nil)
	r.SetBasicAuth(id, secret)
	return r.Header.Get("Authorization")
}

func (w *world) register() {
	admin := "Bearer " + w.clientToken("admin", "admin-secret", "")
	for _, id := range []string{"planner", "patcher", "supervisor"} {
		spec := &agentspec.Spec{AgentID: id, PromptTemplate: "You are " + id + "."}
		sum, _ := agentspec.Sum(spec)
		key, _ := keys.Generate(keys.EdDSA, nil)
		w.agents[id] = &agent{key: key, sum: sum}
		body, _ := json.Marshal(map[string]any{"client_id": "app", "spec": spec, "public_jwk": key.Public(),
			"scopes": []string{"repo:read", "repo:write"}, "audiences": []string{"https://forge.example"}})
		if code, res, _ := w.call(http.MethodPut, w.idp.URL+"/v1/agents/"+id, admin, strings.NewReader(string(body)), http.Header{"Content-Type": {"application/json"}}); code != 201 {
			w.t.Fatalf("register %s: %d %v", id, code, res)
		}
	}
	wf := `{"steps":[{"id":"plan","agent":"planner","scopes":["repo:read"],"audience":"https://forge.example"},
	  {"id":"patch","agent":"patcher","scopes":["repo:read","repo:write"],"audience":"https://forge.example","depends_on":["plan"]}]}`
	if code, res, _ := w.call(http.MethodPut, w.idp.URL+"/v1/workflows/wf", admin, strings.NewReader(wf), http.Header{"Content-Type": {"application/json"}}); code != 201 {
		w.t.Fatalf("workflow: %d %v", code, res)
	}
}

func (w *world) startRun(repo string) string {
	app := "Bearer " + w.clientToken("app", "app-secret", "")
	code, body, _ := w.call(http.MethodPost, w.idp.URL+"/v1/runs", app,
		strings.NewReader(`{"workflow_id":"wf","initiated_by":"user:alice","execution_context":{"repo":"`+repo+`"}}`), http.Header{"Content-Type": {"application/json"}})
	if code != 201 {
		w.t.Fatalf("run: %d %v", code, body)
	}
	return body["run_id"].(string)
}

func (w *world) grant(id, run, step string) string {
	w.t.Helper()
	a := w.agents[id]
	proof, _ := dpop.NewProof(a.key, http.MethodPost, w.idp.URL+"/token", dpop.ProofOptions{})
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {id}, "agent_checksum": {string(a.sum)}, "run_id": {run}, "workflow_step": {step}}
	code, body, _ := w.call(http.MethodPost, w.idp.URL+"/token", basic("app", "app-secret"), strings.NewReader(v.Encode()),
		http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Dpop": {proof}})
	if code != 200 {
		w.t.Fatalf("grant %s: %d %v", step, code, body)
	}
	return body["access_token"].(string)
}

func (w *world) complete(id, run, step, tok string) {
	w.t.Helper()
	path := "/v1/runs/" + run + "/steps/" + step + "/complete"
	proof, _ := dpop.NewProof(w.agents[id].key, http.MethodPost, w.idp.URL+path, dpop.ProofOptions{AccessToken: tok})
	if code, body, _ := w.call(http.MethodPost, w.idp.URL+path, "DPoP "+tok, nil, http.Header{"Dpop": {proof}}); code != 200 {
		w.t.Fatalf("complete %s: %d %v", step, code, body)
	}
}

// send calls base+path with the token and a fresh proof by key (nil: none).
func (w *world) send(base, method, path, tok string, key *keys.Signer, opts ...func(*dpop.ProofOptions)) (int, map[string]any) {
	w.t.Helper()
	code, body, _ := w.sendH(base, method, path, tok, key, opts...)
	return code, body
}

// sendH is send that also returns the response headers.
func (w *world) sendH(base, method, path, tok string, key *keys.Signer, opts ...func(*dpop.ProofOptions)) (int, map[string]any, http.Header) {
	w.t.Helper()
	hdr := http.Header{}
	if key != nil {
		po := dpop.ProofOptions{AccessToken: tok}
		for _, o := range opts {
			o(&po)
		}
		p, err := dpop.NewProof(key, method, base+path, po)
		if err != nil {
			w.t.Fatal(err)
		}
		hdr.Set("DPoP", p)
	}
	auth := ""
	if tok != "" {
		auth = "DPoP " + tok
	}
	return w.call(method, base+path, auth, nil, hdr)
}

func TestEnforcementReasons(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	planTok := w.grant("planner", run, "plan")
	planner, patcher := w.agents["planner"].key, w.agents["patcher"].key
	read := "/repos/acme/web/contents/go.mod"

	for _, base := range []string{w.api.URL, w.prx.URL} {
		name := map[bool]string{true: "middleware", false: "proxy"}[base == w.api.URL]
		t.Run(name, func(t *testing.T) {
			if code, body := w.send(base, http.MethodGet, read, planTok, planner); code != 200 {
				t.Fatalf("legitimate read: %d %v", code, body)
			}
			tests := []struct {
				name   string
				do     func() (int, map[string]any)
				status int
				reason string
			}{
				{"insufficient scope", func() (int, map[string]any) {
					return w.send(base, http.MethodPost, "/repos/acme/web/pulls", planTok, planner)
				}, 403, "insufficient_scope"},
				{"wrong step", func() (int, map[string]any) {
					return w.send(base, http.MethodPost, "/repos/acme/web/branches", planTok, planner)
				}, 403, "wrong_step"},
				{"wrong agent", func() (int, map[string]any) {
					return w.send(base, http.MethodPut, "/repos/acme/web/pulls/1/merge", planTok, planner)
				}, 403, "wrong_agent"},
				{"context mismatch", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, "/repos/acme/api/contents/go.mod", planTok, planner)
				}, 403, "context_mismatch"},
				{"stolen token without the key", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, read, planTok, patcher)
				}, 401, "key_mismatch"},
				{"no proof", func() (int, map[string]any) { return w.send(base, http.MethodGet, read, planTok, nil) }, 401, "missing_proof"},
				{"wrong htm", func() (int, map[string]any) {
					p, _ := dpop.NewProof(planner, http.MethodPost, base+read, dpop.ProofOptions{AccessToken: planTok})
					code, body, _ := w.call(http.MethodGet, base+read, "DPoP "+planTok, nil, http.Header{"Dpop": {p}})
					return code, body
				}, 401, "wrong_htm"},
				{"wrong htu", func() (int, map[string]any) {
					p, _ := dpop.NewProof(planner, http.MethodGet, base+"/repos/acme/web/contents/other", dpop.ProofOptions{AccessToken: planTok})
					code, body, _ := w.call(http.MethodGet, base+read, "DPoP "+planTok, nil, http.Header{"Dpop": {p}})
					return code, body
				}, 401, "wrong_htu"},
				{"ath mismatch", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, read, planTok, planner, func(o *dpop.ProofOptions) { o.AccessToken = "other" })
				}, 401, "ath_mismatch"},
				{"bad signature", func() (int, map[string]any) {
					return w.send(base, http.MethodGet, read, tamper(planTok), planner)
				}, 401, "bad_signature"},
				{"unmatched route", func() (int, map[string]any) {
					return w.send(base, http.MethodDelete, "/repos/acme/web", planTok, planner)
				}, 403, "no_route"},
				{"legacy token refused", func() (int, map[string]any) {
					tok := w.clientToken("app", "app-secret", "https://forge.example")
					code, body, _ := w.call(http.MethodGet, base+read, "Bearer "+tok, nil, nil)
					return code, body
				}, 401, "legacy_token_refused"},
				{"wrong audience", func() (int, map[string]any) {
					tok := w.clientToken("app", "app-secret", "")
					code, body, _ := w.call(http.MethodGet, base+"/legacy/x", "Bearer "+tok, nil, nil)
					return code, body
				}, 401, "wrong_audience"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					code, body := tt.do()
					if code != tt.status || body["reason"] != tt.reason {
						t.Fatalf("got %d %v, want %d reason %s", code, body, tt.status, tt.reason)
					}
				})
			}
			t.Run("legacy token allowed on a legacy route", func(t *testing.T) {
				tok := w.clientToken("app", "app-secret", "https://forge.example")
				if code, body, _ := w.call(http.MethodGet, base+"/legacy/x", "Bearer "+tok, nil, nil); code != 200 {
					t.Fatalf("%d %v", code, body)
				}
			})
			t.Run("public route", func(t *testing.T) {
				if code, body, _ := w.call(http.MethodGet, base+"/health", "", nil, nil); code != 200 {
					t.Fatalf("%d %v", code, body)
				}
			})
		})
	}
}

func tamper(tok string) string {
	parts := strings.Split(tok, ".")
	sig := []byte(parts[2])
	if sig[0] == 'A' {
		sig[0] = 'B'
	} else {
		sig[0] = 'A'
	}
	return parts[0] + "." + parts[1] + "." + string(sig)
}

func TestStepOneTimeReplayAndRevocation(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	planTok := w.grant("planner", run, "plan")
	w.complete("planner", run, "plan", planTok)
	patchTok := w.grant("patcher", run, "patch")
	patcher := w.agents["patcher"].key
	pulls := "/repos/acme/web/pulls"

	t.Run("one-time route accepts the token once", func(t *testing.T) {
		if code, body := w.send(w.api.URL, http.MethodPost, pulls, patchTok, patcher); code != 200 {
			t.Fatalf("first: %d %v", code, body)
		}
		code, body := w.send(w.api.URL, http.MethodPost, pulls, patchTok, patcher)
		if code != 401 || body["reason"] != "token_used" {
			t.Fatalf("second: %d %v", code, body)
		}
	})
	t.Run("replayed proof", func(t *testing.T) {
		p, _ := dpop.NewProof(patcher, http.MethodGet, w.api.URL+"/repos/acme/web/contents/x", dpop.ProofOptions{AccessToken: patchTok})
		hdr := http.Header{"Dpop": {p}}
		w.call(http.MethodGet, w.api.URL+"/repos/acme/web/contents/x", "DPoP "+patchTok, nil, hdr)
		code, body, _ := w.call(http.MethodGet, w.api.URL+"/repos/acme/web/contents/x", "DPoP "+patchTok, nil, hdr)
		if code != 401 || body["reason"] != "replayed_proof" {
			t.Fatalf("%d %v", code, body)
		}
	})
	t.Run("spoofed Ajwt headers are stripped by the proxy", func(t *testing.T) {
		p, _ := dpop.NewProof(patcher, http.MethodGet, w.prx.URL+"/repos/acme/web/contents/x", dpop.ProofOptions{AccessToken: patchTok})
		hdr := http.Header{"Dpop": {p}, "Ajwt-Agent": {"supervisor"}, "Ajwt-Approved": {"yes"}}
		code, _, _ := w.call(http.MethodGet, w.prx.URL+"/repos/acme/web/contents/x", "DPoP "+patchTok, nil, hdr)
		seen := w.lastSeen
		if code != 200 || seen.Get("Ajwt-Agent") != "patcher" || seen.Get("Ajwt-Approved") != "" || seen.Get("Ajwt-Run") != run ||
			seen.Get("Ajwt-Step") != "patch" || seen.Get("Ajwt-Initiated-By") != "user:alice" || seen.Get("Authorization") != "" || seen.Get("Dpop") != "" {
			t.Fatalf("%d upstream saw %v", code, seen)
		}
	})
	t.Run("revoked agent refused within the feed delay", func(t *testing.T) {
		admin := "Bearer " + w.clientToken("admin", "admin-secret", "")
		if code, body, _ := w.call(http.MethodPost, w.idp.URL+"/v1/agents/patcher/revoke", admin, nil, nil); code != 200 {
			t.Fatalf("revoke: %d %v", code, body)
		}
		deadline := time.Now().Add(2 * time.Second)
		for {
			code, body := w.send(w.api.URL, http.MethodGet, "/repos/acme/web/contents/x", patchTok, patcher)
			if code == 401 && body["reason"] == "agent_revoked" {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("still %d %v two seconds after revocation", code, body)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

func TestExpiredToken(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	tok := w.grant("planner", run, "plan")
	pol, _ := policyfile.Parse([]byte(strings.ReplaceAll(policyYAML, "ISSUER", w.idp.URL)))
	later := func() time.Time { return time.Now().Add(10 * time.Minute) }
	enf, err := middleware.New(context.Background(), pol, middleware.WithClock(later), middleware.WithoutRevocationFeed())
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest(http.MethodGet, "http://api.example/repos/acme/web/contents/x", nil)
	r.Header.Set("Authorization", "DPoP "+tok)
	_, err = enf.Check(r)
	if !errorsIs(err, protocol.ErrExpired) {
		t.Fatalf("err = %v, want expired", err)
	}
	_, wrongIssuer := middleware.New(context.Background(), mustCompile(t, pol, "http://127.0.0.1:1"))
	if wrongIssuer == nil {
		t.Fatal("an enforcer for an unreachable issuer started")
	}
}

func mustCompile(t *testing.T, p *policy.Policy, issuer string) *policy.Policy {
	p2, err := policy.Compile(policy.Rules{Issuer: issuer, Resource: p.Resource()})
	if err != nil {
		t.Fatal(err)
	}
	return p2
}

// TestProxyHeaders: the upstream learns who calls only from the headers
// the proxy sets (§8); spellings of Ajwt-* that CGI-style servers read as
// the same variable, and method overrides, never reach it.
func TestProxyHeaders(t *testing.T) {
	w := newWorld(t)
	run := w.startRun("acme/web")
	tok := w.grant("planner", run, "plan")
	read := "/repos/acme/web/contents/go.mod"
	spoofed := http.Header{
		"Ajwt_Agent": {"evil"}, "ajwt_run": {"evil"}, "AJWT-STEP": {"evil"}, "Ajwt-Client": {"evil"},
		"Ajwt-Initiated-By": {"user:ceo"}, "Ajwt_approved": {"yes"},
		"X-Http-Method-Override": {"DELETE"}, "X-Http-Method": {"DELETE"}, "X-Method-Override": {"DELETE"},
		"X_HTTP_Method_Override": {"DELETE"}, "X-Original-Url": {"/repos/acme/web/secrets"}, "X-Rewrite-Url": {"/repos/acme/web/secrets"},
	}
	t.Run("intent token", func(t *testing.T) {
		hdr := spoofed.Clone()
		hdr.Set("Dpop", mkProof(t, w.agents["planner"].key, http.MethodGet, w.prx.URL+read, tok))
		if code, body, _ := w.call(http.MethodGet, w.prx.URL+read, "DPoP "+tok, nil, hdr); code != 200 {
			t.Fatalf("%d %v", code, body)
		}
		checkUpstreamHeaders(t, w.lastSeen, map[string]string{"ajwt-agent": "planner", "ajwt-run": run, "ajwt-step": "plan",
			"ajwt-initiated-by": "user:alice", "ajwt-client": "app"})
	})
	t.Run("legacy token", func(t *testing.T) {
		legacy := w.clientToken("app", "app-secret", "https://forge.example")
		if code, body, _ := w.call(http.MethodGet, w.prx.URL+"/legacy/x", "Bearer "+legacy, nil, spoofed.Clone()); code != 200 {
			t.Fatalf("%d %v", code, body)
		}
		checkUpstreamHeaders(t, w.lastSeen, map[string]string{"ajwt-client": "app"})
	})
}

// checkUpstreamHeaders requires exactly the wanted Ajwt-* headers (names
// compared as CGI reads them: any case, "_" as "-"), one value each, and
// no credentials or method or URL overrides.
func checkUpstreamHeaders(t *testing.T, seen http.Header, want map[string]string) {
	t.Helper()
	got := map[string]string{}
	for name, values := range seen {
		norm := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		switch {
		case strings.HasPrefix(norm, "ajwt-"):
			if len(values) != 1 || got[norm] != "" {
				t.Fatalf("%s sent more than once: %v", name, seen)
			}
			got[norm] = values[0]
		case norm == "authorization" || norm == "dpop" || strings.Contains(norm, "method") || strings.HasPrefix(norm, "x-original") || strings.HasPrefix(norm, "x-rewrite"):
			t.Fatalf("upstream saw %s: %v", name, values)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("upstream saw Ajwt headers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("upstream saw %s = %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
}
