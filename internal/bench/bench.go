// Package bench measures ajwt against baselines in the same run (ajwt
// bench): token minting over HTTP (agent_checksum with DPoP and run-state
// write, client_credentials, and a bare go-jose token server), enforcement
// cost against the bare verify work, and proxy overhead against calling
// the upstream directly. Client-side proof generation is done before the
// timed part, and server CPU is read from the server process only.
package bench

import (
	"context"
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

// load runs op from conc workers until n operations are done and reports
// throughput and latency percentiles. op gets the operation's index.
func load(name string, n, conc int, op func(i int) error) Result {
	lat := make([]time.Duration, n)
	var next, errs atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range conc {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				t0 := time.Now()
				if err := op(i); err != nil {
					errs.Add(1)
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(n-1)*p)]) / 1e6 }
	return Result{Name: name, Ops: n, Concurrency: conc, Seconds: elapsed.Seconds(), PerSecond: float64(n) / elapsed.Seconds(),
		P50ms: pct(0.50), P95ms: pct(0.95), P99ms: pct(0.99), Errors: int(errs.Load())}
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

// withServerCPU measures the server process's CPU over fn.
func withServerCPU(pid int, fn func() Result) Result {
	before, err1 := cpuTime(pid)
	r := fn()
	after, err2 := cpuTime(pid)
	if err1 == nil && err2 == nil && r.Ops > 0 {
		r.ServerCPUms = float64(after-before) / float64(time.Millisecond) / float64(r.Ops)
	}
	return r
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

var _ = context.Background
