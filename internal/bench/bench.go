// Package bench measures ajwt against baselines in the same run (ajwt
// bench): token minting over HTTP (agent_checksum with DPoP and run-state
// write, client_credentials, and a bare go-jose token server), enforcement
// cost against the bare verify work, and proxy overhead against calling
// the upstream directly. Client-side proof generation is done before the
// timed part, and server CPU is read from the server process only.
package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
	Errors      int     `json:"errors"`
	Note        string  `json:"note,omitempty"`
}

// Series is one measured operation: Op(i) for i in [0, ops), from
// Concurrency workers; ServerPID, if set, is the process whose CPU is the
// server's cost. Prepare, if set, runs untimed before each slice of
// operations (client work such as signing DPoP proofs, made just in time
// so that their iat stays fresh however long the run).
type Series struct {
	Name        string
	Concurrency int
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
		from, to := round*ops/rounds, (round+1)*ops/rounds
		progress("round %d/%d: %d operations of each of %d series", round+1, rounds, to-from, len(ss))
		for k, s := range ss {
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
	cpu     time.Duration
	noCPU   bool // some round could not read the server's CPU
}

func (a *sample) add(b sample) {
	a.lat = append(a.lat, b.lat...)
	a.elapsed += b.elapsed
	a.errs += b.errs
	a.cpu += b.cpu
	a.noCPU = a.noCPU || b.noCPU
}

func (a *sample) result(s Series) Result {
	n := len(a.lat)
	slices.Sort(a.lat)
	pct := func(p float64) float64 { return float64(a.lat[int(float64(n-1)*p)]) / 1e6 }
	r := Result{Name: s.Name, Ops: n, Concurrency: s.Concurrency, Seconds: a.elapsed.Seconds(), PerSecond: float64(n) / a.elapsed.Seconds(),
		P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99), Errors: a.errs, Note: s.Note}
	if s.ServerPID != 0 && !a.noCPU {
		r.ServerCPUms = float64(a.cpu) / float64(time.Millisecond) / float64(n)
	}
	return r
}

// measure runs op(from … to−1) from the series' workers.
func measure(s Series, from, to int) sample {
	lat := make([]time.Duration, to-from)
	var next, errs atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	cpu0, err0 := cpuTime(s.ServerPID)
	start := time.Now()
	for range max(1, s.Concurrency) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= to {
					return
				}
				t0 := time.Now()
				if err := s.Op(i); err != nil {
					errs.Add(1)
				}
				lat[i-from] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	out := sample{lat: lat, elapsed: time.Since(start), errs: int(errs.Load())}
	cpu1, err1 := cpuTime(s.ServerPID)
	out.cpu, out.noCPU = cpu1-cpu0, err0 != nil || err1 != nil
	return out
}

// cpuTime reads a process's user+system CPU time from /proc (Linux).
func cpuTime(pid int) (time.Duration, error) {
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

func drain(res *http.Response) {
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
}

func expectOK(res *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer drain(res)
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", res.StatusCode)
	}
	return nil
}
