//go:build !ajwt_server

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/bench"
)

func (e *env) benchCmd() *cobra.Command {
	var cfg bench.Config
	var asJSON bool
	var only string
	cmd := &cobra.Command{
		Use:   "bench [--series LIST] [--ops N] [--runs N] [--concurrency N] [--compare BINARY] [--json]",
		Short: "Measure token minting, enforcement and proxy overhead against baselines in the same run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Ops < 1 || cfg.Runs < 1 || cfg.Concurrency < 1 || cfg.Rounds < 1 {
				return fmt.Errorf("--ops, --runs, --concurrency and --rounds must be at least 1")
			}
			exe, err := os.Executable()
			if err != nil {
				return err
			}
			dir, err := os.MkdirTemp("", "ajwt-bench-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			cfg.Exe, cfg.Dir = exe, dir
			progress := e.stdout
			if asJSON {
				progress = e.stderr
			}
			cfg.Progress = func(f string, a ...any) { fmt.Fprintf(progress, "… "+f+"\n", a...) }
			groups, err := parseGroups(only)
			if err != nil {
				return err
			}
			rep, err := runBench(cfg, groups)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			writeBenchTable(e.stdout, rep)
			return nil
		},
	}
	cmd.Flags().IntVar(&cfg.Ops, "ops", 5000, "operations per series")
	cmd.Flags().IntVar(&cfg.Runs, "runs", 300, "whole vuln-patch runs per whole-run series (each is 12 IdP requests and 5 API calls)")
	cmd.Flags().IntVar(&cfg.Concurrency, "concurrency", 8, "concurrent clients")
	cmd.Flags().IntVar(&cfg.Rounds, "rounds", 4, "rounds to split each series into (all series alternate round by round)")
	cmd.Flags().StringVar(&cfg.Sync, "sqlite-sync", "FULL", "SQLite synchronous for the measured IdP: FULL or NORMAL")
	cmd.Flags().StringVar(&cfg.Postgres, "postgres", os.Getenv("AJWT_TEST_POSTGRES"), "also measure the PostgreSQL store with this DSN")
	cmd.Flags().StringVar(&cfg.CompareExe, "compare", "", "another ajwt build whose IdP (grants, whole runs on SQLite) and proxy are measured beside this build's in the same run (before/after)")
	cmd.Flags().StringVar(&cfg.ProfileDir, "profile", "", "directory for the IdPs' CPU profiles (idp-sqlite.pprof, idp-postgresql.pprof, idp-run-sqlite.pprof, …)")
	cmd.Flags().StringVar(&only, "series", "all", "the series to run, comma-separated: "+strings.Join(benchGroups, ",")+" (the baseline always runs)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (progress goes to stderr)")
	return cmd
}

type benchReport struct {
	Machine string             `json:"machine"`
	Rounds  int                `json:"rounds"`
	Results []bench.Result     `json:"results"`
	Ratios  map[string]float64 `json:"ratios"`
}

// benchGroups are the series `ajwt bench --series` chooses from, in the
// order they run; the baseline always runs (every ratio needs it).
var benchGroups = []string{"mint", "runs", "enforce", "proxy", "mcp", "tracing", "overload", "gateway"}

