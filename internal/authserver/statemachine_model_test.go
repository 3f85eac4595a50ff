package authserver

import (
	"fmt"
	"strings"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/token"
)

// The reference model of PROTOCOL.md §5–§6 that the run-state machine
// property (statemachine_test.go) checks the real server against. It knows
// nothing of HTTP: it says what each request may do, and tracks what the
// server must hold afterwards.

// outcome is what the protocol lets a request do.
type outcome int

const (
	mustFail    outcome = iota // safety: the server must refuse
	mustSucceed                // liveness, asserted only where §5–§6 are unambiguous
	mayEither                  // ambiguous: only the safety of the result is checked
)

func (o outcome) String() string { return [...]string{"must fail", "must succeed", "may either"}[o] }

// verdict is the model's answer for one request, with the reason.
type verdict struct {
	out    outcome
	why    string
	chain  []string // grants: the delegation chain of the token
	parent *smToken // grants: the delegator's token in the run
	dep    bool     // grants: the token depends on parent (parent alive at issuance)
	// uncertain: grants: the token's dependencies are not settled; its
	// liveness is checked for safety only
	uncertain bool
	// parentUnknown: grants: which token the server took as the parent
	// is not settled (parent is only the model's guess)
	parentUnknown bool
}

func refuse(format string, args ...any) verdict {
	return verdict{out: mustFail, why: fmt.Sprintf(format, args...)}
}

// smCred is one registered version of an agent, as the shim holds it.
type smCred struct {
	spec *agentspec.Spec
	sum  agentspec.Checksum
	key  *keys.Signer
}

type smAgent struct {
	id, name, owner string
	version         int
	revoked         bool
	mayDelegateTo   []string // agent ids
	scopes          []string
	cred            smCred
	stale           *smCred // the previous version, for stale requests
	next            *smCred // a re-registration in flight
	prompt          int     // bumped when the spec changes
}

type smStepDef struct {
	id, kind, agent string
	scopes          []string
	deps            []string
	delegatedBy     []string
}

type smWorkflow struct {
	id, name, owner string
	steps           []smStepDef
	maxDepth        int // 0: the §10 limit
}

func (w *smWorkflow) step(id string) *smStepDef {
	for i := range w.steps {
		if w.steps[i].id == id {
			return &w.steps[i]
		}
	}
	return nil
}

func (w *smWorkflow) depth() int {
	if w.maxDepth > 0 {
		return w.maxDepth
	}
	return 5
}

// smStep is the server-side state of one step of a run.
type smStep struct {
	started       bool // in_progress (or completed after it)
	completed     bool
	holder        string
	chain         []string
	chainVersions []int
	parent        *smToken
	parentUnknown bool // see verdict.parentUnknown
	completedBy   string
	approvedVia   string
	completions   int // successful complete/approve answers
}

type smRun struct {
	id          string
	idx         int
	owner       string
	wf          *smWorkflow
	initiatedBy string
	revoked     bool
	done        bool // seen completed (for the statistics)
	steps       map[string]*smStep
}

func (r *smRun) stepState(id string) string {
	st := r.steps[id]
	switch {
	case st.completed:
		return "completed"
	case st.started:
		return "in_progress"
	}
	for _, d := range r.wf.step(id).deps {
		if !r.steps[d].completed {
			return "pending"
		}
	}
	return "ready"
}

func (r *smRun) status() string {
	if r.revoked {
		return "revoked"
	}
	for _, st := range r.steps {
		if !st.completed {
			return "active"
		}
	}
	return "completed"
}

// smToken is an intent token the server issued.
type smToken struct {
	idx           int
	jti, raw      string
	key           *keys.Signer  // the key it is bound to
	claims        *token.Claims // as issued
	agent         *smAgent
	version       int
	run           *smRun
	step          string
	chain         []string
	chainVersions []int
	parent        *smToken
	dep           bool // dies with parent: parent was alive when it was issued
	ownRevoked    bool // revoked by /revoke of itself or of a token it depends on
	uncertain     bool // the server may or may not have revoked it (see revokeToken)
	confirmedDead bool // checked inactive once; checked again at the end
}

func (t *smToken) String() string {
	names := make([]string, len(t.chain))
	for i, id := range t.chain {
		_, names[i], _ = strings.Cut(id, "-") // the sequence's prefix off
	}
	return fmt.Sprintf("T%d(%s %s/%s chain=%s)", t.idx, t.agent.name, runName(t.run), t.step, strings.Join(names, ">"))
}

func runName(r *smRun) string { return fmt.Sprintf("R%d", r.idx) }

// model is the whole reference state of one sequence.
type model struct {
	prefix    string              // of every agent and workflow id of the sequence
	agents    map[string]*smAgent // by id
	agentList []*smAgent          // in fixture order, for drawing
	workflows []*smWorkflow
	runs      []*smRun
	tokens    []*smToken
	// approvesFor is the approver clients' configuration (§5, §11).
	approvesFor map[string][]string
}

// dead reports whether a revocation t depends on has happened: its own,
// its agent's (or a newer registration of it), any agent's of its chain,
// its run's, or its parent's (§6.3, §9).
func (m *model) dead(t *smToken) bool {
	switch {
	case t.ownRevoked, t.run.revoked, t.agent.revoked, t.agent.version != t.version:
		return true
	case t.dep && m.dead(t.parent):
		return true
	}
	for _, id := range t.chain {
		if m.agents[id].revoked {
			return true
		}
	}
	return false
}

