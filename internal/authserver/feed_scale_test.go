package authserver

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// feedConfig lifts the waiter caps above the scale tests' waiters, all
// of which come from 127.0.0.1.
const feedConfig = testConfig + `
feed_max_waiters: 5000
feed_max_waiters_per_address: 5000
`

// waiter is one long poll on its own connection, written and read by
// hand so that thousands of them cost the test no goroutine.
type waiter struct {
	conn net.Conn
	br   *bufio.Reader
}

func (h *harness) openWaiter(from, query string) *waiter {
	h.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", h.ts.Listener.Addr().String())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { c.Close() })
	if _, err := fmt.Fprintf(c, "GET /v1/revocations?%s HTTP/1.1\r\nHost: %s\r\n\r\n", query, h.ts.Listener.Addr()); err != nil {
		h.t.Fatal(err)
	}
	return &waiter{conn: c, br: bufio.NewReader(c)}
}

// read returns the answer, failing the test if none comes within d (a
// bound far above any answer given at once, far below the wait asked).
func (w *waiter) read(t *testing.T, d time.Duration) *response {
	t.Helper()
	_ = w.conn.SetReadDeadline(time.Now().Add(d))
	res, err := http.ReadResponse(w.br, nil)
	if err != nil {
		t.Fatalf("no feed answer within %s: %v", d, err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	out := &response{status: res.StatusCode, header: res.Header, raw: raw}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

// goroutinesIn counts the goroutines whose stack runs fn.
func goroutinesIn(fn string) int {
	buf := make([]byte, 64<<20)
	n := runtime.Stack(buf, true)
	return bytes.Count(buf[:n], []byte(fn+"("))
}

const (
	feedHandler = "(*Server).handleRevocations"
	feedPoller  = "(*Server).pollFeed"
)

// waitFor polls cond until it holds (for state the test cannot be told
// about directly, such as requests parked inside the server).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 60 s", what)
		}
	}
}

// maxReads is what one poller costs over elapsed: a read of the newest
// sequence number and, after a change, one of the entries, per poll
// interval, plus the handful of reads the test's own API calls make.
func maxReads(elapsed, poll time.Duration) int64 {
	return 2*int64(elapsed/poll) + 12
}

// TestFeedWaitersShareOnePoller: 2,000 parked long polls cost the store
// what one does (a poller per node, every feed_poll), not a read per
// waiter per interval; a revocation wakes them all with a few reads, and
// once they have answered neither handlers nor the poller are left.
func TestFeedWaitersShareOnePoller(t *testing.T) {
	const n = 2000
	h, cs := newCountingHarness(t, feedConfig)
	h.registerAgent("loner", "app", []string{"repo:read"}, nil)
	cursor := h.feed("").str("cursor")
	waiters := make([]*waiter, n)
	for i := range waiters {
		waiters[i] = h.openWaiter("127.0.0.1", "wait=30&since="+cursor)
	}
	waitFor(t, "every waiter parked", func() bool { return goroutinesIn(feedHandler) == n })

	cs.reset()
	start := time.Now()
	time.Sleep(time.Second)
	idle, elapsed := cs.views.Load(), time.Since(start)
	t.Logf("%d idle waiters: %d store reads in %s", n, idle, elapsed.Round(time.Millisecond))
	if idle > maxReads(elapsed, h.srv.cfg.FeedPoll) {
		t.Errorf("%d idle waiters made %d store reads in %s (%d feed reads); one poller makes at most %d",
			n, idle, elapsed.Round(time.Millisecond), cs.feedReads.Load(), maxReads(elapsed, h.srv.cfg.FeedPoll))
	}

	cs.reset()
	start = time.Now()
	h.revokeAgentAPI("loner")
	for i, w := range waiters {
		res := w.read(t, 30*time.Second)
		if res.status != 200 || !feedHas(res, store.RevokedAgent, "loner") {
			t.Fatalf("waiter %d: %d %s", i, res.status, res.raw)
		}
	}
	woken, elapsed := cs.views.Load(), time.Since(start)
	t.Logf("waking %d waiters: %d store reads in %s", n, woken, elapsed.Round(time.Millisecond))
	if woken > maxReads(elapsed, h.srv.cfg.FeedPoll) {
		t.Errorf("waking %d waiters took %d store reads in %s (%d feed reads); want at most %d",
			n, woken, elapsed.Round(time.Millisecond), cs.feedReads.Load(), maxReads(elapsed, h.srv.cfg.FeedPoll))
	}
	waitFor(t, "no feed handler left", func() bool { return goroutinesIn(feedHandler) == 0 })
	waitFor(t, "the poller to stop with its last waiter", func() bool { return goroutinesIn(feedPoller) == 0 })
}

