package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"runtime"
	"slices"
	"text/tabwriter"

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
			rep, err := runBench(cmd, cfg)
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
	cmd.Flags().StringVar(&cfg.Sync, "sqlite-sync", "FULL", "SQLite synchronous for the measured IdP: FULL or NORMAL")
	cmd.Flags().StringVar(&cfg.Postgres, "postgres", os.Getenv("AJWT_TEST_POSTGRES"), "also measure the PostgreSQL store with this DSN")
	cmd.Flags().StringVar(&cfg.ProfileDir, "profile", "", "directory for the IdP's CPU profiles (idp-sqlite.pprof, idp-postgresql.pprof)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (progress goes to stderr)")
	return cmd
}

type benchReport struct {
	Machine string             `json:"machine"`
	Results []bench.Result     `json:"results"`
	Ratios  map[string]float64 `json:"ratios"`
}

func runBench(cmd *cobra.Command, cfg bench.Config) (*benchReport, error) {
	rep := &benchReport{Machine: fmt.Sprintf("%s/%s, %d CPUs, %s", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version()), Ratios: map[string]float64{}}
	base, err := bench.Baseline(cfg)
	if err != nil {
		return nil, err
	}
	mint, err := bench.Mint(cmd.Context(), cfg, "SQLite", "")
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, base)
	rep.Results = append(rep.Results, mint...)
	rep.Ratios["agent_checksum server CPU / baseline"] = ratio(mint[0].ServerCPUms, base.ServerCPUms)
	rep.Ratios["client_credentials server CPU / baseline"] = ratio(mint[1].ServerCPUms, base.ServerCPUms)
	if cfg.Postgres != "" {
		pg, err := bench.Mint(cmd.Context(), cfg, "PostgreSQL", cfg.Postgres)
		if err != nil {
			return nil, err
		}
		rep.Results = append(rep.Results, pg...)
		rep.Ratios["agent_checksum PostgreSQL / SQLite throughput"] = ratio(pg[0].PerSecond, mint[0].PerSecond)
	}
	enf, err := bench.Enforce(cfg)
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, enf...)
	rep.Ratios["middleware / bare verify"] = ratio(enf[1].P50ms, enf[0].P50ms)
	prx, err := bench.Proxy(cfg)
	if err != nil {
		return nil, err
	}
	rep.Results = append(rep.Results, prx...)
	for i := 0; i+1 < len(prx); i += 2 {
		rep.Ratios[fmt.Sprintf("proxy p50 overhead (ms), concurrency %d", prx[i].Concurrency)] = prx[i+1].P50ms - prx[i].P50ms
	}
	return rep, nil
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
	for _, k := range slices.Sorted(maps.Keys(rep.Ratios)) {
		fmt.Fprintf(w, "%-48s %.2f\n", k, rep.Ratios[k])
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
