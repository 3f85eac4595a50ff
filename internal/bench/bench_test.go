package bench

import (
	"errors"
	"net/http"
	"os"
	"testing"
	"time"
)

func TestStatusErr(t *testing.T) {
	for _, tc := range []struct {
		status     int
		retryAfter string
		shed, ok   bool
	}{
		{200, "", false, true},
		{429, "1", true, false},
		{503, "2", true, false},
		{503, "", false, false}, // no Retry-After: a failure, not shedding
		{429, "", false, false},
		{500, "1", false, false},
		{502, "", false, false},
	} {
		res := &http.Response{StatusCode: tc.status, Header: http.Header{}}
		if tc.retryAfter != "" {
			res.Header.Set("Retry-After", tc.retryAfter)
		}
		err := statusErr(res)
		if (err == nil) != tc.ok || errors.Is(err, ErrShed) != tc.shed {
			t.Errorf("%d Retry-After %q: %v", tc.status, tc.retryAfter, err)
		}
	}
}

// TestProcessReadings: the server CPU clock advances with work at a
// resolution finer than /proc's 10 ms ticks, and the resident set reads.
func TestProcessReadings(t *testing.T) {
	pid := os.Getpid()
	before, err := cpuTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Millisecond); time.Now().Before(deadline); {
	}
	after, err := cpuTime(pid)
	if err != nil {
		t.Fatal(err)
	}
	if d := after - before; d < 20*time.Millisecond {
		t.Errorf("30 ms of spinning read as %v of CPU", d)
	}
	if _, err := schedCPU(pid); err == nil && after%(10*time.Millisecond) == 0 && before%(10*time.Millisecond) == 0 {
		t.Errorf("schedstat readings %v, %v look like ticks", before, after)
	}
	if rss := residentBytes(pid); rss < 1<<20 {
		t.Errorf("resident set %d bytes", rss)
	}
	if residentBytes(-1) != 0 {
		t.Error("a missing process has a resident set")
	}
}

// TestWithStops: stops run in reverse order, and at once when the build
// fails.
func TestWithStops(t *testing.T) {
	var order []int
	build := func(fail bool) func(*[]func()) ([]Series, error) {
		return func(stops *[]func()) ([]Series, error) {
			*stops = append(*stops, func() { order = append(order, 1) }, func() { order = append(order, 2) })
			if fail {
				return nil, errors.New("boom")
			}
			return []Series{{Name: "s"}}, nil
		}
	}
	ss, stop, err := withStops(build(false))
	if err != nil || len(ss) != 1 || len(order) != 0 {
		t.Fatalf("%v %v %v", ss, err, order)
	}
	stop()
	if _, _, err := withStops(build(true)); err == nil {
		t.Fatal("no error")
	}
	if want := []int{2, 1, 2, 1}; len(order) != 4 || order[0] != want[0] || order[1] != want[1] || order[2] != want[2] || order[3] != want[3] {
		t.Fatalf("stops ran %v, want %v", order, want)
	}
}
