package authserver

import (
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
	now := s.now()
	var out []*store.Revocation
	var runs []string
	seen := map[string]bool{}
	for len(queue) > 0 && len(seen) < maxCascade {
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
		if rec.AgentID != "" {
			if a, err := tx.Agent(ctx, rec.AgentID); err != nil || a.Revoked || a.Version != rec.Version {
				return protocol.ErrAgentRevokedToken.WithDescription("agent revoked or re-registered")
			}
		}
		// §8: any agent of the chain, not only the subject.
		for _, id := range rec.Chain {
			if id == rec.AgentID {
				continue
			}
			if a, err := tx.Agent(ctx, id); err != nil || a.Revoked {
				return protocol.ErrAgentRevokedToken.WithDescription("an agent of the delegation chain is revoked")
			}
		}
		if rec.RunID != "" {
			if run, err := tx.Run(ctx, rec.RunID); err != nil || run.Status == store.RunRevoked {
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
		t, err := tx.Token(ctx, jti)
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

// feedNotifier wakes long-polling feed readers on this node; readers on
// other nodes see new entries by polling the store.
type feedNotifier struct {
	mu   sync.Mutex
	ch   chan struct{}
	hook func([]*store.Revocation)
}

func newFeedNotifier(hook func([]*store.Revocation)) *feedNotifier {
	return &feedNotifier{ch: make(chan struct{}), hook: hook}
}

func (f *feedNotifier) wait() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ch
}

func (f *feedNotifier) notify(revs []*store.Revocation) {
	if len(revs) == 0 {
		return
	}
	f.mu.Lock()
	close(f.ch)
	f.ch = make(chan struct{})
	f.mu.Unlock()
	if f.hook != nil {
		f.hook(revs)
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
// up to wait seconds (≤ 30) for new ones.
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
	deadline := time.Now().Add(wait)
	for {
		changed := s.feed.wait()
		revs, err := s.readFeed(r.Context(), after)
		if err != nil {
			return err
		}
		if len(revs) > 0 || !time.Now().Before(deadline) {
			writeFeed(w, after, revs)
			return nil
		}
		if err := s.sleepFeed(r.Context(), changed, deadline); err != nil {
			writeFeed(w, after, nil)
			return nil
		}
	}
}

func (s *Server) readFeed(ctx context.Context, after int64) ([]*store.Revocation, error) {
	var revs []*store.Revocation
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		revs, err = tx.Revocations(ctx, after, s.now(), feedPage)
		return err
	})
	return revs, err
}

// sleepFeed waits for a local notification, the next store poll or the
// deadline; it errors when the client went away.
func (s *Server) sleepFeed(ctx context.Context, changed <-chan struct{}, deadline time.Time) error {
	t := time.NewTimer(min(s.cfg.FeedPoll, time.Until(deadline)))
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

func writeFeed(w http.ResponseWriter, after int64, revs []*store.Revocation) {
	cursor := after
	entries := make([]feedEntry, len(revs))
	for i, rv := range revs {
		entries[i] = feedEntry{Type: rv.Type, ID: rv.ID, At: rv.At.Unix(), Version: rv.Version}
		cursor = rv.Seq
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
