package main

import (
	"context"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

func lintPath(t *testing.T, path string) ([]string, []finding) {
	t.Helper()
	bench, findings, err := lintFile(token.NewFileSet(), path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return bench, findings
}

func TestLintFindsCappedLoops(t *testing.T) {
	bench, findings := lintPath(t, "testdata/capped/capped_test.go")
	if len(bench) != 3 {
		t.Fatalf("benchmarks %v, want the 3 of the file", bench)
	}
	var lines []int
	for _, f := range findings {
		lines = append(lines, f.pos.Line)
	}
	// The capped condition and the break; the used-up pool
	// has no telling shape and is left to the timed run.
	if want := []int{33, 42}; !slices.Equal(lines, want) {
		t.Fatalf("findings at lines %v, want %v: %v", lines, want, findings)
	}
	if !strings.Contains(findings[0].msg, "i < b.N && i < len(proofs)") {
		t.Fatalf("finding %q does not quote the condition", findings[0].msg)
	}
	if _, findings := lintPath(t, "testdata/honest/honest_test.go"); len(findings) != 0 {
		t.Fatalf("honest benchmarks flagged: %v", findings)
	}
}

// TestRepositoryBenchmarkLoops lints every test file of the module, so
// that `go test ./...` already fails when a capped loop comes back.
func TestRepositoryBenchmarkLoops(t *testing.T) {
	root, _ := filepath.Abs("../..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s", root)
	}
	files := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, "_test.go") {
			files++
			if _, findings := lintPath(t, path); len(findings) > 0 {
				t.Errorf("%v", findings)
			}
		}
		return nil
	})
	if err != nil || files < 20 {
		t.Fatalf("walked %d test files: %v", files, err)
	}
}

func TestGuardFlagsCappedBenchmarks(t *testing.T) {
	problems, err := guard(context.Background(), ".", []string{"./testdata/capped"}, 50*time.Millisecond, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(problems, "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`capped_test.go:33:\d+: loop condition`),
		regexp.MustCompile(`capped\.BenchmarkCappedPool: \d+ iterations .* its loop stops before b\.N iterations`),
		regexp.MustCompile(`capped_test.go:42:\d+: break ends the benchmark loop`),
		regexp.MustCompile(`capped\.BenchmarkBreakOut: \d+ iterations .* its loop stops before b\.N iterations`),
		regexp.MustCompile(`capped\.BenchmarkUsedUpPool: .* later iterations do less work`),
	} {
		if !want.MatchString(text) {
			t.Errorf("no problem matches %s in:\n%s", want, text)
		}
	}
}

func TestGuardPassesHonestBenchmarks(t *testing.T) {
	strict := []floor{
		{regexp.MustCompile(`/honest\.BenchmarkLoop$`), time.Second, "is held to an impossible floor by this test"},
		{regexp.MustCompile(`/honest\.BenchmarkSub/`), time.Nanosecond, "is held to a floor it meets"},
	}
	problems, err := guard(context.Background(), ".", []string{"./testdata/honest"}, 50*time.Millisecond, strict, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	// Only the impossible floor, in both runs.
	if len(problems) != 2 || !strings.Contains(problems[0], "honest.BenchmarkLoop: ") || !strings.Contains(problems[1], "honest.BenchmarkLoop: ") ||
		!strings.Contains(problems[0], "impossible floor") {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
}

func TestParseJSON(t *testing.T) {
	out := strings.Join([]string{
		`{"Action":"output","Package":"p","Test":"BenchmarkA/sub-1","Output":"BenchmarkA/sub-1\n"}`,
		`{"Action":"output","Package":"p","Test":"BenchmarkA/sub-1","Output":"BenchmarkA/sub-1-2   \t"}`,
		`{"Action":"output","Package":"p","Test":"BenchmarkA/sub-1","Output":"  1234\t   567.5 ns/op\t  10 B/op\n"}`,
		`{"Action":"output","Package":"p","Test":"BenchmarkA","Output":"BenchmarkA\n"}`,
		`{"Action":"output","Package":"p","Test":"BenchmarkB","Output":"--- FAIL: BenchmarkB\n    b_test.go:9: boom\n"}`,
		`{"Action":"fail","Package":"p","Test":"BenchmarkB"}`,
		`{"ImportPath":"q [q.test]","Action":"build-output","Output":"q/x.go:1:1: undefined: y\n"}`,
		`{"ImportPath":"q [q.test]","Action":"build-fail"}`,
		`not JSON`,
	}, "\n")
	results, failures, err := parseJSON([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0] != (result{pkg: "p", name: "BenchmarkA/sub-1", n: 1234, nsPerOp: 567.5}) {
		t.Fatalf("results %+v", results)
	}
	if len(failures) != 2 || !strings.Contains(failures[0], "p.BenchmarkB failed") || !strings.Contains(failures[0], "boom") ||
		!strings.Contains(failures[1], "build of q [q.test] failed") || !strings.Contains(failures[1], "undefined: y") {
		t.Fatalf("failures %q", failures)
	}
}
