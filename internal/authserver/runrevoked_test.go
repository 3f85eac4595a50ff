package authserver

import (
	"net/http"
	"testing"
)

// TestStartRunRefusesRevokedAgent: a workflow that uses a revoked agent
// cannot be started: its run could never finish.
func TestStartRunRefusesRevokedAgent(t *testing.T) {
	h := delegationFixture(t)
	h.startRun("app", "w", nil) // fine while every agent is live
	h.revokeAgentAPI("worker")
	res := h.jsonReq(http.MethodPost, "/v1/runs", h.bearer("app"),
		map[string]any{"workflow_id": "w", "initiated_by": "user:alice"}, nil)
	if res.status != http.StatusConflict || res.str("error") != "agent_revoked" {
		t.Fatalf("start run with a revoked agent: %d %s", res.status, res.raw)
	}
}
