package authserver

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"pgregory.net/rapid"

	"github.com/ajwt/ajwt/token"
)

// smMachine is one sequence: the actions rapid draws (its exported
// methods), and the invariants checked after each of them (Check).
type smMachine struct {
	s         *smServer
	m         *model
	n         int              // actions so far, for the log
	dirty     map[*smRun]bool  // runs to compare with the server
	feedDirty bool             // something was revoked: read the feed
	seenAt    map[string]int64 // completed_at first seen, by run/step
}

// Invariant names, as failures report them.
const (
	invOnce      = "no step completed twice"
	invDAG       = "no step completed out of DAG order"
	invSafety    = "a request succeeds only if the model allows it"
	invLiveness  = "a request the protocol allows succeeds"
	invIdP       = "no token active at the IdP after a revocation it depends on"
	invEnforcer  = "no token accepted by enforcers after a revocation it depends on"
	invTenant    = "no cross-tenant effect"
	invState     = "run state as the model says"
	invIssued    = "issued tokens carry the model's claims"
	invSelf      = "self-approval refused as 403 access_denied self_approval"
	invErrorForm = "refusals are protocol errors, never 5xx"
)

func (sm *smMachine) begin() {
	sm.n++
	sm.s.h.clock.Advance(time.Second) // distinct iat per action: "latest token" is well defined
}

func (sm *smMachine) drawRun(t *rapid.T) *smRun {
	if len(sm.m.runs) == 0 {
		t.Skip("no run yet")
	}
	return sm.m.runs[rapid.IntRange(0, len(sm.m.runs)-1).Draw(t, "run")]
}

// drawStep draws a run and a step: mostly one that match accepts and that
// is open to work (ready or in progress, in an active run), so that
// sequences get far into their runs; else any step of any run.
func (sm *smMachine) drawStep(t *rapid.T, match func(*smStepDef) bool) (*smRun, *smStepDef) {
	type ref struct {
		run *smRun
		def *smStepDef
	}
	var open []ref
	for _, r := range sm.m.runs {
		for i := range r.wf.steps {
			def := &r.wf.steps[i]
			if st := r.stepState(def.id); match(def) && r.status() == "active" && (st == "ready" || st == "in_progress") {
				open = append(open, ref{r, def})
			}
		}
	}
	if len(open) > 0 && rapid.IntRange(0, 3).Draw(t, "step: 0 = any") > 0 {
		c := open[rapid.IntRange(0, len(open)-1).Draw(t, "open step")]
		return c.run, c.def
	}
	r := sm.drawRun(t)
	return r, &r.wf.steps[rapid.IntRange(0, len(r.wf.steps)-1).Draw(t, "step")]
}

func (sm *smMachine) drawAgent(t *rapid.T, label string) *smAgent {
	return sm.m.agentList[rapid.IntRange(0, len(sm.m.agentList)-1).Draw(t, label)]
}

func otherTenant(c string) string {
	if c == tenantA {
		return tenantB
	}
	return tenantA
}

// fatalf fails the sequence. rapid shrinks a failure only while its
// message stays the same, so the message names agents and steps as the
// fixture does, without the ids of this replay nor the numbers of runs
// and tokens (which shrinking changes); the log line before it has them.
func (sm *smMachine) fatalf(t *rapid.T, format string, args ...any) {
	t.Helper()
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), sm.m.prefix, "")
	for _, r := range sm.m.runs {
		msg = strings.ReplaceAll(msg, r.id, runName(r))
	}
	t.Logf("FAILED: %s", msg)
	t.Fatalf("%s", replayNumbers.ReplaceAllString(msg, "$1"))
}

// replayNumbers are the run and token numbers of a sequence: R3, T12.
var replayNumbers = regexp.MustCompile(`\b([RT])\d+\b`)

// judge checks an answer against the model's verdict; inv names what a
// wrong success would break.
func (sm *smMachine) judge(t *rapid.T, what string, v verdict, res *smResp, inv string) bool {
	t.Helper()
	ok := res.status/100 == 2
	t.Logf("#%d %s → %s  [model: %s: %s]", sm.n, what, res.full(), v.out, v.why)
	switch {
	case res.status >= 500 || res.status == http.StatusTooManyRequests:
		sm.fatalf(t, "INVARIANT %q: %s answered %s", invErrorForm, what, res)
	case !ok && res.str("error") == "":
		sm.fatalf(t, "INVARIANT %q: %s refused without a protocol error body: %s", invErrorForm, what, res)
	case ok && v.out == mustFail:
		sm.fatalf(t, "INVARIANT %q: %s succeeded, but the model refuses it (%s)", inv, what, v.why)
	case !ok && v.out == mustSucceed:
		sm.fatalf(t, "INVARIANT %q: %s was refused (%s), but the model allows it (%s)", invLiveness, what, res, v.why)
	}
	kind, _, _ := strings.Cut(what, " ")
	if strings.Contains(what, "delegated-by") {
		kind = "delegated grant"
	}
	sm.s.count(fmt.Sprintf("%s %s (model: %s)", kind, map[bool]string{true: "succeeded", false: "refused"}[ok], v.out))
	if strings.HasPrefix(v.why, "renewal of a delegated step after") {
		sm.s.count("renewal refused: its delegation broke")
	}
	return ok
}

