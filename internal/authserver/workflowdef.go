package authserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// WorkflowDef is the §4.2 body. MaxDelegationDepth is a pointer because
// absent (the server's limit) and 0 (no delegation) differ (§6.3).
type WorkflowDef struct {
	Steps              []StepDef `json:"steps" yaml:"steps"`
	MaxDelegationDepth *int      `json:"max_delegation_depth,omitempty" yaml:"max_delegation_depth"`
}

// StepDef is one step of a workflow.
type StepDef struct {
	ID          string   `json:"id" yaml:"id"`
	Kind        string   `json:"kind,omitempty" yaml:"kind"`
	Agent       string   `json:"agent,omitempty" yaml:"agent"`
	Scopes      []string `json:"scopes,omitempty" yaml:"scopes"`
	Audience    string   `json:"audience,omitempty" yaml:"audience"`
	DependsOn   []string `json:"depends_on,omitempty" yaml:"depends_on"`
	DelegatedBy []string `json:"delegated_by,omitempty" yaml:"delegated_by"`
	Action      string   `json:"action,omitempty" yaml:"action"`
}

const (
	kindAgent    = "agent"
	kindApproval = "approval"
	maxSteps     = 64
)

func (w *WorkflowDef) step(id string) *StepDef {
	for i := range w.Steps {
		if w.Steps[i].ID == id {
			return &w.Steps[i]
		}
	}
	return nil
}

// maxDepth is the workflow's hop limit, never above the server's (itself
// at most the §10 limit). Definitions stored before 0 meant "none" never
// hold a 0: it was dropped as empty, so they keep meaning the default.
func (w *WorkflowDef) maxDepth(serverMax int) int {
	if w.MaxDelegationDepth != nil {
		return min(*w.MaxDelegationDepth, serverMax)
	}
	return serverMax
}

func errWorkflow(format string, args ...any) error {
	return newErr(protocol.CodeInvalidWorkflow, http.StatusBadRequest, format, args...)
}

// validate checks the structure (§4.2): ids, kinds, dependencies, cycles.
// Agent-dependent checks need the registry: see checkAgents.
func (w *WorkflowDef) validate() error {
	if len(w.Steps) == 0 || len(w.Steps) > maxSteps {
		return errWorkflow("want 1 to %d steps", maxSteps)
	}
	if d := w.MaxDelegationDepth; d != nil && (*d < 0 || *d > protocol.MaxDelegationDepth) {
		return errWorkflow("max_delegation_depth must be 0 to %d", protocol.MaxDelegationDepth)
	}
	ids := map[string]bool{}
	for i := range w.Steps {
		st := &w.Steps[i]
		if err := st.normalize(i); err != nil {
			return err
		}
		if ids[st.ID] {
			return errWorkflow("duplicate step id %q", st.ID)
		}
		ids[st.ID] = true
	}
	for _, st := range w.Steps {
		for _, d := range st.DependsOn {
			if !ids[d] {
				return errWorkflow("step %q depends on unknown step %q", st.ID, d)
			}
		}
		// Such a step could never be obtained: it needs a delegation.
		if len(st.DelegatedBy) > 0 && w.maxDepth(protocol.MaxDelegationDepth) == 0 {
			return errWorkflow("step %q has delegated_by, but max_delegation_depth 0 allows no delegation", st.ID)
		}
	}
	return w.checkAcyclic()
}

func (st *StepDef) normalize(i int) error {
	if !validID(st.ID) {
		return errWorkflow("steps[%d].id %q: want %s", i, st.ID, idPattern)
	}
	if st.Kind == "" {
		st.Kind = kindAgent
	}
	switch st.Kind {
	case kindAgent:
		if !validID(st.Agent) {
			return errWorkflow("step %q: agent %q is not a valid agent id", st.ID, st.Agent)
		}
		if st.Audience != "" && !validResource(st.Audience) {
			return errWorkflow("step %q: audience %q is not an absolute URI", st.ID, st.Audience)
		}
		if len(st.Scopes) == 0 {
			// A token's scope is a subset of its step's: without any, every
			// grant for the step would fail, far from this cause.
			return errWorkflow("step %q: an agent step needs scopes", st.ID)
		}
	case kindApproval:
		if st.Agent != "" || len(st.Scopes) > 0 || len(st.DelegatedBy) > 0 {
			return errWorkflow("approval step %q takes no agent, scopes or delegated_by", st.ID)
		}
	default:
		return errWorkflow("step %q: kind must be agent or approval", st.ID)
	}
	for _, sc := range st.Scopes {
		if !validScopeToken(sc) {
			return errWorkflow("step %q: malformed scope", st.ID)
		}
	}
	return nil
}

