package authserver

import (
	"context"
	"net/http"
	"net/url"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/protocol"
)

// pausingStore is the real store with a gate: an Update of a request
// carrying the X-Test-Pause header waits, at the chosen Update of that
// request, until the test releases it. Everything the request read
// before stays read; whatever the test does meanwhile commits first.
type pausingStore struct {
	store.Store
	mu     sync.Mutex
	points map[string]*pausePoint
}

type pausePoint struct {
	at      int32 // pause before this request's at-th Update
	updates atomic.Int32
	reached chan struct{}
	release chan struct{}
}

type pauseKey struct{}

func (p *pausingStore) Update(ctx context.Context, fn func(store.Tx) error) error {
	if pp, ok := ctx.Value(pauseKey{}).(*pausePoint); ok && pp.updates.Add(1) == pp.at {
		close(pp.reached)
		<-pp.release
	}
	return p.Store.Update(ctx, fn)
}

// arm registers a pause point for requests naming it.
func (p *pausingStore) arm(name string, at int32) *pausePoint {
	pp := &pausePoint{at: at, reached: make(chan struct{}), release: make(chan struct{})}
	p.mu.Lock()
	p.points[name] = pp
	p.mu.Unlock()
	return pp
}

func (p *pausingStore) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		pp := p.points[r.Header.Get("X-Test-Pause")]
		p.mu.Unlock()
		if pp != nil {
			r = r.WithContext(context.WithValue(r.Context(), pauseKey{}, pp))
		}
		next.ServeHTTP(w, r)
	})
}

// newPausingHarness is newHarness over a pausingStore.
func newPausingHarness(t *testing.T) (*harness, *pausingStore) {
	t.Helper()
	var ps *pausingStore
	h, _ := newHarnessOver(t, testConfig, Options{}, func(func() time.Time) store.Store {
		real, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ajwt.db"), sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		ps = &pausingStore{Store: real, points: map[string]*pausePoint{}}
		return ps
	}, func(next http.Handler) http.Handler { return ps.wrap(next) })
	return h, ps
}

// pausedGrant starts agentID's grant with the agent's current checksum and
// key, lets it run up to its at-th store Update, runs meanwhile, then lets
// it finish and returns its answer.
func (h *harness) pausedGrant(ps *pausingStore, at int32, agentID, run, step string, extra url.Values, meanwhile func()) *response {
	h.t.Helper()
	pp := ps.arm(h.t.Name(), at)
	a := h.agents[agentID]
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {agentID}, "agent_checksum": {string(a.sum)},
		"run_id": {run}, "workflow_step": {step}}
	for k, vs := range extra {
		v[k] = vs
	}
	hdr := h.proof(a.key, http.MethodPost, "/token", "")
	hdr.Set("X-Test-Pause", h.t.Name())
	done := make(chan *response, 1)
	go func() { done <- h.form("/token", "app", secrets["app"], v, hdr) }()
	select {
	case <-pp.reached:
	case res := <-done:
		h.t.Fatalf("grant finished before its pause point: %d %s", res.status, res.raw)
	}
	meanwhile()
	close(pp.release)
	return <-done
}

