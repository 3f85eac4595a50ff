// Command benchguard fails when a benchmark reports a time per operation
// that its work cannot take: the capped-loop class, where
// `for i := 0; i < b.N && i < len(proofs); i++` stopped after its
// pre-made proofs while the timer divided by b.N (1.286 ns/op for a DPoP
// verification at -benchtime 2s).
//
//	go run ./scripts/benchguard [-benchtime 300ms] [packages]   # default ./...
//
// It checks:
//
//   - statically, every benchmark loop in the packages' test files: a
//     condition that bounds b.N by anything else, and a break out of a
//     b.Loop(), b.N or pb.Next() loop;
//   - by running every benchmark for -benchtime: the testing package runs
//     a benchmark until its timed work reaches that duration, so N × ns/op
//     below half of it means the loop did less than N iterations;
//   - by running every benchmark for 100 iterations first: an operation
//     more than 20× faster in the long run means later iterations do
//     less work than the first ones;
//   - a floor per benchmark that signs or verifies a signature.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	benchtime := flag.Duration("benchtime", 300*time.Millisecond, "how long each benchmark runs")
	flag.Parse()
	patterns := flag.Args()
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	problems, err := guard(context.Background(), ".", patterns, *benchtime, floors, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchguard:", err)
		os.Exit(1)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "benchguard:", p)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// guard lints and runs the benchmarks of patterns (resolved in dir) and
// returns what it found wrong.
func guard(ctx context.Context, dir string, patterns []string, benchtime time.Duration, floors []floor, log io.Writer) ([]string, error) {
	pkgs, err := listPackages(ctx, dir, patterns)
	if err != nil {
		return nil, err
	}
	withBench, findings, err := lintPackages(pkgs)
	if err != nil {
		return nil, err
	}
	var problems []string
	for _, f := range findings {
		problems = append(problems, f.String())
	}
	if len(withBench) == 0 {
		return problems, nil
	}
	start := time.Now()
	short, failed, err := runBenchmarks(ctx, dir, withBench, fmt.Sprintf("%dx", shortRun))
	if err != nil || len(failed) > 0 {
		return append(problems, failed...), err
	}
	long, failed, err := runBenchmarks(ctx, dir, withBench, benchtime.String())
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(log, "benchguard: %d benchmarks in %d packages, %d iterations and %v each (%v in all)\n",
		len(long), len(withBench), shortRun, benchtime, time.Since(start).Round(time.Second))
	problems = append(problems, failed...)
	return append(problems, check(short, long, benchtime, floors)...), nil
}
