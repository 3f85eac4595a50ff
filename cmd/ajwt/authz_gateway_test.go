package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/authz"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/protocol"
)

// gatewayBinary finds a gateway's binary; without it the test is skipped
// with a warning, except under CI, where scripts/gateway-test.sh
// installs it and its absence fails.
func gatewayBinary(t *testing.T, name string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err == nil {
		return bin
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed (scripts/gateway-test.sh installs it)", name)
	}
	t.Skipf("warning: %s is not installed; run scripts/gateway-test.sh to install it and run these tests", name)
	return ""
}

// exampleConfig reads a configuration under examples/gateways/ with its
// example addresses replaced by the test's.
func exampleConfig(t *testing.T, path string, replace ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "examples", "gateways", path))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for i := 0; i < len(replace); i += 2 {
		if !strings.Contains(s, replace[i]) {
			t.Fatalf("%s no longer holds %q", path, replace[i])
		}
		s = strings.ReplaceAll(s, replace[i], replace[i+1])
	}
	return s
}

// startNginx runs nginx in the foreground, one process, with the example
// configuration and every path of its own under a temporary prefix (the
// Debian package's service and files are not used).
func startNginx(t *testing.T, authzAddr, apiAddr string) string {
	bin := gatewayBinary(t, "nginx")
	dir, addr := t.TempDir(), freeAddr(t)
	site := exampleConfig(t, "nginx/ajwt.conf", "127.0.0.1:9001", authzAddr, "127.0.0.1:3000", apiAddr, "listen 8080;", "listen "+addr+";")
	writeFile(t, dir, "ajwt.conf", site)
	main := fmt.Sprintf(`daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[1]s/ajwt.conf;
}
`, dir)
	conf := writeFile(t, dir, "nginx.conf", main)
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", logs)
		}
	})
	startGateway(t, exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf), addr, filepath.Join(dir, "error.log"))
	return "http://" + addr
}

// startCaddy runs Caddy with the example Caddyfile, its admin API off and
// its state under a temporary directory.
func startCaddy(t *testing.T, authzAddr, apiAddr string) string {
	bin := gatewayBinary(t, "caddy")
	dir, addr := t.TempDir(), freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	site := exampleConfig(t, "caddy/Caddyfile", "127.0.0.1:9001", authzAddr, "127.0.0.1:3000", apiAddr, ":8080 {", ":"+port+" {")
	conf := writeFile(t, dir, "Caddyfile", "{\n\tadmin off\n\tauto_https off\n\tdefault_bind 127.0.0.1\n}\n"+site)
	cmd := exec.Command(bin, "run", "--config", conf, "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir)
	startGateway(t, cmd, addr, "")
	return "http://" + addr
}

func startGateway(t *testing.T, cmd *exec.Cmd, addr, logFile string) {
	t.Helper()
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-exited:
			logs, _ := os.ReadFile(logFile)
			t.Fatalf("%s exited:\n%s%s", cmd.Path, out, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start:\n%s", cmd.Path, out)
		}
	}
}

// gatewayPolicy: a read by path context, a one-time write, a scope and
// an agent the token lacks, and a public route.
const gatewayPolicy = `issuer: ISSUER
resource: https://forge.example
routes:
  - match: {method: GET, path: "/repos/{owner}/{repo}/contents/**"}
    scopes: [repo:read]
    context: {repo: "{owner}/{repo}"}
  - match: {method: POST, path: "/repos/{owner}/{repo}/pulls"}
    scopes: [repo:read]
    one_time: true
  - match: {method: GET, path: "/repos/{owner}/{repo}/settings"}
    scopes: [repo:admin]
  - match: {method: GET, path: "/repos/{owner}/{repo}/secrets"}
    agents: [patcher]
  - match: {method: GET, path: "/health"}
    public: true
default: deny
`

// gatewayWorld is an IdP, an API that records what reaches it, and
// `ajwt authz`; a gateway goes in front of the API.
type gatewayWorld struct {
	t                           *testing.T // the gateway's test, which outlives its subtests
	idp, policy, authzAddr, api string
	authzStarted                time.Time
	hits                        atomic.Int64
	mu                          sync.Mutex
	seen                        http.Header
	stopAuthz                   func() int
}

func newGatewayWorld(t *testing.T) *gatewayWorld {
	g := &gatewayWorld{t: t, idp: idptest.Start(t, idptest.Config).URL}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.hits.Add(1)
		g.mu.Lock()
		g.seen = r.Header.Clone()
		g.mu.Unlock()
		_, _ = io.WriteString(w, "api:"+r.RequestURI)
	}))
	t.Cleanup(api.Close)
	g.api = strings.TrimPrefix(api.URL, "http://")
	g.policy = writeFile(t, t.TempDir(), "policy.yaml", strings.ReplaceAll(gatewayPolicy, "ISSUER", g.idp))
	g.authzAddr = freeAddr(t)
	g.startAuthz()
	return g
}

