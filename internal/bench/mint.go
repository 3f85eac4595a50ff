package bench

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// Config of a run.
type Config struct {
	Exe         string // the ajwt binary (servers run as separate processes)
	Dir         string // scratch directory
	Ops         int    // operations per series
	Runs        int    // whole runs per whole-run series (RunSeries)
	Concurrency int
	Rounds      int    // each series runs in this many slices, alternating with the others
	Sync        string // SQLite synchronous for the IdP: FULL or NORMAL
	Postgres    string // optional DSN: also measure the PostgreSQL store
	ProfileDir  string // optional: the IdP writes a CPU profile per store here
	CompareExe  string // optional: another ajwt build measured as a second SQLite IdP
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

// freePort is a loopback address free now, for a server started later
// with it. The port comes from below Linux's ephemeral range
// (32768–60999), where the kernel never puts the client side of a
// connection: a port from listening on :0 could be handed to one of the
// bench's own outgoing connections before the server binds it.
func freePort() (string, error) {
	for range 100 {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr, nil
		}
	}
	return "", errors.New("bench: no free port below the ephemeral range")
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
	return launchTo(exe, addr, ready, nil, args...)
}

// launchTo is launch with the server's stderr (its log) going to logTo.
func launchTo(exe, addr, ready string, logTo *os.File, args ...string) (*server, error) {
	cmd := exec.Command(exe, append(args, "--addr", addr)...)
	cmd.Env = append(os.Environ(), "AJWT_MAIN=1")
	if logTo != nil {
		cmd.Stderr = logTo
	}
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
func idp(cfg Config, key *keys.Signer, spec *agentspec.Spec, storeName, store, build string, extra ...string) (*server, error) {
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
runs_per_minute: 1000000
dpop_iat_window: 5m
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
	args := append([]string{"serve", "--config", path, "--data", filepath.Join(dir, "data"), "--sqlite-sync", cfg.Sync, "--quiet"}, extra...)
	if store != "" {
		args = append(args, "--store", store)
	}
	if cfg.ProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(cfg.ProfileDir, "idp-"+strings.ToLower(storeName)+".pprof"))
	}
	exe := cfg.Exe
	if build != "" {
		exe = build
	}
	return launch(exe, addr, "/readyz", args...)
}

// NameGrant is the name of the agent_checksum grant series on a store: a
// few runs, their one step granted again and again, so it mostly measures
// renewals (RunSeries measures first grants).
func NameGrant(store string) string { return "agent_checksum grant, same step again (" + store + ")" }

func newHTTP(conc int) *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: conc * 2, MaxIdleConns: conc * 2}}
}

// MintSeries starts an IdP on a store (storeDSN "": embedded SQLite) with
// one agent and a one-step workflow, and returns its agent_checksum series
// (DPoP, run-state write, token record, audit entry) and client_credentials
// series; stop ends the IdP. build, if set, is another ajwt binary to run
// as the IdP (to compare two revisions in one run); extra are more flags of
// `ajwt serve`.
func MintSeries(cfg Config, storeName, storeDSN, build string, extra ...string) (ss []Series, stop func(), err error) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	spec := &agentspec.Spec{AgentID: "bencher", PromptTemplate: "You benchmark."}
	sum, _ := agentspec.Sum(spec)
	s, err := idp(cfg, key, spec, storeName, storeDSN, build, extra...)
	if err != nil {
		return nil, nil, err
	}
	hc := newHTTP(cfg.Concurrency)
	runs, err := startRuns(hc, s.base, cfg.Concurrency)
	if err != nil {
		s.stop()
		return nil, nil, err
	}
	proofs := make([]string, cfg.Ops)
	prepare := func(from, to int) (err error) {
		for i := from; i < to; i++ {
			if proofs[i], err = dpop.NewProof(key, http.MethodPost, s.base+"/token", dpop.ProofOptions{}); err != nil {
				return err
			}
		}
		return nil
	}
	form := func(i int) string {
		return url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"bencher"}, "agent_checksum": {string(sum)},
			"run_id": {runs[i%len(runs)]}, "workflow_step": {"work"}}.Encode()
	}
	where := "SQLite synchronous=" + cfg.Sync
	if storeDSN != "" {
		where = "PostgreSQL"
	}
	pid := s.cmd.Process.Pid
	return []Series{
		{Name: NameGrant(storeName), Concurrency: cfg.Concurrency, ServerPID: pid, Prepare: prepare,
			Note: "one run per client, the same step again: mostly renewals, not state transitions (see whole run); " +
				"DPoP verify, checksum compare, run-state write, token record, audit entry; " + where,
			Op: func(i int) error { return expectOK(postForm(hc, s.base+"/token", form(i), proofs[i])) }},
		{Name: "client_credentials (" + storeName + ")", Concurrency: cfg.Concurrency, ServerPID: pid,
			Note: "client auth (SHA-256 secret), token record, audit entry; " + where,
			Op:   func(int) error { return expectOK(postForm(hc, s.base+"/token", "grant_type=client_credentials", "")) }},
	}, s.shutdown, nil
}

// BaselineSeries starts the bare go-jose ES256 token server (no storage).
func BaselineSeries(cfg Config) (Series, func(), error) {
	s, err := startServer(cfg, "/token", "bench-baseline-server")
	if err != nil {
		return Series{}, nil, err
	}
	hc := newHTTP(cfg.Concurrency)
	return Series{Name: "baseline: sign a comparable JWT (go-jose ES256, no storage)", Concurrency: cfg.Concurrency,
		ServerPID: s.cmd.Process.Pid, Note: "the floor: HTTP, form parsing, one ES256 signature",
		Op: func(int) error { return expectOK(postForm(hc, s.base+"/token", "grant_type=client_credentials", "")) }}, s.stop, nil
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
