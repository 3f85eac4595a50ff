package middleware

import (
	"context"
	"github.com/ajwt/ajwt/internal/discovery"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// Revocations tracks the IdP's revocation feed (§9): revoked token ids,
// revoked agents, agents re-registered up to a version, and runs and
// clients revoked at a time. It follows the feed by long polling, so a revocation reaches
// the enforcer within the round trip of one response (documented bound:
// 2 s while the IdP is reachable).
type Revocations struct {
	feedURL string
	client  *http.Client
	now     func() time.Time
	log     *slog.Logger
	// Wait is the long-poll wait asked of the feed (whole seconds, 1–30).
	// Default DefaultFeedWait. Set it before Follow.
	Wait time.Duration
	// Margin is how much longer than Wait one feed request may take.
	// Default DefaultFeedMargin. Set it before Follow.
	Margin time.Duration

	mu       sync.RWMutex
	cursor   string
	tokens   map[string]time.Time // jti → forget after
	agents   map[string]entry     // revoked agents
	versions map[string]entry     // re-registered agents: highest version seen
	runs     map[string]entry     // tokens of the run issued at or before at
	clients  map[string]entry     // tokens the client obtained at or before at
	health   FeedHealth
	synced   chan struct{}
	once     sync.Once
}

type entry struct {
	at      int64 // revocation time (unix seconds)
	version int   // versions: tokens of this registration version and older are revoked
	forget  time.Time
}

// keepFor bounds how long an entry is kept: no token lives longer than the
// IdP's maximum lifetime (1 h) plus leeway.
const keepFor = time.Hour + protocol.MaxLeeway

const (
	// DefaultFeedWait is the long-poll wait the enforcer asks of the feed.
	DefaultFeedWait = 25 * time.Second
	// DefaultFeedMargin is how much longer than the wait a feed request
	// may take before it counts as failed.
	DefaultFeedMargin = 10 * time.Second
)

// NewRevocations makes a tracker for feedURL; call Follow to start it.
// Feed requests are bounded by Wait + Margin, not by hc.Timeout: a client
// timeout shorter than the long poll would fail every poll.
func NewRevocations(feedURL string, hc *http.Client, now func() time.Time, log *slog.Logger) *Revocations {
	feed := &http.Client{}
	if hc != nil {
		c := *hc
		c.Timeout = 0
		feed = &c
	}
	return &Revocations{feedURL: feedURL, client: feed, now: now, log: log, Wait: DefaultFeedWait, Margin: DefaultFeedMargin,
		tokens: map[string]time.Time{}, agents: map[string]entry{}, versions: map[string]entry{}, runs: map[string]entry{},
		clients: map[string]entry{}, synced: make(chan struct{})}
}

// Check refuses a token that is listed, an intent token naming a revoked
// agent as subject or anywhere in its delegation chain, an intent token of
// an agent registration that was since replaced, a token of a run revoked
// at or after the token was issued, and a token its client obtained at or
// before the client's revocation (§9: the same second counts as before).
func (r *Revocations) Check(c *token.Claims) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	// Agent, run and client first: their reasons say more than the token
	// entries that the same revocation also produced. Only intent tokens
	// name agents: a client token's sub is a client id, another namespace.
	if c.IsIntent() {
		if err := r.checkAgents(c); err != nil {
			return err
		}
		if e, ok := r.runs[c.Intent.RunID]; ok && c.Intent.RunID != "" && e.at >= c.IssuedAt {
			return protocol.ErrRunRevoked.WithDescription("run revoked")
		}
	}
	if e, ok := r.clients[c.ClientID]; ok && c.ClientID != "" && e.at >= c.IssuedAt {
		return protocol.ErrClientRevoked.WithDescription("client %s revoked; tokens it obtained until then are refused", c.ClientID)
	}
	if _, ok := r.tokens[c.ID]; ok {
		return protocol.ErrTokenRevoked.WithDescription("token revoked")
	}
	return nil
}

// checkAgents: revoking an agent is permanent at the IdP, so every token
// naming it is refused whatever its iat; a re-registration revokes the
// subject's tokens of the replaced registration versions.
func (r *Revocations) checkAgents(c *token.Claims) error {
	if _, ok := r.agents[c.Subject]; ok {
		return protocol.ErrAgentRevokedToken.WithDescription("agent %s revoked", c.Subject)
	}
	for _, id := range c.Intent.DelegationChain {
		if _, ok := r.agents[id]; ok {
			return protocol.ErrAgentRevokedToken.WithDescription("agent %s of the delegation chain revoked", id)
		}
	}
	if e, ok := r.versions[c.Subject]; ok && c.AgentProof.Version <= e.version {
		return protocol.ErrTokenRevoked.WithDescription("agent %s was re-registered; tokens of registration version %d and older are revoked", c.Subject, e.version)
	}
	return nil
}

