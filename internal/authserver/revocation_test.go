package authserver

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

func (h *harness) introspect(tok string) bool {
	h.t.Helper()
	res := h.form("/introspect", "app", secrets["app"], url.Values{"token": {tok}}, nil)
	if res.status != 200 {
		h.t.Fatalf("introspect: %d %s", res.status, res.raw)
	}
	active, _ := res.body["active"].(bool)
	return active
}

func (h *harness) feed(since string) *response {
	h.t.Helper()
	return h.jsonReq(http.MethodGet, "/v1/revocations?since="+since, "", nil, nil)
}

func TestRevocationCascade(t *testing.T) {
	t.Run("delegator token revokes delegated tokens", func(t *testing.T) {
		h := newHarness(t)
		h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
		h.registerAgent("worker", "app", []string{"repo:read"}, nil)
		h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
			{"id": "lead", "agent": "boss", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
			{"id": "work", "agent": "worker", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"boss"}},
		}})
		run := h.startRun("app", "w", nil)
		bossTok := h.mustGrant("app", "boss", run, "lead", nil)
		as := h.assertion(h.agents["boss"].key, "boss", "worker", run, "work", 30*time.Second, "x")
		workTok := h.mustGrant("app", "worker", run, "work", url.Values{"delegation_assertion": {as}})
		if !h.introspect(workTok) {
			t.Fatal("delegated token inactive before revocation")
		}
		res := h.form("/revoke", "app", secrets["app"], url.Values{"token": {bossTok}}, nil)
		if res.status != 200 {
			t.Fatalf("revoke: %d %s", res.status, res.raw)
		}
		if h.introspect(bossTok) || h.introspect(workTok) {
			t.Fatal("revoking the delegator's token left a token active")
		}
		if got := len(h.feed("").body["revoked"].([]any)); got != 2 {
			t.Fatalf("feed has %d entries, want 2 (both tokens)", got)
		}
	})
	t.Run("agent revocation revokes its tokens", func(t *testing.T) {
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		tok := h.mustGrant("app", "planner", run, "plan", nil)
		h.jsonReq(http.MethodPost, "/v1/agents/planner/revoke", h.bearer("admin"), nil, nil)
		if h.introspect(tok) {
			t.Fatal("token of a revoked agent still active")
		}
		entries := h.feed("").body["revoked"].([]any)
		if first := entries[0].(map[string]any); first["type"] != "agent" || first["id"] != "planner" {
			t.Fatalf("feed %v", entries)
		}
		wantError(t, h.complete("planner", run, "plan", tok), 401, "invalid_token")
	})
	t.Run("run revocation revokes its tokens and stops the run", func(t *testing.T) {
		h := fixture(t)
		run := h.startRun("app", "wf", nil)
		tok := h.mustGrant("app", "planner", run, "plan", nil)
		res := h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/revoke", h.bearer("app"), nil, nil)
		if res.status != 200 || res.str("status") != "revoked" {
			t.Fatalf("revoke run: %d %s", res.status, res.raw)
		}
		if h.introspect(tok) {
			t.Fatal("token of a revoked run still active")
		}
		wantError(t, h.grant("app", "planner", run, "plan", nil), 403, "workflow_step_unauthorized")
	})
	t.Run("re-registration revokes older versions' tokens", func(t *testing.T) {
		h := fixture(t)
		tok := h.mustGrant("app", "loner", "", "", nil)
		h.registerAgent("loner", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
		if h.introspect(tok) {
			t.Fatal("token of an older version still active")
		}
	})
}

