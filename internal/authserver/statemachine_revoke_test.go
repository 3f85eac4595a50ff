package authserver

import (
	"net/http"
	"net/url"
	"strings"
	"sync"

	"pgregory.net/rapid"
)

// The destructive and adversarial actions of the run-state machine:
// revocations, re-registrations, races and cross-tenant probes.

// Revoke: a token (by its client or, without effect, by another), an
// agent (by the admin or, without effect, by a tenant), or a run (by its
// client or the admin or, without effect, by the other tenant).
func (sm *smMachine) Revoke(t *rapid.T) {
	sm.begin()
	switch rapid.IntRange(0, 3).Draw(t, "revoke: 0-1 = token, 2 = agent, 3 = run") {
	case 0, 1:
		sm.revokeToken(t)
	case 2:
		sm.revokeAgent(t)
	default:
		sm.revokeRun(t)
	}
}

func (sm *smMachine) revokeToken(t *rapid.T) {
	if len(sm.m.tokens) == 0 {
		t.Skip("no token yet")
	}
	tok := sm.m.tokens[rapid.IntRange(0, len(sm.m.tokens)-1).Draw(t, "token")]
	owner := tok.agent.owner
	client := rapid.SampledFrom([]string{owner, owner, owner, otherTenant(owner), approverAB}).Draw(t, "caller")
	req := func() *smResp {
		return sm.s.send(t, sm.s.formRequest("/revoke", client, url.Values{"token": {tok.raw}}, nil))
	}
	if client == owner {
		res := req()
		t.Logf("#%d revoke %s by %s → %s", sm.n, tok, client, res.full())
		if res.status != http.StatusOK {
			sm.fatalf(t, "revoking its own token: %s", res)
		}
		sm.m.revokeToken(tok)
		sm.feedDirty, sm.dirty[tok.run] = true, true
		return
	}
	before := sm.s.introspect(t, owner, tok.raw)
	res := req()
	after := sm.s.introspect(t, owner, tok.raw)
	t.Logf("#%d revoke %s by %s → %s (active %v → %v)", sm.n, tok, client, res.full(), before, after)
	if res.status >= 500 || before != after {
		sm.fatalf(t, "INVARIANT %q: %s revoking %s's token: %s, active %v → %v", invTenant, client, owner, res, before, after)
	}
}

func (sm *smMachine) revokeAgent(t *rapid.T) {
	a := sm.drawAgent(t, "agent")
	caller := rapid.SampledFrom([]string{"admin", "admin", "admin", "admin", a.owner, otherTenant(a.owner)}).Draw(t, "caller")
	res := sm.s.call(t, http.MethodPost, "/v1/agents/"+a.id+"/revoke", sm.s.bearer(t, caller), nil)
	t.Logf("#%d revoke agent %s by %s → %s", sm.n, a.name, caller, res.full())
	if caller != "admin" {
		if res.status != http.StatusForbidden {
			sm.fatalf(t, "INVARIANT %q: tenant %s revoking agent %s: %s, want 403", invTenant, caller, a.name, res)
		}
		sm.checkAgent(t, a)
		return
	}
	if res.status != http.StatusOK {
		sm.fatalf(t, "admin revoking agent %s: %s", a.name, res)
	}
	sm.m.revokeAgent(a)
	sm.feedDirty = true
}

func (sm *smMachine) revokeRun(t *rapid.T) {
	r := sm.drawRun(t)
	caller := rapid.SampledFrom([]string{r.owner, r.owner, r.owner, "admin", otherTenant(r.owner)}).Draw(t, "caller")
	res := sm.s.call(t, http.MethodPost, "/v1/runs/"+r.id+"/revoke", sm.s.bearer(t, caller), nil)
	t.Logf("#%d revoke %s by %s → %s", sm.n, runName(r), caller, res.full())
	sm.dirty[r] = true
	if caller == otherTenant(r.owner) {
		if res.status != http.StatusNotFound && res.status != http.StatusForbidden {
			sm.fatalf(t, "INVARIANT %q: %s revoking %s's run: %s", invTenant, caller, r.owner, res)
		}
		return
	}
	if res.status != http.StatusOK || res.str("status") != "revoked" {
		sm.fatalf(t, "revoking a run by %s: %s", caller, res)
	}
	r.revoked = true
	sm.feedDirty = true
}

// Reregister: the admin registers a new version of an agent with a new
// key, a new spec, or both (§4.1).
func (sm *smMachine) Reregister(t *rapid.T) {
	sm.begin()
	a := sm.drawAgent(t, "agent")
	change := rapid.IntRange(0, 2).Draw(t, "change: 0 = key, 1 = spec, 2 = both")
	sm.reregister(t, a, change, sm.s.send(t, sm.reregisterRequest(t, a, change)))
}

