package bench

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// Names of the `ajwt proxy` process series.
const (
	NameProxyProcess = "through `ajwt proxy` process (access log on)"
	NameDirectPeer   = "upstream called directly (beside the proxy process)"
)

// ProxyConcurrency is what the proxy process series compare at: one
// client (latency is the proxy's own), the configured concurrency and 64.
func ProxyConcurrency(cfg Config) []int {
	return slices.Compact(slices.Sorted(slices.Values([]int{1, cfg.Concurrency, 64})))
}

// ProxyProcessSeries measures `ajwt proxy` as operators run it: its own
// process, DPoP on every request, the access log written to a file, the
// JWKS and revocation feed read from an issuer (a stub here, with the
// fixture's keys and an empty feed). The upstream and the load generator
// share this process, as in ProxySeries; the proxy's CPU per request is
// read from its process. compareExe, if set, is another ajwt build run as
// a second proxy in the same run (before/after a change).
func ProxyProcessSeries(cfg Config) ([]Series, func(), error) {
	return withStops(func(stops *[]func()) ([]Series, error) { return proxyProcessSeries(cfg, stops) })
}

func proxyProcessSeries(cfg Config, stops *[]func()) ([]Series, error) {
	rig, err := newProxyRig(stops)
	if err != nil {
		return nil, err
	}
	builds := []struct{ label, exe string }{{"", cfg.Exe}}
	if cfg.CompareExe != "" {
		builds = append(builds, struct{ label, exe string }{", " + filepath.Base(cfg.CompareExe), cfg.CompareExe})
	}
	hc := newHTTP(slices.Max(ProxyConcurrency(cfg)))
	var ss []Series
	for _, conc := range ProxyConcurrency(cfg) {
		ss = append(ss, Series{Name: NameDirectPeer, Concurrency: conc,
			Op: func(int) error { return expectOK(hc.Get(rig.upstream.URL + benchPath)) }})
	}
	for k, b := range builds {
		prx, err := rig.start(cfg, b.exe, "proxy-"+strconv.Itoa(k))
		if err != nil {
			return nil, err
		}
		for _, conc := range ProxyConcurrency(cfg) {
			ss = append(ss, rig.through(prx, hc, NameProxyProcess+b.label, conc, cfg.Ops))
		}
	}
	return ss, nil
}

// proxyRig is what `ajwt proxy` processes run against: an issuer stub,
// the fixture minted for it, and an upstream in this process.
type proxyRig struct {
	f        *fixture
	issuer   *httptest.Server
	upstream *httptest.Server
	stops    *[]func()
}

func newProxyRig(stops *[]func()) (*proxyRig, error) {
	issuer, f, err := issuerStub()
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, issuer.Close)
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"content":"module x"}`)) }))
	*stops = append(*stops, upstream.Close)
	return &proxyRig{f: f, issuer: issuer, upstream: upstream, stops: stops}, nil
}

// start runs exe's `ajwt proxy` in front of the rig's upstream; the rig's
// stops end it.
func (r *proxyRig) start(cfg Config, exe, name string) (*server, error) {
	prx, err := r.f.proxyProcess(cfg, exe, r.issuer.URL, r.upstream.URL, name)
	if err != nil {
		return nil, err
	}
	*r.stops = append(*r.stops, prx.shutdown)
	return prx, nil
}

// through is a GET through the proxy process prx, its CPU the server's.
func (r *proxyRig) through(prx *server, hc *http.Client, name string, conc, ops int) Series {
	s := r.f.getThrough(prx.base, hc, name, conc, ops)
	s.ServerPID = prx.cmd.Process.Pid
	s.Note = "proofs made untimed; the proxy in its own process, access log to a file; server CPU = the proxy's"
	return s
}

// issuerStub serves what an enforcer reads from its IdP: metadata, the
// JWKS of a fixture minted for the stub's URL, and a revocation feed that
// never has news (a long poll that waits as asked).
func issuerStub() (*httptest.Server, *fixture, error) {
	var f *fixture
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	mux.HandleFunc("GET /.well-known/oauth-authorization-server", func(w http.ResponseWriter, _ *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]string{"issuer": srv.URL, "token_endpoint": srv.URL + "/token",
			"jwks_uri": srv.URL + "/jwks", "revocation_feed_endpoint": srv.URL + "/feed"})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(f.jwks) })
	mux.HandleFunc("GET /feed", func(w http.ResponseWriter, r *http.Request) {
		wait, _ := strconv.Atoi(r.URL.Query().Get("wait"))
		select {
		case <-time.After(time.Duration(wait) * time.Second):
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(`{"cursor":"0","revoked":[]}`))
	})
	f, err := newFixtureAt(srv.URL)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	return srv, f, nil
}

// proxyPolicy is the fixture's REST rule as a policy file.
const proxyPolicy = `issuer: %s
resource: ` + benchResource + `
routes:
  - match: {method: GET, path: "/repos/{owner}/{repo}/contents/**"}
    scopes: [repo:read]
    workflow: vuln-patch
    steps: [plan]
    agents: [planner]
    context: {repo: "{owner}/{repo}"}
default: deny
`

// proxyProcess starts exe's `ajwt proxy` in front of upstream with the
// fixture's policy; its access log (stderr) goes to a file in cfg.Dir.
func (f *fixture) proxyProcess(cfg Config, exe, issuer, upstream, name string) (*server, error) {
	dir, err := os.MkdirTemp(cfg.Dir, name+"-")
	if err != nil {
		return nil, err
	}
	pol := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(pol, fmt.Appendf(nil, proxyPolicy, issuer), 0o600); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "access.log"))
	if err != nil {
		return nil, err
	}
	defer log.Close() // the child holds its own descriptor
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"proxy", "--policy", pol, "--upstream", upstream, "--dpop-future-skew", "1s"}
	if cfg.ProfileDir != "" && exe == cfg.Exe { // an older build may lack the flag
		args = append(args, "--cpuprofile", filepath.Join(cfg.ProfileDir, name+".pprof"))
	}
	s, err := launchTo(exe, addr, benchPath, log, args...)
	if err != nil {
		out, _ := os.ReadFile(log.Name())
		return nil, fmt.Errorf("%w: %s", err, out[max(0, len(out)-2000):])
	}
	return s, nil
}
