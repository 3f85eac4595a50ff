package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// Client revocation (PROTOCOL.md §9). The store keeps every client id the
// server has served, with the time its tokens were last revoked: a client
// entry on the feed tells enforcers, and the record tells every node of
// the IdP, read with the token's own record, so that no node trusts a
// token another node has revoked. Nothing is written on the tokens
// themselves, however many there are.

// syncServedClients records the configured clients as served and revokes,
// once, every served client the configuration no longer names: the next
// starts find it marked removed, and a node starting at the same moment
// waits for this one's lock on it and finds the same. A removed client
// configured again is served again; removing it again revokes it again.
func (s *Server) syncServedClients(ctx context.Context) error {
	var revs []*store.Revocation
	err := s.store.Update(ctx, func(tx store.Tx) error {
		revs = revs[:0] // Update may run fn again
		known, err := tx.Clients(ctx)
		if err != nil {
			return err
		}
		served := make(map[string]bool, len(known))
		for _, c := range known {
			served[c.ClientID] = true
			rev, err := s.syncServedClient(ctx, tx, c)
			if err != nil {
				return err
			}
			if rev != nil {
				revs = append(revs, rev)
			}
		}
		return s.recordNewClients(ctx, tx, served)
	})
	if err != nil {
		return fmt.Errorf("authserver: served clients: %w", err)
	}
	s.feed.notify(revs)
	return nil
}

// syncServedClient brings one known client up to the configuration; it
// returns the feed entry of a removal it revoked.
func (s *Server) syncServedClient(ctx context.Context, tx store.Tx, c *store.Client) (*store.Revocation, error) {
	configured := s.clients[c.ClientID] != nil
	switch {
	case configured && c.Removed:
		c.Removed = false
		return nil, tx.PutClient(ctx, c)
	case configured || c.Removed:
		return nil, nil
	}
	locked, err := tx.ClientForUpdate(ctx, c.ClientID)
	if err != nil || locked.Removed {
		return nil, err
	}
	locked.Removed = true
	return s.revokeClient(ctx, tx, locked, "removed from the configuration")
}

// recordNewClients records the configured clients not served before, in
// id order (the order every node locks them in).
func (s *Server) recordNewClients(ctx context.Context, tx store.Tx, served map[string]bool) error {
	var fresh []string
	for id := range s.clients {
		if !served[id] {
			fresh = append(fresh, id)
		}
	}
	slices.Sort(fresh)
	for _, id := range fresh {
		if err := tx.PutClient(ctx, &store.Client{ClientID: id, FirstSeen: s.now()}); err != nil {
			return err
		}
	}
	return nil
}

// revokeClient revokes every token c obtained up to now: a client entry
// on the feed for enforcers, the record's RevokedAt for the IdP (never
// moved back), and an audit entry.
func (s *Server) revokeClient(ctx context.Context, tx store.Tx, c *store.Client, detail string) (*store.Revocation, error) {
	rev, err := s.revokeEntity(ctx, tx, store.RevokedClient, c.ClientID)
	if err != nil {
		return nil, err
	}
	if rev.At.After(c.RevokedAt) {
		c.RevokedAt = rev.At
	}
	if err := tx.PutClient(ctx, c); err != nil {
		return nil, err
	}
	return rev, tx.AppendAudit(ctx, &store.AuditEntry{Time: rev.At, Event: "revoke_client", ClientID: c.ClientID, Outcome: "ok", Detail: detail})
}

// clientRevocation is the answer of POST /v1/clients/{client_id}/revoke.
type clientRevocation struct {
	ClientID  string `json:"client_id"`
	RevokedAt int64  `json:"revoked_at"`
}

// handleRevokeClient revokes, for an admin, the tokens a client obtained
// so far (a leaked secret or key). Any client the IdP has served may be
// revoked, configured or not; one it never served is not_found.
func (s *Server) handleRevokeClient(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.apiCaller(r.Context(), r, "ajwt:admin")
	if err != nil {
		return err
	}
	id := r.PathValue("client_id")
	if !validID(id) {
		return errNotFound("no such client")
	}
	var rev *store.Revocation
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		c, err := tx.ClientForUpdate(r.Context(), id)
		if err != nil {
			return err
		}
		rev, err = s.revokeClient(r.Context(), tx, c, "by="+caller.ClientID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such client")
	}
	if err != nil {
		return err
	}
	s.feed.notify([]*store.Revocation{rev})
	writeJSON(w, http.StatusOK, clientRevocation{ClientID: id, RevokedAt: rev.At.Unix()})
	return nil
}

// checkClientRevoked refuses a token its client obtained at or before the
// client's revocation (§9: a token of that very second counts as before).
// A client never recorded was never revoked.
func checkClientRevoked(ctx context.Context, tx store.Tx, clientID string, iat int64) error {
	c, err := tx.Client(ctx, clientID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	}
	return clientRevokedErr(c.RevokedAt, iat)
}

// clientRevokedErr refuses a token issued at iat by a client revoked at
// revokedAt (zero: never revoked).
func clientRevokedErr(revokedAt time.Time, iat int64) error {
	if !revokedAt.IsZero() && iat <= revokedAt.Unix() {
		return protocol.ErrClientRevoked.WithDescription("client revoked; the tokens it obtained until then are refused")
	}
	return nil
}

// tokenVoid reports whether a token record is revoked, by itself or by
// its client's revocation: a delegation may not hang off it.
func tokenVoid(ctx context.Context, tx store.Tx, t *store.Token) (bool, error) {
	if t.Revoked {
		return true, nil
	}
	err := checkClientRevoked(ctx, tx, t.ClientID, t.IssuedAt.Unix())
	if err != nil && isInternal(err) {
		return false, err
	}
	return err != nil, nil
}
