package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/client"
)

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Outcome is what the legitimate workflow achieved.
type Outcome struct {
	RunID      string
	Ecosystems []string
	Upgrades   []Upgrade
	Pull       int
	Merged     bool
}

// Progress receives one line per step.
type Progress func(format string, args ...any)

// RunWorkflow runs classify → plan → assess → approve → patch → verify as
// the four agents. In ajwt mode every step runs under the IdP's run state
// with its own intent token; in legacy mode the same calls use the app's
// one token.
func (e *Env) RunWorkflow(ctx context.Context, say Progress) (*Outcome, error) {
	out, err := e.runSteps(ctx, "user:alice", say, e.stepClassify, e.stepPlan, e.stepApprove, e.stepPatch, e.stepVerify)
	if err != nil {
		return out, err
	}
	out.Merged = e.Forge.Merged(Repo)
	return out, nil
}

// StartWaitingRun starts a run for initiator (ajwt mode) and takes it up
// to its approval step, where it stays: what an approver finds in the
// console.
func (e *Env) StartWaitingRun(ctx context.Context, initiator string, say Progress) (string, error) {
	if e.Mode != AJWT {
		return "", fmt.Errorf("runs wait for approval only in %s mode", AJWT)
	}
	out, err := e.runSteps(ctx, initiator, say, e.stepClassify, e.stepPlan)
	if err != nil {
		return "", err
	}
	return out.RunID, nil
}

type stepFunc func(context.Context, *Outcome, Progress) error

func (e *Env) runSteps(ctx context.Context, initiator string, say Progress, steps ...stepFunc) (*Outcome, error) {
	out := &Outcome{}
	if e.Mode == AJWT {
		run, err := e.app.StartRun(ctx, "vuln-patch", initiator, map[string]string{"repo": Repo})
		if err != nil {
			return nil, fmt.Errorf("start run: %w", err)
		}
		out.RunID = run.ID
		say("run %s started for %s on %s", run.ID, initiator, Repo)
	}
	names := []string{"classify", "plan+assess", "approve", "patch", "verify"}
	for i, st := range steps {
		if err := st(ctx, out, say); err != nil {
			return out, fmt.Errorf("step %s: %w", names[i], err)
		}
	}
	return out, nil
}

// complete marks an agent's step done in ajwt mode.
func (e *Env) complete(ctx context.Context, agent, runID, step string) error {
	if e.Mode != AJWT {
		return nil
	}
	_, err := e.agents[agent].Complete(ctx, runID, step)
	return err
}

func (e *Env) render(agent string, values map[string]string) (string, error) {
	if e.Mode == AJWT {
		return e.agents[agent].Render(values)
	}
	return naiveRender(e.specs[agent].PromptTemplate, values), nil
}

func (e *Env) stepClassify(ctx context.Context, out *Outcome, say Progress) error {
	if _, err := e.render("classifier", map[string]string{"repo": Repo}); err != nil {
		return err
	}
	forge, _, err := e.as(ctx, "classifier", out.RunID, "classify")
	if err != nil {
		return err
	}
	if out.Ecosystems, err = classify(ctx, forge); err != nil {
		return err
	}
	say("classifier  classify  ecosystems %v", out.Ecosystems)
	return e.complete(ctx, "classifier", out.RunID, "classify")
}

func (e *Env) stepPlan(ctx context.Context, out *Outcome, say Progress) error {
	forge, _, err := e.as(ctx, "planner", out.RunID, "plan")
	if err != nil {
		return err
	}
	deps, err := readDeps(ctx, forge, "main")
	if err != nil {
		return err
	}
	say("planner     plan      %d dependencies read", len(deps))
	if err := e.complete(ctx, "planner", out.RunID, "plan"); err != nil {
		return err
	}
	_, osv, err := e.as(ctx, "planner", out.RunID, "assess")
	if err != nil {
		return err
	}
	if out.Upgrades, err = assess(ctx, osv, deps); err != nil {
		return err
	}
	for _, u := range out.Upgrades {
		say("planner     assess    %s %s %s → %s (%s)", u.Ecosystem, u.Name, u.Version, u.Fixed, u.Advisory)
	}
	if e.Mode != AJWT {
		return nil
	}
	plan, err := json.Marshal(out.Upgrades)
	if err != nil {
		return err
	}
	_, err = e.agents["planner"].CompleteWithResult(ctx, out.RunID, "assess", plan)
	return err
}

func (e *Env) stepApprove(ctx context.Context, out *Outcome, say Progress) error {
	if e.Mode == AJWT {
		if err := e.approver.Approve(ctx, out.RunID, "approve", "user:bob", "plan reviewed"); err != nil {
			return err
		}
	}
	say("APPROVER    approve   user:bob (a separate approver identity) approved the plan")
	return nil
}

func (e *Env) stepPatch(ctx context.Context, out *Outcome, say Progress) error {
	delegate := func() (string, error) { return e.agents["supervisor"].Delegate("patcher", out.RunID, "patch") }
	forge, _, err := e.as(ctx, "patcher", out.RunID, "patch", client.WithDelegation(delegate))
	if err != nil {
		return err
	}
	if out.Pull, err = patch(ctx, forge, out.Upgrades); err != nil {
		return err
	}
	say("patcher     patch     pull request #%d opened and merged (delegated by supervisor)", out.Pull)
	return e.complete(ctx, "patcher", out.RunID, "patch")
}

func (e *Env) stepVerify(ctx context.Context, out *Outcome, say Progress) error {
	forge, _, err := e.as(ctx, "classifier", out.RunID, "verify")
	if err != nil {
		return err
	}
	if err := verify(ctx, forge, out.Upgrades); err != nil {
		return err
	}
	say("classifier  verify    every upgrade is on main")
	return e.complete(ctx, "classifier", out.RunID, "verify")
}

// naiveRender is what an app without ajwt does: plain text substitution.
func naiveRender(tmpl string, values map[string]string) string {
	for k, v := range values {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", v)
	}
	return tmpl
}