// checkAcyclic runs Kahn's algorithm over depends_on.
func (w *WorkflowDef) checkAcyclic() error {
	indeg := map[string]int{}
	next := map[string][]string{}
	for _, st := range w.Steps {
		indeg[st.ID] += 0
		for _, d := range st.DependsOn {
			indeg[st.ID]++
			next[d] = append(next[d], st.ID)
		}
	}
	var queue []string
	for _, st := range w.Steps {
		if indeg[st.ID] == 0 {
			queue = append(queue, st.ID)
		}
	}
	seen := 0
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		seen++
		for _, n := range next[id] {
			if indeg[n]--; indeg[n] == 0 {
				queue = append(queue, n)
			}
		}
	}
	if seen != len(w.Steps) {
		return errWorkflow("depends_on forms a cycle")
	}
	return nil
}

// checkAgents checks agent steps against the registry: known agents, scopes
// within the ceiling, audience allowed, delegators known.
func (w *WorkflowDef) checkAgents(lookup func(id string) (*store.Agent, error)) error {
	for _, st := range w.Steps {
		if st.Kind != kindAgent {
			continue
		}
		a, err := lookup(st.Agent)
		if err != nil {
			return errWorkflow("step %q: unknown agent %q", st.ID, st.Agent)
		}
		for _, sc := range st.Scopes {
			if !slices.Contains(a.Scopes, sc) {
				return errWorkflow("step %q: scope %q outside agent %q's ceiling", st.ID, sc, st.Agent)
			}
		}
		if st.Audience != "" && len(a.Audiences) > 0 && !slices.Contains(a.Audiences, st.Audience) {
			return errWorkflow("step %q: audience not allowed for agent %q", st.ID, st.Agent)
		}
		for _, d := range st.DelegatedBy {
			if _, err := lookup(d); err != nil {
				return errWorkflow("step %q: unknown delegator %q", st.ID, d)
			}
		}
	}
	return nil
}

func parseWorkflowDef(raw json.RawMessage) (*WorkflowDef, error) {
	var w WorkflowDef
	if err := json.Unmarshal(raw, &w); err != nil {
		return nil, fmt.Errorf("authserver: stored workflow: %w", err)
	}
	return &w, nil
}

// newRunSteps gives every step its initial state.
func newRunSteps(w *WorkflowDef) []store.Step {
	steps := make([]store.Step, len(w.Steps))
	for i, st := range w.Steps {
		steps[i] = store.Step{ID: st.ID, State: store.StepPending}
		if len(st.DependsOn) == 0 {
			steps[i].State = store.StepReady
		}
	}
	return steps
}

func runStep(r *store.Run, id string) *store.Step {
	for i := range r.Steps {
		if r.Steps[i].ID == id {
			return &r.Steps[i]
		}
	}
	return nil
}

// missingSteps lists the dependencies of step that are not completed.
func missingSteps(r *store.Run, def *StepDef) []string {
	var out []string
	for _, d := range def.DependsOn {
		if st := runStep(r, d); st == nil || st.State != store.StepCompleted {
			out = append(out, d)
		}
	}
	return out
}

// completedSteps lists completed step ids in completion order.
func completedSteps(r *store.Run) []string {
	done := make([]*store.Step, 0, len(r.Steps))
	for i := range r.Steps {
		if r.Steps[i].State == store.StepCompleted {
			done = append(done, &r.Steps[i])
		}
	}
	slices.SortFunc(done, func(a, b *store.Step) int { return a.Seq - b.Seq })
	ids := make([]string, len(done))
	for i, st := range done {
		ids[i] = st.ID
	}
	return ids
}

// completeStep marks a step completed and makes steps whose dependencies
// are now all completed ready; the run completes with its last step.
func completeStep(r *store.Run, w *WorkflowDef, st *store.Step, by string, at time.Time) {
	st.Seq = len(completedSteps(r)) + 1
	st.State = store.StepCompleted
	st.CompletedBy = by
	st.CompletedAt = at
	st.Holder = ""
	all := true
	for i := range r.Steps {
		s := &r.Steps[i]
		if s.State == store.StepPending && len(missingSteps(r, w.step(s.ID))) == 0 {
			s.State = store.StepReady
		}
		all = all && s.State == store.StepCompleted
	}
	if all {
		r.Status = store.RunCompleted
	}
}