// stepInvariant names the invariant a wrong completion of step would break.
func stepInvariant(r *smRun, step string) string {
	switch r.stepState(step) {
	case "completed":
		return invOnce
	case "pending":
		return invDAG
	}
	return invSafety
}

// StartRun: a tenant starts a run of its own or the other tenant's
// workflow. Sequences keep at most three runs active, so that actions
// reach far into them.
func (sm *smMachine) StartRun(t *rapid.T) {
	active := 0
	for _, r := range sm.m.runs {
		if r.status() == "active" {
			active++
		}
	}
	if active >= 3 {
		t.Skip("enough runs")
	}
	sm.begin()
	w := sm.m.workflows[rapid.IntRange(0, len(sm.m.workflows)-1).Draw(t, "workflow")]
	client := w.owner
	if rapid.IntRange(0, 5).Draw(t, "client: 0 = the other tenant") == 0 {
		client = otherTenant(w.owner)
	}
	who := rapid.SampledFrom([]string{"user:alice", "alice", "user:bob"}).Draw(t, "initiated_by")
	v := verdict{out: mustSucceed, why: "own workflow"}
	if w.owner != client {
		v = refuse("workflow of %s", w.owner)
	} else if sm.anyRevoked(w) {
		v = verdict{out: mayEither, why: "own workflow with a revoked agent"}
	}
	res := sm.s.call(t, http.MethodPost, "/v1/runs", sm.s.bearer(t, client),
		map[string]any{"workflow_id": w.id, "initiated_by": who, "execution_context": map[string]string{"repo": "acme/web"}})
	what := fmt.Sprintf("start run R%d client=%s workflow=%s initiated_by=%s", len(sm.m.runs), client, w.name, who)
	if !sm.judge(t, what, v, res, invTenant) {
		return
	}
	r := &smRun{id: res.str("run_id"), idx: len(sm.m.runs), owner: client, wf: w, initiatedBy: who, steps: map[string]*smStep{}}
	for _, st := range w.steps {
		r.steps[st.id] = &smStep{}
	}
	sm.m.runs = append(sm.m.runs, r)
	sm.compareRun(t, r, res.body)
}

func (sm *smMachine) anyRevoked(w *smWorkflow) bool {
	for _, st := range w.steps {
		if a := sm.m.agents[st.agent]; a != nil && a.revoked {
			return true
		}
	}
	return false
}

// Advance does the next thing an honest workflow would do on an open
// step: grant it to its agent (delegated as configured), complete it with
// the holder's newest token (or renew the holder's token), or approve it
// as a human other than the initiator.
func (sm *smMachine) Advance(t *rapid.T) {
	var open []*grantReq
	for _, r := range sm.m.runs {
		for _, def := range r.wf.steps {
			if st := r.stepState(def.id); r.status() == "active" && (st == "ready" || st == "in_progress") {
				open = append(open, &grantReq{run: r, step: def.id})
			}
		}
	}
	if len(open) == 0 {
		t.Skip("no open step")
	}
	sm.begin()
	g := open[rapid.IntRange(0, len(open)-1).Draw(t, "open step")]
	def, st := g.run.wf.step(g.step), g.run.steps[g.step]
	switch {
	case def.kind == kindApproval:
		sm.approve(t, &approveReq{client: approverAB, approver: "user:carol", run: g.run, step: g.step})
	case st.started:
		g.agent = sm.m.agents[st.holder]
		if tok := sm.holderToken(g.run, g.step); tok != nil {
			sm.complete(t, tok, g.run, g.step)
			return
		}
		g.client = g.agent.owner
		sm.grant(t, g)
	default:
		g.agent = sm.m.agents[def.agent]
		g.client = g.agent.owner
		if len(def.delegatedBy) > 0 {
			g.delegator = sm.m.agents[def.delegatedBy[rapid.IntRange(0, len(def.delegatedBy)-1).Draw(t, "delegator")]]
		}
		sm.grant(t, g)
	}
}