// Add records entries (from the feed, or from a shared channel) and
// forgets those past their lifetime.
func (r *Revocations) Add(entries []FeedEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.prune()
	forget := r.now().Add(keepFor)
	for _, e := range entries {
		switch e.Type {
		case "token":
			r.tokens[e.ID] = forget
		case "agent":
			r.addAgent(e, forget)
		case "run":
			latest(r.runs, e, forget)
		case "client":
			latest(r.clients, e, forget)
		}
	}
}

// latest records a time-scoped entry (run, client), keeping the latest
// time of several: each revokes every token up to its time, so the latest
// covers the others whatever order they arrive in.
func latest(m map[string]entry, e FeedEntry, forget time.Time) {
	if old, ok := m[e.ID]; ok && old.at > e.At {
		e.At = old.at
	}
	m[e.ID] = entry{at: e.At, forget: forget}
}

func (r *Revocations) addAgent(e FeedEntry, forget time.Time) {
	if e.Version <= 0 {
		r.agents[e.ID] = entry{at: e.At, forget: forget}
		return
	}
	if old, ok := r.versions[e.ID]; !ok || e.Version > old.version {
		r.versions[e.ID] = entry{at: e.At, version: e.Version, forget: forget}
	}
}

// prune runs under the write lock.
func (r *Revocations) prune() {
	now := r.now()
	for k, t := range r.tokens {
		if now.After(t) {
			delete(r.tokens, k)
		}
	}
	for _, m := range []map[string]entry{r.agents, r.versions, r.runs, r.clients} {
		for k, e := range m {
			if now.After(e.forget) {
				delete(m, k)
			}
		}
	}
}

// FeedEntry is one entry of the §9 feed. Version, on an agent entry,
// means the agent was re-registered: its tokens whose agent_proof.version
// is at most Version are revoked; without it the agent itself is revoked.
type FeedEntry struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	At      int64  `json:"at"`
	Version int    `json:"version,omitempty"`
}

type feedPage struct {
	Cursor  string      `json:"cursor"`
	Revoked []FeedEntry `json:"revoked"`
}

// FeedHealth is the state of the enforcer's view of the feed.
type FeedHealth struct {
	LastSync  time.Time // last successful read; zero before the first
	Failures  int       // consecutive failed reads since LastSync
	LastError error     // of the latest failed read; nil after a success
}

// Health reports the feed's state, for readiness checks and metrics.
func (r *Revocations) Health() FeedHealth {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.health
}

// Follow long-polls the feed until the returned stop function is called.
// It first syncs once, synchronously, so that no token revoked before the
// enforcer started slips through.
func (r *Revocations) Follow(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	r.record(ctx, r.poll(ctx, 0))
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.loop(ctx)
	}()
	return func() { cancel(); <-done }
}

func (r *Revocations) loop(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := r.poll(ctx, r.Wait)
		r.record(ctx, err)
		if err == nil {
			backoff = 100 * time.Millisecond
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 2*time.Second)
	}
}

// record updates the health and logs a failure streak once, when it
// starts, and once more when the feed answers again: a feed that is down
// for an hour must not write a warning per retry.
func (r *Revocations) record(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return // stopping: not the feed's failure
	}
	r.mu.Lock()
	h := &r.health
	prev := *h
	if err != nil {
		h.Failures++
		h.LastError = err
	} else {
		h.LastSync, h.Failures, h.LastError = r.now(), 0, nil
	}
	r.mu.Unlock()
	switch {
	case err != nil && prev.Failures == 0:
		r.log.Warn("revocation feed unreachable; retrying until it answers", "err", err)
	case err == nil && prev.Failures > 0:
		r.log.Info("revocation feed reachable again", "failed_reads", prev.Failures, "last_error", prev.LastError.Error())
	}
}

// poll reads one page, waiting up to wait for news; the request may take
// wait + Margin.
func (r *Revocations) poll(ctx context.Context, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait+r.Margin)
	defer cancel()
	u := r.feedURL + "?wait=" + strconv.Itoa(int(wait/time.Second))
	r.mu.RLock()
	if r.cursor != "" {
		u += "&since=" + url.QueryEscape(r.cursor)
	}
	r.mu.RUnlock()
	var page feedPage
	if _, err := discovery.GetJSON(ctx, r.client, u, &page); err != nil {
		return err
	}
	r.Add(page.Revoked)
	r.mu.Lock()
	r.cursor = page.Cursor
	r.mu.Unlock()
	r.once.Do(func() { close(r.synced) })
	return nil
}

// Synced is closed after the first successful read of the feed.
func (r *Revocations) Synced() <-chan struct{} { return r.synced }
