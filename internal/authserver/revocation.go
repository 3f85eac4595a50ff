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
	"github.com/ajwt/ajwt/token"
)

// maxCascade bounds one revocation cascade; a chain is at most 5 hops, so
// only a pathological registry comes near it.
const maxCascade = 10_000

// revokeTokens revokes the tokens matching f and, transitively, every token
// minted under them (delegations and exchanges: ParentJTI), adding a feed
// entry for each, then frees the steps held under what it revoked.
func (s *Server) revokeTokens(ctx context.Context, tx store.Tx, f store.TokenFilter) ([]*store.Revocation, error) {
	roots, err := tx.Tokens(ctx, f)
	if err != nil {
		return nil, err
	}
	revs, runs, err := s.cascade(ctx, tx, roots)
	if err != nil {
		return nil, err
	}
	more, err := s.releaseBroken(ctx, tx, runs)
	return append(revs, more...), err
}

// cascade revokes queue and what was minted under it; it also returns the
// runs of the tokens it went through.
func (s *Server) cascade(ctx context.Context, tx store.Tx, queue []*store.Token) ([]*store.Revocation, []string, error) {
	return s.cascadeUpTo(ctx, tx, queue, maxCascade)
}

// cascadeUpTo is cascade through at most limit tokens (0: all of them).
func (s *Server) cascadeUpTo(ctx context.Context, tx store.Tx, queue []*store.Token, limit int) ([]*store.Revocation, []string, error) {
	now := s.now()
	var out []*store.Revocation
	var runs []string
	seen := map[string]bool{}
	for len(queue) > 0 && (limit == 0 || len(seen) < limit) {
		t := queue[0]
		queue = queue[1:]
		if seen[t.JTI] {
			continue
		}
		seen[t.JTI] = true
		if t.RunID != "" {
			runs = append(runs, t.RunID)
		}
		children, err := tx.Tokens(ctx, store.TokenFilter{ParentJTI: t.JTI, Active: true, Now: now})
		if err != nil {
			return nil, nil, err
		}
		queue = append(queue, children...)
		if t.Revoked || !t.ExpiresAt.After(now) {
			continue
		}
		rev := &store.Revocation{Type: store.RevokedToken, ID: t.JTI, At: now, Expires: t.ExpiresAt.Add(protocol.MaxLeeway)}
		if err := tx.AddRevocation(ctx, rev); err != nil {
			return nil, nil, err
		}
		out = append(out, rev)
	}
	jtis := make([]string, 0, len(seen))
	for j := range seen {
		jtis = append(jtis, j)
	}
	return out, runs, tx.RevokeTokens(ctx, jtis, now)
}

