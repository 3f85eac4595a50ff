package authserver

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// Defaults of the feed's waiter caps (Config.FeedMaxWaiters and
// FeedMaxWaitersPerAddr). A parked long poll holds a connection, a file
// descriptor and two goroutines; ajwt serve also keeps the feed under half
// of --max-conns, so that waiters never take every connection.
const (
	DefaultFeedMaxWaiters        = 4096
	DefaultFeedMaxWaitersPerAddr = 256
)

// feedTail bounds the recent entries a node keeps in memory for its
// waiters; one further behind reads the store once.
const feedTail = 4096

// feedNotifier is the node's side of the §9 long poll. One poller per
// node, running only while someone waits, reads the store's newest
// sequence number every feed_poll (other nodes' revocations), or at once
// after a local revocation, keeps the recent entries in memory and wakes
// every waiter when they change; waiters answer from that tail, so a
// thousand of them cost the store what one does.
type feedNotifier struct {
	hook func([]*store.Revocation)
	kick chan struct{} // a local revocation: poll now

	mu      sync.Mutex
	changed chan struct{} // closed and replaced when head moves or a read completes
	synced  bool          // the running poller has read the store
	primed  bool          // head and tail were ever read
	head    int64         // newest sequence number seen
	from    int64         // tail holds every entry live when read with from < seq ≤ head
	tail    []*store.Revocation
	waiters int
	perAddr map[string]int
	polling bool
}

func newFeedNotifier(hook func([]*store.Revocation)) *feedNotifier {
	return &feedNotifier{hook: hook, kick: make(chan struct{}, 1), changed: make(chan struct{}), perAddr: map[string]int{}}
}

func (f *feedNotifier) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.changed
}

// broadcast runs under f.mu.
func (f *feedNotifier) broadcast() {
	close(f.changed)
	f.changed = make(chan struct{})
}

// notify is told of committed local revocations: the poller reads them
// now rather than at its next tick.
func (f *feedNotifier) notify(revs []*store.Revocation) {
	if len(revs) == 0 {
		return
	}
	select {
	case f.kick <- struct{}{}:
	default: // a poll is due already
	}
	if f.hook != nil {
		f.hook(revs)
	}
}

// join counts a waiter from addr unless a cap is reached; it reports
// whether a poller must be started.
func (f *feedNotifier) join(addr string, max, perAddr int) (ok, start bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiters >= max || f.perAddr[addr] >= perAddr {
		return false, false
	}
	f.waiters++
	f.perAddr[addr]++
	start, f.polling = !f.polling, true
	return true, start
}

func (f *feedNotifier) leave(addr string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waiters--
	if f.perAddr[addr]--; f.perAddr[addr] <= 0 {
		delete(f.perAddr, addr)
	}
}

// keepPolling stops the poller once nobody waits (or the server stops);
// a waiter joining later starts a new one.
func (f *feedNotifier) keepPolling(stopping bool) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.waiters > 0 && !stopping {
		return true
	}
	f.polling, f.synced = false, false
	return false
}

// tailView is what the tail can tell a reader after a cursor.
type tailView int

const (
	fromTail tailView = iota // revs and cursor answer it
	unsynced                 // the poller has not read the store yet
	behind                   // the cursor is older than the tail: read the store
)

// since returns the live entries after `after` from the tail (at most a
// page) and the cursor that follows them: past every entry up to head
// when nothing live is left after the last one.
func (f *feedNotifier) since(after int64, now time.Time) ([]*store.Revocation, int64, tailView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case !f.synced:
		return nil, after, unsynced
	case after < f.from:
		return nil, f.head, behind
	case after >= f.head:
		return nil, after, fromTail
	}
	var out []*store.Revocation
	i, _ := slices.BinarySearchFunc(f.tail, after+1, func(r *store.Revocation, seq int64) int { return cmp.Compare(r.Seq, seq) })
	for _, r := range f.tail[i:] {
		if r.Expires.After(now) {
			out = append(out, r)
			if len(out) == feedPage {
				return out, r.Seq, fromTail
			}
		}
	}
	return out, f.head, fromTail
}