// runBench starts every server, then measures all series interleaved in
// rounds, so that every ratio compares series measured through the same
// moments of a noisy machine.
func runBench(cfg bench.Config, groups []string) (*benchReport, error) {
	var series []bench.Series
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	add := func(ss []bench.Series, stop func(), err error) error {
		if err != nil {
			return err
		}
		series, stops = append(series, ss...), append(stops, stop)
		return nil
	}
	base, stop, err := bench.BaselineSeries(cfg)
	if err := add([]bench.Series{base}, stop, err); err != nil {
		return nil, err
	}
	stores := []benchStore{{name: "SQLite"}}
	if cfg.Postgres != "" {
		stores = append(stores, benchStore{name: "PostgreSQL", dsn: cfg.Postgres})
	}
	if cfg.CompareExe != "" {
		stores = append(stores, benchStore{name: "SQLite, " + filepath.Base(cfg.CompareExe), build: cfg.CompareExe})
	}
	var tallies []*bench.RunTally
	for _, g := range groups {
		var err error
		switch g {
		case "mint":
			for _, st := range stores {
				cfg.Progress("starting the IdP on %s", st.name)
				if err = add(bench.MintSeries(cfg, st.name, st.dsn, st.build)); err != nil {
					break
				}
			}
		case "runs":
			for _, st := range stores {
				c := cfg
				if st.build != "" {
					c.Exe = st.build // its IdP; the proxies and the SDK are this build's
				}
				cfg.Progress("starting the whole-run IdP and proxies on %s", st.name)
				runs, tally, stop, rerr := bench.RunSeries(c, st.name, st.dsn)
				if err = add(runs, stop, rerr); err != nil {
					break
				}
				tallies = append(tallies, tally)
			}
		case "enforce":
			enf, eerr := bench.EnforceSeries(cfg)
			err = add(enf, func() {}, eerr)
		case "proxy":
			if err = add(bench.ProxySeries(cfg)); err == nil {
				err = add(bench.ProxyProcessSeries(cfg))
			}
		case "mcp":
			err = add(bench.MCPSeries(cfg))
		case "tracing":
			err = add(bench.TracingSeries(cfg))
		case "overload":
			err = add(bench.OverloadSeries(cfg))
		case "gateway":
			err = add(bench.GatewaySeries(cfg))
		}
		if err != nil {
			return nil, err
		}
	}
	results, err := bench.Interleave(series, cfg.Ops, cfg.Rounds, cfg.Progress)
	if err != nil {
		return nil, err
	}
	for _, t := range tallies {
		t.Annotate(results)
	}
	rep := &benchReport{Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Rounds: cfg.Rounds, Results: results, Ratios: benchRatios(results, stores, tallies)}
	return rep, nil
}

// parseGroups checks --series: a comma-separated subset of benchGroups,
// or "all".
func parseGroups(list string) ([]string, error) {
	if list == "all" || list == "" {
		return benchGroups, nil
	}
	want := map[string]bool{}
	for name := range strings.SplitSeq(list, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(benchGroups, name) {
			return nil, fmt.Errorf("--series %q: want all or some of %s", name, strings.Join(benchGroups, ","))
		}
		want[name] = true
	}
	var out []string
	for _, g := range benchGroups {
		if want[g] {
			out = append(out, g)
		}
	}
	return out, nil
}

// benchStore is one IdP the bench measures: its series are named after
// name; dsn "" is the embedded SQLite, build "" this binary.
type benchStore struct{ name, dsn, build string }

