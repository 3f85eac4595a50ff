package authserver

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/dpop/dpoptest"
	"github.com/ajwt/ajwt/protocol"
)

// BenchmarkGrantAgentChecksum is the hot path of the IdP over real HTTP:
// client auth, DPoP verify, run-state write, token record, audit entry,
// signing. Proofs are made in batches with the timer stopped.
func BenchmarkGrantAgentChecksum(b *testing.B) {
	h := newHarnessAt(&testing.T{}, b.TempDir()+"/db", benchConfig)
	h.t = &testing.T{}
	h.registerAgent("planner", "app", []string{"repo:read"}, nil)
	h.registerWorkflow("wf", map[string]any{"steps": []map[string]any{
		{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"}}})
	run := h.startRun("app", "wf", nil)
	a := h.agents["planner"]
	form := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}, "agent_checksum": {string(a.sum)},
		"run_id": {run}, "workflow_step": {"plan"}}
	proofs := &dpoptest.ProofBatches{Make: func() (string, error) {
		return dpop.NewProof(a.key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{Now: h.clock.Now()})
	}}
	b.ReportAllocs()
	for b.Loop() {
		if res := h.form("/token", "app", secrets["app"], form, http.Header{"Dpop": {proofs.Next(b)}}); res.status != 200 {
			b.Fatalf("%d %s", res.status, res.raw)
		}
	}
}

func BenchmarkGrantClientCredentials(b *testing.B) {
	h := newHarnessAt(&testing.T{}, b.TempDir()+"/db", benchConfig)
	h.t = &testing.T{}
	form := url.Values{"grant_type": {"client_credentials"}}
	b.ReportAllocs()
	for b.Loop() {
		if res := h.form("/token", "app", secrets["app"], form, nil); res.status != 200 {
			b.Fatalf("%d %s", res.status, res.raw)
		}
	}
}

// benchConfig lifts the per-client request limit, which a benchmark loop
// would otherwise hit within a second.
const benchConfig = testConfig + "token_requests_per_second: 1000000\n"
