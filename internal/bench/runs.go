package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, for the whole-run series' own schema

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/internal/demo"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/proxy"
)

// NameRuns is the name of the whole-run series on a store.
func NameRuns(store string) string { return "whole run: vuln-patch end to end (" + store + ")" }

// RunsConcurrency is the concurrency the whole-run target is stated at;
// the series also runs at the bench's own --concurrency.
const RunsConcurrency = 64

const (
	runsMaster         = "ajwt bench shim master secret: 32+ bytes, never leaves the bench"
	runsApproverSecret = "bench-approver-secret"
	runsRepo           = "acme/web"
)

// RunTally counts the IdP requests the runs of one store's whole-run
// series made, per concurrency: the figure the IdP's CPU per run is
// compared with (that many bare tokens).
type RunTally struct {
	store  string
	counts map[int]*runCount
}

type runCount struct {
	runs, idp atomic.Int64
	failed    atomic.Bool // a failure was reported: the first one says why
}

// Store is the name of the store the tally's runs ran on.
func (t *RunTally) Store() string { return t.store }

// IdPRequestsPerRun is the average number of IdP requests of a run at
// concurrency conc; 0 before any run.
func (t *RunTally) IdPRequestsPerRun(conc int) float64 {
	c, ok := t.counts[conc]
	if !ok || c.runs.Load() == 0 {
		return 0
	}
	return float64(c.idp.Load()) / float64(c.runs.Load())
}

// Annotate adds the IdP requests per run to the notes of the tally's
// results: the count is known only once the runs are done.
func (t *RunTally) Annotate(rs []Result) {
	for i := range rs {
		if rs[i].Name == NameRuns(t.store) {
			rs[i].Note += fmt.Sprintf("; %.2f IdP requests per run", t.IdPRequestsPerRun(rs[i].Concurrency))
		}
	}
}

// RunSeries drives the vuln-patch workflow end to end as the demo does,
// one whole run per operation, at the bench's concurrency and at
// RunsConcurrency: an IdP (`ajwt serve`, storeDSN "": embedded SQLite)
// configured like the demo's, the enforcing proxy in this process (as
// `ajwt proxy` builds it, against that IdP) in front of a trivial API,
// and the Go SDK as the app. Unlike the grant series every grant is a
// step's first, a real state transition. The IdP's CPU is the series'
// server CPU; the tally says how many IdP requests a run made.
func RunSeries(cfg Config, storeName, storeDSN string) ([]Series, *RunTally, func(), error) {
	w := &runWorld{}
	if err := w.start(cfg, storeName, storeDSN); err != nil {
		w.stop()
		return nil, nil, nil, err
	}
	tally := &RunTally{store: storeName, counts: map[int]*runCount{}}
	where := "SQLite synchronous=" + cfg.Sync
	if storeDSN != "" {
		where = "PostgreSQL"
	}
	var ss []Series
	for _, conc := range slices.Compact([]int{cfg.Concurrency, RunsConcurrency}) {
		c := &runCount{}
		tally.counts[conc] = c
		ss = append(ss, Series{Name: NameRuns(storeName), Concurrency: conc, Ops: cfg.Runs, ServerPID: w.idp.cmd.Process.Pid,
			Note: "start run; each agent step (classify, plan, assess, patch delegated by supervisor, verify): its first grant, " +
				"one API call through the proxy, complete; the approval by the approver client; Go SDK, app bearer cached; " + where,
			Op: func(i int) error {
				err := w.run(c, fmt.Sprintf("user:bench-c%d-%d", conc, i))
				if err != nil && !errors.Is(err, ErrShed) && !c.failed.Swap(true) {
					cfg.Progress("%s, concurrency %d: a run failed: %v", NameRuns(storeName), conc, err)
				}
				return err
			}})
	}
	return ss, tally, w.stop, nil
}

// runWorld is what the whole runs go through.
type runWorld struct {
	idp       *server
	dropStore func()
	upstream  *httptest.Server
	proxies   []func()
	forge     string // proxy URLs
	osv       string
	app       *client.Client
	approver  *client.Client
	agents    map[string]*client.Agent
	api       http.RoundTripper // agents → proxies
}

func (w *runWorld) stop() {
	for _, stop := range slices.Backward(w.proxies) {
		stop()
	}
	if w.upstream != nil {
		w.upstream.Close()
	}
	if w.idp != nil {
		w.idp.shutdown()
	}
	if w.dropStore != nil {
		w.dropStore()
	}
}

func (w *runWorld) start(cfg Config, storeName, storeDSN string) error {
	specs, err := demo.Specs()
	if err != nil {
		return err
	}
	if storeDSN != "" {
		if storeDSN, w.dropStore, err = freshSchema(storeDSN); err != nil {
			return err
		}
	}
	if w.idp, err = runIdP(cfg, specs, storeName, storeDSN); err != nil {
		return err
	}
	w.upstream = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = rw.Write([]byte(`{}`)) }))
	if err := w.startProxies(); err != nil {
		return err
	}
	conns := 2 * max(cfg.Concurrency, RunsConcurrency)
	w.api = &http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}
	return w.startClients(specs, conns)
}

