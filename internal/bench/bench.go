// Package bench measures ajwt against baselines in the same run (ajwt
// bench): token minting over HTTP (agent_checksum with DPoP and run-state
// write, client_credentials, and a bare go-jose token server), enforcement
// cost against the bare verify work, and proxy overhead against calling
// the upstream directly. Client-side proof generation is done before the
// timed part, and server CPU is read from the server process only.
package bench

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Result is one measured series.
type Result struct {
	Name        string  `json:"name"`
	Ops         int     `json:"ops"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"`
	P50ms       float64 `json:"p50_ms"`
	P95ms       float64 `json:"p95_ms"`
	P99ms       float64 `json:"p99_ms"`
	ServerCPUms float64 `json:"server_cpu_ms_per_op,omitempty"` // CPU of the server process per op
	ServerRSSMB float64 `json:"server_rss_mb,omitempty"`        // the server's largest resident set seen at the end of a round
	// LocalCPUms is this process's CPU per op: the load generator and
	// whatever runs in-process (an upstream, an in-process proxy). With
	// ServerCPUms it is what one op costs the machine.
	LocalCPUms float64 `json:"local_cpu_ms_per_op"`
	Errors     int     `json:"errors"`
	Shed       int     `json:"shed,omitempty"` // refused with 429 or 503 and Retry-After (ErrShed): load shedding, not failure
	Note       string  `json:"note,omitempty"`
}

// ErrShed marks an operation the server refused with 429 or 503 and a
// Retry-After: under overload that is the wanted answer, counted apart
// from errors.
var ErrShed = errors.New("bench: shed (429/503 with Retry-After)")

// Series is one measured operation: Op(i) for i in [0, ops), from
// Concurrency workers; ServerPID, if set, is the process whose CPU is the
// server's cost. Prepare, if set, runs untimed before each slice of
// operations (client work such as signing DPoP proofs, made just in time
// so that their iat stays fresh however long the run).
type Series struct {
	Name        string
	Concurrency int
	Ops         int // operations of this series; 0: the run's --ops
	ServerPID   int
	Note        string
	Prepare     func(from, to int) error
	Op          func(i int) error
}

// Interleave measures every series with ops operations, split into rounds:
// each round runs a slice of every series in turn. On a shared, noisy
// machine slow and fast moments then fall on all series alike, so the
// ratios between them are fair even when absolute numbers drift.
func Interleave(ss []Series, ops, rounds int, progress func(string, ...any)) ([]Result, error) {
	rounds = max(1, min(rounds, ops))
	acc := make([]sample, len(ss))
	for round := range rounds {
		progress("round %d/%d: %d operations of each of %d series", round+1, rounds, (round+1)*ops/rounds-round*ops/rounds, len(ss))
		for k, s := range ss {
			n := cmp.Or(s.Ops, ops)
			from, to := round*n/rounds, (round+1)*n/rounds
			if from == to {
				continue
			}
			if s.Prepare != nil {
				if err := s.Prepare(from, to); err != nil {
					return nil, fmt.Errorf("bench: %s: %w", s.Name, err)
				}
			}
			acc[k].add(measure(s, from, to))
		}
	}
	out := make([]Result, len(ss))
	for k, s := range ss {
		out[k] = acc[k].result(s)
	}
	return out, nil
}

// sample is what the rounds of one series add up to.
type sample struct {
	lat     []time.Duration
	elapsed time.Duration
	errs    int
	shed    int
	rss     int64 // bytes
	cpu     time.Duration
	local   time.Duration // this process's CPU
	noCPU   bool          // some round could not read the server's CPU
}

func (a *sample) add(b sample) {
	a.lat = append(a.lat, b.lat...)
	a.elapsed += b.elapsed
	a.errs += b.errs
	a.cpu += b.cpu
	a.local += b.local
	a.noCPU = a.noCPU || b.noCPU
	a.shed += b.shed
	a.rss = max(a.rss, b.rss)
}

