package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/token"
)

// TestCrashSafety kills `ajwt serve` with SIGKILL while registrations,
// grants and run creations are in flight, restarts it, and checks that
// every acknowledged write is there and the audit chain verifies.
func TestCrashSafety(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr)
	sec := readSecrets(t, dir)
	s := startServer(t, dir, addr)
	admin := "Bearer " + s.clientToken("admin", sec["AJWT_ADMIN_SECRET"])
	key, _ := keys.Generate(keys.EdDSA, nil)

	var mu sync.Mutex
	var agents, tokens, runs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	worker := func(i int, do func(n int) (string, bool), into *[]string) {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				if id, ok := do(i*100000 + n); ok {
					mu.Lock()
					*into = append(*into, id)
					mu.Unlock()
				}
			}
		})
	}
	register := func(n int) (string, bool) {
		id := fmt.Sprintf("crash-%d", n)
		spec := &agentspec.Spec{AgentID: id, PromptTemplate: "Agent " + id}
		body, _ := json.Marshal(map[string]any{"client_id": "patch-app", "spec": spec, "public_jwk": key.Public(), "scopes": []string{"repo:read"}})
		code := post(s.base+"/v1/agents/"+id, http.MethodPut, admin, "application/json", string(body))
		return id, code == 201
	}
	grant := func(int) (string, bool) {
		tok := tryClientToken(s.base, "patch-app", sec["AJWT_PATCH_APP_SECRET"])
		return tok, tok != ""
	}
	startRun := func(int) (string, bool) {
		app := "Bearer " + tryClientToken(s.base, "patch-app", sec["AJWT_PATCH_APP_SECRET"])
		req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/runs", strings.NewReader(`{"workflow_id":"vuln-patch","initiated_by":"user:alice"}`))
		req.Header.Set("Authorization", app)
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return "", false
		}
		defer res.Body.Close()
		var run struct {
			RunID string `json:"run_id"`
		}
		json.NewDecoder(res.Body).Decode(&run)
		return run.RunID, res.StatusCode == 201 && run.RunID != ""
	}
	for i := range 2 {
		worker(i, register, &agents)
		worker(i+2, grant, &tokens)
		worker(i+4, startRun, &runs)
	}
	time.Sleep(700 * time.Millisecond)
	s.stop(syscall.SIGKILL)
	close(stop)
	wg.Wait()
	t.Logf("acknowledged before the kill: %d registrations, %d tokens, %d runs", len(agents), len(tokens), len(runs))
	if len(agents) == 0 || len(tokens) == 0 || len(runs) == 0 {
		t.Fatal("the load did not get going before the kill")
	}

	s = startServer(t, dir, addr)
	admin = "Bearer " + s.clientToken("admin", sec["AJWT_ADMIN_SECRET"])
	for _, id := range agents {
		if code, body := s.call(http.MethodGet, "/v1/agents/"+id, admin, nil, nil); code != 200 {
			t.Fatalf("acknowledged registration %s lost: %d %v", id, code, body)
		}
	}
	app := "Bearer " + s.clientToken("patch-app", sec["AJWT_PATCH_APP_SECRET"])
	for _, id := range runs {
		if code, body := s.call(http.MethodGet, "/v1/runs/"+id, app, nil, nil); code != 200 {
			t.Fatalf("acknowledged run %s lost: %d %v", id, code, body)
		}
	}
	for _, tok := range tokens {
		c, _ := token.UnsafeParseClaims(tok)
		if !introspect(t, s.base, sec["AJWT_PATCH_APP_SECRET"], tok) {
			t.Fatalf("acknowledged token %s lost (introspection inactive)", c.ID)
		}
	}
	s.stop(syscall.SIGTERM)
	if out, errOut, code := ajwt(t, "", "audit", "verify", "--data", filepath.Join(dir, "data")); code != 0 {
		t.Fatalf("audit chain after the crash: %s %s", out, errOut)
	}
}

func post(u, method, auth, ctype, body string) int {
	req, _ := http.NewRequest(method, u, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", ctype)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func tryClientToken(base, id, secret string) string {
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if res.StatusCode != 200 || json.NewDecoder(res.Body).Decode(&tok) != nil {
		return ""
	}
	return tok.AccessToken
}

func introspect(t *testing.T, base, secret, tok string) bool {
	req, _ := http.NewRequest(http.MethodPost, base+"/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("patch-app", secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct{ Active bool }
	json.NewDecoder(res.Body).Decode(&out)
	return out.Active
}
