package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// fixture registers the agents and the plan → approve → patch workflow
// most tests use.
func fixture(t *testing.T) *harness {
	h := newHarness(t)
	h.registerAgent("planner", "app", []string{"repo:read", "osv:query"}, nil)
	h.registerAgent("patcher", "app", []string{"repo:read", "repo:write"}, nil)
	h.registerAgent("supervisor", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"patcher"}})
	h.registerAgent("loner", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	h.registerAgent("outsider", "other-app", []string{"repo:read"}, nil)
	h.registerWorkflow("wf", map[string]any{"steps": []map[string]any{
		{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "approve", "kind": "approval", "depends_on": []string{"plan"}},
		{"id": "patch", "agent": "patcher", "scopes": []string{"repo:write"}, "audience": "https://forge.example",
			"depends_on": []string{"approve"}, "delegated_by": []string{"supervisor"}},
	}})
	return h
}

// TestGrantErrorTable covers every row of the PROTOCOL.md §6.2 table with
// its exact error and status.
func TestGrantErrorTable(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", map[string]string{"repo": "acme/web"})
	planner := h.agents["planner"]
	other, _ := keys.Generate(keys.EdDSA, nil)
	badSum := "sha256:" + strings.Repeat("0", 64)

	tests := []struct {
		name   string
		do     func() *response
		status int
		code   string
	}{
		{"invalid_client: wrong secret", func() *response {
			return h.form("/token", "app", "wrong", url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}}, nil)
		}, 401, "invalid_client"},
		{"invalid_client: no credentials", func() *response {
			return h.form("/token", "", "", url.Values{"grant_type": {protocol.GrantAgentChecksum}}, nil)
		}, 401, "invalid_client"},
		{"invalid_request: missing agent_id", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"agent_id": {""}})
		}, 400, "invalid_request"},
		{"invalid_request: malformed checksum", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"agent_checksum": {"md5:abc"}})
		}, 400, "invalid_request"},
		{"invalid_request: run_id without workflow_step", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"workflow_step": {""}})
		}, 400, "invalid_request"},
		{"unknown_agent: no such agent", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"agent_id": {"ghost"}})
		}, 401, "unknown_agent"},
		{"unknown_agent: another client's agent", func() *response {
			return h.grant("app", "outsider", "", "", nil)
		}, 401, "unknown_agent"},
		{"invalid_request: workflow required", func() *response {
			return h.grant("app", "planner", "", "", nil)
		}, 400, "invalid_request"},
		{"agent_checksum_mismatch", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"agent_checksum": {badSum}})
		}, 401, "agent_checksum_mismatch"},
		{"agent_checksum_mismatch: bare hex form compared too", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"agent_checksum": {strings.Repeat("1", 64)}})
		}, 401, "agent_checksum_mismatch"},
		{"invalid_dpop_proof: missing", func() *response {
			v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}, "agent_checksum": {string(planner.sum)},
				"run_id": {run}, "workflow_step": {"plan"}}
			return h.form("/token", "app", secrets["app"], v, nil)
		}, 400, "invalid_dpop_proof"},
		{"invalid_dpop_proof: key is not the agent's", func() *response {
			v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}, "agent_checksum": {string(planner.sum)},
				"run_id": {run}, "workflow_step": {"plan"}}
			return h.form("/token", "app", secrets["app"], v, h.proof(other, http.MethodPost, "/token", ""))
		}, 400, "invalid_dpop_proof"},
		{"invalid_dpop_proof: wrong htu", func() *response {
			v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}, "agent_checksum": {string(planner.sum)},
				"run_id": {run}, "workflow_step": {"plan"}}
			return h.form("/token", "app", secrets["app"], v, h.proof(planner.key, http.MethodPost, "/other", ""))
		}, 400, "invalid_dpop_proof"},
		{"workflow_step_unauthorized: dependencies", func() *response {
			return h.grant("app", "patcher", run, "patch", nil)
		}, 403, "workflow_step_unauthorized"},
		{"workflow_step_unauthorized: wrong agent", func() *response {
			return h.grant("app", "supervisor", run, "plan", nil)
		}, 403, "workflow_step_unauthorized"},
		{"workflow_step_unauthorized: unknown run", func() *response {
			return h.grant("app", "planner", "nosuchrun", "plan", nil)
		}, 403, "workflow_step_unauthorized"},
		{"workflow_step_unauthorized: approval step", func() *response {
			return h.grant("app", "planner", run, "approve", nil)
		}, 403, "workflow_step_unauthorized"},
		{"invalid_scope", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"scope": {"repo:write"}})
		}, 400, "invalid_scope"},
		{"invalid_target", func() *response {
			return h.grant("app", "planner", run, "plan", url.Values{"resource": {"https://evil.example"}})
		}, 400, "invalid_target"},
		{"unsupported_grant_type", func() *response {
			return h.form("/token", "app", secrets["app"], url.Values{"grant_type": {"password"}}, nil)
		}, 400, "unsupported_grant_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { wantError(t, tt.do(), tt.status, tt.code) })
	}

	t.Run("missing_steps extra", func(t *testing.T) {
		res := h.grant("app", "patcher", run, "patch", nil)
		if steps, _ := res.body["missing_steps"].([]any); len(steps) != 1 || steps[0] != "approve" {
			t.Fatalf("missing_steps = %v, want [approve]", res.body["missing_steps"])
		}
	})
	t.Run("agent_revoked", func(t *testing.T) {
		res := h.jsonReq(http.MethodPost, "/v1/agents/loner/revoke", h.bearer("admin"), nil, nil)
		if res.status != 200 {
			t.Fatalf("revoke: %d %s", res.status, res.raw)
		}
		wantError(t, h.grant("app", "loner", "", "", nil), 401, "agent_revoked")
	})
}