// startAuthz (re)starts `ajwt authz` for the rest of the gateway's test.
func (g *gatewayWorld) startAuthz() {
	g.authzStarted = time.Now()
	_, g.stopAuthz = startAuthz(g.t, g.authzAddr, "--policy", g.policy)
}

func (g *gatewayWorld) upstreamSaw() http.Header {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.seen
}

// agentSource registers agent a1 (via intentToken) and returns a token
// source of a1 for a new run on acme/web, and a1's key.
func agentSource(t *testing.T, idp string) (client.TokenSource, *keys.Signer) {
	_, key := intentToken(t, idp)
	app, err := client.New(context.Background(), client.Config{Issuer: idp, ClientID: "app", ClientSecret: "app-secret"})
	if err != nil {
		t.Fatal(err)
	}
	spec := &agentspec.Spec{AgentID: "a1", PromptTemplate: "Agent a1."}
	agent, err := app.Agent(spec, client.DerivedKey(proxyTestMaster))
	if err != nil {
		t.Fatal(err)
	}
	run, err := app.StartRun(context.Background(), "wf", "user:alice", map[string]string{"repo": "acme/web"})
	if err != nil {
		t.Fatal(err)
	}
	return agent.TokenSource(run.ID, "s1", client.WithResource("https://forge.example")), key
}

// gwAnswer is what a client got through the gateway.
type gwAnswer struct {
	status int
	header http.Header
	body   string
	wire   struct{ Error, Reason string }
}

// send calls the gateway; uri goes on the request line as given.
func send(t *testing.T, base, method, uri string, hdr http.Header) gwAnswer {
	t.Helper()
	u, _ := url.Parse(base)
	req := &http.Request{Method: method, URL: &url.URL{Scheme: "http", Host: u.Host, Opaque: uri}, Header: hdr, Host: u.Host}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	a := gwAnswer{status: res.StatusCode, header: res.Header, body: string(b)}
	_ = json.Unmarshal(b, &a.wire)
	return a
}

func dpopHeader(t *testing.T, key *keys.Signer, method, htu, tok string) http.Header {
	p, err := dpop.NewProof(key, method, htu, dpop.ProofOptions{AccessToken: tok})
	if err != nil {
		t.Fatal(err)
	}
	return http.Header{"Authorization": {"DPoP " + tok}, "Dpop": {p}}
}

// TestGateways puts nginx (auth_request) and Caddy (forward_auth), run
// from the configurations under examples/gateways/, in front of an API,
// with `ajwt authz` deciding: what the proxy allows reaches the API with
// the identity the authorizer gives and none a client claims; every
// refusal reaches the client with its status, challenge, nonce and
// reason; the gateway caches no decision; one_time, use_dpop_nonce (the
// Go SDK retries) and revocation work through it.
func TestGateways(t *testing.T) {
	gateways := []struct {
		name  string
		start func(*testing.T, string, string) string
		// status of a §8 400 through the gateway (nginx: 403, §13.2)
		badRequest int
		// whether every Ajwt-* header is removed, not only the five
		byPrefix bool
	}{
		{"nginx", startNginx, 403, false},
		{"caddy", startCaddy, 400, true},
	}
	for _, gw := range gateways {
		t.Run(gw.name, func(t *testing.T) {
			gatewayBinary(t, gw.name)
			g := newGatewayWorld(t)
			base := gw.start(t, g.authzAddr, g.api)
			ts, key := agentSource(t, g.idp)
			t.Run("allowed, spoofed identity dropped", func(t *testing.T) { g.checkAllowed(t, base, ts, key, gw.byPrefix) })
			t.Run("refusals", func(t *testing.T) { g.checkRefusals(t, base, ts, key, gw.badRequest) })
			t.Run("no decision cached, one_time", func(t *testing.T) { g.checkSpent(t, base, key) })
			t.Run("use_dpop_nonce retried by the SDK", func(t *testing.T) { g.checkNonce(t, base, ts) })
			t.Run("revocation within 2 s", func(t *testing.T) { g.checkRevocation(t, base, ts, key) })
		})
	}
}

const gwRead = "/repos/acme/web/contents/go.mod"