func (a *sample) result(s Series) Result {
	n := len(a.lat)
	slices.Sort(a.lat)
	pct := func(p float64) float64 { return float64(a.lat[int(float64(n-1)*p)]) / 1e6 }
	r := Result{Name: s.Name, Ops: n, Concurrency: s.Concurrency, Seconds: a.elapsed.Seconds(), PerSecond: float64(n) / a.elapsed.Seconds(),
		P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99), Errors: a.errs, Shed: a.shed, Note: s.Note,
		LocalCPUms: float64(a.local) / float64(time.Millisecond) / float64(n)}
	if a.rss > 0 {
		r.ServerRSSMB = float64(a.rss) / (1 << 20)
	}
	if s.ServerPID != 0 && !a.noCPU {
		r.ServerCPUms = float64(a.cpu) / float64(time.Millisecond) / float64(n)
	}
	return r
}

// measure runs op(from … to−1) from the series' workers.
func measure(s Series, from, to int) sample {
	lat := make([]time.Duration, to-from)
	var next, errs, shed atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	cpu0, err0 := cpuTime(s.ServerPID)
	local0 := selfCPU()
	start := time.Now()
	for range max(1, s.Concurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				t0 := time.Now()
				switch err := s.Op(i); {
				case errors.Is(err, ErrShed):
					shed.Add(1)
				case err != nil:
					errs.Add(1)
				}
				lat[i-from] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	out := sample{lat: lat, elapsed: time.Since(start), errs: int(errs.Load()), shed: int(shed.Load())}
	cpu1, err1 := cpuTime(s.ServerPID)
	out.cpu, out.noCPU, out.local = cpu1-cpu0, err0 != nil || err1 != nil, selfCPU()-local0
	if s.ServerPID != 0 {
		out.rss = residentBytes(s.ServerPID)
	}
	return out
}

// selfCPU is this process's user+system CPU time, at the kernel's
// resolution (getrusage), finer than /proc's ticks.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// residentBytes reads a process's resident set (VmRSS) from /proc (Linux);
// 0 when it cannot.
func residentBytes(pid int) int64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// cpuTime reads a process's CPU time (Linux): the sum over its threads
// of /proc/<pid>/task/<tid>/schedstat, in nanoseconds, so that a slice of
// a few milliseconds is measured, not rounded to 10 ms ticks; /proc's
// utime+stime (ticks) when schedstat is missing (a kernel without
// CONFIG_SCHEDSTATS).
func cpuTime(pid int) (time.Duration, error) {
	if d, err := schedCPU(pid); err == nil {
		return d, nil
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// Fields after the command name (which may hold spaces) start after ')'.
	fields := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	const ticks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / ticks, nil
}

// schedCPU sums the run time of pid's threads. Go servers keep their
// threads, so a thread that ended between two readings (its time then
// lost) is rare.
func schedCPU(pid int) (time.Duration, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var sum time.Duration
	for _, t := range tasks {
		data, err := os.ReadFile(dir + "/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		ns, err := strconv.ParseInt(strings.Fields(string(data))[0], 10, 64)
		if err != nil {
			return 0, err
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// withStops runs build, which appends a stop for everything it starts;
// the stops run in reverse, and at once if build fails.
func withStops(build func(stops *[]func()) ([]Series, error)) ([]Series, func(), error) {
	var stops []func()
	stop := func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	ss, err := build(&stops)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return ss, stop, nil
}

func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

func expectOK(res *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer drain(res)
	return statusErr(res)
}

// statusErr is nil for 200, ErrShed for a 429 or 503 that says when to
// retry, and an error naming the status otherwise.
func statusErr(res *http.Response) error {
	switch {
	case res.StatusCode == http.StatusOK:
		return nil
	case (res.StatusCode == http.StatusTooManyRequests || res.StatusCode == http.StatusServiceUnavailable) && res.Header.Get("Retry-After") != "":
		return fmt.Errorf("%w: HTTP %d", ErrShed, res.StatusCode)
	default:
		return fmt.Errorf("HTTP %d", res.StatusCode)
	}
}
