package authserver

import (
	"fmt"
	"slices"
	"strings"
)

// What the model lets each request do (PROTOCOL.md §5, §6.2, §6.3).

// grantReq is one agent_checksum grant (§6.2) as the test sends it.
type grantReq struct {
	client    string
	agent     *smAgent
	staleSum  bool // the previous version's checksum
	staleKey  bool // the previous version's key
	run       *smRun
	step      string
	delegator *smAgent // nil: no delegation assertion
	staleDel  bool     // assertion signed with the delegator's previous key
}

func (g *grantReq) String() string {
	s := fmt.Sprintf("grant client=%s agent=%s %s/%s", g.client, g.agent.name, runName(g.run), g.step)
	if g.staleSum && g.agent.stale.sum != g.agent.cred.sum {
		s += " previous-checksum"
	}
	if g.staleKey && g.agent.stale.key != g.agent.cred.key {
		s += " previous-key"
	}
	if g.delegator != nil {
		s += " delegated-by=" + g.delegator.name
		if g.staleDel && g.delegator.stale.key != g.delegator.cred.key {
			s += "(previous key)"
		}
	}
	return s
}

// grantVerdict applies the §6.2 table in order, then §6.3.
func (m *model) grantVerdict(g *grantReq) verdict {
	a, r := g.agent, g.run
	switch {
	case a.owner != g.client:
		return refuse("unknown_agent: %s belongs to %s", a.name, a.owner)
	case a.revoked:
		return refuse("agent_revoked")
	case g.staleSum && a.stale.sum != a.cred.sum:
		return refuse("previous checksum of %s", a.name)
	case g.staleKey && a.stale.key.Thumbprint() != a.cred.key.Thumbprint():
		return refuse("previous key of %s", a.name)
	case r.owner != g.client:
		return refuse("run of another client")
	case r.status() != "active":
		return refuse("run is %s", r.status())
	}
	def, state := r.wf.step(g.step), r.stepState(g.step)
	st := r.steps[g.step]
	renewal := state == "in_progress" && st.holder == a.id
	if state == "in_progress" && !renewal && m.brokenHolding(st) {
		// §6.3 leaves open whether a step held under a delegation that no
		// longer stands (or by a revoked agent) may be taken afresh.
		v := m.grantVerdictAs(g, def, "ready", false)
		if v.out == mustSucceed {
			v.out = mayEither
		}
		return v
	}
	return m.grantVerdictAs(g, def, state, renewal)
}

func (m *model) grantVerdictAs(g *grantReq, def *smStepDef, state string, renewal bool) verdict {
	a, st := g.agent, g.run.steps[g.step]
	switch {
	case def.kind == kindApproval:
		return refuse("approval step")
	case def.agent != a.id && (len(def.delegatedBy) > 0 || g.delegator == nil):
		return refuse("step assigned to another agent")
	case state == "completed" || state == "pending":
		return refuse("step is %s", state)
	case state == "in_progress" && !renewal:
		return refuse("step held by %s", st.holder)
	case len(def.delegatedBy) > 0 && g.delegator == nil && !renewal:
		return refuse("step needs a delegation by %v", def.delegatedBy)
	case g.delegator != nil:
		return m.delegationVerdict(g, def)
	case renewal:
		return m.renewalVerdict(st, a)
	}
	return verdict{out: mustSucceed, why: "direct grant", chain: []string{a.id}}
}

// renewalVerdict: a renewal without a new assertion keeps the step's chain
// and parent, and is refused once any agent of a delegated chain is revoked
// or re-registered or the parent token is revoked (§6.3).
func (m *model) renewalVerdict(st *smStep, a *smAgent) verdict {
	v := verdict{out: mustSucceed, why: "renewal", chain: st.chain, parent: st.parent,
		dep: st.parent != nil && !st.parentUnknown, parentUnknown: st.parentUnknown, uncertain: st.parentUnknown}
	if len(st.chain) == 1 {
		if a.version != st.chainVersions[0] {
			v.out, v.why = mayEither, "renewal by a re-registered holder"
		}
		return v
	}
	for i, id := range st.chain {
		if ag := m.agents[id]; ag.revoked || ag.version != st.chainVersions[i] {
			return refuse("renewal of a delegated step after %s was revoked or re-registered", ag.name)
		}
	}
	if st.parentUnknown {
		v.out, v.why = mayEither, "renewal under a parent the server chose"
		return v
	}
	if st.parent != nil && m.dead(st.parent) {
		return refuse("renewal of a delegated step after its parent %s died", st.parent)
	}
	if st.parent != nil && m.uncertain(st.parent) {
		v.out = mayEither
	}
	return v
}

