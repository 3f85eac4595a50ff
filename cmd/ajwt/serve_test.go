package main

import (
	"bufio"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/specfile"

	_ "modernc.org/sqlite"
)

// server is a real `ajwt serve` subprocess.
type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
}

// freeAddr is a loopback address free now, for a server started later
// with it (its issuer URL must be known before it starts). The port comes
// from below Linux's ephemeral range (32768–60999), where the kernel
// never puts the client side of a connection: a port from listening on
// :0 could be handed to another test's outgoing connection before the
// server binds it ("address already in use", seen in CI).
func freeAddr(t *testing.T) string {
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			continue // taken
		}
		ln.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

func startServer(t *testing.T, dir, addr string) *server {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--config", filepath.Join(dir, "ajwt.yaml"), "--data", filepath.Join(dir, "data"), "--addr", addr)
	cmd.Env = append(os.Environ(), "AJWT_MAIN=1")
	logFile, _ := os.Create(filepath.Join(dir, "serve.log"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, base: "http://" + addr}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() })
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(s.base + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == 200 {
				return s
			}
		}
	}
	log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	t.Fatalf("server did not become ready:\n%s", log)
	return nil
}

func (s *server) stop(sig syscall.Signal) {
	s.t.Helper()
	_ = s.cmd.Process.Signal(sig)
	s.waitExit(sig)
}

// waitExit waits for the server to end after sig was sent: without error
// after a SIGTERM. It sends nothing itself: a second SIGTERM that lands
// after the first one's shutdown has restored the default disposition
// (main's stop, just before os.Exit) would kill the process.
func (s *server) waitExit(sig syscall.Signal) {
	s.t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if sig == syscall.SIGTERM && err != nil {
			s.t.Fatalf("server exited with %v after SIGTERM", err)
		}
	case <-time.After(40 * time.Second):
		s.t.Fatal("server did not stop")
	}
}

func (s *server) call(method, path, auth string, body io.Reader, hdr http.Header) (int, map[string]any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, body)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(res.Body).Decode(&out)
	return res.StatusCode, out
}

func (s *server) clientToken(id, secret string) string {
	s.t.Helper()
	return mustClientToken(s.t, s.base, id, secret)
}

// mustClientToken is tryClientToken for setup steps that cannot fail.
func mustClientToken(t *testing.T, base, id, secret string) string {
	t.Helper()
	tok := tryClientToken(base, id, secret)
	if tok == "" {
		t.Fatalf("client_credentials for %s at %s refused", id, base)
	}
	return tok
}

func readSecrets(t *testing.T, dir string) map[string]string {
	f, err := os.Open(filepath.Join(dir, "client-secrets.env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && !strings.HasPrefix(k, "#") {
			out[k] = v
		}
	}
	return out
}

