package main

import (
	"bytes"
	"context"
	"encoding/json"
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

	"github.com/ajwt/ajwt/internal/idptest"
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
// metrics show a healthy revocation feed.
func TestProxyCommand(t *testing.T) {
	idp := idptest.Start(t, idptest.Config)
	var seen sync.Map
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.Store(r.RequestURI, true) }))
	defer upstream.Close()
	dir := t.TempDir()
	policyFile := filepath.Join(dir, "policy.yaml")
	os.WriteFile(policyFile, []byte("issuer: "+idp.URL+"\nresource: https://forge.example\nroutes:\n  - match: {method: GET, path: \"/public/**\"}\n    public: true\n"), 0o644)
	addr := freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &syncBuffer{}
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"proxy", "--policy", policyFile, "--upstream", upstream.URL, "--addr", addr}, strings.NewReader(""), io.Discard, stderr)
	}()
	defer func() { cancel(); <-done }()
	base := "http://" + addr
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) (int, string) {
		res, err := noRedirect.Get(base + path)
		if err != nil {
			return 0, err.Error()
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if code, _ := get("/metrics"); code == 200 {
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

	_, metrics := get("/metrics")
	if !strings.Contains(metrics, "ajwt_proxy_revocation_feed_failures 0") {
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