// delegationVerdict: §6.3 for a request carrying an assertion.
func (m *model) delegationVerdict(g *grantReq, def *smStepDef) verdict {
	a, d := g.agent, g.delegator
	switch {
	case d.owner != a.owner || d.revoked:
		return refuse("delegator %s is not an unrevoked agent of %s", d.name, a.owner)
	case g.staleDel && d.stale.key.Thumbprint() != d.cred.key.Thumbprint():
		return refuse("assertion signed with %s's previous key", d.name)
	}
	out := mustSucceed
	if len(def.delegatedBy) > 0 {
		if !slices.Contains(def.delegatedBy, d.id) {
			return refuse("%s is not in delegated_by", d.name)
		}
	} else {
		switch {
		case !slices.Contains(d.mayDelegateTo, a.id):
			return refuse("%s's may_delegate_to does not list %s", d.name, a.name)
		case def.agent == a.id: // a third agent hands the step to its own agent
			out = mayEither
		case def.agent != d.id:
			return refuse("neither %s nor %s is the step's agent", d.name, a.name)
		}
	}
	return m.extendChain(g, out)
}

// extendChain: the delegator's own chain in the run (its latest token's,
// else just itself) followed by the delegate, within the depth limit.
func (m *model) extendChain(g *grantReq, out outcome) verdict {
	a, d := g.agent, g.delegator
	base, baseVersions := []string{d.id}, []int{d.version}
	parent := m.latestToken(g.run, d)
	if parent != nil {
		base, baseVersions = parent.chain, parent.chainVersions
	}
	if slices.Contains(base, a.id) {
		return refuse("delegation would form a cycle through %s", a.name)
	}
	chain := append(slices.Clone(base), a.id)
	if len(chain)-1 > g.run.wf.depth() {
		return refuse("chain of %d hops exceeds %d", len(chain)-1, g.run.wf.depth())
	}
	v := verdict{out: out, why: "delegation", chain: chain, parent: parent, dep: parent != nil}
	if parent != nil && (m.dead(parent) || m.uncertain(parent)) {
		// Which token then counts as the delegator's (this one, an older
		// live one, or none) is not settled: the result, and renewals of
		// it, are checked for safety only.
		v.out, v.dep, v.uncertain, v.parentUnknown = mayEither, false, true, true
	}
	for i, id := range base {
		ag := m.agents[id]
		if ag.revoked || ag.version != baseVersions[i] {
			v.out = mayEither // a token, if issued, is dead by its chain or checked as uncertain
		}
	}
	return v
}

func (m *model) latestToken(r *smRun, a *smAgent) *smToken {
	var best *smToken
	for _, t := range m.tokens {
		if t.run == r && t.agent == a {
			best = t // tokens are appended in issuance order
		}
	}
	return best
}

// completeVerdict: §5 complete with token t on run r, step id.
func (m *model) completeVerdict(t *smToken, r *smRun, step string) verdict {
	switch {
	case m.dead(t):
		return refuse("token %s is revoked", t)
	case t.run != r || t.step != step:
		return refuse("token is for %s/%s", runName(t.run), t.step)
	case r.status() != "active":
		return refuse("run is %s", r.status())
	case r.stepState(step) != "in_progress" || r.steps[step].holder != t.agent.id:
		return refuse("step is %s, held by %q", r.stepState(step), r.steps[step].holder)
	case m.uncertain(t):
		return verdict{out: mayEither, why: "token's liveness is not settled"}
	}
	return verdict{out: mustSucceed, why: "holder completes"}
}

// approveReq is one §5 approval.
type approveReq struct {
	client   string // the caller
	approver string // the human in the body
	run      *smRun
	step     string
}

func (q *approveReq) String() string {
	return fmt.Sprintf("approve client=%s approver=%s %s/%s (initiated_by %s)", q.client, q.approver, runName(q.run), q.step, q.run.initiatedBy)
}

func sameHuman(a, b string) bool {
	return strings.TrimPrefix(a, "user:") == strings.TrimPrefix(b, "user:")
}

// approveVerdict: selfOnly is true when separation of duties is the only
// reason to refuse, so the exact §5 error (403 access_denied, reason
// self_approval) is asserted.
func (m *model) approveVerdict(q *approveReq) (v verdict, selfOnly bool) {
	r, def := q.run, q.run.wf.step(q.step)
	bound, isApprover := m.approvesFor[q.client]
	var reasons []string
	if !isApprover {
		reasons = append(reasons, "caller has no ajwt:approve")
	}
	if isApprover && !slices.Contains(bound, r.owner) {
		reasons = append(reasons, "approves_for does not list "+r.owner)
	}
	if r.status() != "active" {
		reasons = append(reasons, "run is "+r.status())
	}
	if def.kind != kindApproval {
		reasons = append(reasons, "not an approval step")
	} else if s := r.stepState(q.step); s != "ready" {
		reasons = append(reasons, "step is "+s)
	}
	self := sameHuman(q.approver, r.initiatedBy)
	if self {
		reasons = append(reasons, "self_approval")
	}
	if len(reasons) > 0 {
		return refuse("%s", strings.Join(reasons, "; ")), self && len(reasons) == 1
	}
	return verdict{out: mustSucceed, why: "approval"}, false
}
