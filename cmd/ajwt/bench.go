//go:build !ajwt_server

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/bench"
)

func (e *env) benchCmd() *cobra.Command {
	var cfg bench.Config
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "bench [--ops N] [--concurrency N] [--json]",
		Short: "Measure token minting, enforcement and proxy overhead against baselines in the same run",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if cfg.Ops < 1 || cfg.Concurrency < 1 || cfg.Rounds < 1 {
				return fmt.Errorf("--ops, --concurrency and --rounds must be at least 1")
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
			rep, err := runBench(cfg)
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
	cmd.Flags().IntVar(&cfg.Concurrency, "concurrency", 8, "concurrent clients")
	cmd.Flags().IntVar(&cfg.Rounds, "rounds", 4, "rounds to split each series into (all series alternate round by round)")
	cmd.Flags().StringVar(&cfg.Sync, "sqlite-sync", "FULL", "SQLite synchronous for the measured IdP: FULL or NORMAL")
	cmd.Flags().StringVar(&cfg.Postgres, "postgres", os.Getenv("AJWT_TEST_POSTGRES"), "also measure the PostgreSQL store with this DSN")
	cmd.Flags().StringVar(&cfg.CompareExe, "compare", "", "another ajwt binary to measure as a second SQLite IdP in the same run (compare two revisions)")
	cmd.Flags().StringVar(&cfg.ProfileDir, "profile", "", "directory for the IdP's CPU profiles (idp-sqlite.pprof, idp-postgresql.pprof)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (progress goes to stderr)")
	return cmd
}

type benchReport struct {
	Machine string             `json:"machine"`
	Rounds  int                `json:"rounds"`
	Results []bench.Result     `json:"results"`
	Ratios  map[string]float64 `json:"ratios"`
}

// runBench starts every server, then measures all series interleaved in
// rounds, so that every ratio compares series measured through the same
// moments of a noisy machine.
func runBench(cfg bench.Config) (*benchReport, error) {
	var series []bench.Series
	var stops []func()
	defer func() {
		for _, stop := range stops {
			stop()
		}
	}()
	base, stop, err := bench.BaselineSeries(cfg)
	if err != nil {
		return nil, err
	}
	series, stops = append(series, base), append(stops, stop)
	stores := []benchStore{{name: "SQLite"}}
	if cfg.Postgres != "" {
		stores = append(stores, benchStore{name: "PostgreSQL", dsn: cfg.Postgres})
	}
	if cfg.CompareExe != "" {
		stores = append(stores, benchStore{name: "SQLite, " + filepath.Base(cfg.CompareExe), build: cfg.CompareExe})
	}
	for _, st := range stores {
		cfg.Progress("starting the IdP on %s", st.name)
		mint, stop, err := bench.MintSeries(cfg, st.name, st.dsn, st.build)
		if err != nil {
			return nil, err
		}
		series, stops = append(series, mint...), append(stops, stop)
	}
	enf, err := bench.EnforceSeries(cfg)
	if err != nil {
		return nil, err
	}
	prx, stop, err := bench.ProxySeries(cfg)
	if err != nil {
		return nil, err
	}
	series, stops = append(append(series, enf...), prx...), append(stops, stop)
	mcpSeries, stop, err := bench.MCPSeries(cfg)
	if err != nil {
		return nil, err
	}
	series, stops = append(series, mcpSeries...), append(stops, stop)
	traced, stop, err := bench.TracingSeries(cfg)
	if err != nil {
		return nil, err
	}
	series, stops = append(series, traced...), append(stops, stop)
	gateway, stop, err := bench.GatewaySeries(cfg)
	if err != nil {
		return nil, err
	}
	series, stops = append(series, gateway...), append(stops, stop)
	results, err := bench.Interleave(series, cfg.Ops, cfg.Rounds, cfg.Progress)
	if err != nil {
		return nil, err
	}
	rep := &benchReport{Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()),
		Rounds: cfg.Rounds, Results: results, Ratios: benchRatios(results, stores)}
	return rep, nil
}

// benchStore is one IdP the bench measures: its series are named after
// name; dsn "" is the embedded SQLite, build "" this binary.
type benchStore struct{ name, dsn, build string }

// benchRatios relates results measured in the same run, found by name.
func benchRatios(r []bench.Result, stores []benchStore) map[string]float64 {
	find := func(name string, conc int) bench.Result {
		for _, x := range r {
			if x.Name == name && (conc == 0 || x.Concurrency == conc) {
				return x
			}
		}
		return bench.Result{}
	}
	base := r[0]
	agent := func(store string) bench.Result { return find("agent_checksum grant ("+store+")", 0) }
	cc := func(store string) bench.Result { return find("client_credentials ("+store+")", 0) }
	ratios := map[string]float64{}
	for _, st := range stores {
		ratios["agent_checksum server CPU / baseline, "+st.name] = ratio(agent(st.name).ServerCPUms, base.ServerCPUms)
		ratios["client_credentials server CPU / baseline, "+st.name] = ratio(cc(st.name).ServerCPUms, base.ServerCPUms)
		if st.name != stores[0].name {
			ratios["agent_checksum "+st.name+" / SQLite throughput"] = ratio(agent(st.name).PerSecond, agent(stores[0].name).PerSecond)
			ratios["client_credentials "+st.name+" / SQLite throughput"] = ratio(cc(st.name).PerSecond, cc(stores[0].name).PerSecond)
		}
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
	return ratios
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func writeBenchTable(w io.Writer, rep *benchReport) {
	fmt.Fprintf(w, "\nmachine: %s\n\n", rep.Machine)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "series\tconc\tops/s\tp50 ms\tp95 ms\tp99 ms\tserver CPU ms/op\terrors\t")
	for _, r := range rep.Results {
		cpu := "-"
		if r.ServerCPUms > 0 {
			cpu = fmt.Sprintf("%.3f", r.ServerCPUms)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.3f\t%.3f\t%.3f\t%s\t%d\t\n", r.Name, r.Concurrency, r.PerSecond, r.P50ms, r.P95ms, r.P99ms, cpu, r.Errors)
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
