package authserver

import (
	"context"
	"errors"
	"github.com/ajwt/ajwt/internal/clip"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// grantExchange implements RFC 8693 down-scoping of an intent token (§6.4):
// same agent, run and step, a subset of the scope, the same DPoP key, and
// never a longer life than the subject token.
func (s *Server) grantExchange(r *http.Request, c *client, form url.Values) (*tokenResponse, error) {
	ctx := r.Context()
	subject, err := s.exchangeSubject(ctx, c, form)
	if err != nil {
		return nil, err
	}
	if _, err := s.checkProof(ctx, r, subject.Cnf.JKT); err != nil {
		return nil, err
	}
	claims, err := narrowClaims(subject, form)
	if err != nil {
		return nil, err
	}
	claims.ID, claims.IssuedAt = newID(), s.now().Unix()
	err = s.store.Update(ctx, func(tx store.Tx) error {
		a, err := s.checkSubjectState(ctx, tx, subject)
		if err != nil {
			return err
		}
		return s.recordIssued(ctx, tx, claims, a, subject.ID, store.TokenExchange)
	})
	if err != nil {
		return nil, err
	}
	resp, err := s.respond(claims, "DPoP")
	if resp != nil {
		resp.IssuedTokenType = protocol.TokenTypeAccessToken
	}
	return resp, err
}

func (s *Server) exchangeSubject(ctx context.Context, c *client, form url.Values) (*token.Claims, error) {
	if form.Get("subject_token_type") != protocol.TokenTypeAccessToken {
		return nil, errBadRequest("subject_token_type must be %s", protocol.TokenTypeAccessToken)
	}
	if rt := form.Get("requested_token_type"); rt != "" && rt != protocol.TokenTypeAccessToken {
		return nil, errBadRequest("requested_token_type must be %s", protocol.TokenTypeAccessToken)
	}
	if form.Get("actor_token") != "" {
		return nil, errBadRequest("actor_token is not supported; use delegation assertions")
	}
	subject, err := s.verifier.Verify(ctx, form.Get("subject_token"))
	if err != nil {
		return nil, errBadRequest("subject_token is not a valid access token of this issuer")
	}
	if !subject.IsIntent() || subject.ClientID != c.id {
		return nil, errBadRequest("subject_token must be an intent token of this client")
	}
	if err := s.checkRevoked(ctx, subject); err != nil {
		if isInternal(err) {
			return nil, err
		}
		return nil, errBadRequest("subject_token is revoked")
	}
	return subject, nil
}

// narrowClaims copies the subject's claims with the requested subset of
// scope and audience (resource or audience, §6.4).
func narrowClaims(subject *token.Claims, form url.Values) (*token.Claims, error) {
	requested, err := scopeList(form.Get("scope"))
	if err != nil {
		return nil, err
	}
	have := subject.Scopes()
	for _, sc := range requested {
		if !slices.Contains(have, sc) {
			return nil, newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "scope %q is not in the subject token", clip.Text(sc, clip.Short))
		}
	}
	claims := *subject
	if len(requested) > 0 {
		claims.Scope = strings.Join(requested, " ")
	}
	target, err := exchangeTarget(form.Get("resource"), form.Get("audience"))
	if err != nil {
		return nil, err
	}
	if target != "" {
		if !slices.Contains([]string(subject.Audience), target) {
			return nil, newErr(protocol.CodeInvalidTarget, http.StatusBadRequest, "resource or audience is not an audience of the subject token")
		}
		claims.Audience = token.Audience{target}
	}
	return &claims, nil
}

// exchangeTarget is the one target the request names, by resource or by
// RFC 8693 audience, which §6.4 treats alike ("" when neither is sent).
func exchangeTarget(resource, audience string) (string, error) {
	if resource != "" && audience != "" && resource != audience {
		return "", newErr(protocol.CodeInvalidTarget, http.StatusBadRequest, "resource and audience name different targets")
	}
	if resource != "" {
		return resource, nil
	}
	return audience, nil
}

// checkSubjectState refuses an exchange when the subject token was revoked,
// an agent of its chain changed, or the step is no longer held by the
// agent, as of the exchange's own transaction (the agents stay locked
// until it commits).
func (s *Server) checkSubjectState(ctx context.Context, tx store.Tx, subject *token.Claims) (*store.Agent, error) {
	rec, err := tx.TokenForShare(ctx, subject.ID) // see extendChain: a racing revocation's cascade
	if storeFailed(err) {
		return nil, err
	}
	if err != nil || rec.Revoked {
		return nil, errBadRequest("subject_token is revoked")
	}
	a, err := tx.AgentForShare(ctx, subject.Subject)
	if storeFailed(err) {
		return nil, err
	}
	if err != nil || a.Revoked || a.Version != subject.AgentProof.Version {
		return nil, newErr(protocol.CodeAgentRevoked, http.StatusUnauthorized, "agent revoked or re-registered")
	}
	for _, id := range subject.Intent.DelegationChain {
		d, err := tx.AgentForShare(ctx, id)
		if storeFailed(err) {
			return nil, err
		}
		if err != nil || d.Revoked {
			return nil, newErr(protocol.CodeAgentRevoked, http.StatusUnauthorized, "an agent of the delegation chain is revoked")
		}
	}
	if subject.Intent.RunID == "" {
		return a, nil
	}
	run, err := tx.RunForUpdate(ctx, subject.Intent.RunID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errStep("unknown_run", nil, "no such run")
	}
	if err != nil {
		return nil, err
	}
	st := runStep(run, subject.Intent.WorkflowStep)
	if run.Status != store.RunActive || st == nil || st.State != store.StepInProgress || st.Holder != a.AgentID {
		return nil, errStep("step_not_held", nil, "the subject token's step is no longer in progress")
	}
	return a, nil
}
