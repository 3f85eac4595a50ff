package authserver

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"

	"pgregory.net/rapid"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/keys"
)

// registerAgent puts a's current credentials (PUT /v1/agents, §4.1) and
// returns the version the server answered.
func (s *smServer) registerAgent(t rapid.TB, a *smAgent, auth string) *smResp {
	t.Helper()
	body := map[string]any{"client_id": a.owner, "spec": a.cred.spec, "public_jwk": a.cred.key.Public(), "scopes": a.scopes,
		"audiences": []string{smAudience}, "may_delegate_to": a.mayDelegateTo}
	return s.call(t, http.MethodPut, "/v1/agents/"+a.id, auth, body)
}

// newCred makes credentials for agent id with prompt variant n.
func newCred(t rapid.TB, id string, n int) smCred {
	t.Helper()
	spec := &agentspec.Spec{AgentID: id, PromptTemplate: fmt.Sprintf("You are %s, variant %d.", id, n)}
	sum, err := agentspec.Sum(spec)
	if err != nil {
		t.Fatalf("checksum: %v", err)
	}
	key, err := keys.Generate(keys.EdDSA, nil)
	if err != nil {
		t.Fatalf("key: %v", err)
	}
	return smCred{spec: spec, sum: sum, key: key}
}

// The fixture every sequence registers under its own prefix. Two tenants;
// in tenant A, helper lists coder in may_delegate_to without being in the
// patch step's delegated_by, and deep limits chains to two hops; tenant
// B's boss lists tenant A's coder, which must not let it delegate to it.
var smAgentDefs = []struct {
	name, owner string
	scopes      []string
	delegates   []string
}{
	{"lead", tenantA, []string{"repo:read"}, []string{"coder"}},
	{"coder", tenantA, []string{"repo:read", "repo:write"}, nil},
	{"boss", tenantA, []string{"repo:read"}, []string{"coder", "helper"}},
	{"helper", tenantA, []string{"repo:read"}, []string{"coder"}},
	{"bboss", tenantB, []string{"repo:read"}, []string{"bwork", "coder"}},
	{"bwork", tenantB, []string{"repo:read"}, nil},
}

var smWorkflowDefs = []smWorkflow{
	{name: "main", owner: tenantA, steps: []smStepDef{
		{id: "triage", kind: kindAgent, agent: "boss"},
		{id: "plan", kind: kindAgent, agent: "lead"},
		{id: "approve", kind: kindApproval, deps: []string{"plan"}},
		{id: "patch", kind: kindAgent, agent: "coder", scopes: []string{"repo:write"}, deps: []string{"approve"}, delegatedBy: []string{"boss"}},
		{id: "review", kind: kindAgent, agent: "helper", deps: []string{"plan"}},
		{id: "ship", kind: kindAgent, agent: "lead", deps: []string{"patch", "review"}},
	}},
	{name: "deep", owner: tenantA, maxDepth: 2, steps: []smStepDef{
		{id: "d0", kind: kindAgent, agent: "coder", delegatedBy: []string{"boss"}},
		{id: "d1", kind: kindAgent, agent: "helper", deps: []string{"d0"}, delegatedBy: []string{"coder"}},
		{id: "d2", kind: kindAgent, agent: "lead", deps: []string{"d1"}, delegatedBy: []string{"helper"}},
	}},
	{name: "bflow", owner: tenantB, steps: []smStepDef{
		{id: "work", kind: kindAgent, agent: "bboss"},
		{id: "gate", kind: kindApproval, deps: []string{"work"}},
		{id: "finish", kind: kindAgent, agent: "bwork", deps: []string{"gate"}, delegatedBy: []string{"bboss"}},
	}},
}

// newSequence registers a fresh copy of the fixture and returns its model.
func (s *smServer) newSequence(t rapid.TB) *model {
	t.Helper()
	prefix := "q" + strconv.FormatInt(s.seqs.Add(1), 10) + "-"
	m := &model{prefix: prefix, agents: map[string]*smAgent{}, approvesFor: smApprovesFor}
	admin := s.bearer(t, "admin")
	byName := map[string]*smAgent{}
	for _, d := range smAgentDefs {
		a := &smAgent{id: prefix + d.name, name: d.name, owner: d.owner, version: 1, scopes: d.scopes}
		for _, del := range d.delegates {
			a.mayDelegateTo = append(a.mayDelegateTo, prefix+del)
		}
		a.cred = newCred(t, a.id, 0)
		if res := s.registerAgent(t, a, admin); res.status != http.StatusCreated {
			t.Fatalf("register %s: %s", a.name, res)
		}
		m.agents[a.id], byName[d.name] = a, a
		m.agentList = append(m.agentList, a)
	}
	for _, d := range smWorkflowDefs {
		w := &smWorkflow{id: prefix + d.name, name: d.name, owner: d.owner, maxDepth: d.maxDepth}
		var steps []map[string]any
		for _, st := range d.steps {
			st.deps, st.delegatedBy = slices.Clone(st.deps), smIDs(byName, st.delegatedBy)
			if st.kind == kindAgent {
				st.agent = byName[st.agent].id
				if st.scopes == nil {
					st.scopes = []string{"repo:read"}
				}
			}
			w.steps = append(w.steps, st)
			steps = append(steps, stepBody(st))
		}
		body := map[string]any{"steps": steps}
		if w.maxDepth > 0 {
			body["max_delegation_depth"] = w.maxDepth
		}
		if res := s.call(t, http.MethodPut, "/v1/workflows/"+w.id, admin, body); res.status != http.StatusCreated {
			t.Fatalf("register workflow %s: %s", w.name, res)
		}
		m.workflows = append(m.workflows, w)
	}
	return m
}

func smIDs(byName map[string]*smAgent, names []string) []string {
	var out []string
	for _, n := range names {
		out = append(out, byName[n].id)
	}
	return out
}

func stepBody(st smStepDef) map[string]any {
	b := map[string]any{"id": st.id, "kind": st.kind}
	if len(st.deps) > 0 {
		b["depends_on"] = st.deps
	}
	if st.kind == kindAgent {
		b["agent"], b["scopes"], b["audience"] = st.agent, st.scopes, smAudience
		if len(st.delegatedBy) > 0 {
			b["delegated_by"] = st.delegatedBy
		}
	}
	return b
}
