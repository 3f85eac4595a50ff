package authserver

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

// TestTokenExchangeAudience: §6.4 — RFC 8693 audience is treated like
// resource: it must name an audience of the subject token (the result is
// addressed to it), otherwise invalid_target; audience and resource naming
// different targets are invalid_target too. Never silently ignored.
func TestTokenExchangeAudience(t *testing.T) {
	h := newHarness(t)
	const forge = "https://forge.example"
	h.registerAgent("solo", "app", []string{"repo:read"}, map[string]any{"workflow_required": false, "audiences": []string{forge}})
	subject := h.mustGrant("app", "solo", "", "", nil)
	tests := []struct {
		name, audience, resource string
		code                     string // "" for success, addressed to forge
	}{
		{name: "audience the subject's", audience: forge},
		{name: "audience and resource the same", audience: forge, resource: forge},
		{name: "resource alone", resource: forge},
		{name: "audience another server", audience: "https://evil.example", code: protocol.CodeInvalidTarget},
		{name: "audience a logical name", audience: "forge", code: protocol.CodeInvalidTarget},
		{name: "audience the issuer", audience: "ISSUER", code: protocol.CodeInvalidTarget},
		{name: "audience and resource differ", audience: forge, resource: "https://osv.example", code: protocol.CodeInvalidTarget},
		{name: "audience another, resource the subject's", audience: "https://evil.example", resource: forge, code: protocol.CodeInvalidTarget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"grant_type": {protocol.GrantTokenExchange}, "subject_token": {subject},
				"subject_token_type": {protocol.TokenTypeAccessToken}}
			if tt.audience != "" {
				if tt.audience == "ISSUER" {
					tt.audience = h.issuer
				}
				v.Set("audience", tt.audience)
			}
			if tt.resource != "" {
				v.Set("resource", tt.resource)
			}
			res := h.form("/token", "app", secrets["app"], v, h.proof(h.agents["solo"].key, http.MethodPost, "/token", ""))
			if tt.code != "" {
				wantError(t, res, http.StatusBadRequest, tt.code)
				return
			}
			if res.status != 200 {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			if c := h.verify(res.str("access_token")); !slices.Equal(c.Audience, []string{forge}) {
				t.Fatalf("aud %v, want [%s]", c.Audience, forge)
			}
		})
	}
}
