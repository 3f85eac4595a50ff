package authserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

type runBody struct {
	WorkflowID       string            `json:"workflow_id"`
	InitiatedBy      string            `json:"initiated_by"`
	ExecutionContext map[string]string `json:"execution_context"`
}

type runView struct {
	RunID            string            `json:"run_id"`
	WorkflowID       string            `json:"workflow_id"`
	WorkflowVersion  int               `json:"workflow_version"`
	Status           string            `json:"status"`
	InitiatedBy      string            `json:"initiated_by"`
	ExecutionContext map[string]string `json:"execution_context"`
	Steps            []stepView        `json:"steps"`
}

type stepView struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	CompletedBy string `json:"completed_by,omitempty"`
	CompletedAt int64  `json:"completed_at,omitempty"`
}

func viewRun(r *store.Run) runView {
	v := runView{RunID: r.RunID, WorkflowID: r.WorkflowID, WorkflowVersion: r.WorkflowVersion, Status: r.Status,
		InitiatedBy: r.InitiatedBy, ExecutionContext: r.ExecutionContext, Steps: make([]stepView, len(r.Steps))}
	if v.ExecutionContext == nil {
		v.ExecutionContext = map[string]string{}
	}
	for i, st := range r.Steps {
		v.Steps[i] = stepView{ID: st.ID, State: st.State, CompletedBy: st.CompletedBy}
		if !st.CompletedAt.IsZero() {
			v.Steps[i].CompletedAt = st.CompletedAt.Unix()
		}
	}
	return v
}

const (
	maxContextEntries = 32
	maxContextValue   = 256
)

func (b *runBody) check() error {
	if !validID(b.WorkflowID) {
		return errBadRequest("workflow_id must match %s", idPattern)
	}
	if len(b.InitiatedBy) > 256 {
		return errBadRequest("initiated_by longer than 256 bytes")
	}
	if len(b.ExecutionContext) > maxContextEntries {
		return errBadRequest("execution_context has more than %d entries", maxContextEntries)
	}
	for k, v := range b.ExecutionContext {
		if k == "" || len(k) > 64 || len(v) > maxContextValue {
			return errBadRequest("execution_context keys must be 1-64 bytes and values at most %d", maxContextValue)
		}
	}
	return nil
}

func (s *Server) handleCreateRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	caller, err := s.apiCaller(ctx, r, "ajwt:run")
	if err != nil {
		return err
	}
	var body runBody
	if err := decodeJSON(w, r, protocol.MaxRequestBody, &body); err != nil {
		return err
	}
	if err := body.check(); err != nil {
		return err
	}
	run := &store.Run{RunID: newID(), ClientID: caller.ClientID, WorkflowID: body.WorkflowID, Status: store.RunActive,
		InitiatedBy: body.InitiatedBy, ExecutionContext: body.ExecutionContext, CreatedAt: s.now()}
	err = s.store.Update(ctx, func(tx store.Tx) error {
		wf, err := tx.Workflow(ctx, body.WorkflowID, 0)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such workflow")
		}
		if err != nil {
			return err
		}
		def, err := s.workflowDef(ctx, tx, wf.WorkflowID, wf.Version)
		if err != nil {
			return err
		}
		if err := s.checkRunOwner(ctx, tx, def, caller.ClientID); err != nil {
			return err
		}
		run.WorkflowVersion, run.Steps = wf.Version, newRunSteps(def)
		if err := tx.CreateRun(ctx, run); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "create_run", ClientID: caller.ClientID, RunID: run.RunID, Outcome: "ok", Detail: "workflow=" + run.WorkflowID})
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, viewRun(run))
	return nil
}

// checkRunOwner: only the client owning every agent of a workflow may run it.
func (s *Server) checkRunOwner(ctx context.Context, tx store.Tx, def *WorkflowDef, clientID string) error {
	for _, st := range def.Steps {
		if st.Kind != kindAgent {
			continue
		}
		a, err := tx.Agent(ctx, st.Agent)
		if err != nil || a.ClientID != clientID {
			return errForbidden("workflow uses agent %s, which does not belong to this client", st.Agent)
		}
	}
	return nil
}