func TestGrantIssuesIntentToken(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", map[string]string{"repo": "acme/web", "branch": "main"})
	res := h.grant("app", "planner", run, "plan", nil)
	if res.status != 200 {
		t.Fatalf("grant: %d %s", res.status, res.raw)
	}
	if res.str("token_type") != "DPoP" || res.str("run_id") != run || res.str("workflow_step") != "plan" || res.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("response %s, cache-control %q", res.raw, res.header.Get("Cache-Control"))
	}
	c := h.verify(res.str("access_token"))
	in := c.Intent
	switch {
	case c.Subject != "planner" || c.ClientID != "app" || c.Scope != "repo:read" || !c.Audience.Contains("https://forge.example"):
		t.Fatalf("claims %+v", c)
	case c.Cnf.JKT != h.agents["planner"].key.Thumbprint() || c.AgentProof.AgentChecksum != string(h.agents["planner"].sum):
		t.Fatalf("binding %+v %+v", c.Cnf, c.AgentProof)
	case in.RunID != run || in.WorkflowID != "wf" || in.WorkflowStep != "plan" || in.InitiatedBy != "user:alice" || in.ExecutionContext["repo"] != "acme/web":
		t.Fatalf("intent %+v", in)
	case in.DelegationChainHash != token.ChainHash([]string{"planner"}) || in.StepSequenceHash != token.StepSequenceHash(nil, "plan"):
		t.Fatalf("hashes %+v", in)
	case c.ExpiresAt-c.IssuedAt != 300:
		t.Fatalf("lifetime %d", c.ExpiresAt-c.IssuedAt)
	}
	// Renewal by the same agent works; the step is in progress.
	h.mustGrant("app", "planner", run, "plan", nil)
	// Without a run for an agent that allows it, the token has no run.
	c = h.verify(h.mustGrant("app", "loner", "", "", nil))
	if c.Intent.RunID != "" || c.Subject != "loner" {
		t.Fatalf("no-run token %+v", c.Intent)
	}
}

// verify checks a token with the server's published keys.
func (h *harness) verify(raw string) *token.Claims {
	h.t.Helper()
	c, err := h.srv.verifier.Verify(h.t.Context(), raw)
	if err != nil {
		h.t.Fatalf("verify: %v", err)
	}
	return c
}

func TestProofReplayAtTokenEndpoint(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	a := h.agents["planner"]
	proof := h.proof(a.key, http.MethodPost, "/token", "")
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"planner"}, "agent_checksum": {string(a.sum)},
		"run_id": {run}, "workflow_step": {"plan"}}
	if res := h.form("/token", "app", secrets["app"], v, proof); res.status != 200 {
		t.Fatalf("first: %d %s", res.status, res.raw)
	}
	res := h.form("/token", "app", secrets["app"], v, proof)
	wantError(t, res, 400, "invalid_dpop_proof")
	if res.str("reason") != protocol.ReasonReplayedProof {
		t.Fatalf("reason %q", res.str("reason"))
	}
}

func TestFailedGrantsAreRateLimited(t *testing.T) {
	h := newHarnessAt(t, t.TempDir()+"/db", strings.Replace(testConfig, "failed_grants_per_minute: 1000", "failed_grants_per_minute: 3", 1))
	bad := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"ghost"}, "agent_checksum": {"sha256:" + strings.Repeat("a", 64)}}
	for range 3 {
		h.form("/token", "app", secrets["app"], bad, nil)
	}
	res := h.form("/token", "app", secrets["app"], bad, nil)
	wantError(t, res, 429, "slow_down")
	if res.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	h.clock.Advance(time.Minute)
	if res := h.form("/token", "app", secrets["app"], bad, nil); res.status == 429 {
		t.Fatal("still limited after the bucket refilled")
	}
}

