package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/keys"
)

// syncBuffer is a bytes.Buffer the proxy's logger and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestProxyCommand runs `ajwt proxy` against a real IdP: paths that are
// not canonical get the enforcer's 400 (not a redirect to a cleaned
// path), the upstream and the access log see the canonical path, and the
// metrics, on the admin listener only, show a healthy revocation feed.
func TestProxyCommand(t *testing.T) {
	idp := idptest.Start(t, idptest.Config)
	var seen sync.Map
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.Store(r.RequestURI, true) }))
	defer upstream.Close()
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policyFile, []byte("issuer: "+idp.URL+"\nresource: https://forge.example\nroutes:\n  - match: {method: GET, path: \"/public/**\"}\n    public: true\n"), 0o644)
	addr, admin := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"proxy", "--policy", policyFile, "--upstream", upstream.URL, "--addr", addr, "--admin-addr", admin, "--dpop-future-skew", "1s"},
			strings.NewReader(""), io.Discard, stderr)
	}()
	defer func() { cancel(); <-done }()
	base := "http://" + addr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	getAt := func(base, path string) (int, string) {
		res, err := noRedirect.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	get := func(path string) (int, string) { return getAt(base, path) }
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := getAt("http://"+admin, "/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not start:\n%s", stderr)
		}
	}

	for _, p := range []string{"/public/x/../y", "/public/x/%2e%2e/y", "/public//y", "/public/x;a=b"} {
		code, body := get(p)
		var wire struct{ Error, Reason string }
		json.Unmarshal([]byte(body), &wire)
		if code != 400 || wire.Error != "invalid_request" || wire.Reason != "non_canonical_path" {
			t.Fatalf("%s: %d %s", p, code, body)
		}
	}
	if code, body := get("/public/%7ea%2a"); code != 200 {
		t.Fatalf("canonical request: %d %s", code, body)
	}
	if _, ok := seen.Load("/public/~a%2A"); !ok {
		t.Fatal("the upstream did not receive the canonical path")
	}
	if !strings.Contains(stderr.String(), `"path":"/public/~a%2A"`) {
		t.Fatalf("access log lacks the canonical path:\n%s", stderr)
	}

	if code, _ := get("/metrics"); code == 200 {
		t.Fatal("the proxy's protected port serves its metrics")
	}
	_, metrics := getAt("http://"+admin, "/metrics")
	if !strings.Contains(metrics, "ajwt_proxy_revocation_feed_failures 0") || !strings.Contains(metrics, "ajwt_proxy_jwks_fetch_failures_total 0") {
		t.Fatalf("metrics:\n%s", metrics)
	}
	m := regexp.MustCompile(`(?m)^ajwt_proxy_revocation_feed_last_sync_seconds (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("no last-sync gauge:\n%s", metrics)
	}
	if age, err := strconv.ParseFloat(m[1], 64); err != nil || age < 0 || age > 60 {
		t.Fatalf("last sync %s seconds ago", m[1])
	}
}

// startProxy runs `ajwt proxy` in-process with args (policy, upstream,
// addr, ...) and returns once it serves; stop ends it.
func startProxy(t *testing.T, addr string, args ...string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, append([]string{"proxy", "--addr", addr}, args...), strings.NewReader(""), io.Discard, stderr)
	}()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get("http://" + addr + "/metrics"); err == nil {
			res.Body.Close()
			break
		}
		select {
		case code := <-done:
			t.Fatalf("proxy exited %d:\n%s", code, stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("proxy did not start:\n%s", stderr)
		}
	}
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

var proxyTestMaster = []byte("proxy command test master secret, 32+ bytes")

// intentToken registers agent a1 and a one-step workflow at idp and
// returns a token of a1 for a new run, and a1's key.
func intentToken(t *testing.T, idp string) (string, *keys.Signer) {
	ctx := context.Background()
	admin := "Bearer " + mustClientToken(t, idp, "admin", "admin-secret")
	spec := &agentspec.Spec{AgentID: "a1", PromptTemplate: "Agent a1."}
	sum, _ := agentspec.Sum(spec)
	priv, _ := keys.DeriveAgentKey(proxyTestMaster, "a1", string(sum))
	key, _ := keys.NewSigner(priv, keys.EdDSA, "")
	body, _ := json.Marshal(map[string]any{"client_id": "app", "spec": spec, "public_jwk": key.Public(), "scopes": []string{"repo:read"},
		"audiences": []string{"https://forge.example"}})
	callJSON(t, http.MethodPut, idp+"/v1/agents/a1", admin, string(body))
	callJSON(t, http.MethodPut, idp+"/v1/workflows/wf", admin, `{"steps":[{"id":"s1","agent":"a1","scopes":["repo:read"],"audience":"https://forge.example"}]}`)
	app, err := client.New(ctx, client.Config{Issuer: idp, ClientID: "app", ClientSecret: "app-secret"})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := app.Agent(spec, client.DerivedKey(proxyTestMaster))
	if err != nil {
		t.Fatal(err)
	}
	run, err := app.StartRun(ctx, "wf", "user:alice", map[string]string{"repo": "acme/web"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := agent.TokenSource(run.ID, "s1", client.WithResource("https://forge.example")).Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return tok.AccessToken, key
}

// TestProxyCommandRestart: a proof the proxy accepted is
// refused by the restarted proxy (memory replay cache) with
// use_dpop_nonce and a DPoP-Nonce, and a fresh proof made after the
// restart passes without one: the proxy serves only once the restart
// window has closed.
func TestProxyCommandRestart(t *testing.T) {
	idp := idptest.Start(t, idptest.Config)
	upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer upstream.Close()
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(policyFile, []byte("issuer: "+idp.URL+"\nresource: https://forge.example\nroutes:\n"+
		"  - match: {method: GET, path: \"/repos/{owner}/{repo}\"}\n    scopes: [repo:read]\n"), 0o644)
	addr := freeAddr(t)
	args := []string{"--policy", policyFile, "--upstream", upstream.URL, "--dpop-future-skew", "1s"}
	stop := startProxy(t, addr, args...)
	tok, key := intentToken(t, idp.URL)
	u := "http://" + addr + "/repos/acme/web"
	send := func(proof string) (int, http.Header, string) {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header, string(body)
	}
	captured, _ := dpop.NewProof(key, http.MethodGet, u, dpop.ProofOptions{AccessToken: tok})
	if code, _, body := send(captured); code != 200 {
		t.Fatalf("before the restart: %d %s", code, body)
	}
	stop()
	startProxy(t, addr, args...)
	code, hdr, body := send(captured)
	if code != 401 || !strings.Contains(body, `"use_dpop_nonce"`) || !strings.Contains(body, `"replay_window_reset"`) || hdr.Get("DPoP-Nonce") == "" {
		t.Fatalf("captured proof after the restart: %d %v %s", code, hdr, body)
	}
	fresh, _ := dpop.NewProof(key, http.MethodGet, u, dpop.ProofOptions{AccessToken: tok})
	if code, _, body := send(fresh); code != 200 {
		t.Fatalf("fresh proof after the restart: %d %s", code, body)
	}
}

// TestProxyCommandIdleTimeout: `ajwt proxy --idle-timeout`
// streams a response for longer than its idle timeout as long as bytes
// keep coming, and cuts one whose upstream stops sending.
func TestProxyCommandIdleTimeout(t *testing.T) {
	idp := idptest.Start(t, idptest.Config)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := range 15 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			if r.URL.Path == "/public/stall" && i == 0 {
				<-r.Context().Done()
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
	}))
	defer upstream.Close()
	policyFile := filepath.Join(t.TempDir(), "policy.yaml")
	os.WriteFile(policyFile, []byte("issuer: "+idp.URL+"\nresource: https://forge.example\nroutes:\n  - match: {method: GET, path: \"/public/**\"}\n    public: true\n"), 0o644)
	addr := freeAddr(t)
	startProxy(t, addr, "--policy", policyFile, "--upstream", upstream.URL, "--dpop-future-skew", "0s", "--idle-timeout", "300ms")
	read := func(path string) (string, error) {
		res, err := http.Get("http://" + addr + path)
		if err != nil {
			return "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return string(b), err
	}
	if body, err := read("/public/stream"); err != nil || strings.Count(body, "\n") != 15 {
		t.Fatalf("stream of 1.5 s with a 300 ms idle timeout: %v, %q", err, body)
	}
	if body, err := read("/public/stall"); err == nil {
		t.Fatalf("stalled upstream not cut: %q", body)
	}
}