const capsConfig = testConfig + `
feed_max_waiters: 3
feed_max_waiters_per_address: 2
`

// TestFeedWaiterCaps: beyond feed_max_waiters_per_address from one
// address, or feed_max_waiters in all, a long poll is answered at once:
// with the entries after its cursor when there are some, else 429
// slow_down with Retry-After (an enforcer backs off and asks again, and
// gets anything new at its next try). A read without wait is never
// capped; a freed slot is taken again; closing the server releases the
// waiters at once.
func TestFeedWaiterCaps(t *testing.T) {
	h := newHarnessAt(t, filepath.Join(t.TempDir(), "ajwt.db"), capsConfig)
	h.registerAgent("loner", "app", []string{"repo:read"}, nil)
	h.registerAgent("other", "app", []string{"repo:read"}, nil)
	before := h.feed("").str("cursor")
	h.revokeAgentAPI("other")
	cursor := h.feed("").str("cursor")
	park := "wait=30&since=" + cursor
	var parked []*waiter
	for _, from := range []string{"127.0.0.2", "127.0.0.2", "127.0.0.3"} {
		parked = append(parked, h.openWaiter(from, park))
		waitFor(t, "waiter parked", func() bool { return goroutinesIn(feedHandler) == len(parked) })
	}

	for _, tc := range []struct{ name, from string }{{"per address", "127.0.0.2"}, {"global", "127.0.0.4"}} {
		res := h.openWaiter(tc.from, park).read(t, 10*time.Second)
		if res.status != http.StatusTooManyRequests || res.str("error") != "slow_down" || res.header.Get("Retry-After") == "" {
			t.Fatalf("%s cap: %d %v %s", tc.name, res.status, res.header, res.raw)
		}
	}
	res := h.openWaiter("127.0.0.4", "wait=30&since="+before).read(t, 10*time.Second)
	if res.status != 200 || !feedHas(res, store.RevokedAgent, "other") || res.str("cursor") != cursor {
		t.Fatalf("over the cap with news: %d %s", res.status, res.raw)
	}
	if res := h.openWaiter("127.0.0.2", "since="+before).read(t, 10*time.Second); res.status != 200 || !feedHas(res, store.RevokedAgent, "other") {
		t.Fatalf("read without wait: %d %s", res.status, res.raw)
	}

	h.revokeAgentAPI("loner")
	for _, w := range parked {
		if res := w.read(t, 30*time.Second); res.status != 200 || !feedHas(res, store.RevokedAgent, "loner") {
			t.Fatalf("parked waiter: %d %s", res.status, res.raw)
		}
	}
	waitFor(t, "slots freed", func() bool { return goroutinesIn(feedHandler) == 0 })
	last := h.openWaiter("127.0.0.2", "wait=30&since="+h.feed("").str("cursor"))
	waitFor(t, "waiter parked in a freed slot", func() bool { return goroutinesIn(feedHandler) == 1 })

	h.srv.Close()
	if res := last.read(t, 10*time.Second); res.status != 200 || len(res.body["revoked"].([]any)) != 0 {
		t.Fatalf("waiter at shutdown: %d %s", res.status, res.raw)
	}
	waitFor(t, "the poller to stop with the server", func() bool { return goroutinesIn(feedPoller) == 0 })
}