func (g *gatewayWorld) checkAllowed(t *testing.T, base string, ts client.TokenSource, key *keys.Signer, byPrefix bool) {
	tok := accessToken(t, ts)
	hdr := dpopHeader(t, key, http.MethodGet, base+gwRead, tok)
	for k, v := range map[string]string{"Ajwt-Agent": "evil", "ajwt_agent": "evil", "AJWT-RUN": "evil", "Ajwt_Step": "evil",
		"Ajwt-Initiated-By": "user:ceo", "Ajwt_initiated_by": "user:ceo", "Ajwt-Client": "evil", "Ajwt-Approved": "yes", "ajwt_approved": "yes"} {
		hdr[k] = []string{v}
	}
	a := send(t, base, http.MethodGet, gwRead, hdr)
	if a.status != 200 || a.body != "api:"+gwRead {
		t.Fatalf("allowed read: %d %s", a.status, a.body)
	}
	want := map[string]string{"ajwt-agent": "a1", "ajwt-step": "s1", "ajwt-initiated-by": "user:alice", "ajwt-client": "app"}
	got := ajwtHeaders(t, g.upstreamSaw())
	if !byPrefix && got["ajwt-approved"] == "yes" {
		delete(got, "ajwt-approved") // nginx cannot remove by prefix; upstreams trust only the five
	}
	run := got["ajwt-run"]
	delete(got, "ajwt-run")
	if run == "" || run == "evil" || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the API saw %v (run %q), want %v", got, run, want)
	}
	a = send(t, base, http.MethodGet, "/health", http.Header{"Ajwt-Agent": {"evil"}, "Ajwt-Client": {"evil"}, "ajwt_run": {"evil"}})
	if a.status != 200 {
		t.Fatalf("public route: %d %s", a.status, a.body)
	}
	for name, v := range ajwtHeaders(t, g.upstreamSaw()) {
		if v != "" {
			t.Fatalf("public route: the API saw %s: %q", name, v)
		}
	}
}

// ajwtHeaders are the Ajwt-* headers as CGI reads them (any case, "_" as
// "-"), after checking that no credentials reached the API.
func ajwtHeaders(t *testing.T, seen http.Header) map[string]string {
	t.Helper()
	out := map[string]string{}
	for name, values := range seen {
		norm := strings.ReplaceAll(strings.ToLower(name), "_", "-")
		switch {
		case norm == "authorization" || norm == "dpop":
			t.Fatalf("the API saw %s", name)
		case strings.HasPrefix(norm, "ajwt-"):
			if len(values) != 1 || out[norm] != "" {
				t.Fatalf("the API saw %s more than once: %v", norm, seen)
			}
			out[norm] = values[0]
		}
	}
	return out
}

func accessToken(t *testing.T, ts client.TokenSource) string {
	tok, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken
}