// holderToken is the newest live token of the step's holder, if any.
func (sm *smMachine) holderToken(r *smRun, step string) *smToken {
	var best *smToken
	for _, tok := range sm.m.tokens {
		if tok.run == r && tok.step == step && tok.agent.id == r.steps[step].holder && !sm.m.dead(tok) {
			best = tok
		}
	}
	return best
}

// Grant: an agent asks for a token for a step, usually its own, sometimes
// through the wrong client or with its previous checksum or key.
func (sm *smMachine) Grant(t *rapid.T) {
	sm.begin()
	r, def := sm.drawStep(t, func(d *smStepDef) bool { return d.kind == kindAgent })
	a := sm.m.agents[def.agent]
	if a == nil || rapid.IntRange(0, 3).Draw(t, "agent: 0 = any") == 0 {
		a = sm.drawAgent(t, "agent")
	}
	g := &grantReq{client: a.owner, agent: a, run: r, step: def.id}
	if rapid.IntRange(0, 9).Draw(t, "client: 0 = the other tenant") == 0 {
		g.client = otherTenant(a.owner)
	}
	if a.stale != nil {
		switch rapid.IntRange(0, 9).Draw(t, "stale: 0 = checksum, 1 = key") {
		case 0:
			g.staleSum = true
		case 1:
			g.staleKey = true
		}
	}
	sm.grant(t, g)
}

// Delegate: a grant with a delegation assertion (§6.3): by a listed
// delegator, by the step's own agent, or by anyone to anyone.
func (sm *smMachine) Delegate(t *rapid.T) {
	sm.begin()
	r, def := sm.drawStep(t, func(d *smStepDef) bool { return d.kind == kindAgent })
	a, d := sm.m.agents[def.agent], (*smAgent)(nil)
	switch rapid.IntRange(0, 2).Draw(t, "delegation: 0 = as configured, 1 = to the step's agent, 2 = any") {
	case 0:
		if len(def.delegatedBy) > 0 {
			d = sm.m.agents[def.delegatedBy[rapid.IntRange(0, len(def.delegatedBy)-1).Draw(t, "delegator")]]
		} else if d = a; d != nil && len(d.mayDelegateTo) > 0 {
			a = sm.m.agents[d.mayDelegateTo[rapid.IntRange(0, len(d.mayDelegateTo)-1).Draw(t, "delegate")]]
		}
	case 1:
		d = sm.drawAgent(t, "delegator")
	default:
		a, d = sm.drawAgent(t, "delegate"), sm.drawAgent(t, "delegator")
	}
	if a == nil {
		a = sm.drawAgent(t, "delegate of an approval step")
	}
	if d == nil || a == d {
		t.Skip("no delegation to try")
	}
	g := &grantReq{client: a.owner, agent: a, run: r, step: def.id, delegator: d}
	if d.stale != nil && rapid.IntRange(0, 9).Draw(t, "assertion: 0 = delegator's previous key") == 0 {
		g.staleDel = true
	}
	sm.grant(t, g)
}

func (sm *smMachine) grant(t *rapid.T, g *grantReq) {
	v := sm.m.grantVerdict(g)
	res := sm.s.send(t, sm.s.grantRequest(t, g))
	sm.dirty[g.run] = true
	inv := invSafety
	if g.client != g.agent.owner || g.run.owner != g.client || (g.delegator != nil && g.delegator.owner != g.client) {
		inv = invTenant
	}
	if !sm.judge(t, g.String(), v, res, inv) {
		return
	}
	raw := res.str("access_token")
	c := sm.s.claims(t, raw)
	sm.checkIssued(t, g, v, c)
	tok := sm.m.applyGrant(g, v, raw, g.agent.cred.key, c)
	t.Logf("   issued %s", tok)
}