// runIdP starts `ajwt serve` with the demo's clients, agents and workflow,
// its rate limits raised so that the bench measures work, not throttling.
func runIdP(cfg Config, specs map[string]*agentspec.Spec, storeName, storeDSN string) (*server, error) {
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	conf, err := runIdPConfig("http://"+addr, specs)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.Dir, "idp-run-")
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, "ajwt.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	args := []string{"serve", "--config", path, "--data", filepath.Join(dir, "data"), "--sqlite-sync", cfg.Sync, "--quiet"}
	if storeDSN != "" {
		args = append(args, "--store", storeDSN)
	}
	if cfg.ProfileDir != "" {
		args = append(args, "--cpuprofile", filepath.Join(cfg.ProfileDir, "idp-run-"+strings.ToLower(storeName)+".pprof"))
	}
	return launch(cfg.Exe, addr, "/readyz", args...)
}

// runIdPConfig is the demo's IdP configuration (internal/demo idpConfig)
// without the clients its attacks need.
func runIdPConfig(issuer string, specs map[string]*agentspec.Spec) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\ntoken_ttl: 300s\nfailed_grants_per_minute: 100000\ntoken_requests_per_second: 1000000\nruns_per_minute: 10000000\nclients:\n", issuer)
	fmt.Fprintf(&b, "  - {client_id: patch-app, client_secret: %s, scopes: [ajwt:run, repo:read, repo:write, osv:query]}\n", benchSecret)
	fmt.Fprintf(&b, "  - {client_id: approver, client_secret: %s, scopes: [ajwt:approve], approves_for: [patch-app]}\n", runsApproverSecret)
	agents, err := demo.AgentsConfig(specs, func(id string) (string, error) { return agentJWK(id, specs[id]) })
	if err != nil {
		return "", err
	}
	b.WriteString(agents)
	return b.String(), nil
}

// agentJWK is the public key client.DerivedKey(runsMaster) gives agent id.
func agentJWK(id string, spec *agentspec.Spec) (string, error) {
	sum, err := agentspec.Sum(spec)
	if err != nil {
		return "", err
	}
	priv, err := keys.DeriveAgentKey([]byte(runsMaster), id, string(sum))
	if err != nil {
		return "", err
	}
	s, err := keys.NewSigner(priv, keys.EdDSA, "")
	if err != nil {
		return "", err
	}
	jwk, err := s.Public().MarshalJSON()
	return string(jwk), err
}

// startProxies runs the forge and advisory proxies as `ajwt proxy` does:
// remote JWKS and revocation feed of the IdP, restart guard, and serving
// only once the replay window is closed.
func (w *runWorld) startProxies() (err error) {
	up, _ := url.Parse(w.upstream.URL)
	var enfs []*middleware.Enforcer
	for _, p := range []struct {
		pol string
		url *string
	}{{demo.ForgePolicy, &w.forge}, {demo.OSVPolicy, &w.osv}} {
		pol, err := policyfile.Parse([]byte(strings.ReplaceAll(p.pol, "ISSUER", w.idp.base)))
		if err != nil {
			return err
		}
		enf, err := middleware.New(context.Background(), pol, middleware.WithRestartGuard(middleware.DefaultFutureSkew))
		if err != nil {
			return err
		}
		w.proxies = append(w.proxies, enf.Close)
		h, err := proxy.New(up, enf, proxy.Options{})
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := proxy.NewServer(h, proxy.ServerTimeouts{})
		go func() { _ = srv.Serve(ln) }()
		w.proxies = append(w.proxies, func() { _ = srv.Close() })
		*p.url, enfs = "http://"+ln.Addr().String(), append(enfs, enf)
	}
	for _, enf := range enfs {
		if err := enf.WaitReplayWindow(context.Background()); err != nil {
			return err
		}
	}
	return nil
}

// startClients makes the app's SDK clients and agents, reused by every
// run as a real app would; their IdP requests are counted per run.
func (w *runWorld) startClients(specs map[string]*agentspec.Spec, conns int) (err error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: countIdP{&http.Transport{MaxIdleConns: conns, MaxIdleConnsPerHost: conns}}}
	ctx := context.Background()
	if w.app, err = client.New(ctx, client.Config{Issuer: w.idp.base, ClientID: "patch-app", ClientSecret: benchSecret, HTTPClient: hc}); err != nil {
		return err
	}
	if w.approver, err = client.New(ctx, client.Config{Issuer: w.idp.base, ClientID: "approver", ClientSecret: runsApproverSecret, HTTPClient: hc}); err != nil {
		return err
	}
	w.agents = map[string]*client.Agent{}
	for id, spec := range specs {
		if w.agents[id], err = w.app.Agent(spec, client.DerivedKey([]byte(runsMaster))); err != nil {
			return err
		}
	}
	return nil
}