func (s *Server) handleGetRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	caller, err := s.apiCaller(ctx, r, "ajwt:run", "ajwt:admin", "ajwt:approve")
	if err != nil {
		return err
	}
	var run *store.Run
	err = s.store.View(ctx, func(tx store.Tx) (err error) {
		run, err = tx.Run(ctx, r.PathValue("run_id"))
		return err
	})
	if errors.Is(err, store.ErrNotFound) || (err == nil && !mayReadRun(caller, run)) {
		return errNotFound("no such run")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

func mayReadRun(c *token.Claims, run *store.Run) bool {
	return c.HasScope("ajwt:admin") || c.HasScope("ajwt:approve") || run.ClientID == c.ClientID
}

// handleCompleteStep: the agent presents its own DPoP-bound intent token
// for this very run and step (§5).
func (s *Server) handleCompleteStep(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	claims, scheme, raw, err := s.accessToken(ctx, r)
	if err != nil {
		return err
	}
	runID, stepID := r.PathValue("run_id"), r.PathValue("step_id")
	if !claims.IsIntent() || scheme != "dpop" || claims.Intent.RunID != runID || claims.Intent.WorkflowStep != stepID {
		return newErr(protocol.CodeIntentMismatch, http.StatusForbidden, "only the step's own DPoP-bound intent token completes it")
	}
	if _, err := s.checkProof(ctx, r, claims.Cnf.JKT, raw); err != nil {
		return proofAtResource(err)
	}
	var body struct {
		ResultSHA256 string `json:"result_sha256"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, protocol.MaxRequestBody, &body); err != nil {
			return err
		}
	}
	run, err := s.transition(ctx, runID, stepID, func(run *store.Run, def *StepDef, st *store.Step) error {
		if st.State != store.StepInProgress || st.Holder != claims.Subject {
			return errStep("step_not_held", nil, "step %q is %s and not held by %s", stepID, st.State, claims.Subject)
		}
		return nil
	}, claims.Subject, "complete_step", claims.ClientID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// proofAtResource gives a proof failure at a protected endpoint the
// resource-server status (401, §8).
func proofAtResource(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		c := *pe
		c.Status = http.StatusUnauthorized
		return &c
	}
	return err
}

func (s *Server) handleApproveStep(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	caller, err := s.apiCaller(ctx, r, "ajwt:approve")
	if err != nil {
		return err
	}
	var body struct {
		Approver string `json:"approver"`
		Comment  string `json:"comment"`
	}
	if err := decodeJSON(w, r, protocol.MaxRequestBody, &body); err != nil {
		return err
	}
	if body.Approver == "" || len(body.Approver) > 256 || len(body.Comment) > 4096 {
		return errBadRequest("approver is required (≤ 256 bytes); comment ≤ 4096 bytes")
	}
	runID, stepID := r.PathValue("run_id"), r.PathValue("step_id")
	run, err := s.transition(ctx, runID, stepID, func(run *store.Run, def *StepDef, st *store.Step) error {
		if def.Kind != kindApproval {
			return errStep("not_an_approval_step", nil, "step %q is not an approval step", stepID)
		}
		if st.State != store.StepReady {
			return errStep("step_"+st.State, missingSteps(run, def), "step %q is %s", stepID, st.State)
		}
		return nil
	}, "approver:"+body.Approver, "approve_step", caller.ClientID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// transition completes a step after check passes, in one transaction with
// the run locked, so concurrent requests cannot complete it twice.
func (s *Server) transition(ctx context.Context, runID, stepID string, check func(*store.Run, *StepDef, *store.Step) error, by, event, clientID string) (*store.Run, error) {
	var run *store.Run
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		run, err = tx.RunForUpdate(ctx, runID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such run")
		}
		if err != nil {
			return err
		}
		if run.Status != store.RunActive {
			return errStep("run_"+run.Status, nil, "run is %s", run.Status)
		}
		wf, err := s.workflowDef(ctx, tx, run.WorkflowID, run.WorkflowVersion)
		if err != nil {
			return err
		}
		def, st := wf.step(stepID), runStep(run, stepID)
		if def == nil || st == nil {
			return errNotFound("run has no step %q", stepID)
		}
		if err := check(run, def, st); err != nil {
			return err
		}
		completeStep(run, wf, st, by, s.now())
		if err := tx.SaveRun(ctx, run); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: event, ClientID: clientID, AgentID: agentOf(by), RunID: runID, Step: stepID, Outcome: "ok", Detail: "by=" + by})
	})
	return run, err
}

func agentOf(by string) string {
	if validID(by) {
		return by
	}
	return ""
}

func (s *Server) handleRevokeRun(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	caller, err := s.apiCaller(ctx, r, "ajwt:run", "ajwt:admin")
	if err != nil {
		return err
	}
	var run *store.Run
	var revoked []*store.Revocation
	err = s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		run, err = tx.RunForUpdate(ctx, r.PathValue("run_id"))
		if errors.Is(err, store.ErrNotFound) || (err == nil && !caller.HasScope("ajwt:admin") && run.ClientID != caller.ClientID) {
			return errNotFound("no such run")
		}
		if err != nil {
			return err
		}
		revoked, err = s.revokeRun(ctx, tx, run, caller.ClientID)
		return err
	})
	if err != nil {
		return err
	}
	s.feed.notify(revoked)
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

func (s *Server) revokeRun(ctx context.Context, tx store.Tx, run *store.Run, by string) ([]*store.Revocation, error) {
	run.Status = store.RunRevoked
	if err := tx.SaveRun(ctx, run); err != nil {
		return nil, err
	}
	rev, err := s.revokeEntity(ctx, tx, store.RevokedRun, run.RunID)
	if err != nil {
		return nil, err
	}
	more, err := s.revokeTokens(ctx, tx, store.TokenFilter{RunID: run.RunID, Active: true, Now: s.now()})
	if err != nil {
		return nil, err
	}
	err = tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "revoke_run", ClientID: run.ClientID, RunID: run.RunID, Outcome: "ok", Detail: "by=" + by})
	return append([]*store.Revocation{rev}, more...), err
}

// workflowDef returns a parsed workflow version. Versions never change once
// stored, so parsed definitions are cached for good.
func (s *Server) workflowDef(ctx context.Context, tx store.Tx, id string, version int) (*WorkflowDef, error) {
	key := id + "@" + itoa(version)
	if def, ok := s.wfCache.Load(key); ok {
		return def.(*WorkflowDef), nil
	}
	wf, err := tx.Workflow(ctx, id, version)
	if err != nil {
		return nil, err
	}
	def, err := parseWorkflowDef(wf.Definition)
	if err != nil {
		return nil, err
	}
	if err := def.validate(); err != nil { // fills in defaults such as kind
		return nil, err
	}
	s.wfCache.Store(key, def)
	return def, nil
}