// advance records a read of the store: revs (oldest first) are every live
// entry after the old head, newest the sequence number read before them.
// It wakes the waiters only when that changed something: a wake-up per
// poll would cost every waiter CPU five times a second.
func (f *feedNotifier) advance(revs []*store.Revocation, newest int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tail = append(f.tail, revs...)
	if len(revs) > 0 {
		newest = max(newest, revs[len(revs)-1].Seq)
	}
	if newest <= f.head && f.synced {
		return
	}
	f.head = max(f.head, newest)
	if drop := len(f.tail) - feedTail; drop > 0 {
		f.from = f.tail[drop-1].Seq
		f.tail = slices.Clone(f.tail[drop:])
	}
	f.synced = true
	f.broadcast()
}

// restart forgets the tail: the store is too far ahead to catch up.
func (f *feedNotifier) restart(newest int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head, f.from, f.tail, f.synced, f.primed = newest, newest, nil, true, true
	f.broadcast()
}

// pollFeed reads the store while someone waits: every feed_poll, and at
// once after a local revocation.
func (s *Server) pollFeed() {
	t := time.NewTicker(s.cfg.FeedPoll)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-s.stop:
			s.feed.keepPolling(true)
			return
		default:
		}
		err := s.refreshFeed()
		if err != nil && !failing {
			s.log.Warn("revocation feed: store poll failed; waiters keep waiting", "err", err)
		}
		failing = err != nil
		select {
		case <-s.stop:
		case <-t.C:
		case <-s.feed.kick:
		}
		if !s.feed.keepPolling(false) {
			return
		}
	}
}

// refreshFeed learns the newest sequence number and, when it moved, reads
// the entries since the last one seen (other nodes' included): at most a
// tail's worth, else the tail restarts from the newest.
func (s *Server) refreshFeed() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var newest int64
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		newest, err = tx.RevocationHead(ctx)
		return err
	})
	if err != nil {
		return err
	}
	f := s.feed
	f.mu.Lock()
	head, primed := f.head, f.primed
	f.mu.Unlock()
	switch {
	case !primed || newest-head > feedTail:
		f.restart(newest)
		return nil
	case newest <= head: // nothing new (a purge may even have emptied the table)
		f.advance(nil, head)
		return nil
	}
	revs, err := s.readFeedFrom(ctx, head)
	if err != nil {
		return err
	}
	f.advance(revs, newest)
	return nil
}

// readFeedFrom reads every live entry after `after`, page by page.
func (s *Server) readFeedFrom(ctx context.Context, after int64) ([]*store.Revocation, error) {
	var all []*store.Revocation
	for {
		page, err := s.readFeed(ctx, after)
		if err != nil || len(page) < feedPage {
			return append(all, page...), err
		}
		all, after = append(all, page...), page[len(page)-1].Seq
	}
}

// feedEntry is one §9 feed entry; Version, on an agent entry, revokes
// the agent's tokens up to that version (a re-registration).
type feedEntry struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	At      int64  `json:"at"`
	Version int    `json:"version,omitempty"`
}

const feedPage = 1000

// handleRevocations serves the §9 feed: entries after the cursor, waiting
// up to wait seconds (≤ 30) for new ones. A read without wait goes to the
// store; a long poll waits for the node's poller, within the caps.
func (s *Server) handleRevocations(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	after, err := parseCursor(q.Get("since"))
	if err != nil {
		return err
	}
	wait, err := parseWait(q.Get("wait"))
	if err != nil {
		return err
	}
	if wait == 0 {
		revs, err := s.readFeed(r.Context(), after)
		if err != nil {
			return err
		}
		writeFeed(w, cursorAfter(after, revs), revs)
		return nil
	}
	addr := sourceAddr(r)
	ok, start := s.feed.join(addr, s.cfg.FeedMaxWaiters, s.cfg.FeedMaxWaitersPerAddr)
	if !ok {
		return s.answerOverCap(w, r, after)
	}
	defer s.feed.leave(addr)
	if start {
		go s.pollFeed()
	}
	return s.longPoll(w, r, after, time.Now().Add(wait))
}