type runCountKey struct{}

// countIdP counts the IdP requests of the run in the request's context:
// the SDK passes the caller's context to every request it makes.
type countIdP struct{ base http.RoundTripper }

func (t countIdP) RoundTrip(r *http.Request) (*http.Response, error) {
	if c, ok := r.Context().Value(runCountKey{}).(*runCount); ok {
		c.idp.Add(1)
	}
	return t.base.RoundTrip(r)
}

// runStep is one agent step: the API call it makes through the proxy.
type runStep struct {
	agent, step    string
	resource       string
	method, path   string
	body           string
	delegatedBy    string
	completeResult bool // the demo records the planner's plan with the completion
}

var runSteps = []runStep{
	{agent: "classifier", step: "classify", resource: demo.ForgeResource, method: http.MethodGet, path: "/repos/" + runsRepo + "/tree"},
	{agent: "planner", step: "plan", resource: demo.ForgeResource, method: http.MethodGet, path: "/repos/" + runsRepo + "/contents/go.mod?ref=main"},
	{agent: "planner", step: "assess", resource: demo.OSVResource, method: http.MethodPost, path: "/v1/query",
		body: `{"package":{"name":"golang.org/x/net","ecosystem":"Go"},"version":"0.17.0"}`, completeResult: true},
	{step: "approve"},
	{agent: "patcher", step: "patch", resource: demo.ForgeResource, method: http.MethodPost, path: "/repos/" + runsRepo + "/branches",
		body: `{"name":"ajwt/fix-vulnerable-deps","from":"main"}`, delegatedBy: "supervisor"},
	{agent: "classifier", step: "verify", resource: demo.ForgeResource, method: http.MethodGet, path: "/repos/" + runsRepo + "/contents/go.mod?ref=main"},
}

// run is one whole run for initiator.
func (w *runWorld) run(c *runCount, initiator string) error {
	c.runs.Add(1)
	ctx := context.WithValue(context.Background(), runCountKey{}, c)
	run, err := w.app.StartRun(ctx, "vuln-patch", initiator, map[string]string{"repo": runsRepo})
	if err != nil {
		return sdkErr(err)
	}
	for _, st := range runSteps {
		if err := w.step(ctx, run.ID, st); err != nil {
			return fmt.Errorf("step %s: %w", st.step, err)
		}
	}
	return nil
}

func (w *runWorld) step(ctx context.Context, runID string, st runStep) error {
	if st.agent == "" {
		return sdkErr(w.approver.Approve(ctx, runID, st.step, "user:bench-approver", "plan reviewed"))
	}
	opts := []client.Option{client.WithResource(st.resource)}
	if st.delegatedBy != "" {
		by := w.agents[st.delegatedBy]
		opts = append(opts, client.WithDelegation(func() (string, error) { return by.Delegate(st.agent, runID, st.step) }))
	}
	agent := w.agents[st.agent]
	// A new run's source: its first token is the step's first grant.
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &client.Transport{Source: agent.TokenSource(runID, st.step, opts...), Base: w.api}}
	base := w.forge
	if st.resource == demo.OSVResource {
		base = w.osv
	}
	req, err := http.NewRequestWithContext(ctx, st.method, base+st.path, strings.NewReader(st.body))
	if err != nil {
		return err
	}
	if st.body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if err := expectOK(hc.Do(req)); err != nil {
		return sdkErr(err)
	}
	if st.completeResult {
		_, err = agent.CompleteWithResult(ctx, runID, st.step, []byte(`[]`))
	} else {
		_, err = agent.Complete(ctx, runID, st.step)
	}
	return sdkErr(err)
}

// sdkErr counts an IdP's 429 or 503 as shed: the SDK's error keeps the
// status but not the Retry-After, which the IdP sends with both.
func sdkErr(err error) error {
	var re *client.RetrieveError
	if errors.As(err, &re) && (re.StatusCode == http.StatusTooManyRequests || re.StatusCode == http.StatusServiceUnavailable) {
		return fmt.Errorf("%w: %v", ErrShed, err)
	}
	return err
}

// freshSchema creates a PostgreSQL schema of its own for the whole-run
// IdP (the mint series' IdP and earlier runs keep theirs apart) and
// returns dsn set to use it, and a function that drops it.
func freshSchema(dsn string) (string, func(), error) {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return "", nil, err
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "ajwt_bench_runs_" + hex.EncodeToString(b[:])
	if _, err := db.Exec("CREATE SCHEMA " + schema); err != nil {
		db.Close()
		return "", nil, fmt.Errorf("bench: create schema: %w", err)
	}
	drop := func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE"); db.Close() }
	if !strings.Contains(dsn, "://") { // key=value form
		return dsn + " search_path=" + schema, drop, nil
	}
	u, err := url.Parse(dsn)
	if err != nil {
		drop()
		return "", nil, err
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), drop, nil
}