// checkIssued compares the token's claims with the request and the model.
func (sm *smMachine) checkIssued(t *rapid.T, g *grantReq, v verdict, cl *token.Claims) {
	t.Helper()
	chain := cl.Intent.DelegationChain
	switch {
	case cl.Subject != g.agent.id || cl.ClientID != g.agent.owner || cl.Intent.RunID != g.run.id || cl.Intent.WorkflowStep != g.step:
		sm.fatalf(t, "INVARIANT %q: token for %s/%s of %s %s/%s", invIssued, cl.Subject, cl.ClientID, cl.Intent.RunID, cl.Intent.WorkflowStep, g)
	case cl.AgentProof.Version != g.agent.version || cl.Cnf.JKT != g.agent.cred.key.Thumbprint():
		sm.fatalf(t, "INVARIANT %q: token of version %d, bound to the current key: %v; the agent is at version %d",
			invIssued, cl.AgentProof.Version, cl.Cnf.JKT == g.agent.cred.key.Thumbprint(), g.agent.version)
	case len(chain) == 0 || chain[len(chain)-1] != g.agent.id:
		sm.fatalf(t, "INVARIANT %q: chain %v does not end with %s", invIssued, chain, g.agent.id)
	case v.out == mustSucceed && !slices.Equal(chain, v.chain):
		sm.fatalf(t, "INVARIANT %q: chain %v, the model says %v", invIssued, chain, v.chain)
	}
}

// Complete: an agent completes a step with one of its tokens, usually the
// step the token is for.
func (sm *smMachine) Complete(t *rapid.T) {
	sm.begin()
	if len(sm.m.tokens) == 0 {
		t.Skip("no token yet")
	}
	var holders []*smToken
	for _, tok := range sm.m.tokens {
		if !sm.m.dead(tok) && tok.run.stepState(tok.step) == "in_progress" && tok.run.steps[tok.step].holder == tok.agent.id {
			holders = append(holders, tok)
		}
	}
	var tok *smToken
	if len(holders) > 0 && rapid.IntRange(0, 3).Draw(t, "token: 0 = any") > 0 {
		tok = holders[rapid.IntRange(0, len(holders)-1).Draw(t, "holder's token")]
	} else {
		tok = sm.m.tokens[rapid.IntRange(0, len(sm.m.tokens)-1).Draw(t, "token")]
	}
	r, step := tok.run, tok.step
	if rapid.IntRange(0, 7).Draw(t, "target: 0 = another step") == 0 {
		r = sm.drawRun(t)
		step = r.wf.steps[rapid.IntRange(0, len(r.wf.steps)-1).Draw(t, "target step")].id
	}
	sm.complete(t, tok, r, step)
}

func (sm *smMachine) complete(t *rapid.T, tok *smToken, r *smRun, step string) {
	v := sm.m.completeVerdict(tok, r, step)
	res := sm.s.send(t, sm.s.completeRequest(t, tok, r.id, step))
	sm.dirty[r] = true
	inv := stepInvariant(r, step)
	if r.owner != tok.agent.owner {
		inv = invTenant
	}
	if sm.judge(t, fmt.Sprintf("complete %s/%s with %s", runName(r), step, tok), v, res, inv) {
		sm.m.applyComplete(r, step, tok.agent.id, "")
		sm.compareRun(t, r, res.body)
	}
}

// Approve: an approver client (bound to one tenant, both or none), or a
// tenant, approves a step as some human.
func (sm *smMachine) Approve(t *rapid.T) {
	sm.begin()
	r, def := sm.drawStep(t, func(d *smStepDef) bool { return d.kind == kindApproval })
	step := def.id
	client := rapid.SampledFrom([]string{approverA, approverA, approverAB, approverAB, approverAB, approverNone, tenantA, tenantB}).Draw(t, "caller")
	human := rapid.SampledFrom([]string{"bob", "user:bob", "user:carol", "alice", "user:alice"}).Draw(t, "approver")
	sm.approve(t, &approveReq{client: client, approver: human, run: r, step: step})
}

func (sm *smMachine) approve(t *rapid.T, q *approveReq) {
	r, step, client := q.run, q.step, q.client
	v, selfOnly := sm.m.approveVerdict(q)
	res := sm.s.call(t, http.MethodPost, "/v1/runs/"+r.id+"/steps/"+step+"/approve", sm.s.bearer(t, client),
		map[string]string{"approver": q.approver, "comment": "ok"})
	sm.dirty[r] = true
	inv := stepInvariant(r, step)
	if bound, ok := sm.m.approvesFor[client]; ok && !slices.Contains(bound, r.owner) {
		inv = invTenant
	} else if sameHuman(q.approver, r.initiatedBy) {
		inv = invSelf
	}
	ok := sm.judge(t, q.String(), v, res, inv)
	if selfOnly && (res.status != http.StatusForbidden || res.str("error") != "access_denied" || res.str("reason") != "self_approval") {
		sm.fatalf(t, "INVARIANT %q: got %s", invSelf, res)
	}
	if ok {
		sm.m.applyComplete(r, step, "approver:"+q.approver, client)
		sm.compareRun(t, r, res.body)
	}
}
