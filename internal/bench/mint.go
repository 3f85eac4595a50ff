package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ajwt/ajwt/checksum"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// Config of a run.
type Config struct {
	Exe         string // the ajwt binary (servers run as separate processes)
	Dir         string // scratch directory
	Ops         int    // operations per series
	Concurrency int
	Sync        string // SQLite synchronous for the IdP: FULL or NORMAL
	Postgres    string // optional DSN: also measure the PostgreSQL store
	ProfileDir  string // optional: the IdP writes a CPU profile per store here
	Progress    func(string, ...any)
}

// server is a subprocess.
type server struct {
	cmd  *exec.Cmd
	base string
}

func (s *server) stop() { _ = s.cmd.Process.Kill(); _, _ = s.cmd.Process.Wait() }

// shutdown stops gracefully, so that a profiling server writes its profile.
func (s *server) shutdown() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _, _ = s.cmd.Process.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func startServer(cfg Config, ready string, args ...string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	return launch(cfg.Exe, addr, ready, args...)
}

// launch runs the ajwt binary with args on addr and waits until ready
// answers below 500.
func launch(exe, addr, ready string, args ...string) (*server, error) {
	cmd := exec.Command(exe, append(args, "--addr", addr)...)
	cmd.Env = append(os.Environ(), "AJWT_MAIN=1")
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{cmd: cmd, base: "http://" + addr}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if res, err := http.Get(s.base + ready); err == nil {
			drain(res)
			if res.StatusCode < 500 {
				return s, nil
			}
		}
	}
	s.stop()
	return nil, fmt.Errorf("bench: %s did not start", args[0])
}

const benchSecret = "ajwt_s_benchbenchbenchbenchbenchbenchbenchbenchb" // generated form: fast hash

// idp starts `ajwt serve` with one agent and a one-step workflow.
func idp(cfg Config, key *keys.Signer, spec *checksum.Spec, storeName, store string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	jwk, _ := json.Marshal(key.Public())
	specJSON, _ := json.Marshal(spec)
	conf := fmt.Sprintf(`issuer: http://%s
token_ttl: 300s
failed_grants_per_minute: 100000
token_requests_per_second: 1000000
clients:
  - {client_id: app, client_secret: %s, scopes: [ajwt:run, api:read]}
agents:
  - {agent_id: bencher, client_id: app, spec: %s, public_jwk: %s, scopes: [api:read], audiences: ["https://api.example"]}
workflows:
  - {workflow_id: bench, steps: [{id: work, agent: bencher, scopes: [api:read], audience: "https://api.example"}]}
`, addr, benchSecret, specJSON, jwk)
	dir, err := os.MkdirTemp(cfg.Dir, "idp-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ajwt.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", path, "--data", filepath.Join(dir, "data"), "--sqlite-sync", cfg.Sync, "--quiet"}
	if store != "" {
		args = append(args, "--store", store)
	}
	if cfg.ProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(cfg.ProfileDir, "idp-"+strings.ToLower(storeName)+".pprof"))
	}
	return launch(cfg.Exe, addr, "/readyz", args...)
}

func newHTTP(conc int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxIdleConns: conc * 2}}
}

// Mint measures token minting: agent_checksum (DPoP, run-state write,
// audit entry), client_credentials, and the bare go-jose server.
func Mint(ctx context.Context, cfg Config, storeName, storeDSN string) ([]Result, error) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	spec := &checksum.Spec{AgentID: "bencher", PromptTemplate: "You benchmark."}
	sum, _ := checksum.Sum(spec)
	s, err := idp(cfg, key, spec, storeName, storeDSN)
	if err != nil {
		return nil, err
	}
	defer s.shutdown()
	hc := newHTTP(cfg.Concurrency)
	runs, err := startRuns(hc, s.base, cfg.Concurrency)
	if err != nil {
		return nil, err
	}
	cfg.Progress("pre-generating %d DPoP proofs (client cost, not timed)", cfg.Ops)
	proofs := make([]string, cfg.Ops)
	for i := range proofs {
		if proofs[i], err = dpop.NewProof(key, http.MethodPost, s.base+"/token", dpop.ProofOptions{}); err != nil {
			return nil, err
		}
	}
	form := func(i int) string {
		return url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"bencher"}, "agent_checksum": {string(sum)},
			"run_id": {runs[i%len(runs)]}, "workflow_step": {"work"}}.Encode()
	}
	cfg.Progress("agent_checksum grant over HTTP (%s)", storeName)
	agent := withServerCPU(s.cmd.Process.Pid, func() Result {
		return load("agent_checksum grant ("+storeName+")", cfg.Ops, cfg.Concurrency, func(i int) error {
			return expectOK(postForm(hc, s.base+"/token", form(i), proofs[i]))
		})
	})
	agent.Note = "DPoP verify, checksum compare, run-state write, token record, audit entry; SQLite synchronous=" + cfg.Sync
	if storeDSN != "" {
		agent.Note = "DPoP verify, checksum compare, run-state write, token record, audit entry; PostgreSQL"
	}
	cfg.Progress("client_credentials over HTTP (%s)", storeName)
	cc := withServerCPU(s.cmd.Process.Pid, func() Result {
		return load("client_credentials ("+storeName+")", cfg.Ops, cfg.Concurrency, func(int) error {
			return expectOK(postForm(hc, s.base+"/token", "grant_type=client_credentials", ""))
		})
	})
	cc.Note = "client auth (SHA-256 secret), token record, audit entry"
	return []Result{agent, cc}, nil
}

// Baseline measures a bare go-jose ES256 token server with no storage.
func Baseline(cfg Config) (Result, error) {
	s, err := startServer(cfg, "/token", "bench-baseline-server")
	if err != nil {
		return Result{}, err
	}
	defer s.stop()
	hc := newHTTP(cfg.Concurrency)
	cfg.Progress("baseline: bare go-jose ES256 token server")
	r := withServerCPU(s.cmd.Process.Pid, func() Result {
		return load("baseline: sign a comparable JWT (go-jose ES256, no storage)", cfg.Ops, cfg.Concurrency, func(int) error {
			return expectOK(postForm(hc, s.base+"/token", "grant_type=client_credentials", ""))
		})
	})
	return r, nil
}

func postForm(hc *http.Client, u, body, proof string) (*http.Response, error) {
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("app", benchSecret)
	if proof != "" {
		req.Header.Set("DPoP", proof)
	}
	return hc.Do(req)
}

func startRuns(hc *http.Client, base string, n int) ([]string, error) {
	res, err := postForm(hc, base+"/token", "grant_type=client_credentials", "")
	if err != nil {
		return nil, err
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	err = json.NewDecoder(res.Body).Decode(&tok)
	drain(res)
	if err != nil {
		return nil, err
	}
	var runs []string
	for range n {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/runs", strings.NewReader(`{"workflow_id":"bench","initiated_by":"user:bench"}`))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return nil, err
		}
		var run struct {
			RunID string `json:"run_id"`
		}
		err = json.NewDecoder(res.Body).Decode(&run)
		drain(res)
		if err != nil || run.RunID == "" {
			return nil, fmt.Errorf("bench: start run: %v", err)
		}
		runs = append(runs, run.RunID)
	}
	return runs, nil
}
