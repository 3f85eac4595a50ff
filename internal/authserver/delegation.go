package authserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
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
	jkt       string // the delegator's key the assertion verified with
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
	jwk, err := s.delegatorKey(ctx, c, d)
	if err != nil {
		d.err = err
		return d
	}
	if err := tok.Claims(keys.JOSEVerificationKey(jwk.Key), &d.claims); err != nil {
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

// delegatorKey returns the delegator's registered key and records its
// thumbprint, which the grant's transaction checks again.
func (s *Server) delegatorKey(ctx context.Context, c *client, d *delegation) (*jose.JSONWebKey, error) {
	a, err := s.ownAgent(ctx, c, d.delegator)
	if err != nil && isInternal(err) {
		return nil, err // the store's failure, not the delegator's
	}
	if err != nil {
		return nil, errDelegation("delegator %s is not a registered, unrevoked agent of this client", d.delegator)
	}
	jwk, err := keys.ParsePublicJWK(a.PublicJWK)
	if err != nil {
		return nil, err
	}
	d.jkt = a.JKT
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

// holding is how a step is held: the chain of its tokens, the token the
// delegation hangs off (if any) and the versions of the chain's agents
// when it was formed.
type holding struct {
	chain    []string
	parent   string
	versions []int
}

func (h *holding) sameAs(st *store.Step) bool {
	return slices.Equal(st.Chain, h.chain) && st.Parent == h.parent && slices.Equal(st.ChainVersions, h.versions)
}

// delegated reports a step held under a delegation rather than directly.
func delegated(st *store.Step) bool { return len(st.Chain) > 1 || st.Parent != "" }

// stepChain works out how a new step token is held, from server-side
// records only. The agents it reads stay locked until the grant commits
// (§6.3: every check holds at the moment of issuance).
func (s *Server) stepChain(ctx context.Context, tx store.Tx, g *stepGrant) (*holding, error) {
	run, def, st, a, d := g.run, g.def, g.st, g.agent, g.del
	if d == nil {
		if g.renewal && delegated(st) {
			// Kept on the step, and found intact by freeBrokenHolding.
			return &holding{chain: st.Chain, parent: st.Parent, versions: st.ChainVersions}, nil
		}
		return &holding{chain: []string{a.AgentID}, versions: []int{a.Version}}, nil
	}
	if d.err != nil {
		return nil, d.err
	}
	if err := d.checkClaims(s.cfg.Issuer, a.AgentID, run.RunID, def.ID, s.now()); err != nil {
		return nil, err
	}
	delegator, err := tx.AgentForShare(ctx, d.delegator)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	if err != nil || delegator.Revoked || delegator.ClientID != a.ClientID {
		return nil, errDelegation("delegator %s is not a registered, unrevoked agent of this client", d.delegator)
	}
	if delegator.JKT != d.jkt {
		return nil, errDelegation("delegator %s was registered with another key since the assertion was checked", d.delegator)
	}
	if err := allowDelegation(def, delegator, a.AgentID); err != nil {
		return nil, err
	}
	return s.extendChain(ctx, tx, g, d.delegator)
}

// allowDelegation applies §6.3: a step's delegated_by names every agent
// that may delegate it, whatever their may_delegate_to says; without it,
// the delegator's may_delegate_to must name the delegate, and one of the
// two must be the step's agent.
func allowDelegation(def *StepDef, delegator *store.Agent, delegate string) error {
	if len(def.DelegatedBy) > 0 {
		if !slices.Contains(def.DelegatedBy, delegator.AgentID) {
			return errDelegation("step %q is delegated only by %s", def.ID, strings.Join(def.DelegatedBy, ", "))
		}
		return nil
	}
	if !slices.Contains(delegator.MayDelegateTo, delegate) {
		return errDelegation("%s's may_delegate_to does not list %s", delegator.AgentID, delegate)
	}
	if def.Agent != delegator.AgentID && def.Agent != delegate {
		return errDelegation("step %q is %s's: only it delegates it or is delegated it", def.ID, def.Agent)
	}
	return nil
}

// extendChain appends the grant's agent (the delegate) to the
// delegator's own chain in the run and records the versions of the
// chain's agents.
func (s *Server) extendChain(ctx context.Context, tx store.Tx, g *stepGrant, delegator string) (*holding, error) {
	run, delegate := g.run, g.agent.AgentID
	max := g.wf.maxDepth(s.cfg.MaxDelegations)
	if max == 0 {
		return nil, errDelegation("workflow %s allows no delegation", run.WorkflowID)
	}
	h := &holding{chain: []string{delegator}}
	t, err := delegatorToken(ctx, tx, run.RunID, delegator)
	if err != nil {
		return nil, err
	}
	if t != nil {
		// Held shared until commit: a revocation of the parent racing
		// this grant then either comes first (seen here) or sees the
		// child this grant records (its cascade reaches it).
		if t, err = tx.TokenForShare(ctx, t.JTI); err != nil {
			return nil, err
		}
		// A delegation hanging off a revoked token would be void at once.
		void, err := tokenVoid(ctx, tx, t)
		if err != nil {
			return nil, err
		}
		if void {
			return nil, errDelegation("%s's tokens in this run are revoked", delegator)
		}
		h.chain, h.parent = slices.Clone(t.Chain), t.JTI
	}
	if slices.Contains(h.chain, delegate) {
		return nil, errDelegation("delegation would form a cycle through %s", delegate)
	}
	h.chain = append(h.chain, delegate)
	if len(h.chain)-1 > max {
		return nil, errDelegation("delegation chain of %d hops exceeds the maximum of %d", len(h.chain)-1, max)
	}
	if h.versions, err = chainVersions(ctx, tx, h.chain); err != nil {
		return nil, err
	}
	// A re-registration leaves the delegator's own tokens unrevoked in the
	// store (their version refuses them): one of an older version is void
	// like a revoked one.
	if i := slices.Index(h.chain, delegator); t != nil && i >= 0 && t.Version != h.versions[i] {
		return nil, errDelegation("%s was re-registered since its tokens in this run were issued", delegator)
	}
	return h, nil
}

// chainVersions reads (and locks) the chain's agents: all registered and
// unrevoked, or the delegation is refused.
func chainVersions(ctx context.Context, tx store.Tx, chain []string) ([]int, error) {
	vs := make([]int, len(chain))
	for i, id := range chain {
		a, err := tx.AgentForShare(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
		if err != nil || a.Revoked {
			return nil, errDelegation("%s in the delegation chain is not a registered, unrevoked agent", id)
		}
		vs[i] = a.Version
	}
	return vs, nil
}

// delegatorToken returns the delegator's newest token in the run,
// preferring one not revoked. It scans the delegator's tokens in one run:
// a handful.
func delegatorToken(ctx context.Context, tx store.Tx, runID, delegator string) (*store.Token, error) {
	all, err := tx.Tokens(ctx, store.TokenFilter{RunID: runID, AgentID: delegator})
	if err != nil {
		return nil, err // not "no token": the chain would lose its parent
	}
	var best *store.Token
	for _, t := range all {
		if best == nil || newerToken(t, best) {
			best = t
		}
	}
	return best, nil
}

func newerToken(t, than *store.Token) bool {
	if t.Revoked != than.Revoked {
		return !t.Revoked
	}
	if t.Version != than.Version { // a re-registration leaves the older ones unrevoked
		return t.Version > than.Version
	}
	if !t.IssuedAt.Equal(than.IssuedAt) {
		return t.IssuedAt.After(than.IssuedAt)
	}
	return t.Kind == store.TokenIntent
}

// brokenHolding says why the way an in_progress step is held no longer
// stands ("" while it does): for a step held directly, its holder was
// revoked; for a delegated one, an agent of its chain was revoked or
// re-registered since the chain was formed, or its parent token was
// revoked (§6.3). A chain recorded without versions (before they were)
// counts as broken: a fresh delegation re-forms it.
func (s *Server) brokenHolding(ctx context.Context, tx store.Tx, st *store.Step) (string, error) {
	if !delegated(st) {
		return revokedAgent(ctx, tx, st.Holder)
	}
	if len(st.ChainVersions) != len(st.Chain) {
		return "chain without recorded versions", nil
	}
	for i, id := range st.Chain {
		if why, err := agentGone(ctx, tx, id, st.ChainVersions[i]); why != "" || err != nil {
			return why, err
		}
	}
	if st.Parent == "" {
		return "", nil
	}
	p, err := tx.Token(ctx, st.Parent)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "the delegator's token was revoked", nil
	case err != nil:
		return "", err
	}
	void, err := tokenVoid(ctx, tx, p)
	if err != nil || !void {
		return "", err
	}
	return "the delegator's token was revoked", nil
}

func revokedAgent(ctx context.Context, tx store.Tx, id string) (string, error) {
	return agentGone(ctx, tx, id, anyVersion)
}

// anyVersion: agentGone accepts whatever version the agent has now.
const anyVersion = -1

// agentGone says why agent id no longer stands: unregistered, revoked, or
// re-registered since version (unless anyVersion); "" while it stands.
func agentGone(ctx context.Context, tx store.Tx, id string, version int) (string, error) {
	a, err := tx.AgentForShare(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return id + " is no longer registered", nil
	case err != nil:
		return "", err
	case a.Revoked:
		return id + " was revoked", nil
	case version != anyVersion && a.Version != version:
		return id + " was re-registered", nil
	}
	return "", nil
}

// freeBrokenHolding frees a step whose holding no longer stands, so that a
// fresh grant can take it; the holder renewing without a new assertion is
// refused instead (§6.3). The holder renewing a step it holds directly is
// the agent just checked: nothing to read.
func (s *Server) freeBrokenHolding(ctx context.Context, tx store.Tx, g *stepGrant) ([]*store.Revocation, error) {
	st, agentID := g.st, g.agent.AgentID
	if st.State != store.StepInProgress || (!delegated(st) && st.Holder == agentID) {
		return nil, nil
	}
	why, err := s.brokenHolding(ctx, tx, st)
	if err != nil || why == "" {
		return nil, err
	}
	if st.Holder == agentID && !g.hasAssertion() {
		return nil, errDelegation("the delegation step %q is held under no longer stands (%s): a fresh delegation assertion is needed", st.ID, why)
	}
	return s.releaseStep(ctx, tx, g.run, st, why)
}