func TestRevocationFeedLongPoll(t *testing.T) {
	h := fixture(t)
	cursor := h.feed("").str("cursor")
	done := make(chan *response, 1)
	go func() { done <- h.jsonReq(http.MethodGet, "/v1/revocations?wait=10&since="+cursor, "", nil, nil) }()
	time.Sleep(100 * time.Millisecond)
	h.jsonReq(http.MethodPost, "/v1/agents/loner/revoke", h.bearer("admin"), nil, nil)
	select {
	case res := <-done:
		if got := res.body["revoked"].([]any); len(got) != 1 {
			t.Fatalf("long poll returned %s", res.raw)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("long poll did not wake on a revocation")
	}
	wantError(t, h.jsonReq(http.MethodGet, "/v1/revocations?wait=31", "", nil, nil), 400, "invalid_request")
}

func TestTokenExchangeDownScopes(t *testing.T) {
	h := newHarness(t)
	h.registerAgent("solo", "app", []string{"repo:read", "repo:write"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	subject := h.mustGrant("app", "solo", "", "", nil)
	exchange := func(scope string, key string) *response {
		v := url.Values{"grant_type": {protocol.GrantTokenExchange}, "subject_token": {subject},
			"subject_token_type": {protocol.TokenTypeAccessToken}, "scope": {scope}}
		a := h.agents[key]
		return h.form("/token", "app", secrets["app"], v, h.proof(a.key, http.MethodPost, "/token", ""))
	}
	res := exchange("repo:read", "solo")
	if res.status != 200 || res.str("issued_token_type") != protocol.TokenTypeAccessToken {
		t.Fatalf("exchange: %d %s", res.status, res.raw)
	}
	c := h.verify(res.str("access_token"))
	if c.Scope != "repo:read" || c.Subject != "solo" || c.Cnf.JKT != h.agents["solo"].key.Thumbprint() {
		t.Fatalf("exchanged claims %+v", c)
	}
	wantError(t, exchange("repo:admin", "solo"), 400, "invalid_scope")
	h.registerAgent("thief", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
	wantError(t, exchange("repo:read", "thief"), 400, "invalid_dpop_proof")
	// Revoking the subject revokes what was exchanged from it.
	h.form("/revoke", "app", secrets["app"], url.Values{"token": {subject}}, nil)
	if h.introspect(res.str("access_token")) {
		t.Fatal("exchanged token survived the subject's revocation")
	}
}

func TestStockOAuth2ClientCredentials(t *testing.T) {
	h := newHarness(t)
	meta := h.jsonReq(http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, nil)
	cfg := clientcredentials.Config{ClientID: "app", ClientSecret: "app-secret", TokenURL: meta.str("token_endpoint"),
		EndpointParams: url.Values{"resource": {"https://forge.example"}}}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, h.ts.Client())
	tok, err := cfg.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := h.verify(tok.AccessToken)
	if tok.TokenType != "Bearer" || c.Subject != "app" || c.Cnf != nil || c.Intent != nil || !c.Audience.Contains("https://forge.example") {
		t.Fatalf("legacy token %+v %+v", tok, c)
	}
	wrong := clientcredentials.Config{ClientID: "app", ClientSecret: "nope", TokenURL: meta.str("token_endpoint")}
	if _, err := wrong.Token(ctx); err == nil {
		t.Fatal("wrong secret accepted")
	}
	for _, k := range []string{"issuer", "jwks_uri", "agent_registration_endpoint", "revocation_feed_endpoint"} {
		if meta.str(k) == "" {
			t.Errorf("metadata lacks %s", k)
		}
	}
}

func TestKeyRotationKeepsOldTokensValid(t *testing.T) {
	h := newHarness(t)
	before := h.clientToken("app")
	kid, err := RotateKey(t.Context(), h.st, "ES256", h.clock.Now(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.srv.keyring.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	after := h.clientToken("app")
	h.verify(before)
	if c := h.verify(after); c == nil {
		t.Fatal("new token does not verify")
	}
	jwks := h.jsonReq(http.MethodGet, "/jwks.json", "", nil, nil)
	if n := len(jwks.body["keys"].([]any)); n != 2 {
		t.Fatalf("jwks has %d keys after rotation, want 2", n)
	}
	if !h.introspect(before) {
		t.Fatal("token signed before rotation is inactive")
	}
	_ = kid
	// After the maximum token lifetime the retired key leaves the JWKS.
	h.clock.Advance(10 * time.Minute)
	if err := h.srv.keyring.load(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := len(h.jsonReq(http.MethodGet, "/jwks.json", "", nil, nil).body["keys"].([]any)); n != 1 {
		t.Fatalf("jwks has %d keys long after rotation, want 1", n)
	}
}

func TestAuditChain(t *testing.T) {
	h := fixture(t)
	run := h.startRun("app", "wf", nil)
	h.mustGrant("app", "planner", run, "plan", nil)
	h.grant("app", "patcher", run, "patch", nil) // refused: audited too
	res := h.jsonReq(http.MethodGet, "/v1/audit?run_id="+run, h.bearer("admin"), nil, nil)
	if res.status != 200 {
		t.Fatalf("audit: %d %s", res.status, res.raw)
	}
	var outcomes []string
	for _, e := range res.body["entries"].([]any) {
		outcomes = append(outcomes, e.(map[string]any)["outcome"].(string))
	}
	if len(outcomes) < 3 {
		t.Fatalf("audit of the run: %v", outcomes)
	}
	var all []*store.AuditEntry
	h.st.View(t.Context(), func(tx store.Tx) (err error) {
		all, err = tx.Audit(t.Context(), store.AuditFilter{Limit: 10000})
		return err
	})
	if seq, why := store.VerifyAuditChain(all); seq != 0 {
		t.Fatalf("chain broken at %d: %s", seq, why)
	}
	wantError(t, h.jsonReq(http.MethodGet, "/v1/audit", h.bearer("app"), nil, nil), 403, "insufficient_scope")
}