func (g *gatewayWorld) checkRefusals(t *testing.T, base string, ts client.TokenSource, key *keys.Signer, badRequest int) {
	tok := accessToken(t, ts)
	proof := func(method, uri string) http.Header { return dpopHeader(t, key, method, base+uri, tok) }
	tests := []struct {
		name, method, uri string
		hdr               http.Header
		status            int
		reason, challenge string
	}{
		{"no credentials", "GET", gwRead, nil, 401, "malformed", `DPoP error="invalid_token"`},
		{"tampered token", "GET", gwRead, dpopHeader(t, key, "GET", base+gwRead, tok[:len(tok)-4]+"AAAA"), 401, "bad_signature", `error="invalid_token"`},
		{"proof for the authorizer's URL", "GET", gwRead, dpopHeader(t, key, "GET", "http://"+g.authzAddr+gwRead, tok), 401, "wrong_htu", `error="invalid_dpop_proof"`},
		{"insufficient scope", "GET", "/repos/acme/web/settings", proof("GET", "/repos/acme/web/settings"), 403, "insufficient_scope", `DPoP error="insufficient_scope", scope="repo:admin"`},
		{"wrong agent", "GET", "/repos/acme/web/secrets", proof("GET", "/repos/acme/web/secrets"), 403, "wrong_agent", ""},
		{"no route", "DELETE", "/repos/acme/web", proof("DELETE", "/repos/acme/web"), 403, "no_route", ""},
		{"context mismatch", "GET", "/repos/acme/api/contents/x", proof("GET", "/repos/acme/api/contents/x"), 403, "context_mismatch", ""},
		{"non-canonical path", "GET", "/repos/acme/web/contents/x/%2e%2e/go.mod", proof("GET", "/repos/acme/web/contents/x/%2e%2e/go.mod"), badRequest, "non_canonical_path", ""},
		{"encoded slash", "GET", "/repos/acme%2Fweb/contents/go.mod", proof("GET", "/repos/acme%2Fweb/contents/go.mod"), badRequest, "non_canonical_path", ""},
		{"client's own forwarded fields", "GET", "/repos/acme/web/settings", http.Header{"X-Forwarded-Uri": {"/health"}, "X-Forwarded-Method": {"GET"},
			"X-Original-Url": {base + "/health"}, "X-Original-Method": {"GET"}, "X-Forwarded-Host": {"evil.example"}}, 401, "malformed", `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := g.hits.Load()
			a := send(t, base, tt.method, tt.uri, tt.hdr)
			challenges := a.header.Values("WWW-Authenticate")
			if a.status != tt.status || a.wire.Reason != tt.reason || a.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("%d %q %v, want %d %s", a.status, a.body, a.header, tt.status, tt.reason)
			}
			if (tt.challenge == "") != (len(challenges) == 0) || len(challenges) > 1 || (tt.challenge != "" && !strings.Contains(challenges[0], tt.challenge)) {
				t.Fatalf("challenges %q, want one with %q", challenges, tt.challenge)
			}
			if g.hits.Load() != before {
				t.Fatal("a refused request reached the API")
			}
		})
	}
}

func (g *gatewayWorld) checkSpent(t *testing.T, base string, key *keys.Signer) {
	// A one-time token issued before the authorizer's replay cache
	// started (plus the 5 s leeway) may have been used before it: it is
	// refused (replay_window_reset). Use one issued after.
	time.Sleep(time.Until(g.authzStarted.Add(protocol.DefaultLeeway + 1100*time.Millisecond)))
	ts, _ := agentSource(t, g.idp)
	tok := accessToken(t, ts)
	hdr := dpopHeader(t, key, http.MethodGet, base+gwRead, tok)
	if a := send(t, base, http.MethodGet, gwRead, hdr.Clone()); a.status != 200 {
		t.Fatalf("first use of the proof: %d %s", a.status, a.body)
	}
	if a := send(t, base, http.MethodGet, gwRead, hdr.Clone()); a.status != 401 || a.wire.Reason != "replayed_proof" {
		t.Fatalf("the same proof again: %d %s", a.status, a.body)
	}
	const pulls = "/repos/acme/web/pulls"
	if a := send(t, base, http.MethodPost, pulls, dpopHeader(t, key, http.MethodPost, base+pulls, tok)); a.status != 200 {
		t.Fatalf("one-time route: %d %s", a.status, a.body)
	}
	a := send(t, base, http.MethodPost, pulls, dpopHeader(t, key, http.MethodPost, base+pulls, tok))
	if a.status != 401 || a.wire.Reason != "token_used" || !strings.Contains(a.header.Get("WWW-Authenticate"), `error_description="token_used"`) {
		t.Fatalf("one-time route again: %d %s %v", a.status, a.body, a.header)
	}
}

// checkNonce replaces `ajwt authz` with an authorizer whose replay cache
// has just started (a restart): a proof made now gets use_dpop_nonce and
// a DPoP-Nonce through the gateway, which the SDK's Transport answers by
// retrying once with the nonce.
func (g *gatewayWorld) checkNonce(t *testing.T, base string, ts client.TokenSource) {
	g.stopAuthz()
	pol, err := policyfile.Load(g.policy)
	if err != nil {
		t.Fatal(err)
	}
	enf, err := middleware.New(context.Background(), pol, middleware.WithRestartGuard(30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer enf.Close()
	var nonces atomic.Int64
	a, _ := authz.New(enf, authz.Options{Observe: func(d authz.Decision) {
		if d.Err != nil && strings.Contains(d.Err.Error(), "use_dpop_nonce") {
			nonces.Add(1)
		}
	}})
	ln, err := net.Listen("tcp", g.authzAddr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: a.Handler()}
	go srv.Serve(ln)
	hc := &http.Client{Transport: &client.Transport{Source: ts}}
	res, err := hc.Get(base + gwRead)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	srv.Close()
	if res.StatusCode != 200 || nonces.Load() != 1 {
		t.Fatalf("%d %s after %d nonce challenges, want 200 after 1", res.StatusCode, body, nonces.Load())
	}
	g.startAuthz()
}

func (g *gatewayWorld) checkRevocation(t *testing.T, base string, ts client.TokenSource, key *keys.Signer) {
	tok := accessToken(t, ts)
	admin := "Bearer " + mustClientToken(t, g.idp, "admin", "admin-secret")
	callJSON(t, http.MethodPost, g.idp+"/v1/agents/a1/revoke", admin, "")
	deadline := time.Now().Add(2 * time.Second)
	for {
		a := send(t, base, http.MethodGet, gwRead, dpopHeader(t, key, http.MethodGet, base+gwRead, tok))
		if a.status == 401 && a.wire.Reason == "agent_revoked" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d %s two seconds after the revocation", a.status, a.body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