// TestGrantRacingRevocation: a revocation or re-registration committed
// between a grant's checks and its transaction makes the grant fail with
// the answer the ordered checks of §6.2 give on the new state; nothing
// issued is left that introspection or the feed would accept.
func TestGrantRacingRevocation(t *testing.T) {
	t.Run("agent revoked", func(t *testing.T) {
		h, ps := newPausingHarness(t)
		h.registerAgent("planner", "app", []string{"repo:read"}, nil)
		h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
			{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"}}})
		run := h.startRun("app", "w", nil)
		res := h.pausedGrant(ps, 1, "planner", run, "plan", nil, func() { h.revokeAgentAPI("planner") })
		wantError(t, res, 401, "agent_revoked")
		if got := h.stepState(run, "plan"); got != store.StepReady {
			t.Fatalf("step is %s after the refused grant", got)
		}
	})
	t.Run("agent re-registered with a new key", func(t *testing.T) {
		h, ps := newPausingHarness(t)
		h.registerAgent("planner", "app", []string{"repo:read"}, nil)
		h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
			{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"}}})
		run := h.startRun("app", "w", nil)
		old := *h.agents["planner"]
		cursor := h.feed("").str("cursor")
		res := h.pausedGrant(ps, 1, "planner", run, "plan", nil, func() {
			h.registerAgent("planner", "app", []string{"repo:read"}, nil) // same spec, new key
		})
		h.agents["planner"] = &old
		wantError(t, res, 400, "invalid_dpop_proof")
		// The feed tells enforcers that version 1 is gone, in one entry.
		if n := versionEntries(h.feed(cursor), "planner", 1); n != 1 {
			t.Fatalf("feed has %d version entries for planner v1: %s", n, h.feed(cursor).raw)
		}
	})
	t.Run("agent re-registered with a new spec", func(t *testing.T) {
		h, ps := newPausingHarness(t)
		h.registerAgent("planner", "app", []string{"repo:read"}, nil)
		h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
			{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"}}})
		run := h.startRun("app", "w", nil)
		a := h.agents["planner"]
		res := h.pausedGrant(ps, 1, "planner", run, "plan", nil, func() {
			spec := *a.spec
			spec.PromptTemplate += " Be brief."
			body := map[string]any{"client_id": "app", "spec": &spec, "public_jwk": a.key.Public(), "scopes": []string{"repo:read"},
				"audiences": []string{"https://forge.example", "https://osv.example"}}
			if r := h.jsonReq(http.MethodPut, "/v1/agents/planner", h.bearer("admin"), body, nil); r.status != 200 {
				t.Fatalf("re-register: %d %s", r.status, r.raw)
			}
		})
		wantError(t, res, 401, "agent_checksum_mismatch")
	})
	t.Run("delegator revoked", func(t *testing.T) {
		h, ps := newPausingHarness(t)
		racingDelegation(h)
		run := h.startRun("app", "w", nil)
		as := h.assertion(h.agents["supervisor"].key, "supervisor", "patcher", run, "patch", 30*time.Second, "r1")
		// Update 1 uses up the assertion's jti; update 2 is the grant.
		res := h.pausedGrant(ps, 2, "patcher", run, "patch", url.Values{"delegation_assertion": {as}}, func() { h.revokeAgentAPI("supervisor") })
		wantError(t, res, 403, "invalid_delegation")
		if got := h.stepState(run, "patch"); got != store.StepReady {
			t.Fatalf("step is %s after the refused grant", got)
		}
	})
	t.Run("delegator re-registered with a new key", func(t *testing.T) {
		h, ps := newPausingHarness(t)
		racingDelegation(h)
		run := h.startRun("app", "w", nil)
		as := h.assertion(h.agents["supervisor"].key, "supervisor", "patcher", run, "patch", 30*time.Second, "r1")
		res := h.pausedGrant(ps, 2, "patcher", run, "patch", url.Values{"delegation_assertion": {as}}, func() {
			h.registerAgent("supervisor", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"patcher"}})
		})
		wantError(t, res, 403, "invalid_delegation")
	})
}

func racingDelegation(h *harness) {
	h.registerAgent("patcher", "app", []string{"repo:write"}, nil)
	h.registerAgent("supervisor", "app", []string{"repo:read"}, nil)
	h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
		{"id": "patch", "agent": "patcher", "scopes": []string{"repo:write"}, "audience": "https://forge.example", "delegated_by": []string{"supervisor"}}}})
}

// versionEntries counts the feed's agent entries for id with version v.
func versionEntries(res *response, id string, v float64) int {
	n := 0
	entries, _ := res.body["revoked"].([]any)
	for _, e := range entries {
		if m := e.(map[string]any); m["type"] == "agent" && m["id"] == id && m["version"] == v {
			n++
		}
	}
	return n
}

// TestReRegistrationFeedEntry: a new version is published as one agent
// entry carrying the old version, which covers the agent's own tokens (no
// entry of their own); a revocation as one without version; identical
// content publishes nothing.
func TestReRegistrationFeedEntry(t *testing.T) {
	h := newHarness(t)
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	tok := h.mustGrant("app", "solo", "", "", nil)
	cursor := h.feed("").str("cursor")
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	feed := h.feed(cursor)
	if versionEntries(feed, "solo", 1) != 1 || feedHas(feed, "token", h.verify(tok).ID) {
		t.Fatalf("feed after re-registration: %s", feed.raw)
	}
	cursor = feed.str("cursor")
	h.revokeAgentAPI("solo")
	feed = h.feed(cursor)
	// (Its cascade also lists the old version's token, live in the store
	// since the re-registration wrote nothing on it.)
	entries := feed.body["revoked"].([]any)
	if len(entries) == 0 || entries[0].(map[string]any)["type"] != "agent" || entries[0].(map[string]any)["version"] != nil ||
		versionEntries(feed, "solo", 1) != 0 {
		t.Fatalf("feed after revocation: %s", feed.raw)
	}
}
