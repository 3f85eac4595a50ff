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
	return claims, apiScope(claims, scopes)
}

// apiCallerChecking is apiCaller for a handler that goes on to a write
// transaction, which runs the token's revocation check (tokenCheck).
func (s *Server) apiCallerChecking(ctx context.Context, r *http.Request, scopes ...string) (*token.Claims, tokenCheck, error) {
	claims, _, chk, err := s.presentedToken(ctx, r)
	if err != nil {
		return nil, chk, err
	}
	if err := apiScope(claims, scopes); err != nil {
		return nil, chk, chk.refuse(ctx, err)
	}
	return claims, chk, nil
}

func apiScope(claims *token.Claims, scopes []string) error {
	if claims.Intent != nil || claims.AgentProof != nil {
		return newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "an agent token cannot call this endpoint")
	}
	for _, sc := range scopes {
		if claims.HasScope(sc) {
			return nil
		}
	}
	return newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "requires scope %s", strings.Join(scopes, " or "))
}

// tokenCheck is the revocation check of a request's token, left to the
// write transaction the request goes on to (complete, approve, start a
// run): it runs first thing there (inTx), on the writer's view of the
// store (on SQLite a connection whose pages are in memory) instead of in
// a read transaction of its own just before, and holds until the change
// commits. A request refused before reaching its transaction checks the
// token then (refuse): a revoked token is refused as such, as accessToken
// would refuse it, whatever else is wrong with the request.
type tokenCheck struct {
	s      *Server
	claims *token.Claims
	raw    string
}

func (t tokenCheck) inTx(ctx context.Context, tx store.Tx) error {
	st, err := tx.TokenStanding(ctx, t.claims.ID)
	return standingErr(st, err, t.claims)
}

func (t tokenCheck) refuse(ctx context.Context, err error) error {
	if rerr := t.s.checkRevoked(ctx, t.claims); rerr != nil {
		return rerr
	}
	return err
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

// checkRevoked refuses a verified token whose record, client, agent (or
// one of its delegation chain) or run has been revoked (the IdP knows
// directly; enforcers learn it from the feed). It reads them all in one
// statement, on every call: a revocation counts from its commit on.
func (s *Server) checkRevoked(ctx context.Context, c *token.Claims) error {
	var st *store.TokenStanding
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		st, err = tx.TokenStanding(ctx, c.ID)
		return err
	})
	return standingErr(st, err, c)
}

// standingErr refuses a token that no longer stands, in the order of
// precedence of its refusals; err is the read's.
func standingErr(st *store.TokenStanding, err error, c *token.Claims) error {
	if errors.Is(err, store.ErrNotFound) {
		return protocol.ErrTokenRevoked.WithDescription("unknown token")
	}
	if err != nil {
		return err // not a refusal: the caller gets 503 and retries
	}
	rec := st.Token
	if rec.Revoked {
		return protocol.ErrTokenRevoked.WithDescription("token revoked")
	}
	if err := clientRevokedErr(st.ClientRevokedAt, c.IssuedAt); err != nil {
		return err
	}
	// A re-registration writes nothing on the agent's tokens: their
	// registration version, older than the agent's, refuses them.
	if rec.AgentID != "" && (!st.AgentFound || st.AgentRevoked || st.AgentVersion != rec.Version ||
		(c.AgentProof != nil && c.AgentProof.Version != st.AgentVersion)) {
		return protocol.ErrAgentRevokedToken.WithDescription("agent revoked or re-registered")
	}
	if st.ChainBroken { // §8: any agent of the chain, not only the subject
		return protocol.ErrAgentRevokedToken.WithDescription("an agent of the delegation chain is revoked")
	}
	if rec.RunID != "" && (st.RunStatus == "" || st.RunStatus == store.RunRevoked) {
		return protocol.ErrRunRevoked.WithDescription("run revoked")
	}
	return nil
}