// deathReason says which revocation killed t, for failure messages.
func (m *model) deathReason(t *smToken) string {
	switch {
	case t.ownRevoked:
		return "it was revoked (itself or through its parent)"
	case t.run.revoked:
		return "its run " + runName(t.run) + " was revoked"
	case t.agent.revoked:
		return "its agent " + t.agent.name + " was revoked"
	case t.agent.version != t.version:
		return fmt.Sprintf("its agent %s was re-registered (version %d → %d)", t.agent.name, t.version, t.agent.version)
	case t.dep && m.dead(t.parent):
		return fmt.Sprintf("its parent %s died: %s", t.parent, m.deathReason(t.parent))
	}
	for _, id := range t.chain {
		if a := m.agents[id]; a.revoked {
			return "agent " + a.name + " of its delegation chain was revoked"
		}
	}
	return "it is alive"
}

// uncertain: alive in the model, but the protocol leaves open whether the
// server still accepts it (an earlier agent of its chain was re-registered
// while no parent token links them, or a cascade reached it through a
// parent that was already dead when it was issued).
func (m *model) uncertain(t *smToken) bool {
	if t.uncertain || (t.dep && m.uncertain(t.parent)) {
		return true
	}
	for i, id := range t.chain[:len(t.chain)-1] {
		if m.agents[id].version != t.chainVersions[i] {
			return true
		}
	}
	return false
}

// applyGrant records an issued token and moves its step to in_progress.
func (m *model) applyGrant(g *grantReq, v verdict, raw string, key *keys.Signer, c *token.Claims) *smToken {
	chain, version := c.Intent.DelegationChain, c.AgentProof.Version
	t := &smToken{idx: len(m.tokens), jti: c.ID, raw: raw, key: key, claims: c, agent: g.agent, version: version,
		run: g.run, step: g.step, chain: chain, parent: v.parent, dep: v.dep, uncertain: v.uncertain}
	m.freeHolding(g.run, g.step)
	// The chain is formed now: re-registrations count from here on.
	for _, id := range chain[:len(chain)-1] {
		t.chainVersions = append(t.chainVersions, m.agents[id].version)
	}
	t.chainVersions = append(t.chainVersions, version)
	m.tokens = append(m.tokens, t)
	st := g.run.steps[g.step]
	st.started, st.holder, st.chain, st.chainVersions, st.parent = true, g.agent.id, chain, t.chainVersions, v.parent
	st.parentUnknown = v.parentUnknown
	return t
}

// brokenHolding: st is in progress, but held by a revoked agent, or
// under a delegation whose chain has an agent revoked or re-registered
// since it was formed, or whose parent token died (§6.3).
func (m *model) brokenHolding(st *smStep) bool {
	if !st.started || st.completed {
		return false
	}
	if len(st.chain) == 1 {
		return m.agents[st.holder].revoked
	}
	for i, id := range st.chain {
		if a := m.agents[id]; a.revoked || a.version != st.chainVersions[i] {
			return true
		}
	}
	// A parent the server chose may have died with any token of the run.
	return st.parentUnknown || (st.parent != nil && m.dead(st.parent))
}

// freeHolding: before a grant takes over a step whose holding broke, or
// when the server shows such a step ready again, the server may revoke
// the step's earlier tokens: they become uncertain.
func (m *model) freeHolding(r *smRun, step string) {
	if !m.brokenHolding(r.steps[step]) {
		return
	}
	for _, t := range m.tokens {
		if t.run == r && t.step == step {
			m.markUncertain(t)
		}
	}
}

// release: the server showed a step with a broken holding ready again.
func (m *model) release(r *smRun, step string) {
	m.freeHolding(r, step)
	st := r.steps[step]
	st.started, st.holder, st.chain, st.chainVersions, st.parent = false, "", nil, nil, nil
}

func (m *model) applyComplete(r *smRun, step, by, via string) {
	st := r.steps[step]
	st.completed, st.completedBy, st.approvedVia, st.holder = true, by, via, ""
	st.completions++
}

// revokeToken: /revoke by the owning client revokes t and every token
// minted under it.
func (m *model) revokeToken(t *smToken) {
	t.ownRevoked = true
	m.cascade(t)
}

// cascade follows the server's parent links down from t. A token whose
// parent was already dead when it was issued does not depend on it, yet the
// server may still follow the recorded link: such tokens become uncertain.
func (m *model) cascade(t *smToken) {
	for _, c := range m.tokens {
		switch {
		case c.parent != t:
		case c.dep:
			m.cascade(c)
		default:
			m.markUncertain(c)
		}
	}
}

func (m *model) markUncertain(t *smToken) {
	t.uncertain = true
	for _, c := range m.tokens {
		if c.parent == t {
			m.markUncertain(c)
		}
	}
}

// revokeAgent and reregister revoke the agent's tokens with their cascade.
func (m *model) revokeAgent(a *smAgent) {
	a.revoked = true
	m.cascadeAgent(a)
}

func (m *model) cascadeAgent(a *smAgent) {
	for _, t := range m.tokens {
		if t.agent == a {
			m.cascade(t)
		}
	}
}
