package middleware

import (
	"context"
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
// and agents and runs revoked at a time. It follows the feed by long
// polling, so a revocation reaches the enforcer within the round trip of
// one response (documented bound: 2 s while the IdP is reachable).
type Revocations struct {
	feedURL string
	client  *http.Client
	now     func() time.Time
	log     *slog.Logger

	mu     sync.RWMutex
	cursor string
	tokens map[string]time.Time // jti → forget after
	agents map[string]entry
	runs   map[string]entry
	synced chan struct{}
	once   sync.Once
}

type entry struct {
	at     int64 // revocation time (unix seconds)
	forget time.Time
}

// keepFor bounds how long an entry is kept: no token lives longer than the
// IdP's maximum lifetime (1 h) plus leeway.
const keepFor = time.Hour + protocol.MaxLeeway

// NewRevocations makes a tracker for feedURL; call Follow to start it.
func NewRevocations(feedURL string, hc *http.Client, now func() time.Time, log *slog.Logger) *Revocations {
	return &Revocations{feedURL: feedURL, client: hc, now: now, log: log, tokens: map[string]time.Time{},
		agents: map[string]entry{}, runs: map[string]entry{}, synced: make(chan struct{})}
}

// Check refuses a token that is listed, or whose agent or run was revoked
// at or after the token was issued.
func (r *Revocations) Check(c *token.Claims) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	// Agent and run first: their reasons say more than the token entries
	// that the same revocation also produced.
	if e, ok := r.agents[c.Subject]; ok && c.Cnf != nil && e.at >= c.IssuedAt {
		return protocol.ErrAgentRevokedToken.WithDescription("agent %s revoked", c.Subject)
	}
	if c.Intent != nil {
		if e, ok := r.runs[c.Intent.RunID]; ok && e.at >= c.IssuedAt {
			return protocol.ErrRunRevoked.WithDescription("run revoked")
		}
	}
	if _, ok := r.tokens[c.ID]; ok {
		return protocol.ErrTokenRevoked.WithDescription("token revoked")
	}
	return nil
}

// Add records entries (from the feed, or from a shared channel).
func (r *Revocations) Add(entries []FeedEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	forget := r.now().Add(keepFor)
	for _, e := range entries {
		switch e.Type {
		case "token":
			r.tokens[e.ID] = forget
		case "agent":
			r.agents[e.ID] = entry{at: e.At, forget: forget}
		case "run":
			r.runs[e.ID] = entry{at: e.At, forget: forget}
		}
	}
}

func (r *Revocations) prune() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.now()
	for k, t := range r.tokens {
		if now.After(t) {
			delete(r.tokens, k)
		}
	}
	for _, m := range []map[string]entry{r.agents, r.runs} {
		for k, e := range m {
			if now.After(e.forget) {
				delete(m, k)
			}
		}
	}
}

// FeedEntry is one entry of the §9 feed.
type FeedEntry struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	At   int64  `json:"at"`
}

type feedPage struct {
	Cursor  string      `json:"cursor"`
	Revoked []FeedEntry `json:"revoked"`
}

// Follow long-polls the feed until the returned stop function is called.
// It first syncs once, synchronously, so that no token revoked before the
// enforcer started slips through.
func (r *Revocations) Follow(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	if err := r.poll(ctx, 0); err != nil {
		r.log.Warn("revocation feed: initial sync failed", "err", err)
	}
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
		if err := r.poll(ctx, 25); err != nil {
			r.log.Warn("revocation feed unreachable; retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 2*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		r.prune()
	}
}

func (r *Revocations) poll(ctx context.Context, wait int) error {
	u := r.feedURL + "?wait=" + itoa(wait)
	r.mu.RLock()
	if r.cursor != "" {
		u += "&since=" + url.QueryEscape(r.cursor)
	}
	r.mu.RUnlock()
	var page feedPage
	if _, err := getJSON(ctx, r.client, u, &page); err != nil {
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

func itoa(n int) string { return strconv.Itoa(n) }
