package authserver

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// TestDependencyFailuresAre503: a read the store could not make is never
// taken for an answer (a revoked agent or run, a foreign workflow, a bad
// delegation, an inactive token), and a Redis error never becomes a proof
// error carrying its address: the caller gets 503 temporarily_unavailable
// with Retry-After and may retry.
func TestDependencyFailuresAre503(t *testing.T) {
	h, fs := newFlakyHarness(t, testConfig, Options{})
	h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
	h.registerAgent("worker", "app", []string{"repo:read"}, nil)
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
		{"id": "lead", "agent": "boss", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "work", "agent": "worker", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"boss"}},
	}})
	run := h.startRun("app", "w", nil)
	lead := h.mustGrant("app", "boss", run, "lead", nil)
	solo := h.mustGrant("app", "solo", "", "", nil)
	app := h.bearer("app")
	jti := 0
	exchange := func() *response {
		v := url.Values{"grant_type": {protocol.GrantTokenExchange}, "subject_token": {solo}, "subject_token_type": {protocol.TokenTypeAccessToken}}
		return h.form("/token", "app", secrets["app"], v, h.proof(h.agents["solo"].key, http.MethodPost, "/token", ""))
	}
	tests := []struct {
		name string
		fail []string
		call func() *response
	}{
		{"token record read by an API", []string{"Token"}, func() *response { return h.complete("boss", run, "lead", lead) }},
		{"agent read by an API (was 401 agent_revoked)", []string{"Agent"}, func() *response { return h.complete("boss", run, "lead", lead) }},
		{"run read by an API (was 401 run_revoked)", []string{"Run"}, func() *response { return h.complete("boss", run, "lead", lead) }},
		{"agent read at run creation (was 403 access_denied)", []string{"Agent"}, func() *response {
			return h.jsonReq(http.MethodPost, "/v1/runs", app, map[string]any{"workflow_id": "w", "initiated_by": "user:alice"}, nil)
		}},
		{"delegator read (was 403 invalid_delegation)", []string{"Agent:boss"}, func() *response {
			jti++
			return h.grant("app", "worker", run, "work", url.Values{"delegation_assertion": {
				h.assertion(h.agents["boss"].key, "boss", "worker", run, "work", 30*time.Second, "flaky-"+itoa(jti))}})
		}},
		{"store unreachable at /token (was 500)", []string{"begin"}, func() *response {
			return h.form("/token", "app", secrets["app"], url.Values{"grant_type": {"client_credentials"}}, nil)
		}},
		{"introspection (was active: false)", []string{"Agent"}, func() *response {
			return h.form("/introspect", "app", secrets["app"], url.Values{"token": {solo}}, nil)
		}},
		{"exchange subject read (was 400 subject_token is revoked)", []string{"Token"}, exchange},
		{"exchange agent read under lock (was 401 agent_revoked)", []string{"AgentForShare"}, exchange},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fs.set(tt.fail...)
			res := tt.call()
			fs.set()
			wantUnavailable(t, res)
		})
	}
	// Nothing was taken for an answer: everything works again.
	if res := h.complete("boss", run, "lead", lead); res.status != 200 {
		t.Fatalf("complete after the failures: %d %s", res.status, res.raw)
	}
	if !h.introspect(solo) {
		t.Fatal("token inactive after the failures")
	}
}

// TestReplayCacheFailureAtTokenEndpoint: an unreachable Redis behind the
// proof replay check is 503, not invalid_dpop_proof with its dial error.
func TestReplayCacheFailureAtTokenEndpoint(t *testing.T) {
	h, _ := newFlakyHarness(t, testConfig, Options{ReplayCache: flakyCache{}})
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	wantUnavailable(t, h.grant("app", "solo", "", "", nil))
}

// TestKeyReloadFailureIs503: a token signed with a key another node just
// rotated in, checked while the store cannot be read, is not refused as
// signed by an unknown key.
func TestKeyReloadFailureIs503(t *testing.T) {
	h, fs := newFlakyHarness(t, testConfig, Options{})
	if _, err := RotateKey(t.Context(), fs.Store, keys.ES256, h.clock.Now(), nil); err != nil {
		t.Fatal(err)
	}
	b, err := New(t.Context(), h.srv.cfg, fs, Options{Now: h.clock.Now}) // starts with the new key
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("app:"+secrets["app"]))
	res := serveForm(t, b, "/token", url.Values{"grant_type": {"client_credentials"}}, http.Header{"Authorization": {basic}})
	if res.status != 200 {
		t.Fatalf("token from node B: %d %s", res.status, res.raw)
	}
	h.clock.Advance(2 * time.Second) // node A may reload its keys
	fs.set("SigningKeys")
	wantUnavailable(t, h.jsonReq(http.MethodGet, "/v1/runs/none", "Bearer "+res.str("access_token"), nil, nil))
	fs.set()
	wantError(t, h.jsonReq(http.MethodGet, "/v1/runs/none", "Bearer "+res.str("access_token"), nil, nil), 404, "not_found")
}