// agentKey derives an example agent's key the way the shim does.
func agentKey(t *testing.T, dir, id string) (*keys.Signer, agentspec.Checksum) {
	t.Helper()
	master, err := keys.LoadMasterSecretFile(filepath.Join(dir, "shim-master.key"))
	if err != nil {
		t.Fatal(err)
	}
	spec, err := specfile.Load(filepath.Join(dir, "agents", id+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sum, _ := agentspec.Sum(spec)
	priv, err := keys.DeriveAgentKey(master, id, string(sum))
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := keys.NewSigner(priv, keys.EdDSA, "")
	return signer, sum
}

// TestInitServeRestart is the newcomer's path: init, serve, use, stop,
// restart; registrations, runs, keys and audit survive.
func TestInitServeRestart(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	if out, errOut, code := ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	sec := readSecrets(t, dir)
	s := startServer(t, dir, addr)

	_, jwksBefore := s.call(http.MethodGet, "/jwks.json", "", nil, nil)
	run := s.startRun(sec)
	key, sum := agentKey(t, dir, "classifier")
	tok := s.grantStep(key, sum, "classifier", run, "classify", sec)
	path := "/v1/runs/" + run + "/steps/classify/complete"
	proof, _ := dpop.NewProof(key, http.MethodPost, s.base+path, dpop.ProofOptions{AccessToken: tok})
	if code, body := s.call(http.MethodPost, path, "DPoP "+tok, nil, http.Header{"Dpop": {proof}}); code != 200 {
		t.Fatalf("complete: %d %v", code, body)
	}
	s.stop(syscall.SIGTERM)

	s = startServer(t, dir, addr)
	admin := "Bearer " + s.clientToken("admin", sec["AJWT_ADMIN_SECRET"])
	if code, body := s.call(http.MethodGet, "/v1/agents/patcher", admin, nil, nil); code != 200 || body["version"] != float64(1) {
		t.Fatalf("agent after restart: %d %v", code, body)
	}
	app := "Bearer " + s.clientToken("patch-app", sec["AJWT_PATCH_APP_SECRET"])
	code, body := s.call(http.MethodGet, "/v1/runs/"+run, app, nil, nil)
	steps, _ := body["steps"].([]any)
	if code != 200 || len(steps) == 0 || steps[0].(map[string]any)["state"] != "completed" {
		t.Fatalf("run after restart: %d %v", code, body)
	}
	_, jwksAfter := s.call(http.MethodGet, "/jwks.json", "", nil, nil)
	if b1, _ := json.Marshal(jwksBefore); string(b1) != mustJSON(jwksAfter) {
		t.Fatalf("signing keys changed across restart:\n%v\n%v", jwksBefore, jwksAfter)
	}
	s.stop(syscall.SIGTERM)
	if out, errOut, code := ajwt(t, "", "audit", "verify", "--data", filepath.Join(dir, "data")); code != 0 || !strings.Contains(out, "chain intact") {
		t.Fatalf("audit verify: %d %s %s", code, out, errOut)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

func (s *server) startRun(sec map[string]string) string {
	s.t.Helper()
	app := "Bearer " + s.clientToken("patch-app", sec["AJWT_PATCH_APP_SECRET"])
	code, body := s.call(http.MethodPost, "/v1/runs", app, strings.NewReader(`{"workflow_id":"vuln-patch","initiated_by":"user:alice","execution_context":{"repo":"acme/web"}}`), nil)
	if code != 201 {
		s.t.Fatalf("start run: %d %v", code, body)
	}
	return body["run_id"].(string)
}

func (s *server) grantStep(key *keys.Signer, sum agentspec.Checksum, agent, run, step string, sec map[string]string) string {
	s.t.Helper()
	proof, err := dpop.NewProof(key, http.MethodPost, s.base+"/token", dpop.ProofOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	form := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {agent}, "agent_checksum": {string(sum)},
		"run_id": {run}, "workflow_step": {step}, "client_id": {"patch-app"}, "client_secret": {sec["AJWT_PATCH_APP_SECRET"]}}
	code, body := s.call(http.MethodPost, "/token", "", strings.NewReader(form.Encode()),
		http.Header{"Dpop": {proof}, "Content-Type": {"application/x-www-form-urlencoded"}})
	if code != 200 {
		s.t.Fatalf("grant %s: %d %v", step, code, body)
	}
	return body["access_token"].(string)
}

// TestAuditVerifyDetectsTampering edits, removes and reorders entries in
// the database file and expects `ajwt audit verify` to fail each time.
func TestAuditVerifyDetectsTampering(t *testing.T) {
	tamper := []string{
		"UPDATE audit SET outcome = 'issued' WHERE seq = 2",
		"DELETE FROM audit WHERE seq = 2",
		"DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit)",
		"UPDATE audit SET seq = -1 WHERE seq = 1; UPDATE audit SET seq = 1 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = -1",
		// the last entry removed from the head's view: it is no longer covered
		"UPDATE audit_head SET seq = seq - 1, hash = (SELECT prev FROM audit WHERE seq = (SELECT MAX(seq) FROM audit))",
	}
	for _, stmt := range tamper {
		t.Run(stmt, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr)
			s := startServer(t, dir, addr)
			sec := readSecrets(t, dir)
			s.startRun(sec)
			s.stop(syscall.SIGTERM)
			data := filepath.Join(dir, "data")
			if out, errOut, code := ajwt(t, "", "audit", "verify", "--data", data); code != 0 {
				t.Fatalf("intact chain refused: %s %s", out, errOut)
			}
			db, err := sql.Open("sqlite", filepath.Join(data, "ajwt.db"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(stmt); err != nil {
				t.Fatal(err)
			}
			db.Close()
			if _, errOut, code := ajwt(t, "", "audit", "verify", "--data", data); code != 2 || !strings.Contains(errOut, "audit chain broken") {
				t.Fatalf("tampering not detected: exit %d, %q", code, errOut)
			}
		})
	}
}

func TestMetricsEndpoint(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr)
	s := startServer(t, dir, addr)
	s.clientToken("admin", readSecrets(t, dir)["AJWT_ADMIN_SECRET"])
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, want := range []string{`ajwt_tokens_issued_total{grant="client_credentials"} 1`, "ajwt_http_request_duration_seconds_bucket", "ajwt_audit_outbox_entries 0"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	if strings.Contains(string(body), "ajwt_s_") {
		t.Error("metrics leak a secret")
	}
}

// TestSlowClients: a client that trickles its headers (slowloris) is cut
// off by the header timeout, and oversized headers are refused.
func TestSlowClients(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr)
	s := startServer(t, dir, addr)

	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: %s\r\n", addr)
	closed := make(chan struct{})
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := conn.Read(buf); err != nil {
				close(closed)
				return
			}
		}
	}()
	for range 60 { // one header byte per 200 ms, never finishing
		select {
		case <-closed:
			if d := time.Since(start); d > 8*time.Second {
				t.Fatalf("slow client held the connection for %s", d)
			}
			goto oversized
		case <-time.After(200 * time.Millisecond):
			conn.Write([]byte("X"))
		}
	}
	t.Fatal("a client sending one byte every 200 ms kept its connection for 12 s")
oversized:
	req, _ := http.NewRequest(http.MethodGet, s.base+"/healthz", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 64<<10))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("64 KiB header: %d", res.StatusCode)
	}
}

// TestOneServerPerDataDir: a second `ajwt serve` on a data directory in
// use refuses to start (the SQLite store assumes it is the only writer);
// once the first is gone, even killed, the directory is free again.
func TestOneServerPerDataDir(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr)
	s := startServer(t, dir, addr)
	args := []string{"serve", "--config", filepath.Join(dir, "ajwt.yaml"), "--data", filepath.Join(dir, "data"), "--addr", freeAddr(t)}
	if _, errOut, code := ajwt(t, "", args...); code == 0 || !strings.Contains(errOut, "another ajwt serve is using") {
		t.Fatalf("second server: exit %d, %q", code, errOut)
	}
	s.stop(syscall.SIGKILL)
	startServer(t, dir, freeAddr(t)) // a fresh port: only the directory is what is tested
}
