package authserver

import (
	"context"
	"encoding/hex"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode"

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
	ApprovedVia string `json:"approved_via,omitempty"` // approval steps: the approver client
	Result      string `json:"result_sha256,omitempty"`
}

func viewRun(r *store.Run) runView {
	v := runView{RunID: r.RunID, WorkflowID: r.WorkflowID, WorkflowVersion: r.WorkflowVersion, Status: r.Status,
		InitiatedBy: r.InitiatedBy, ExecutionContext: r.ExecutionContext, Steps: make([]stepView, len(r.Steps))}
	if v.ExecutionContext == nil {
		v.ExecutionContext = map[string]string{}
	}
	for i, st := range r.Steps {
		v.Steps[i] = stepView{ID: st.ID, State: st.State, CompletedBy: st.CompletedBy, ApprovedVia: st.ApprovedVia, Result: st.Result}
		if !st.CompletedAt.IsZero() {
			v.Steps[i].CompletedAt = st.CompletedAt.Unix()
		}
	}
	return v
}

const (
	maxContextEntries = 32
	maxContextValue   = 256

	// defaultRunsPerMinute (runs_per_minute) is far above what people or
	// CI pipelines start, and holds a runaway client to 10 runs a second
	// instead of whatever the token request limit lets through.
	defaultRunsPerMinute = 600
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
	caller, chk, err := s.apiCallerChecking(ctx, r, "ajwt:run")
	if err != nil {
		return err
	}
	var body runBody
	if err := decodeJSON(w, r, protocol.MaxRequestBody, &body); err != nil {
		return chk.refuse(ctx, err)
	}
	if err := body.check(); err != nil {
		return chk.refuse(ctx, err)
	}
	// Runs are rows that stay: a client creating them in a loop would
	// fill the store, so each client has runs_per_minute of them.
	quota := "run:" + caller.ClientID
	if err := s.runQuota.take(quota, "runs created"); err != nil {
		return chk.refuse(ctx, err)
	}
	run := &store.Run{RunID: newID(), ClientID: caller.ClientID, WorkflowID: body.WorkflowID, Status: store.RunActive,
		InitiatedBy: body.InitiatedBy, ExecutionContext: body.ExecutionContext, CreatedAt: s.now()}
	tokenRefused := false
	err = s.store.Update(ctx, func(tx store.Tx) error {
		if err := chk.inTx(ctx, tx); err != nil {
			tokenRefused = true
			return err
		}
		tokenRefused = false
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
	if err != nil && (isInternal(err) || tokenRefused) {
		s.runQuota.refund(quota) // our failure, or a token refused before any run
	}
	if err != nil {
		return err
	}
	i := noted(ctx)
	i.run, i.workflow, i.client = run.RunID, run.WorkflowID, caller.ClientID
	s.tracing.StartRun(ctx, r.Header, run.RunID, run.CreatedAt, i.attrs()...)
	writeJSON(w, http.StatusCreated, viewRun(run))
	return nil
}

// checkRunOwner: only the client owning every agent of a workflow may run
// it, and not while one of them is revoked: the run could never finish,
// and would sit in the store waiting for a step no agent may take.
func (s *Server) checkRunOwner(ctx context.Context, tx store.Tx, def *WorkflowDef, clientID string) error {
	for _, st := range def.Steps {
		if st.Kind != kindAgent {
			continue
		}
		a, err := tx.Agent(ctx, st.Agent)
		if storeFailed(err) {
			return err
		}
		if err != nil || a.ClientID != clientID {
			return errForbidden("workflow uses agent %s, which does not belong to this client", st.Agent)
		}
		if a.Revoked {
			return newErr(protocol.CodeAgentRevoked, http.StatusConflict, "workflow uses agent %s, which is revoked: re-register it or change the workflow", st.Agent)
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
	if errors.Is(err, store.ErrNotFound) || (err == nil && !s.mayReadRun(caller, run)) {
		return errNotFound("no such run")
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// mayReadRun: admins, the owning client and the approvers of the owning
// client (§5). Everyone else is answered as if the run did not exist.
func (s *Server) mayReadRun(c *token.Claims, run *store.Run) bool {
	return c.HasScope("ajwt:admin") || run.ClientID == c.ClientID ||
		(c.HasScope("ajwt:approve") && s.approvesFor(c.ClientID, run.ClientID))
}

// approvesFor reports whether client approver may approve runs of owner:
// only the clients its configuration lists in approves_for.
func (s *Server) approvesFor(approver, owner string) bool {
	c := s.clients[approver]
	return c != nil && slices.Contains(c.approvesFor, owner)
}

// handleCompleteStep: the agent presents its own DPoP-bound intent token
// for this very run and step (§5).
func (s *Server) handleCompleteStep(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	claims, scheme, chk, err := s.presentedToken(ctx, r)
	if err != nil {
		return err
	}
	runID, stepID := r.PathValue("run_id"), r.PathValue("step_id")
	i := noted(ctx)
	i.run, i.step, i.agent, i.client = safeRef(runID), safeRef(stepID), claims.Subject, claims.ClientID
	// presentedToken has checked the proof of the token's key (ath included).
	if !claims.IsIntent() || scheme != protocol.SchemeDPoP || claims.Intent.RunID != runID || claims.Intent.WorkflowStep != stepID {
		return chk.refuse(ctx, newErr(protocol.CodeIntentMismatch, http.StatusForbidden, "only the step's own DPoP-bound intent token completes it"))
	}
	var body struct {
		ResultSHA256 string `json:"result_sha256"`
	}
	if r.ContentLength != 0 {
		if err := decodeJSON(w, r, protocol.MaxRequestBody, &body); err != nil {
			return chk.refuse(ctx, err)
		}
	}
	result, err := resultDigest(body.ResultSHA256)
	if err != nil {
		return chk.refuse(ctx, err)
	}
	run, err := s.transition(ctx, stepChange{runID: runID, stepID: stepID, by: claims.Subject, event: "complete_step", clientID: claims.ClientID, result: result, token: &chk,
		check: func(run *store.Run, def *StepDef, st *store.Step) error {
			if st.State != store.StepInProgress || st.Holder != claims.Subject {
				return errStep("step_not_held", nil, "step %q is %s and not held by %s", stepID, st.State, claims.Subject)
			}
			return nil
		}})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// Stable reasons of approval refusals (403 access_denied, §5).
const (
	reasonNotApprover  = "not_approver_for_client"
	reasonSelfApproval = "self_approval"
)

func (s *Server) handleApproveStep(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	caller, chk, err := s.apiCallerChecking(ctx, r, "ajwt:approve")
	if err != nil {
		return err
	}
	var body struct {
		Approver string `json:"approver"`
		Comment  string `json:"comment"`
	}
	if err := decodeJSON(w, r, protocol.MaxRequestBody, &body); err != nil {
		return chk.refuse(ctx, err)
	}
	if humanID(body.Approver) == "" || len(body.Approver) > 256 || len(body.Comment) > 4096 {
		return chk.refuse(ctx, errBadRequest("approver is required (≤ 256 bytes); comment ≤ 4096 bytes"))
	}
	runID, stepID := r.PathValue("run_id"), r.PathValue("step_id")
	i := noted(ctx)
	i.run, i.step, i.client = safeRef(runID), safeRef(stepID), caller.ClientID
	run, err := s.transition(ctx, stepChange{runID: runID, stepID: stepID, by: "approver:" + body.Approver, via: caller.ClientID,
		event: "approve_step", clientID: caller.ClientID, comment: body.Comment, token: &chk,
		mayAct: func(run *store.Run) error { return s.mayApprove(caller.ClientID, body.Approver, run) },
		check:  approvalReady(stepID)})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// mayApprove enforces the tenant binding and separation of duties of §5:
// the approver client must approve for the run's owner, and the human
// approving must not be the one who started the run.
func (s *Server) mayApprove(approverClient, approver string, run *store.Run) error {
	if !s.approvesFor(approverClient, run.ClientID) {
		e := errForbidden("client %s does not approve runs of this run's client (approves_for)", approverClient)
		e.Reason = reasonNotApprover
		return e
	}
	if strings.EqualFold(humanID(approver), humanID(run.InitiatedBy)) {
		e := errForbidden("the approver started this run; someone else must approve it")
		e.Reason = reasonSelfApproval
		return e
	}
	return nil
}

// humanID is a person's identity as initiated_by and approver write it:
// without a leading "user:" (a console operator approves as its bare
// username) and surrounding space.
func humanID(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= len("user:") && strings.EqualFold(s[:len("user:")], "user:") {
		s = s[len("user:"):]
	}
	return strings.TrimSpace(s)
}

// stepChange is one completion of a step: who completes it (completed_by
// and, for approvals, approved_via), the audit record, and the checks.
type stepChange struct {
	runID, stepID string
	by, via       string
	event         string
	clientID      string
	comment       string // an approver's comment, for the audit log
	result        string // the agent's result_sha256, "sha256:<hex>" or ""
	// mayAct, if set, decides whether the caller may act on this run at
	// all; it runs before anything about the run's state is revealed.
	mayAct func(*store.Run) error
	check  func(*store.Run, *StepDef, *store.Step) error
	// token, if set, is the caller's token, whose revocation check runs
	// first in the transaction.
	token *tokenCheck
}

// changeDetail is the audit detail of a step change: who did it and, for
// an approval, what the approver wrote (quoted, so that it cannot pass
// for another field).
func changeDetail(c stepChange) string {
	d := "by=" + c.by
	if c.result != "" {
		d += " result=" + quoteUnlessDigest(c.result)
	}
	if c.comment != "" {
		d += " comment=" + strconv.Quote(c.comment)
	}
	return d
}

// quoteUnlessDigest quotes a recorded result that is not a sha256:<hex>
// digest, so that it cannot pass for another field of the audit detail.
func quoteUnlessDigest(r string) string {
	if strings.HasPrefix(r, "sha256:") && len(r) == len("sha256:")+64 && !strings.ContainsAny(r, " \"=") {
		return r
	}
	return strconv.Quote(r)
}

// resultDigest is the result_sha256 a step records: 64 hex digits, with or
// without the "sha256:" prefix the checksums carry, become "sha256:<hex>";
// §5 fixes no form, so any other printable value of at most 256 bytes is
// kept as sent (the audit detail quotes it); "" for none.
func resultDigest(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	hexPart := strings.TrimPrefix(strings.ToLower(s), "sha256:")
	if _, err := hex.DecodeString(hexPart); err == nil && len(hexPart) == 64 {
		return "sha256:" + hexPart, nil
	}
	if len(s) > 256 || strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return "", errBadRequest("result_sha256: want at most 256 printable bytes (64 hex digits, optionally sha256:-prefixed)")
	}
	return s, nil
}

// transition completes a step after the checks pass, in one transaction
// with the run locked, so concurrent requests cannot complete it twice.
func (s *Server) transition(ctx context.Context, c stepChange) (*store.Run, error) {
	var run *store.Run
	tokenRefused := false
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if c.token != nil {
			if err := c.token.inTx(ctx, tx); err != nil {
				tokenRefused = true
				return err
			}
		}
		tokenRefused = false
		var err error
		run, err = tx.RunForUpdate(ctx, c.runID)
		if errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such run")
		}
		if err != nil {
			return err
		}
		if err := s.checkChange(ctx, tx, run, c); err != nil {
			return err
		}
		if err := tx.SaveRun(ctx, run); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: c.event, ClientID: c.clientID, AgentID: agentOf(c.by), RunID: c.runID, Step: c.stepID, Outcome: "ok", Detail: changeDetail(c)})
	})
	if !tokenRefused { // a refused token is no attempt at the change (accessToken's refusals are not audited either)
		s.auditRefusedChange(ctx, c, err)
	}
	return run, err
}

// auditRefusedChange records a completion or approval the caller was
// refused (a self-approval, another tenant's approver, a step out of
// order) in its own transaction: the refused one rolled back, and these
// attempts are what an auditor looks for.
func (s *Server) auditRefusedChange(ctx context.Context, c stepChange, err error) {
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Status < 400 || perr.Status >= 500 {
		return
	}
	_, wire := protocol.Wire(err)
	detail := "by=" + c.by
	if wire.Reason != "" {
		detail += " reason=" + wire.Reason
	}
	s.audit(ctx, &store.AuditEntry{Event: c.event, ClientID: c.clientID, AgentID: agentOf(c.by),
		RunID: safeRef(c.runID), Step: safeRef(c.stepID), Outcome: "refused:" + wire.Error, Detail: detail})
}

// checkStep runs c's checks on run, which must be active and have the
// step: who may act first, then the step's state.
func (s *Server) checkStep(ctx context.Context, tx store.Tx, run *store.Run, c stepChange) (*WorkflowDef, *store.Step, error) {
	if c.mayAct != nil {
		if err := c.mayAct(run); err != nil {
			return nil, nil, err
		}
	}
	if run.Status != store.RunActive {
		return nil, nil, errStep("run_"+run.Status, nil, "run is %s", run.Status)
	}
	wf, err := s.workflowDef(ctx, tx, run.WorkflowID, run.WorkflowVersion)
	if err != nil {
		return nil, nil, err
	}
	def, st := wf.step(c.stepID), runStep(run, c.stepID)
	if def == nil || st == nil {
		return nil, nil, errNotFound("run has no step %q", c.stepID)
	}
	return wf, st, c.check(run, def, st)
}

// checkChange runs the checks and, when they pass, completes the step in
// run (not yet saved).
func (s *Server) checkChange(ctx context.Context, tx store.Tx, run *store.Run, c stepChange) error {
	wf, st, err := s.checkStep(ctx, tx, run, c)
	if err != nil {
		return err
	}
	completeStep(run, wf, st, c.by, s.now())
	st.ApprovedVia, st.Result = c.via, c.result
	return nil
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
	i := noted(ctx)
	i.run, i.client = safeRef(r.PathValue("run_id")), caller.ClientID
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
		revoked, err = s.revokeRun(ctx, tx, run, "by="+caller.ClientID)
		return err
	})
	if err != nil {
		return err
	}
	s.feed.notify(revoked)
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// revokeRun stops run and revokes its tokens; detail says who and why, for
// the audit log.
func (s *Server) revokeRun(ctx context.Context, tx store.Tx, run *store.Run, detail string) ([]*store.Revocation, error) {
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
	err = tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "revoke_run", ClientID: run.ClientID, RunID: run.RunID, Outcome: "ok", Detail: detail})
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
