package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// floor is the least time per operation a benchmark can honestly report:
// its work includes a signature or its verification (tens of µs on any
// machine this runs on; the floors leave a margin of 5–10× for faster
// ones). A capped loop reports nanoseconds.
type floor struct {
	pattern *regexp.Regexp // matched against "import/path.BenchmarkName/sub"
	min     time.Duration
	why     string
}

// floors names the benchmarks that sign or verify a signature per
// operation. Cached paths still verify a DPoP proof per request.
var floors = []floor{
	{regexp.MustCompile(`/dpop\.BenchmarkNewProof/`), 5 * time.Microsecond, "signs a proof"},
	{regexp.MustCompile(`/dpop\.BenchmarkVerify/`), 10 * time.Microsecond, "verifies a proof's signature"},
	{regexp.MustCompile(`/token\.BenchmarkMint/`), 5 * time.Microsecond, "signs a token"},
	{regexp.MustCompile(`/token\.BenchmarkVerify/`), 10 * time.Microsecond, "verifies a token's signature"},
	{regexp.MustCompile(`/middleware\.BenchmarkCheck/`), 10 * time.Microsecond, "verifies a DPoP proof per request, cache or not"},
	{regexp.MustCompile(`/authserver\.BenchmarkGrantAgentChecksum$`), 50 * time.Microsecond, "verifies a proof, signs a token, writes the store over HTTP"},
	{regexp.MustCompile(`/authserver\.BenchmarkGrantClientCredentials$`), 20 * time.Microsecond, "signs a token and writes the store over HTTP"},
	{regexp.MustCompile(`/client\.BenchmarkTransport/ajwt$`), 10 * time.Microsecond, "signs a proof per call"},
}

// result is one benchmark's line of output.
type result struct {
	pkg, name string
	n         int64
	nsPerOp   float64
}

func (r result) id() string { return r.pkg + "." + r.name }

// goPackage is what the guard needs of `go list`.
type goPackage struct {
	ImportPath   string
	Dir          string
	TestGoFiles  []string
	XTestGoFiles []string
}