// releaseBroken frees, in the active runs among runIDs, every in_progress
// step whose holding no longer stands, so that a fresh grant (a fresh
// delegation) is needed (§6.3). Freeing a step revokes its tokens, which
// can break another step's holding (its parent): it repeats until nothing
// changes. Runs are locked in id order, the same order in every
// revocation. A step left behind (its tokens had expired, so nothing here
// led to its run) is freed by the next grant for it.
func (s *Server) releaseBroken(ctx context.Context, tx store.Tx, runIDs []string) ([]*store.Revocation, error) {
	slices.Sort(runIDs)
	var out []*store.Revocation
	for _, id := range slices.Compact(runIDs) {
		run, err := tx.RunForUpdate(ctx, id)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if run.Status != store.RunActive {
			continue
		}
		revs, changed, err := s.releaseInRun(ctx, tx, run)
		if err != nil {
			return nil, err
		}
		out = append(out, revs...)
		if changed {
			if err := tx.SaveRun(ctx, run); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

func (s *Server) releaseInRun(ctx context.Context, tx store.Tx, run *store.Run) ([]*store.Revocation, bool, error) {
	var out []*store.Revocation
	changed := false
	for again := true; again; {
		again = false
		for i := range run.Steps {
			st := &run.Steps[i]
			if st.State != store.StepInProgress {
				continue
			}
			why, err := s.brokenHolding(ctx, tx, st)
			if err != nil {
				return nil, false, err
			}
			if why == "" {
				continue
			}
			revs, err := s.releaseStep(ctx, tx, run, st, why)
			if err != nil {
				return nil, false, err
			}
			out, changed, again = append(out, revs...), true, true
		}
	}
	return out, changed, nil
}

// releaseStep puts an in_progress step back to ready with no holder and
// revokes its live tokens (and what was minted under them). The caller
// saves the run.
func (s *Server) releaseStep(ctx context.Context, tx store.Tx, run *store.Run, st *store.Step, why string) ([]*store.Revocation, error) {
	live, err := tx.Tokens(ctx, store.TokenFilter{RunID: run.RunID, Active: true, Now: s.now()})
	if err != nil {
		return nil, err
	}
	live = slices.DeleteFunc(live, func(t *store.Token) bool { return t.StepID != st.ID })
	revs, _, err := s.cascade(ctx, tx, live)
	if err != nil {
		return nil, err
	}
	holder := st.Holder
	st.State, st.Holder, st.Chain, st.Parent, st.ChainVersions = store.StepReady, "", nil, "", nil
	return revs, tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "release_step", ClientID: run.ClientID, AgentID: holder,
		RunID: run.RunID, Step: st.ID, Outcome: "ok", Detail: why})
}

// revokeEntity adds a feed entry for an agent, run or client: enforcers
// refuse its tokens issued up to now.
func (s *Server) revokeEntity(ctx context.Context, tx store.Tx, typ, id string) (*store.Revocation, error) {
	now := s.now()
	rev := &store.Revocation{Type: typ, ID: id, At: now, Expires: now.Add(s.cfg.TokenTTL + protocol.MaxLeeway)}
	return rev, tx.AddRevocation(ctx, rev)
}

// revokeVersions publishes a re-registration: one agent entry carrying the
// replaced version, which revokes the agent's tokens of that version and
// older at every enforcer. It lasts as long as such a token can.
func (s *Server) revokeVersions(ctx context.Context, tx store.Tx, agentID string, upTo int) (*store.Revocation, error) {
	now := s.now()
	rev := &store.Revocation{Type: store.RevokedAgent, ID: agentID, At: now, Expires: now.Add(s.cfg.TokenTTL + protocol.MaxLeeway), Version: upTo}
	return rev, tx.AddRevocation(ctx, rev)
}

// revokeAgent revokes the agent, every live token whose delegation chain
// names it (held by it or delegated under it, with or without a parent
// token), and frees the steps held under it.
func (s *Server) revokeAgent(ctx context.Context, tx store.Tx, a *store.Agent, by string) ([]*store.Revocation, error) {
	a.Revoked, a.RevokedAt = true, s.now()
	if err := tx.PutAgent(ctx, a); err != nil {
		return nil, err
	}
	rev, err := s.revokeEntity(ctx, tx, store.RevokedAgent, a.AgentID)
	if err != nil {
		return nil, err
	}
	more, err := s.revokeTokens(ctx, tx, store.TokenFilter{ChainAgent: a.AgentID, Active: true, Now: s.now()})
	if err != nil {
		return nil, err
	}
	err = tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "revoke_agent", ClientID: a.ClientID, AgentID: a.AgentID, Outcome: "ok", Detail: "by=" + by})
	return append([]*store.Revocation{rev}, more...), err
}

// checkRevoked refuses a verified token whose record, agent or run has been
// revoked (the IdP knows directly; enforcers learn it from the feed).
func (s *Server) checkRevoked(ctx context.Context, c *token.Claims) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		rec, err := tx.Token(ctx, c.ID)
		if errors.Is(err, store.ErrNotFound) {
			return protocol.ErrTokenRevoked.WithDescription("unknown token")
		}
		if err != nil {
			return err
		}
		if rec.Revoked {
			return protocol.ErrTokenRevoked.WithDescription("token revoked")
		}
		if err := checkClientRevoked(ctx, tx, rec.ClientID, c.IssuedAt); err != nil {
			return err
		}
		if rec.AgentID != "" {
			// A re-registration writes nothing on the agent's tokens: their
			// registration version, older than the agent's, refuses them.
			a, err := tx.Agent(ctx, rec.AgentID)
			if storeFailed(err) {
				return err // not a refusal: the caller gets 503 and retries
			}
			if err != nil || a.Revoked || a.Version != rec.Version || (c.AgentProof != nil && c.AgentProof.Version != a.Version) {
				return protocol.ErrAgentRevokedToken.WithDescription("agent revoked or re-registered")
			}
		}
		// §8: any agent of the chain, not only the subject.
		for _, id := range rec.Chain {
			if id == rec.AgentID {
				continue
			}
			a, err := tx.Agent(ctx, id)
			if storeFailed(err) {
				return err
			}
			if err != nil || a.Revoked {
				return protocol.ErrAgentRevokedToken.WithDescription("an agent of the delegation chain is revoked")
			}
		}
		if rec.RunID != "" {
			run, err := tx.Run(ctx, rec.RunID)
			if storeFailed(err) {
				return err
			}
			if err != nil || run.Status == store.RunRevoked {
				return protocol.ErrRunRevoked.WithDescription("run revoked")
			}
		}
		return nil
	})
}