func TestDPoPNonce(t *testing.T) {
	h := newHarnessAt(t, t.TempDir()+"/db", testConfig+"dpop_require_nonce: true\n")
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	res := h.grant("app", "solo", "", "", nil)
	wantError(t, res, 400, "use_dpop_nonce")
	nonce := res.header.Get("DPoP-Nonce")
	if nonce == "" {
		t.Fatal("no DPoP-Nonce header")
	}
	a := h.agents["solo"]
	proof, _ := dpop.NewProof(a.key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{Nonce: nonce, Now: h.clock.Now()})
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {"solo"}, "agent_checksum": {string(a.sum)}}
	if res := h.form("/token", "app", secrets["app"], v, http.Header{"Dpop": {proof}}); res.status != 200 {
		t.Fatalf("with nonce: %d %s", res.status, res.raw)
	}
	h.clock.Advance(3 * time.Minute)
	proof, _ = dpop.NewProof(a.key, http.MethodPost, h.issuer+"/token", dpop.ProofOptions{Nonce: nonce, Now: h.clock.Now()})
	wantError(t, h.form("/token", "app", secrets["app"], v, http.Header{"Dpop": {proof}}), 400, "use_dpop_nonce")
}

func TestPrivateKeyJWTAndHashedSecrets(t *testing.T) {
	ck, _ := keys.Generate(keys.ES256, nil)
	pub, _ := json.Marshal(ck.Public())
	hash, _ := HashSecret("correct horse battery staple")
	cfg := testConfig + "  - client_id: jwt-app\n    scopes: [repo:read]\n    jwks: {keys: [" + string(pub) + "]}\n" +
		"  - client_id: human\n    client_secret_hash: \"" + hash + "\"\n    scopes: [repo:read]\n"
	h := newHarnessAt(t, t.TempDir()+"/db", cfg)
	assertion := func(aud, jti string, ttl time.Duration) string {
		signer, _ := ck.JOSE("", nil)
		now := h.clock.Now()
		raw, _ := jwt.Signed(signer).Claims(map[string]any{"iss": "jwt-app", "sub": "jwt-app", "aud": aud, "jti": jti,
			"iat": now.Unix(), "exp": now.Add(ttl).Unix()}).Serialize()
		return raw
	}
	post := func(a string) *response {
		v := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
		return h.form("/token", "", "", v, nil)
	}
	if res := post(assertion(h.issuer, "a1", time.Minute)); res.status != 200 {
		t.Fatalf("private_key_jwt: %d %s", res.status, res.raw)
	}
	wantError(t, post(assertion(h.issuer, "a1", time.Minute)), 401, "invalid_client") // replayed jti
	wantError(t, post(assertion("https://elsewhere.example", "a2", time.Minute)), 401, "invalid_client")
	wantError(t, post(assertion(h.issuer, "a3", time.Hour)), 401, "invalid_client") // exp too far ahead
	for range 2 {                                                                   // the second check hits the cache of good argon2id results
		if res := h.form("/token", "human", "correct horse battery staple", url.Values{"grant_type": {"client_credentials"}}, nil); res.status != 200 {
			t.Fatalf("argon2id secret: %d %s", res.status, res.raw)
		}
	}
	wantError(t, h.form("/token", "human", "wrong horse", url.Values{"grant_type": {"client_credentials"}}, nil), 401, "invalid_client")
}

func TestPerClientRequestLimit(t *testing.T) {
	h := newHarnessAt(t, t.TempDir()+"/db", testConfig+"token_requests_per_second: 5\n")
	form := url.Values{"grant_type": {"client_credentials"}}
	for i := range 5 {
		if res := h.form("/token", "app", secrets["app"], form, nil); res.status != 200 {
			t.Fatalf("request %d: %d %s", i, res.status, res.raw)
		}
	}
	res := h.form("/token", "app", secrets["app"], form, nil)
	wantError(t, res, 429, "slow_down")
	if res.header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
	// Another client is not affected; time refills the bucket.
	if res := h.form("/token", "admin", secrets["admin"], form, nil); res.status != 200 {
		t.Fatalf("other client: %d", res.status)
	}
	h.clock.Advance(time.Second)
	if res := h.form("/token", "app", secrets["app"], form, nil); res.status != 200 {
		t.Fatalf("after refill: %d %s", res.status, res.raw)
	}
}