// benchRatios relates results measured in the same run, found by name.
func benchRatios(r []bench.Result, stores []benchStore, tallies []*bench.RunTally) map[string]float64 {
	find := func(name string, conc int) bench.Result {
		for _, x := range r {
			if x.Name == name && (conc == 0 || x.Concurrency == conc) {
				return x
			}
		}
		return bench.Result{}
	}
	base := r[0]
	agent := func(store string) bench.Result { return find(bench.NameGrant(store), 0) }
	cc := func(store string) bench.Result { return find("client_credentials ("+store+")", 0) }
	ratios := map[string]float64{}
	for _, st := range stores {
		ratios["agent_checksum server CPU / baseline, "+st.name] = ratio(agent(st.name).ServerCPUms, base.ServerCPUms)
		ratios["client_credentials server CPU / baseline, "+st.name] = ratio(cc(st.name).ServerCPUms, base.ServerCPUms)
		if st.build != "" {
			for _, conc := range []int{0, bench.RunsConcurrency} {
				this, other := find(bench.NameRuns(stores[0].name), conc), find(bench.NameRuns(st.name), conc)
				ratios[fmt.Sprintf("whole run IdP CPU per run, this build / %s, concurrency %d", filepath.Base(st.build), other.Concurrency)] = ratio(this.ServerCPUms, other.ServerCPUms)
			}
		}
		if st.name != stores[0].name {
			ratios["agent_checksum "+st.name+" / SQLite throughput"] = ratio(agent(st.name).PerSecond, agent(stores[0].name).PerSecond)
			ratios["client_credentials "+st.name+" / SQLite throughput"] = ratio(cc(st.name).PerSecond, cc(stores[0].name).PerSecond)
		}
	}
	for _, t := range tallies {
		wholeRunRatios(ratios, r, t, base.ServerCPUms)
	}
	ratios["middleware / bare verify (p50)"] = ratio(find(bench.NameMiddleware, 0).P50ms, find(bench.NameBareVerify, 0).P50ms)
	ratios["middleware MCP tools/call / plain HTTP decision (p50)"] = ratio(find(bench.NameMiddlewareMCP, 0).P50ms, find(bench.NameMiddleware, 0).P50ms)
	ratios["tracing on / off: agent_checksum grant, server CPU per op"] = ratio(find(bench.NameGrantTraced, 0).ServerCPUms, agent("SQLite").ServerCPUms)
	ratios["tracing off (hooks installed) / no tracing code: proxy throughput"] = ratio(find(bench.NameViaProxyOff, 0).PerSecond, find(bench.NameViaProxy, find(bench.NameViaProxyOff, 0).Concurrency).PerSecond)
	ratios["tracing on / off: proxy throughput"] = ratio(find(bench.NameViaProxyTraced, 0).PerSecond, find(bench.NameViaProxyOff, 0).PerSecond)
	if authz := find(bench.NameAuthzDecision, 0); authz.Ops > 0 {
		ratios["authz auth-request decision / middleware decision (p50)"] = ratio(authz.P50ms, find(bench.NameMiddleware, 0).P50ms)
	}
	for _, x := range r {
		switch x.Name {
		case bench.NameViaProxy:
			ratios[fmt.Sprintf("proxy p50 overhead (ms), concurrency %d", x.Concurrency)] = x.P50ms - find(bench.NameDirect, x.Concurrency).P50ms
		case bench.NameNginxAuthz:
			ratios[fmt.Sprintf("nginx+authz / nginx direct throughput, concurrency %d", x.Concurrency)] = ratio(x.PerSecond, find(bench.NameNginxDirect, x.Concurrency).PerSecond)
			ratios[fmt.Sprintf("nginx+authz / ajwt proxy throughput, concurrency %d", x.Concurrency)] = ratio(x.PerSecond, find(bench.NameGatewayProxy, x.Concurrency).PerSecond)
		case bench.NameMCPViaProxy:
			direct := find(bench.NameMCPDirect, x.Concurrency)
			ratios[fmt.Sprintf("MCP proxy p50 overhead (ms), concurrency %d", x.Concurrency)] = x.P50ms - direct.P50ms
			ratios[fmt.Sprintf("MCP proxy / direct throughput, concurrency %d", x.Concurrency)] = ratio(x.PerSecond, direct.PerSecond)
		}
	}
	proxyProcessRatios(ratios, r, find)
	overloadRatios(ratios, r)
	maps.DeleteFunc(ratios, func(_ string, v float64) bool { return math.IsNaN(v) })
	return ratios
}

// proxyProcessRatios: `ajwt proxy` in its own process against the
// upstream called directly, against the --compare build, and against
// what bounds it on this machine: the CPU one request costs all
// processes together (the proxy's, and this one's: load generator and
// upstream) caps throughput at cores ÷ that; one Ed25519 verify plus one
// loopback exchange bound the latency it can add.
func proxyProcessRatios(ratios map[string]float64, r []bench.Result, find func(string, int) bench.Result) {
	ed := find(bench.NameEd25519, 0)
	for _, x := range r {
		if x.Name == bench.NameProxyProcess {
			direct := find(bench.NameDirectPeer, x.Concurrency)
			c := x.Concurrency
			ratios[fmt.Sprintf("proxy process p50 overhead (ms), concurrency %d", c)] = x.P50ms - direct.P50ms
			ratios[fmt.Sprintf("proxy process throughput (req/s), concurrency %d", c)] = x.PerSecond
			ratios[fmt.Sprintf("proxy process / direct throughput, concurrency %d", c)] = ratio(x.PerSecond, direct.PerSecond)
			ratios[fmt.Sprintf("proxy process: machine CPU per request (ms), concurrency %d", c)] = x.ServerCPUms + x.LocalCPUms
			ratios[fmt.Sprintf("proxy process: throughput ceiling, cores ÷ machine CPU per request (req/s), concurrency %d", c)] =
				ratio(float64(runtime.NumCPU())*1000, x.ServerCPUms+x.LocalCPUms)
			if c == 1 && ed.Ops > 0 {
				ratios["proxy process: p50 overhead floor, Ed25519 verify + one direct exchange (ms)"] = ed.P50ms + direct.P50ms
			}
		}
		if before, ok := strings.CutPrefix(x.Name, bench.NameProxyProcess+", "); ok {
			ratios[fmt.Sprintf("proxy process, this build / %s throughput, concurrency %d", before, x.Concurrency)] =
				ratio(find(bench.NameProxyProcess, x.Concurrency).PerSecond, x.PerSecond)
			ratios[fmt.Sprintf("proxy process, this build / %s proxy CPU per request, concurrency %d", before, x.Concurrency)] =
				ratio(find(bench.NameProxyProcess, x.Concurrency).ServerCPUms, x.ServerCPUms)
		}
	}
}