func listPackages(ctx context.Context, dir string, patterns []string) ([]goPackage, error) {
	cmd := exec.CommandContext(ctx, "go", append([]string{"list", "-json=ImportPath,Dir,TestGoFiles,XTestGoFiles"}, patterns...)...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w", err)
	}
	var pkgs []goPackage
	for dec := json.NewDecoder(bytes.NewReader(out)); ; {
		var p goPackage
		if err := dec.Decode(&p); err == io.EOF {
			return pkgs, nil
		} else if err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
}

// lintPackages returns the packages that have benchmarks and the findings
// in all of them.
func lintPackages(pkgs []goPackage) (withBench []goPackage, findings []finding, err error) {
	fset := token.NewFileSet()
	for _, p := range pkgs {
		has := false
		for _, f := range append(append([]string{}, p.TestGoFiles...), p.XTestGoFiles...) {
			bench, found, err := lintFile(fset, filepath.Join(p.Dir, f), nil)
			if err != nil {
				return nil, nil, err
			}
			has = has || len(bench) > 0
			findings = append(findings, found...)
		}
		if has {
			withBench = append(withBench, p)
		}
	}
	return withBench, findings, nil
}

// runBenchmarks runs every benchmark of pkgs with -benchtime benchtime
// and returns their results, and as failures the benchmarks and packages
// that failed (with their output).
func runBenchmarks(ctx context.Context, dir string, pkgs []goPackage, benchtime string) ([]result, []string, error) {
	args := []string{"test", "-json", "-run", "^$", "-bench", ".", "-benchtime", benchtime, "-count", "1"}
	for _, p := range pkgs {
		args = append(args, p.ImportPath)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, runErr := cmd.Output()
	results, failures, err := parseJSON(out)
	if err != nil {
		return nil, nil, err
	}
	if runErr != nil && len(failures) == 0 {
		return nil, nil, fmt.Errorf("go %s: %w\n%s", strings.Join(args, " "), runErr, stderr.Bytes())
	}
	return results, failures, nil
}

type event struct {
	Action     string
	Package    string
	ImportPath string // of build-output and build-fail events
	Test       string
	Output     string
}

var resultLine = regexp.MustCompile(`\s(\d+)\s+([0-9.]+) ns/op`)

// parseJSON reads `go test -json` output. A benchmark's result line can
// come in several output events; they are joined per benchmark.
func parseJSON(out []byte) (results []result, failures []string, err error) {
	type key struct{ pkg, test string }
	text := map[key]*strings.Builder{}
	build := map[string]*strings.Builder{}
	var order []key
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		k := key{e.Package, e.Test}
		switch e.Action {
		case "build-output":
			if build[e.ImportPath] == nil {
				build[e.ImportPath] = &strings.Builder{}
			}
			build[e.ImportPath].WriteString(e.Output)
		case "build-fail":
			failures = append(failures, fmt.Sprintf("build of %s failed:\n%s", e.ImportPath, tail(build[e.ImportPath])))
		case "output":
			if text[k] == nil {
				text[k] = &strings.Builder{}
				order = append(order, k)
			}
			text[k].WriteString(e.Output)
		case "fail":
			name := e.Package
			if e.Test != "" {
				name += "." + e.Test
			}
			failures = append(failures, fmt.Sprintf("%s failed:\n%s", name, tail(text[k])))
		}
	}
	for _, k := range order {
		if !strings.HasPrefix(k.test, "Benchmark") {
			continue
		}
		m := resultLine.FindStringSubmatch(text[k].String())
		if m == nil {
			continue // a parent of sub-benchmarks, or skipped
		}
		n, _ := strconv.ParseInt(m[1], 10, 64)
		ns, _ := strconv.ParseFloat(m[2], 64)
		results = append(results, result{pkg: k.pkg, name: k.test, n: n, nsPerOp: ns})
	}
	return results, failures, sc.Err()
}

// tail is the end of an output, enough to show why something failed.
func tail(b *strings.Builder) string {
	if b == nil {
		return ""
	}
	s := b.String()
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// Rules of the timed runs.
const (
	shortRun = 100 // iterations of the first run
	// maxDrop is how much faster per operation a long run may be than the
	// short one. Warm-up makes the short run slower: a first token grant,
	// a connection, a cache fill, P-256's tables (ES256 signing measured
	// 8.7× slower over its first 100 iterations on a loaded machine),
	// SQLite's first fsyncs (5×). A used-up pool makes the long run
	// hundreds of times faster: its later iterations cost nanoseconds.
	// Only work that takes at least minWork per operation is compared:
	// below it, 100 iterations are too short to time well.
	maxDrop = 20
	minWork = time.Microsecond
)

// check applies the rules to the results of the short run (shortRun
// iterations) and the long one (benchtime):
//
//   - An honest benchmark runs until its timed work reaches benchtime (or
//     b.N reaches 1e9), so N × ns/op is at least benchtime; a loop that
//     stops early reports the time of the iterations it did divided by
//     all of them.
//   - A loop that runs all its iterations but does the work only for the
//     first ones (a pool used up) gets much faster per operation between
//     the short run and the long one.
//   - No benchmark that signs or verifies is faster than its floor.
func check(short, long []result, benchtime time.Duration, floors []floor) []string {
	var problems []string
	first := map[string]result{}
	for _, r := range short {
		first[r.id()] = r
	}
	for _, r := range long {
		if ran := time.Duration(float64(r.n) * r.nsPerOp); ran < benchtime/2 {
			problems = append(problems, fmt.Sprintf("%s: %d iterations at %v ns/op account for %v of the %v it was asked to run: "+
				"its loop stops before b.N iterations", r.id(), r.n, r.nsPerOp, ran, benchtime))
		}
		if s, ok := first[r.id()]; ok && time.Duration(s.nsPerOp) >= minWork && s.nsPerOp > maxDrop*r.nsPerOp {
			problems = append(problems, fmt.Sprintf("%s: %v ns/op over %d iterations but %v ns/op over %d: "+
				"later iterations do less work (a pool used up?)", r.id(), s.nsPerOp, s.n, r.nsPerOp, r.n))
		}
	}
	for _, r := range append(append([]result{}, short...), long...) {
		for _, f := range floors {
			if f.pattern.MatchString(r.id()) && time.Duration(r.nsPerOp) < f.min {
				problems = append(problems, fmt.Sprintf("%s: %v ns/op over %d iterations is below %v, the least for work that %s",
					r.id(), r.nsPerOp, r.n, f.min, f.why))
			}
		}
	}
	sort.Strings(problems)
	return problems
}