// handleRevoke implements RFC 7009 for our access tokens: a client may
// revoke its own tokens; the answer is 200 whatever the token was.
func (s *Server) handleRevoke(w http.ResponseWriter, r *http.Request) error {
	form, err := parseForm(w, r)
	if err != nil {
		return err
	}
	c, err := s.authenticateClient(r.Context(), r, form)
	if err != nil {
		return err
	}
	raw := form.Get("token")
	if raw == "" {
		return errBadRequest("token is required")
	}
	claims, err := s.verifier.Verify(r.Context(), raw)
	if err == nil && claims.ClientID == c.id {
		if err := s.revokeJTI(r.Context(), claims.ID, c.id); err != nil {
			return err
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	return nil
}

func (s *Server) revokeJTI(ctx context.Context, jti, by string) error {
	var revoked []*store.Revocation
	err := s.store.Update(ctx, func(tx store.Tx) error {
		// Locked before the cascade reads the children: a grant hanging a
		// child off this token holds it shared until it commits, so the
		// child is visible here, or the grant sees the token revoked.
		t, err := tx.TokenForUpdate(ctx, jti)
		if err != nil {
			return err
		}
		var runs []string
		if revoked, runs, err = s.cascade(ctx, tx, []*store.Token{t}); err != nil {
			return err
		}
		freed, err := s.releaseBroken(ctx, tx, runs)
		if err != nil {
			return err
		}
		revoked = append(revoked, freed...)
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "revoke_token", ClientID: t.ClientID, AgentID: t.AgentID,
			RunID: t.RunID, Step: t.StepID, Outcome: "ok", Detail: "cascade=" + strconv.Itoa(len(revoked)) + " by=" + by})
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	s.feed.notify(revoked)
	return nil
}

// handleIntrospect implements RFC 7662 for authenticated clients.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) error {
	form, err := parseForm(w, r)
	if err != nil {
		return err
	}
	if _, err := s.authenticateClient(r.Context(), r, form); err != nil {
		return err
	}
	claims, err := s.verifier.Verify(r.Context(), form.Get("token"))
	if err == nil {
		err = s.checkRevoked(r.Context(), claims)
		if err != nil && isInternal(err) {
			return err // unknown, not inactive: 503
		}
	}
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return nil
	}
	writeJSON(w, http.StatusOK, introspection{Active: true, Claims: claims, TokenType: tokenTypeOf(claims)})
	return nil
}

type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type"`
	*token.Claims
}

func tokenTypeOf(c *token.Claims) string {
	if c.Cnf != nil {
		return "DPoP"
	}
	return "Bearer"
}

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

// Purges run at start and then every purgeEvery, in transactions of at
// most purgeBatch rows of each kind.
const (
	purgeEvery = time.Minute
	purgeBatch = 500
)

// purgeLoop deletes what has expired from the store until the server
// stops: feed entries (which otherwise slow every feed read down), token
// records and single-use identifiers.
func (s *Server) purgeLoop() {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		if _, err := s.purgeExpired(context.Background()); err != nil {
			s.log.Warn("purge of expired records failed; retrying in a minute", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// purgeExpired deletes, batch by batch, what expired more than the
// maximum leeway ago (a node whose clock runs behind still refuses such a
// token by its exp).
func (s *Server) purgeExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		select {
		case <-s.stop:
			return total, nil
		default:
		}
		var n int
		err := s.store.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.PurgeExpired(ctx, s.now().Add(-protocol.MaxLeeway), purgeBatch)
			return err
		})
		if err != nil || n == 0 {
			return total, err
		}
		total += n
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

func itoa(n int) string { return strconv.Itoa(n) }
