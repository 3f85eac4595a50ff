package authserver

import (
	"context"
	"errors"
	"github.com/ajwt/ajwt/internal/clip"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// agentRequest is a well-formed agent_checksum grant request (§6.2).
type agentRequest struct {
	agentID   string
	checksum  agentspec.Checksum
	resource  string
	scopes    []string
	runID     string
	step      string
	assertion string
}

func parseAgentRequest(form url.Values) (*agentRequest, error) {
	req := &agentRequest{agentID: form.Get("agent_id"), resource: form.Get("resource"), runID: form.Get("run_id"),
		step: form.Get("workflow_step"), assertion: form.Get("delegation_assertion")}
	if !validID(req.agentID) {
		return nil, errBadRequest("agent_id is required and must match %s", idPattern)
	}
	sum, alias := form.Get("agent_checksum"), form.Get("computed_checksum")
	if sum != "" && alias != "" && sum != alias {
		return nil, errBadRequest("agent_checksum and computed_checksum differ")
	}
	if sum == "" {
		sum = alias
	}
	var err error
	if req.checksum, err = agentspec.ParseChecksum(sum); err != nil {
		return nil, errBadRequest("agent_checksum: want sha256:<64 lowercase hex>")
	}
	if req.resource != "" && !validResource(req.resource) {
		return nil, errBadRequest("resource must be an absolute URI")
	}
	if (req.runID == "") != (req.step == "") {
		return nil, errBadRequest("run_id and workflow_step go together")
	}
	if req.runID != "" && (!validRunOrID(req.runID) || len(req.runID) > 64 || !validID(req.step)) {
		return nil, errBadRequest("malformed run_id or workflow_step")
	}
	if len(req.assertion) > protocol.MaxTokenSize {
		return nil, errBadRequest("delegation_assertion larger than %d bytes", protocol.MaxTokenSize)
	}
	if req.scopes, err = scopeList(form.Get("scope")); err != nil {
		return nil, errBadRequest("malformed scope")
	}
	return req, nil
}

func (s *Server) grantAgent(r *http.Request, c *client, form url.Values) (*tokenResponse, error) {
	ctx := r.Context()
	req, err := parseAgentRequest(form)
	if err != nil {
		return nil, err
	}
	agent, err := s.ownAgent(ctx, c, req.agentID)
	if err != nil {
		return nil, err
	}
	if agent.WorkflowRequired && req.runID == "" {
		return nil, errBadRequest("agent %s requires run_id and workflow_step", agent.AgentID)
	}
	if !req.checksum.Equal(agentspec.Checksum(agent.Checksum)) {
		return nil, newErr(protocol.CodeAgentChecksumMismatch, http.StatusUnauthorized, "agent checksum does not match the registered agent: compare the canonical form of the running spec (`ajwt checksum --canonical FILE`) with the registered one")
	}
	if _, err := s.checkProof(ctx, r, agent.JKT); err != nil {
		return nil, err
	}
	var del *delegation
	if req.assertion != "" {
		del = s.verifyAssertion(ctx, c, req.assertion)
	}
	var claims *token.Claims
	var freed []*store.Revocation
	err = s.store.Update(ctx, func(tx store.Tx) error {
		a, err := s.lockAgent(ctx, tx, c, req, agent)
		if err != nil {
			return err
		}
		if req.runID == "" {
			claims, err = s.issueWithoutRun(ctx, tx, c, a, req)
		} else {
			claims, freed, err = s.issueForStep(ctx, tx, c, a, req, del)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	s.feed.notify(freed)
	return s.respond(claims, "DPoP")
}

// lockAgent reads the agent again inside the grant's transaction, locked
// against change until it commits, and answers as the ordered checks of
// §6.2 would on what it finds: a revocation or re-registration committed
// since checked was read wins over the grant (§6.3, last paragraph).
func (s *Server) lockAgent(ctx context.Context, tx store.Tx, c *client, req *agentRequest, checked *store.Agent) (*store.Agent, error) {
	a, err := tx.AgentForShare(ctx, req.agentID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.ClientID != c.id) {
		return nil, newErr(protocol.CodeUnknownAgent, http.StatusUnauthorized, "unknown agent")
	}
	if err != nil {
		return nil, err
	}
	switch {
	case a.Revoked:
		return nil, newErr(protocol.CodeAgentRevoked, http.StatusUnauthorized, "agent %s is revoked", a.AgentID)
	case a.WorkflowRequired && req.runID == "":
		return nil, errBadRequest("agent %s requires run_id and workflow_step", a.AgentID)
	case !req.checksum.Equal(agentspec.Checksum(a.Checksum)):
		return nil, newErr(protocol.CodeAgentChecksumMismatch, http.StatusUnauthorized, "agent checksum does not match the registered agent: compare the canonical form of the running spec (`ajwt checksum --canonical FILE`) with the registered one")
	case a.JKT != checked.JKT:
		return nil, tokenEndpointProofErr(protocol.ErrKeyMismatch.WithDescription("the agent was registered with another key during the grant"))
	}
	return a, nil
}

// ownAgent loads an agent of client c: unknown_agent when it does not exist
// or belongs to another client (the two are indistinguishable on purpose),
// agent_revoked when revoked.
func (s *Server) ownAgent(ctx context.Context, c *client, id string) (*store.Agent, error) {
	var a *store.Agent
	err := s.store.View(ctx, func(tx store.Tx) (err error) {
		a, err = tx.Agent(ctx, id)
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.ClientID != c.id) {
		return nil, newErr(protocol.CodeUnknownAgent, http.StatusUnauthorized, "unknown agent")
	}
	if err != nil {
		return nil, err
	}
	if a.Revoked {
		return nil, newErr(protocol.CodeAgentRevoked, http.StatusUnauthorized, "agent %s is revoked", a.AgentID)
	}
	return a, nil
}

// stepGrant is what a grant for a step of a run decides on, read inside
// the grant's transaction: the run (locked until it commits), the
// workflow version the run follows, the step's definition and state, the
// agent asking, and the delegation it presents. Outside a run
// (issueWithoutRun) only agent is set.
type stepGrant struct {
	run   *store.Run
	wf    *WorkflowDef
	def   *StepDef
	st    *store.Step
	agent *store.Agent
	del   *delegation // nil without a delegation_assertion
	// renewal: the agent holds the step already, as found once a broken
	// holding was freed.
	renewal bool
}

func (g *stepGrant) hasAssertion() bool { return g.del != nil }

// issueForStep applies the run-state checks of §6.2 and moves the step to
// in_progress, all inside the caller's transaction. It also returns the
// revocations of a broken holding it freed on the way.
func (s *Server) issueForStep(ctx context.Context, tx store.Tx, c *client, a *store.Agent, req *agentRequest, del *delegation) (*token.Claims, []*store.Revocation, error) {
	g, err := s.lockStep(ctx, tx, c, req.runID, req.step)
	if err != nil {
		return nil, nil, err
	}
	g.agent, g.del = a, del
	freed, err := s.freeBrokenHolding(ctx, tx, g)
	if err != nil {
		return nil, nil, err
	}
	st := g.st
	g.renewal = st.State == store.StepInProgress && st.Holder == a.AgentID
	if err := g.checkAssignment(); err != nil {
		return nil, nil, err
	}
	h, err := s.stepChain(ctx, tx, g)
	if err != nil {
		return nil, nil, err
	}
	scope, err := grantScope(req.scopes, g.def.Scopes, a.Scopes)
	if err != nil {
		return nil, nil, err
	}
	aud, err := grantAudience(req.resource, g.def.Audience, a.Audiences)
	if err != nil {
		return nil, nil, err
	}
	// A renewal leaves the step as it is: no write (the run stays locked
	// until this transaction ends either way).
	if !g.renewal || !h.sameAs(st) {
		st.State, st.Holder, st.Chain, st.Parent, st.ChainVersions = store.StepInProgress, a.AgentID, h.chain, h.parent, h.versions
		if err := tx.SaveRun(ctx, g.run); err != nil {
			return nil, nil, err
		}
	}
	claims := s.intentClaims(g, scope, aud, h.chain)
	return claims, freed, s.recordIssued(ctx, tx, claims, a, h.parent, store.TokenIntent)
}

// lockStep reads and locks the run and finds the requested step.
func (s *Server) lockStep(ctx context.Context, tx store.Tx, c *client, runID, stepID string) (*stepGrant, error) {
	run, err := tx.RunForUpdate(ctx, runID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.ClientID != c.id) {
		return nil, errStep("unknown_run", nil, "no such run for this client")
	}
	if err != nil {
		return nil, err
	}
	if run.Status != store.RunActive {
		return nil, errStep("run_"+run.Status, nil, "run is %s", run.Status)
	}
	wf, err := s.workflowDef(ctx, tx, run.WorkflowID, run.WorkflowVersion)
	if err != nil {
		return nil, err
	}
	def, st := wf.step(stepID), runStep(run, stepID)
	if def == nil || st == nil {
		return nil, errStep("unknown_step", nil, "run has no step %q", stepID)
	}
	return &stepGrant{run: run, wf: wf, def: def, st: st}, nil
}

// checkAssignment decides whether the agent may hold the step now.
func (g *stepGrant) checkAssignment() error {
	def := g.def
	if def.Kind != kindAgent {
		return errStep("approval_step", nil, "step %q is an approval step; only an approver completes it", def.ID)
	}
	if def.Agent != g.agent.AgentID && (len(def.DelegatedBy) > 0 || !g.hasAssertion()) {
		return errStep("wrong_agent", nil, "step %q is assigned to another agent", def.ID)
	}
	switch g.st.State {
	case store.StepCompleted:
		return errStep("step_completed", nil, "step %q is already completed", def.ID)
	case store.StepPending:
		missing := missingSteps(g.run, def)
		return errStep("dependencies_not_completed", missing, "step %q waits for %s", def.ID, strings.Join(missing, ", "))
	case store.StepInProgress:
		if !g.renewal {
			return errStep("step_in_progress", nil, "step %q is held by another agent", def.ID)
		}
	}
	if len(def.DelegatedBy) > 0 && !g.hasAssertion() && !g.renewal {
		return errStep("delegation_required", nil, "step %q must be delegated by one of %v", def.ID, def.DelegatedBy)
	}
	return nil
}

// grantScope is requested ⊆ step ∩ ceiling; default the whole intersection.
func grantScope(requested, step, ceiling []string) (string, error) {
	var allowed []string
	for _, sc := range step {
		if slices.Contains(ceiling, sc) {
			allowed = append(allowed, sc)
		}
	}
	if len(requested) == 0 {
		requested = allowed
	}
	for _, sc := range requested {
		if !slices.Contains(allowed, sc) {
			return "", newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "scope %q not allowed for this step", clip.Text(sc, clip.Short))
		}
	}
	if len(requested) == 0 {
		return "", newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "no scope available for this step")
	}
	return strings.Join(requested, " "), nil
}

// grantAudience picks the token audience: the step's, else the agent's only
// one, else the requested resource if the agent may use it.
func grantAudience(resource, step string, agentAuds []string) (string, error) {
	aud := step
	switch {
	case aud == "" && resource != "" && slices.Contains(agentAuds, resource):
		aud = resource
	case aud == "" && len(agentAuds) == 1:
		aud = agentAuds[0]
	}
	if aud == "" {
		return "", newErr(protocol.CodeInvalidTarget, http.StatusBadRequest, "resource is required for this agent")
	}
	if resource != "" && resource != aud {
		return "", newErr(protocol.CodeInvalidTarget, http.StatusBadRequest, "resource not allowed for this step")
	}
	return aud, nil
}

func (s *Server) issueWithoutRun(ctx context.Context, tx store.Tx, c *client, a *store.Agent, req *agentRequest) (*token.Claims, error) {
	scope, err := grantScope(req.scopes, a.Scopes, a.Scopes)
	if err != nil {
		return nil, err
	}
	aud, err := grantAudience(req.resource, "", a.Audiences)
	if err != nil {
		return nil, err
	}
	chain := []string{a.AgentID}
	claims := s.intentClaims(&stepGrant{agent: a}, scope, aud, chain)
	return claims, s.recordIssued(ctx, tx, claims, a, "", store.TokenIntent)
}

// intentClaims builds the §7 claims from server-side state only.
func (s *Server) intentClaims(g *stepGrant, scope, aud string, chain []string) *token.Claims {
	a, run, step := g.agent, g.run, ""
	if g.def != nil {
		step = g.def.ID
	}
	now := s.now()
	in := &token.Intent{
		ExecutedBy: a.AgentID, DelegationChain: chain, DelegationChainHash: token.ChainHash(chain),
		CompletedSteps: []string{}, WorkflowStep: step,
	}
	if run != nil {
		in.WorkflowID, in.WorkflowVersion, in.RunID = run.WorkflowID, run.WorkflowVersion, run.RunID
		in.InitiatedBy, in.ExecutionContext = run.InitiatedBy, run.ExecutionContext
		in.CompletedSteps = completedSteps(run)
	}
	in.StepSequenceHash = token.StepSequenceHash(in.CompletedSteps, step)
	return &token.Claims{
		Subject: a.AgentID, Audience: token.Audience{aud}, ClientID: a.ClientID,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(s.cfg.TokenTTL).Unix(), ID: newID(), Scope: scope,
		Cnf:        &token.Confirmation{JKT: a.JKT},
		AgentProof: &token.AgentProof{AgentChecksum: a.Checksum, RegistrationID: a.RegistrationID, Version: a.Version},
		Intent:     in,
	}
}

// recordIssued stores the token record and the audit entry of an issued token.
func (s *Server) recordIssued(ctx context.Context, tx store.Tx, c *token.Claims, a *store.Agent, parent, kind string) error {
	rec := &store.Token{
		JTI: c.ID, Kind: kind, ClientID: c.ClientID, AgentID: a.AgentID, Version: a.Version,
		RunID: c.Intent.RunID, StepID: c.Intent.WorkflowStep, ParentJTI: parent, JKT: a.JKT, Scope: c.Scope,
		Audience: c.Audience[0], Chain: c.Intent.DelegationChain, IssuedAt: unix(c.IssuedAt), ExpiresAt: unix(c.ExpiresAt),
	}
	if err := tx.PutToken(ctx, rec); err != nil {
		return err
	}
	return tx.AppendAudit(ctx, &store.AuditEntry{
		Time: s.now(), Event: "grant", ClientID: c.ClientID, AgentID: a.AgentID, RunID: rec.RunID, Step: rec.StepID,
		Outcome: "issued", Detail: kind + " chain=" + strings.Join(rec.Chain, ">") + " aud=" + rec.Audience,
	})
}
