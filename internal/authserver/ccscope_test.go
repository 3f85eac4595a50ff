package authserver

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

// TestClientCredentialsScopeByAudience: §4 — ajwt: scopes are granted only
// in tokens addressed to the issuer. With another resource they leave the
// default scope, asking for one is invalid_scope, and so is a request
// whose default scope would be empty.
func TestClientCredentialsScopeByAudience(t *testing.T) {
	h := newHarnessAt(t, t.TempDir()+"/db", testConfig+"  - client_id: bare\n    client_secret: bare-secret\n")
	const forge = "https://forge.example"
	tests := []struct {
		name, client, resource, scope string
		wantScope, wantAud            string // wantAud "" is the issuer
		wantCode                      string
	}{
		{name: "no resource: every scope", client: "app", wantScope: "ajwt:run repo:read"},
		{name: "resource the issuer: every scope", client: "app", resource: "ISSUER", wantScope: "ajwt:run repo:read"},
		{name: "resource a server: ajwt scopes left out", client: "app", resource: forge, wantScope: "repo:read", wantAud: forge},
		{name: "resource a server, plain scope asked", client: "app", resource: forge, scope: "repo:read", wantScope: "repo:read", wantAud: forge},
		{name: "resource a server, ajwt scope asked", client: "app", resource: forge, scope: "ajwt:run", wantCode: protocol.CodeInvalidScope},
		{name: "resource a server, ajwt scope among others", client: "app", resource: forge, scope: "repo:read ajwt:run", wantCode: protocol.CodeInvalidScope},
		{name: "resource the issuer, ajwt scope asked", client: "app", resource: "ISSUER", scope: "ajwt:run", wantScope: "ajwt:run"},
		{name: "only ajwt scopes, resource a server: empty default", client: "admin", resource: forge, wantCode: protocol.CodeInvalidScope},
		{name: "only ajwt scopes, no resource", client: "admin", wantScope: "ajwt:admin"},
		{name: "no scopes configured: empty default", client: "bare", wantCode: protocol.CodeInvalidScope},
		{name: "resource not allowed wins over scope", client: "app", resource: "https://evil.example", scope: "ajwt:run", wantCode: protocol.CodeInvalidTarget},
	}
	secretOf := map[string]string{"bare": "bare-secret"}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"grant_type": {"client_credentials"}}
			if tt.resource != "" {
				v.Set("resource", strings.ReplaceAll(tt.resource, "ISSUER", h.issuer))
			}
			if tt.scope != "" {
				v.Set("scope", tt.scope)
			}
			secret, ok := secretOf[tt.client]
			if !ok {
				secret = secrets[tt.client]
			}
			res := h.form("/token", tt.client, secret, v, nil)
			if tt.wantCode != "" {
				wantError(t, res, http.StatusBadRequest, tt.wantCode)
				return
			}
			if res.status != 200 {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			c := h.verify(res.str("access_token"))
			aud := tt.wantAud
			if aud == "" {
				aud = h.issuer
			}
			if c.Scope != tt.wantScope || res.str("scope") != tt.wantScope || !slices.Equal(c.Audience, []string{aud}) {
				t.Fatalf("scope %q (response %q), aud %v; want %q, [%s]", c.Scope, res.str("scope"), c.Audience, tt.wantScope, aud)
			}
		})
	}
}