// overloadRatios: throughput and resident set at OverloadFactor times the
// saturating concurrency against at saturation (the first of each pair).
func overloadRatios(ratios map[string]float64, r []bench.Result) {
	for _, name := range []func(int) string{bench.NameOverloadGrant, bench.NameOverloadProxy} {
		var pair []bench.Result
		for _, x := range r {
			if x.Name == name(x.Concurrency) {
				pair = append(pair, x)
			}
		}
		if len(pair) != 2 {
			continue
		}
		what := strings.TrimSuffix(name(0), ", 0 clients")
		ratios[what+": throughput at 10× / at saturation"] = ratio(pair[1].PerSecond, pair[0].PerSecond)
		ratios[what+": resident set at 10× / at saturation"] = ratio(pair[1].ServerRSSMB, pair[0].ServerRSSMB)
	}
}

// wholeRunRatios relates the IdP's CPU per whole run to what the run's
// IdP requests would cost as bare tokens (the baseline's CPU per token):
// the target is at most 3 at concurrency 64.
func wholeRunRatios(ratios map[string]float64, r []bench.Result, t *bench.RunTally, baseCPU float64) {
	for _, x := range r {
		if x.Name != bench.NameRuns(t.Store()) {
			continue
		}
		perRun := t.IdPRequestsPerRun(x.Concurrency)
		suffix := fmt.Sprintf(", concurrency %d, %s", x.Concurrency, t.Store())
		ratios["whole run IdP CPU / (IdP requests per run × baseline CPU per token)"+suffix] = ratio(x.ServerCPUms, perRun*baseCPU)
		ratios["whole run runs/s"+suffix] = x.PerSecond
		ratios["whole run IdP requests per run"+suffix] = perRun
	}
}

// ratio is a/b, or NaN (left out of the report) when a series it needs
// did not run.
func ratio(a, b float64) float64 {
	if a == 0 || b == 0 {
		return math.NaN()
	}
	return a / b
}

func writeBenchTable(w io.Writer, rep *benchReport) {
	fmt.Fprintf(w, "\nmachine: %s\n\n", rep.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "series\tconc\tops/s\tp50 ms\tp95 ms\tp99 ms\tserver CPU ms/op\tlocal CPU ms/op\tserver RSS MB\terrors\tshed\t")
	orDash := func(v float64, format string) string {
		if v <= 0 {
			return "-"
		}
		return fmt.Sprintf(format, v)
	}
	for _, r := range rep.Results {
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%s\t%.3f\t%s\t%d\t%d\t\n", r.Name, r.Concurrency, r.PerSecond, r.P50ms, r.P95ms, r.P99ms,
			orDash(r.ServerCPUms, "%.3f"), r.LocalCPUms, orDash(r.ServerRSSMB, "%.0f"), r.Errors, r.Shed)
	}
	tw.Flush()
	fmt.Fprintln(w)
	keys := slices.Sorted(maps.Keys(rep.Ratios))
	width := 0
	for _, k := range keys {
		width = max(width, utf8.RuneCountInString(k))
	}
	for _, k := range keys {
		fmt.Fprintf(w, "%-*s  %.2f\n", width, k, rep.Ratios[k])
	}
}

func (e *env) benchBaselineCmd() *cobra.Command {
	var addr string
	cmd := &cobra.Command{
		Use:    "bench-baseline-server",
		Hidden: true,
		Short:  "The bare go-jose token server ajwt bench compares against",
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, err := bench.BaselineHandler()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return err
			}
			return serveHTTP(cmd.Context(), ln, h, discardLogger())
		},
	}
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:0", "listen address")
	return cmd
}