// reregisterRequest prepares the new credentials in a.next and the request.
func (sm *smMachine) reregisterRequest(t *rapid.T, a *smAgent, change int) *http.Request {
	next := newCred(t, a.id, a.prompt+1)
	if change == 0 {
		next.spec, next.sum = a.cred.spec, a.cred.sum
	}
	if change == 1 {
		next.key = a.cred.key
	}
	a.next = &next
	body := map[string]any{"client_id": a.owner, "spec": next.spec, "public_jwk": next.key.Public(), "scopes": a.scopes,
		"audiences": []string{smAudience}, "may_delegate_to": a.mayDelegateTo}
	return sm.s.jsonRequest(http.MethodPut, "/v1/agents/"+a.id, sm.s.bearer(t, "admin"), body, nil)
}

func (sm *smMachine) reregister(t *rapid.T, a *smAgent, change int, res *smResp) {
	version, _ := res.body["version"].(float64)
	t.Logf("#%d re-register %s (change %d) → %s", sm.n, a.name, change, res.full())
	if res.status != http.StatusOK || int(version) != a.version+1 {
		sm.fatalf(t, "re-registering %s at version %d: %s, want 200 with version %d", a.name, a.version, res, a.version+1)
	}
	old := a.cred
	a.stale, a.cred, a.next = &old, *a.next, nil
	if change != 0 {
		a.prompt++
	}
	a.version++
	sm.m.cascadeAgent(a)
	sm.feedDirty = true
}

// Race: grants of a step race a re-registration or a revocation of their
// agent, or a revocation of their run (§6.3: a grant that races either
// never yields a token that the IdP or an enforcer would accept).
func (sm *smMachine) Race(t *rapid.T) {
	sm.begin()
	var cands []*grantReq
	for _, r := range sm.m.runs {
		for _, def := range r.wf.steps {
			a := sm.m.agents[def.agent]
			if def.kind != kindAgent || len(def.delegatedBy) > 0 || a.revoked || r.status() != "active" {
				continue
			}
			st, state := r.steps[def.id], r.stepState(def.id)
			if state == "ready" || (state == "in_progress" && st.holder == a.id && len(st.chain) == 1) {
				cands = append(cands, &grantReq{client: a.owner, agent: a, run: r, step: def.id})
			}
		}
	}
	if len(cands) == 0 {
		t.Skip("no step to race for")
	}
	g := cands[rapid.IntRange(0, len(cands)-1).Draw(t, "step")]
	what := rapid.IntRange(0, 3).Draw(t, "against: 0 = new key, 1 = new spec, 2 = agent revocation, 3 = run revocation")
	reqs := []*http.Request{sm.s.grantRequest(t, g), sm.s.grantRequest(t, g), sm.s.grantRequest(t, g)}
	var mut *http.Request
	switch what {
	case 0, 1:
		mut = sm.reregisterRequest(t, g.agent, what)
	case 2:
		mut = sm.s.jsonRequest(http.MethodPost, "/v1/agents/"+g.agent.id+"/revoke", sm.s.bearer(t, "admin"), nil, nil)
	default:
		mut = sm.s.jsonRequest(http.MethodPost, "/v1/runs/"+g.run.id+"/revoke", sm.s.bearer(t, g.run.owner), nil, nil)
	}
	res := sm.race(t, append(reqs, mut))
	t.Logf("#%d race: %s ×%d against %s %s", sm.n, g, len(reqs), mut.Method, strings.TrimPrefix(mut.URL.Path, "/v1/"))
	sm.dirty[g.run] = true
	key, n := g.agent.cred.key, len(sm.m.tokens)
	for _, gr := range res[:len(reqs)] {
		t.Logf("   grant → %s", gr.full())
		if gr.status >= 500 || (gr.status != http.StatusOK && gr.str("error") == "") {
			sm.fatalf(t, "INVARIANT %q: racing grant answered %s", invErrorForm, gr)
		}
		if gr.status == http.StatusOK {
			raw := gr.str("access_token")
			tok := sm.m.applyGrant(g, verdict{chain: []string{g.agent.id}}, raw, key, sm.s.claims(t, raw))
			t.Logf("   issued %s (version %d)", tok, tok.version)
			sm.s.count("raced grant issued")
		}
	}
	sm.applyRaced(t, g, what, res[len(reqs)])
	for _, tok := range sm.m.tokens[n:] {
		if sm.m.dead(tok) {
			sm.s.count("raced grant issued a token its race then revoked")
		}
	}
}

