package authserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strconv"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
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
