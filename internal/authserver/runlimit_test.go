package authserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// TestRunCreationRateLimit: each client may create runs_per_minute runs a
// minute (a bucket that refills continuously); beyond it 429 slow_down
// with Retry-After, for that client only.
func TestRunCreationRateLimit(t *testing.T) {
	h := newHarnessAt(t, t.TempDir()+"/db", testConfig+"runs_per_minute: 3\n")
	h.registerAgent("solo", "app", []string{"repo:read"}, nil)
	h.registerAgent("theirs", "other-app", []string{"repo:read"}, nil)
	for id, agent := range map[string]string{"mine": "solo", "yours": "theirs"} {
		h.registerWorkflow(id, map[string]any{"steps": []map[string]any{
			{"id": "s", "agent": agent, "scopes": []string{"repo:read"}, "audience": "https://forge.example"}}})
	}
	app, other := h.bearer("app"), h.bearer("other-app")
	create := func(auth, wf string) *response {
		return h.jsonReq(http.MethodPost, "/v1/runs", auth, map[string]any{"workflow_id": wf, "initiated_by": "user:alice"}, nil)
	}
	for i := range 3 {
		if res := create(app, "mine"); res.status != 201 {
			t.Fatalf("run %d: %d %s", i, res.status, res.raw)
		}
	}
	res := create(app, "mine")
	wantError(t, res, http.StatusTooManyRequests, protocol.CodeSlowDown)
	if res.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	if res := create(other, "yours"); res.status != 201 {
		t.Fatalf("another client: %d %s", res.status, res.raw)
	}
	h.clock.Advance(20 * time.Second) // one run's worth
	if res := create(app, "mine"); res.status != 201 {
		t.Fatalf("after the bucket refilled by one: %d %s", res.status, res.raw)
	}
	wantError(t, create(app, "mine"), http.StatusTooManyRequests, protocol.CodeSlowDown)
}
