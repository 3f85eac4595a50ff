package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// delegation is the outcome of checking a delegation assertion's signature
// before the run is locked. A failure is kept, not returned: §6.2 reports
// invalid_delegation only after the step checks.
type delegation struct {
	delegator string
	claims    assertionClaims
	err       error
}

type assertionClaims struct {
	jwt.Claims
	RunID        string `json:"run_id"`
	WorkflowStep string `json:"workflow_step"`
}

func errDelegation(format string, args ...any) *protocol.Error {
	return newErr(protocol.CodeInvalidDelegation, http.StatusForbidden, format, args...)
}

// verifyAssertion checks the assertion's header and signature against the
// delegator's registered key and uses up its jti as soon as the signature
// verifies (§6.3), even if the grant fails later.
func (s *Server) verifyAssertion(ctx context.Context, c *client, raw string) *delegation {
	d := &delegation{}
	tok, err := jwt.ParseSigned(raw, s.joseAlgs)
	if err != nil || len(tok.Headers) != 1 {
		d.err = errDelegation("malformed delegation assertion")
		return d
	}
	if err := checkAssertionHeader(raw); err != nil {
		d.err = err
		return d
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil || !validID(unverified.Issuer) {
		d.err = errDelegation("delegation assertion needs iss = the delegator's agent id")
		return d
	}
	d.delegator = unverified.Issuer
	jwk, err := s.delegatorKey(ctx, c, d.delegator)
	if err != nil {
		d.err = err
		return d
	}
	if err := tok.Claims(jwk, &d.claims); err != nil {
		d.err = errDelegation("delegation assertion signature does not verify with %s's registered key", d.delegator)
		return d
	}
	d.err = s.consumeAssertion(ctx, &d.claims)
	return d
}

// checkAssertionHeader requires typ delegation+jwt and refuses headers that
// would point key lookup anywhere but our registry.
func checkAssertionHeader(raw string) error {
	seg, _, _ := strings.Cut(raw, ".")
	data, err := base64.RawURLEncoding.DecodeString(seg)
	if err != nil {
		return errDelegation("malformed delegation assertion header")
	}
	var h map[string]any
	if err := json.Unmarshal(data, &h); err != nil {
		return errDelegation("malformed delegation assertion header")
	}
	if typ, _ := h["typ"].(string); !strings.EqualFold(typ, protocol.TypeDelegation) {
		return errDelegation("delegation assertion typ must be %s", protocol.TypeDelegation)
	}
	for _, k := range []string{"jku", "x5u", "jwk", "x5c", "crit"} {
		if _, ok := h[k]; ok {
			return errDelegation("delegation assertion header %q not allowed", k)
		}
	}
	return nil
}

func (s *Server) delegatorKey(ctx context.Context, c *client, id string) (*jose.JSONWebKey, error) {
	a, err := s.ownAgent(ctx, c, id)
	if err != nil {
		return nil, errDelegation("delegator %s is not a registered, unrevoked agent of this client", id)
	}
	jwk, err := keys.ParsePublicJWK(a.PublicJWK)
	if err != nil {
		return nil, err
	}
	return jwk, nil
}

func (s *Server) consumeAssertion(ctx context.Context, cl *assertionClaims) error {
	if cl.ID == "" || cl.Expiry == nil {
		return errDelegation("delegation assertion needs jti and exp")
	}
	var fresh bool
	err := s.store.Update(ctx, func(tx store.Tx) (err error) {
		fresh, err = tx.UseOnce(ctx, "delegation:"+cl.Issuer+":"+cl.ID, cl.Expiry.Time().Add(protocol.MaxLeeway))
		return err
	})
	if err != nil {
		return err
	}
	if !fresh {
		return errDelegation("delegation assertion already used")
	}
	return nil
}

// useOnce records a single-use id in its own committed transaction.
func (s *Server) useOnce(ctx context.Context, id string, exp time.Time) (bool, error) {
	var fresh bool
	err := s.store.Update(ctx, func(tx store.Tx) (err error) {
		fresh, err = tx.UseOnce(ctx, id, exp)
		return err
	})
	return fresh, err
}

// checkClaims validates the assertion's claims against the grant.
func (d *delegation) checkClaims(issuer, delegate, runID, step string, now time.Time) error {
	cl := &d.claims
	exp := jwt.Expected{Subject: delegate, AnyAudience: jwt.Audience{issuer}, Time: now}
	if err := cl.ValidateWithLeeway(exp, protocol.DefaultLeeway); err != nil {
		return errDelegation("delegation assertion: %v", err)
	}
	if cl.IssuedAt == nil || cl.Expiry.Time().Sub(cl.IssuedAt.Time()) > protocol.MaxDelegationTTL {
		return errDelegation("delegation assertion must carry iat and expire within 60 s of it")
	}
	if cl.RunID != runID || cl.WorkflowStep != step {
		return errDelegation("delegation assertion is for another run or step")
	}
	return nil
}

// stepChain works out the delegation chain and parent token of a new step
// token from server-side records only.
func (s *Server) stepChain(ctx context.Context, tx store.Tx, run *store.Run, wf *WorkflowDef, def *StepDef, st *store.Step, a *store.Agent, d *delegation, renewal bool) ([]string, string, error) {
	if d == nil {
		if renewal {
			return st.Chain, st.Parent, nil // kept on the step: no token scan per renewal
		}
		return []string{a.AgentID}, "", nil
	}
	if d.err != nil {
		return nil, "", d.err
	}
	if err := d.checkClaims(s.cfg.Issuer, a.AgentID, run.RunID, def.ID, s.now()); err != nil {
		return nil, "", err
	}
	delegator, err := tx.Agent(ctx, d.delegator)
	if err != nil || delegator.Revoked || delegator.ClientID != a.ClientID {
		return nil, "", errDelegation("delegator %s is not a registered, unrevoked agent of this client", d.delegator)
	}
	allowed := slices.Contains(def.DelegatedBy, d.delegator) ||
		(slices.Contains(delegator.MayDelegateTo, a.AgentID) && (def.Agent == d.delegator || def.Agent == a.AgentID))
	if !allowed {
		return nil, "", errDelegation("%s may not delegate step %q to %s", d.delegator, def.ID, a.AgentID)
	}
	return s.extendChain(ctx, tx, run, wf, d.delegator, a.AgentID)
}

// extendChain appends delegate to the delegator's own chain in the run.
func (s *Server) extendChain(ctx context.Context, tx store.Tx, run *store.Run, wf *WorkflowDef, delegator, delegate string) ([]string, string, error) {
	chain, parent := []string{delegator}, ""
	if t := latestToken(ctx, tx, store.TokenFilter{RunID: run.RunID, AgentID: delegator}, ""); t != nil {
		chain, parent = slices.Clone(t.Chain), t.JTI
	}
	if slices.Contains(chain, delegate) {
		return nil, "", errDelegation("delegation would form a cycle through %s", delegate)
	}
	chain = append(chain, delegate)
	if max := wf.maxDepth(s.cfg.MaxDelegations); len(chain)-1 > max {
		return nil, "", errDelegation("delegation chain of %d hops exceeds the maximum of %d", len(chain)-1, max)
	}
	return chain, parent, nil
}

// latestToken returns the newest token matching f (and step, when set).
// It scans the delegator's tokens in one run: a handful.
func latestToken(ctx context.Context, tx store.Tx, f store.TokenFilter, step string) *store.Token {
	all, err := tx.Tokens(ctx, f)
	if err != nil {
		return nil
	}
	var best *store.Token
	for _, t := range all {
		if step != "" && t.StepID != step {
			continue
		}
		if best == nil || t.IssuedAt.After(best.IssuedAt) || (t.IssuedAt.Equal(best.IssuedAt) && t.Kind == store.TokenIntent) {
			best = t
		}
	}
	return best
}