func (sm *smMachine) applyRaced(t *rapid.T, g *grantReq, what int, res *smResp) {
	switch what {
	case 0, 1:
		sm.reregister(t, g.agent, what, res)
		return
	case 2:
		sm.m.revokeAgent(g.agent)
	default:
		g.run.revoked = true
	}
	t.Logf("   → %s", res.full())
	if res.status != http.StatusOK {
		sm.fatalf(t, "raced revocation: %s", res)
	}
	sm.feedDirty = true
}

// race sends the requests at once and returns their answers in order.
func (sm *smMachine) race(t *rapid.T, reqs []*http.Request) []*smResp {
	out := make([]*smResp, len(reqs))
	errs := make([]error, len(reqs))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, req := range reqs {
		wg.Go(func() {
			<-start
			out[i], errs[i] = sm.s.sendRaw(req)
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			sm.fatalf(t, "race: %v", err)
		}
	}
	return out
}

// Probe: a tenant tries to read, revoke or re-register what belongs to
// the other tenant or to the admin; the owner reads its agent.
func (sm *smMachine) Probe(t *rapid.T) {
	sm.begin()
	a := sm.drawAgent(t, "agent")
	other := otherTenant(a.owner)
	switch rapid.IntRange(0, 3).Draw(t, "probe: 0 = read run, 1 = read agent, 2 = revoke agent, 3 = re-register agent") {
	case 0:
		r := sm.drawRun(t)
		res := sm.s.call(t, http.MethodGet, "/v1/runs/"+r.id, sm.s.bearer(t, otherTenant(r.owner)), nil)
		t.Logf("#%d %s reads %s → %s", sm.n, otherTenant(r.owner), runName(r), res.full())
		if res.status != http.StatusNotFound && res.status != http.StatusForbidden {
			sm.fatalf(t, "INVARIANT %q: another tenant read %s: %s", invTenant, runName(r), res)
		}
	case 1:
		res := sm.s.call(t, http.MethodGet, "/v1/agents/"+a.id, sm.s.bearer(t, other), nil)
		t.Logf("#%d %s reads agent %s → %s", sm.n, other, a.name, res.full())
		if res.status != http.StatusNotFound && res.status != http.StatusForbidden {
			sm.fatalf(t, "INVARIANT %q: another tenant read agent %s: %s", invTenant, a.name, res)
		}
		sm.checkAgentAs(t, a, a.owner)
	case 2:
		caller := rapid.SampledFrom([]string{a.owner, other}).Draw(t, "caller")
		res := sm.s.call(t, http.MethodPost, "/v1/agents/"+a.id+"/revoke", sm.s.bearer(t, caller), nil)
		t.Logf("#%d %s revokes agent %s → %s", sm.n, caller, a.name, res.full())
		if res.status/100 == 2 {
			sm.fatalf(t, "INVARIANT %q: tenant %s revoked agent %s: %s", invTenant, caller, a.name, res)
		}
		sm.checkAgent(t, a)
	default:
		caller := rapid.SampledFrom([]string{a.owner, other}).Draw(t, "caller")
		req := sm.reregisterRequest(t, a, 0)
		a.next = nil
		req.Header.Set("Authorization", sm.s.bearer(t, caller))
		res := sm.s.send(t, req)
		t.Logf("#%d %s re-registers agent %s → %s", sm.n, caller, a.name, res.full())
		if res.status/100 == 2 {
			sm.fatalf(t, "INVARIANT %q: tenant %s re-registered agent %s: %s", invTenant, caller, a.name, res)
		}
		sm.checkAgent(t, a)
	}
}

// checkAgent compares the admin's view of an agent with the model.
func (sm *smMachine) checkAgent(t *rapid.T, a *smAgent) { sm.checkAgentAs(t, a, "admin") }

func (sm *smMachine) checkAgentAs(t *rapid.T, a *smAgent, caller string) {
	res := sm.s.call(t, http.MethodGet, "/v1/agents/"+a.id, sm.s.bearer(t, caller), nil)
	version, _ := res.body["version"].(float64)
	revoked, _ := res.body["revoked"].(bool)
	if res.status != http.StatusOK || int(version) != a.version || revoked != a.revoked || res.str("agent_checksum") != string(a.cred.sum) {
		t.Logf("   agent %s as seen by %s: %s", a.name, caller, res.full())
		sm.fatalf(t, "INVARIANT %q: agent %s as seen by %s: %s, version %d, revoked %v, current checksum %v; the model says version %d, revoked %v",
			invState, a.name, caller, res, int(version), revoked, res.str("agent_checksum") == string(a.cred.sum), a.version, a.revoked)
	}
}
