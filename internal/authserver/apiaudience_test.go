package authserver

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// mintClientToken signs and records a client token with any scope and
// audience, as a token endpoint without the §4 scope rule (or an older
// release) could have issued it.
func (h *harness) mintClientToken(client, scope string, aud ...string) string {
	h.t.Helper()
	now := h.clock.Now()
	claims := &token.Claims{Subject: client, Audience: aud, ClientID: client, IssuedAt: now.Unix(),
		ExpiresAt: now.Add(time.Minute).Unix(), ID: newID(), Scope: scope}
	raw, err := h.srv.keyring.Issuer().Mint(claims)
	if err != nil {
		h.t.Fatal(err)
	}
	rec := &store.Token{JTI: claims.ID, Kind: store.TokenLegacy, ClientID: client, Scope: scope, Audience: aud[0],
		IssuedAt: now, ExpiresAt: now.Add(time.Minute)}
	if err := h.st.Update(h.t.Context(), func(tx store.Tx) error { return tx.PutToken(h.t.Context(), rec) }); err != nil {
		h.t.Fatal(err)
	}
	return raw
}

// TestIdPAPIsAcceptOnlyIssuerAudience: §4 — every /v1 endpoint that takes
// an access token accepts a non-intent token only if its aud is the
// issuer: a token for a resource server, or for the issuer and a resource
// server, is 401 invalid_token (wrong_audience), whatever its scopes.
func TestIdPAPIsAcceptOnlyIssuerAudience(t *testing.T) {
	h := approvalFixture(t)
	run := h.startRun("app", "wf", nil)
	const forge = "https://forge.example"
	all := "ajwt:admin ajwt:run ajwt:approve"
	endpoints := []struct {
		name, method, path string
		body               any
	}{
		{"GET agent", http.MethodGet, "/v1/agents/planner", nil},
		{"GET agent with spec", http.MethodGet, "/v1/agents/planner?include=spec", nil},
		{"PUT agent", http.MethodPut, "/v1/agents/planner", map[string]any{}},
		{"revoke agent", http.MethodPost, "/v1/agents/planner/revoke", nil},
		{"PUT workflow", http.MethodPut, "/v1/workflows/wf", map[string]any{}},
		{"GET workflow", http.MethodGet, "/v1/workflows/wf", nil},
		{"POST run", http.MethodPost, "/v1/runs", map[string]any{"workflow_id": "wf", "initiated_by": "user:alice"}},
		{"GET run", http.MethodGet, "/v1/runs/" + run, nil},
		{"approve", http.MethodPost, "/v1/runs/" + run + "/steps/approve/approve", map[string]string{"approver": "user:bob"}},
		{"revoke run", http.MethodPost, "/v1/runs/" + run + "/revoke", nil},
		{"audit", http.MethodGet, "/v1/audit", nil},
		{"revoke client", http.MethodPost, "/v1/clients/other-app/revoke", nil},
	}
	audiences := map[string][]string{
		"aud a resource server":                {forge},
		"aud the issuer and a resource server": {h.issuer, forge},
		"aud the token endpoint":               {h.issuer + "/token"},
	}
	for how, aud := range audiences {
		for _, client := range []string{"admin", "app", "approver"} {
			tok := "Bearer " + h.mintClientToken(client, all, aud...)
			for _, ep := range endpoints {
				t.Run(how+"/"+client+"/"+ep.name, func(t *testing.T) {
					res := h.jsonReq(ep.method, ep.path, tok, ep.body, nil)
					wantError(t, res, http.StatusUnauthorized, protocol.CodeInvalidToken)
					if res.str("reason") != protocol.ReasonWrongAudience {
						t.Fatalf("reason %q, want %s", res.str("reason"), protocol.ReasonWrongAudience)
					}
				})
			}
		}
	}
	t.Run("the owning client's token for a resource server reads no agent", func(t *testing.T) {
		res := h.form("/token", "app", secrets["app"], url.Values{"grant_type": {"client_credentials"}, "resource": {forge}}, nil)
		if res.status != 200 {
			t.Fatalf("client_credentials: %d %s", res.status, res.raw)
		}
		wantError(t, h.jsonReq(http.MethodGet, "/v1/agents/planner", "Bearer "+res.str("access_token"), nil, nil), 401, protocol.CodeInvalidToken)
	})
	t.Run("aud the issuer is accepted", func(t *testing.T) {
		for _, path := range []string{"/v1/agents/planner?include=spec", "/v1/workflows/wf", "/v1/runs/" + run, "/v1/audit"} {
			if res := h.jsonReq(http.MethodGet, path, "Bearer "+h.mintClientToken("admin", all, h.issuer), nil, nil); res.status != 200 {
				t.Errorf("%s: %d %s", path, res.status, res.raw)
			}
		}
	})
}

// TestIdPOwnTokensExpireAtExp: §4 — the IdP checks exp of its own tokens
// with no leeway, on its APIs, in introspection and for token exchange:
// one second before exp a token works, at exp and after it does not.
func TestIdPOwnTokensExpireAtExp(t *testing.T) {
	const ttl = 300 * time.Second // testConfig's token_ttl
	tests := []struct {
		name    string
		after   time.Duration
		working bool
	}{
		{"one second before exp", ttl - time.Second, true},
		{"at exp", ttl, false},
		{"within the old 5 s leeway", ttl + protocol.DefaultLeeway - time.Second, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}})
			h.registerWorkflow("w", map[string]any{"steps": []map[string]any{{"id": "s", "agent": "solo", "scopes": []string{"repo:read"}}}})
			app := h.bearer("app")
			subject := h.mustGrant("app", "solo", "", "", nil)
			h.clock.Advance(tt.after)
			api := h.jsonReq(http.MethodGet, "/v1/workflows/w", app, nil, nil)
			exchange := h.form("/token", "app", secrets["app"], url.Values{"grant_type": {protocol.GrantTokenExchange},
				"subject_token": {subject}, "subject_token_type": {protocol.TokenTypeAccessToken}},
				h.proof(h.agents["solo"].key, http.MethodPost, "/token", ""))
			active := h.introspect(app[len("Bearer "):])
			if tt.working {
				if api.status != 200 || exchange.status != 200 || !active {
					t.Fatalf("API %d %s, exchange %d %s, introspection active %v", api.status, api.raw, exchange.status, exchange.raw, active)
				}
				return
			}
			wantError(t, api, 401, protocol.CodeInvalidToken)
			if api.str("reason") != protocol.ReasonExpired {
				t.Fatalf("API reason %q, want expired", api.str("reason"))
			}
			wantError(t, exchange, 400, protocol.CodeInvalidRequest)
			if active {
				t.Fatal("introspection: active at or after exp")
			}
		})
	}
}