// longPoll answers once the poller has seen live entries after the
// cursor, or empty at the deadline, when the client leaves or the server
// stops. It reads the store only for a cursor older than the tail.
func (s *Server) longPoll(w http.ResponseWriter, r *http.Request, after int64, deadline time.Time) error {
	for {
		changed := s.feed.wait()
		revs, cursor, err := s.feedSince(r.Context(), after)
		if err != nil {
			return err
		}
		if len(revs) > 0 {
			writeFeed(w, cursor, revs)
			return nil
		}
		after = max(after, cursor) // past entries that expired unseen
		if !time.Now().Before(deadline) || s.sleepFeed(r.Context(), changed, deadline) != nil {
			writeFeed(w, after, nil)
			return nil
		}
	}
}

// feedSince answers from the tail when it can, from one store read for a
// cursor older than it, and with nothing before the poller's first read.
func (s *Server) feedSince(ctx context.Context, after int64) ([]*store.Revocation, int64, error) {
	revs, cursor, view := s.feed.since(after, s.now())
	if view != behind {
		return revs, cursor, nil
	}
	head := cursor
	revs, err := s.readFeed(ctx, after)
	if err != nil {
		return nil, after, err
	}
	if len(revs) < feedPage { // everything up to head was read: nothing else is live
		return revs, max(cursorAfter(after, revs), head), nil
	}
	return revs, cursorAfter(after, revs), nil
}

// answerOverCap answers a long poll beyond the waiter caps at once: parking
// it would take the connection, descriptor and memory the caps bound. It
// gets the entries after its cursor when there are some, else 429
// slow_down with Retry-After; an enforcer then backs off (at most 2 s)
// and asks again, so it still learns every entry, later.
func (s *Server) answerOverCap(w http.ResponseWriter, r *http.Request, after int64) error {
	revs, cursor, err := s.feedSince(r.Context(), after)
	if err != nil {
		return err
	}
	if len(revs) > 0 {
		writeFeed(w, cursor, revs)
		return nil
	}
	return &rateLimited{perr: &protocol.Error{Code: protocol.CodeSlowDown, Status: http.StatusTooManyRequests,
		Description: "too many revocation feed long polls; retry later"}}
}

func (s *Server) readFeed(ctx context.Context, after int64) ([]*store.Revocation, error) {
	var revs []*store.Revocation
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		revs, err = tx.Revocations(ctx, after, s.now(), feedPage)
		return err
	})
	return revs, err
}

// sleepFeed waits for the poller's news or the deadline; it errors when
// the client went away or the server is stopping.
func (s *Server) sleepFeed(ctx context.Context, changed <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return errors.New("server stopping")
	case <-changed:
	case <-t.C:
	}
	return nil
}

// cursorAfter is the cursor following revs (the last one's, else after).
func cursorAfter(after int64, revs []*store.Revocation) int64 {
	if len(revs) > 0 {
		return revs[len(revs)-1].Seq
	}
	return after
}

func writeFeed(w http.ResponseWriter, cursor int64, revs []*store.Revocation) {
	entries := make([]feedEntry, len(revs))
	for i, rv := range revs {
		entries[i] = feedEntry{Type: rv.Type, ID: rv.ID, At: rv.At.Unix(), Version: rv.Version}
	}
	writeJSON(w, http.StatusOK, map[string]any{"cursor": strconv.FormatInt(cursor, 10), "revoked": entries})
}

func parseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest("since: want a cursor from a previous response")
	}
	return n, nil
}

func parseWait(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 30 {
		return 0, errBadRequest("wait: want 0 to 30 seconds")
	}
	return time.Duration(n) * time.Second, nil
}
