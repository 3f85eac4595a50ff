package authserver

import (
	"net/http"

	"pgregory.net/rapid"
)

// Check runs after every action: the runs the action touched against the
// model (state, DAG order, single completion), and every token the model
// now holds dead against introspection and the revocation feed.
func (sm *smMachine) Check(t *rapid.T) {
	if sm.feedDirty { // something was revoked: see whether the server freed the steps it broke
		sm.markBroken()
	}
	for _, r := range sm.m.runs {
		if sm.dirty[r] {
			sm.checkRun(t, r)
		}
	}
	clear(sm.dirty)
	if sm.feedDirty {
		sm.s.pollFeed(t)
		sm.feedDirty = false
	}
	for _, tok := range sm.m.tokens {
		if !tok.confirmedDead && sm.m.dead(tok) {
			sm.checkDead(t, tok)
			tok.confirmedDead = true
		}
	}
}

// markBroken marks the runs with a step whose holding broke for a look:
// the server may have freed it (ready again), which compareRun accepts.
func (sm *smMachine) markBroken() {
	for _, r := range sm.m.runs {
		for _, st := range r.steps {
			if sm.m.brokenHolding(st) {
				sm.dirty[r] = true
			}
		}
	}
}

// final checks, at the end of a sequence, every run and, once more, every
// dead token: nothing revoked comes back.
func (sm *smMachine) final(t *rapid.T) {
	for _, r := range sm.m.runs {
		sm.dirty[r] = true
	}
	sm.feedDirty = true
	sm.Check(t)
	for _, tok := range sm.m.tokens {
		if tok.confirmedDead {
			sm.checkDead(t, tok)
		}
	}
}

func (sm *smMachine) checkDead(t *rapid.T, tok *smToken) {
	t.Helper()
	why := sm.m.deathReason(tok)
	sm.s.count("dead token checked at the IdP and in the feed")
	if sm.s.introspect(t, tok.agent.owner, tok.raw) {
		sm.fatalf(t, "INVARIANT %q: %s is active although %s", invIdP, tok, why)
	}
	if !sm.s.feed.refuses(tok.claims) {
		t.Logf("   %s: jti %s, iat %d, version %d", tok, tok.jti, tok.claims.IssuedAt, tok.version)
		sm.fatalf(t, "INVARIANT %q: the feed does not revoke %s (version %d) although %s", invEnforcer, tok, tok.version, why)
	}
}

func (sm *smMachine) checkRun(t *rapid.T, r *smRun) {
	t.Helper()
	res := sm.s.call(t, http.MethodGet, "/v1/runs/"+r.id, sm.s.bearer(t, r.owner), nil)
	if res.status != http.StatusOK {
		sm.fatalf(t, "INVARIANT %q: %s cannot read its own %s: %s", invTenant, r.owner, runName(r), res)
	}
	sm.compareRun(t, r, res.body)
}

type smStepView struct {
	id, state, by, via string
	at                 int64
}

func stepViews(body map[string]any) []smStepView {
	raw, _ := body["steps"].([]any)
	out := make([]smStepView, 0, len(raw))
	for _, x := range raw {
		s, _ := x.(map[string]any)
		v := smStepView{}
		v.id, _ = s["id"].(string)
		v.state, _ = s["state"].(string)
		v.by, _ = s["completed_by"].(string)
		v.via, _ = s["approved_via"].(string)
		at, _ := s["completed_at"].(float64)
		v.at = int64(at)
		out = append(out, v)
	}
	return out
}

// compareRun checks a run view (§5) on its own (DAG order, completions
// never rewritten) and against the model.
func (sm *smMachine) compareRun(t *rapid.T, r *smRun, body map[string]any) {
	t.Helper()
	views := stepViews(body)
	byID := map[string]smStepView{}
	for _, v := range views {
		byID[v.id] = v
	}
	for _, v := range views {
		sm.checkStepView(t, r, v, byID)
	}
	if len(views) != len(r.wf.steps) {
		sm.fatalf(t, "INVARIANT %q: %s has %d steps, want %d", invState, runName(r), len(views), len(r.wf.steps))
	}
	if r.status() == "completed" && !r.done {
		r.done = true
		sm.s.count("run completed")
	}
	if st, _ := body["status"].(string); st != r.status() {
		sm.fatalf(t, "INVARIANT %q: %s is %q, the model says %q", invState, runName(r), st, r.status())
	}
}

func (sm *smMachine) checkStepView(t *rapid.T, r *smRun, v smStepView, byID map[string]smStepView) {
	t.Helper()
	def := r.wf.step(v.id)
	if def == nil {
		sm.fatalf(t, "INVARIANT %q: %s has unknown step %q", invState, runName(r), v.id)
	}
	if v.state == "completed" {
		for _, d := range def.deps {
			if dv := byID[d]; dv.state != "completed" || dv.at > v.at {
				t.Logf("   %s/%s completed at %d, %s at %d", runName(r), v.id, v.at, d, dv.at)
				sm.fatalf(t, "INVARIANT %q: %s/%s is completed, its dependency %s is %s (completed later: %v)", invDAG, runName(r), v.id, d, dv.state, dv.at > v.at)
			}
		}
		key := r.id + "/" + v.id
		if at, seen := sm.seenAt[key]; seen && at != v.at {
			t.Logf("   %s/%s completed at %d, then at %d", runName(r), v.id, at, v.at)
			sm.fatalf(t, "INVARIANT %q: %s/%s completed again (completed_at changed)", invOnce, runName(r), v.id)
		}
		sm.seenAt[key] = v.at
	}
	ms := r.steps[v.id]
	if v.state == "ready" && r.stepState(v.id) == "in_progress" && sm.m.brokenHolding(ms) {
		t.Logf("   the server freed %s/%s, whose holding broke", runName(r), v.id)
		sm.s.count("step freed after its holding broke")
		sm.m.release(r, v.id)
	}
	switch {
	case ms.completions > 1:
		sm.fatalf(t, "INVARIANT %q: %s/%s completed %d times", invOnce, runName(r), v.id, ms.completions)
	case v.state != r.stepState(v.id):
		sm.fatalf(t, "INVARIANT %q: %s/%s is %q, the model says %q", invState, runName(r), v.id, v.state, r.stepState(v.id))
	case v.state == "completed" && v.by != ms.completedBy:
		sm.fatalf(t, "INVARIANT %q: %s/%s completed by %q, the model says %q", invOnce, runName(r), v.id, v.by, ms.completedBy)
	case v.via != "" && v.via != ms.approvedVia:
		sm.fatalf(t, "INVARIANT %q: %s/%s approved via %q, the model says %q", invState, runName(r), v.id, v.via, ms.approvedVia)
	}
}
