package authserver

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// apiCaller authenticates a client token for the admin and run APIs: it
// must carry the scope; agent tokens never qualify. accessToken has
// checked that it is addressed to the issuer and, for a DPoP-bound client
// token (§6.1), the proof of its key.
func (s *Server) apiCaller(ctx context.Context, r *http.Request, scopes ...string) (*token.Claims, error) {
	claims, _, _, err := s.accessToken(ctx, r)
	if err != nil {
		return nil, err
	}
	if claims.Intent != nil || claims.AgentProof != nil {
		return nil, newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "an agent token cannot call this endpoint")
	}
	for _, sc := range scopes {
		if claims.HasScope(sc) {
			return claims, nil
		}
	}
	return nil, newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "requires scope %s", strings.Join(scopes, " or "))
}

// checkAPIAudience accepts a client token only if its aud is the issuer
// and nothing else (§4): a token for a resource server is one that server
// has seen and could replay, and one for several audiences was meant for
// some of them, and each could replay it here. An intent token is
// accepted whatever its aud, where its endpoint takes it at all (§5): it
// is bound to the agent's key, which no resource server holds.
func (s *Server) checkAPIAudience(c *token.Claims) error {
	if c.IsIntent() || slices.Equal(c.Audience, token.Audience{s.cfg.Issuer}) {
		return nil
	}
	return protocol.ErrWrongAudience.WithDescription("a client token for the IdP's APIs must have aud %s and nothing else", s.cfg.Issuer)
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
