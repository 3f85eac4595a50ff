package authserver

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
)

// The Go ecosystem's stock OAuth client, golang.org/x/oauth2/clientcredentials,
// against a real IdP on loopback: both ways it authenticates, scopes, the
// RFC 8707 resource as an endpoint parameter, its error mapping, and its
// tokens used as Bearer tokens through a real enforcer.

// interopSecret needs the RFC 6749 §2.3.1 form-encoding that x/oauth2 applies
// to Basic credentials, and that ajwt undoes.
const interopSecret = "s3cr:t+/&=% é"

const interopConfig = testConfig + `  - client_id: interop
    client_secret: "` + interopSecret + `"
    scopes: [ajwt:run, repo:read]
    audiences: [https://forge.example]
`

// interopOAuth2 is a harness with the interop client and the context that
// makes x/oauth2 use the harness's HTTP client.
func interopOAuth2(t *testing.T) (*harness, context.Context, string) {
	t.Helper()
	h := newHarnessAt(t, t.TempDir()+"/db", interopConfig)
	meta := h.jsonReq(http.MethodGet, "/.well-known/oauth-authorization-server", "", nil, nil)
	if meta.status != http.StatusOK || meta.str("token_endpoint") == "" {
		t.Fatalf("metadata: %d %s", meta.status, meta.raw)
	}
	return h, context.WithValue(t.Context(), oauth2.HTTPClient, h.ts.Client()), meta.str("token_endpoint")
}

func TestInteropOAuth2ClientCredentials(t *testing.T) {
	h, ctx, tokenURL := interopOAuth2(t)
	tests := []struct {
		name      string
		style     oauth2.AuthStyle
		scopes    []string
		resource  string
		wantScope string
		wantAud   string
	}{
		{"basic, all configured scopes", oauth2.AuthStyleInHeader, nil, "", "ajwt:run repo:read", h.issuer},
		{"post, all configured scopes", oauth2.AuthStyleInParams, nil, "", "ajwt:run repo:read", h.issuer},
		{"basic, one scope", oauth2.AuthStyleInHeader, []string{"repo:read"}, "", "repo:read", h.issuer},
		{"post, resource", oauth2.AuthStyleInParams, []string{"repo:read"}, "https://forge.example", "repo:read", "https://forge.example"},
		{"basic, resource", oauth2.AuthStyleInHeader, []string{"repo:read"}, "https://forge.example", "repo:read", "https://forge.example"},
		{"auto-detect", oauth2.AuthStyleAutoDetect, []string{"ajwt:run"}, "", "ajwt:run", h.issuer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := clientcredentials.Config{ClientID: "interop", ClientSecret: interopSecret, TokenURL: tokenURL,
				Scopes: tt.scopes, AuthStyle: tt.style}
			if tt.resource != "" {
				cfg.EndpointParams = url.Values{"resource": {tt.resource}}
			}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatal(err)
			}
			// x/oauth2 turns expires_in into Expiry.
			if tok.Type() != "Bearer" || !tok.Expiry.After(h.clock.Now()) {
				t.Fatalf("token type %q, expiry %v", tok.Type(), tok.Expiry)
			}
			if got, _ := tok.Extra("scope").(string); got != tt.wantScope {
				t.Errorf("scope %q, want %q", got, tt.wantScope)
			}
			c := h.verify(tok.AccessToken)
			if c.ClientID != "interop" || c.Subject != "interop" || c.Cnf != nil || c.Intent != nil || !slices.Equal([]string(c.Audience), []string{tt.wantAud}) {
				t.Fatalf("claims %+v", c)
			}
		})
	}
}

func TestInteropOAuth2RetrieveError(t *testing.T) {
	_, ctx, tokenURL := interopOAuth2(t)
	tests := []struct {
		name     string
		cfg      clientcredentials.Config
		status   int
		wantCode string
	}{
		{"wrong secret in the header", clientcredentials.Config{ClientID: "interop", ClientSecret: "wrong", AuthStyle: oauth2.AuthStyleInHeader}, 401, "invalid_client"},
		{"wrong secret in the body", clientcredentials.Config{ClientID: "interop", ClientSecret: "wrong", AuthStyle: oauth2.AuthStyleInParams}, 401, "invalid_client"},
		{"unknown client", clientcredentials.Config{ClientID: "nobody", ClientSecret: "x", AuthStyle: oauth2.AuthStyleInHeader}, 401, "invalid_client"},
		{"scope not configured", clientcredentials.Config{ClientID: "interop", ClientSecret: interopSecret, Scopes: []string{"repo:write"}, AuthStyle: oauth2.AuthStyleInParams}, 400, "invalid_scope"},
		{"resource not allowed", clientcredentials.Config{ClientID: "interop", ClientSecret: interopSecret, AuthStyle: oauth2.AuthStyleInHeader,
			EndpointParams: url.Values{"resource": {"https://elsewhere.example"}}}, 400, "invalid_target"},
		{"ajwt: scope for another audience", clientcredentials.Config{ClientID: "interop", ClientSecret: interopSecret, Scopes: []string{"ajwt:run"}, AuthStyle: oauth2.AuthStyleInHeader,
			EndpointParams: url.Values{"resource": {"https://forge.example"}}}, 400, "invalid_scope"},
		{"malformed resource", clientcredentials.Config{ClientID: "interop", ClientSecret: interopSecret, AuthStyle: oauth2.AuthStyleInParams,
			EndpointParams: url.Values{"resource": {"not a uri#frag"}}}, 400, "invalid_target"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.TokenURL = tokenURL
			_, err := tt.cfg.Token(ctx)
			var re *oauth2.RetrieveError
			if !errors.As(err, &re) {
				t.Fatalf("error %v (%T), want *oauth2.RetrieveError", err, err)
			}
			if re.ErrorCode != tt.wantCode || re.Response.StatusCode != tt.status || re.ErrorDescription == "" {
				t.Fatalf("got %d %q (%q), want %d %q", re.Response.StatusCode, re.ErrorCode, re.ErrorDescription, tt.status, tt.wantCode)
			}
		})
	}
}

const interopPolicy = `issuer: ISSUER
resource: https://forge.example
routes:
  - match: {method: GET, path: "/legacy/**"}
    scopes: [repo:read]
    legacy: allow
  - match: {method: GET, path: "/repos/{owner}/{repo}/tree"}
    scopes: [repo:read]
default: deny
`

// TestInteropOAuth2BearerThroughMiddleware: the http.Client x/oauth2 builds
// sends its token as Bearer (RFC 6750 §2.1); a real enforcer, which reads
// the IdP's metadata, JWKS and revocation feed, takes it on a legacy route
// and refuses it where an intent token is required.
func TestInteropOAuth2BearerThroughMiddleware(t *testing.T) {
	h, ctx, tokenURL := interopOAuth2(t)
	pol, err := policyfile.Parse([]byte(strings.ReplaceAll(interopPolicy, "ISSUER", h.issuer)))
	if err != nil {
		t.Fatal(err)
	}
	enf, err := middleware.New(ctx, pol, middleware.WithHTTPClient(h.ts.Client()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(enf.Close)
	seen := make(chan string, 4)
	api := httptest.NewServer(enf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := middleware.FromContext(r.Context())
		seen <- v.Claims.ClientID
		w.WriteHeader(http.StatusNoContent)
	})))
	t.Cleanup(api.Close)

	cfg := clientcredentials.Config{ClientID: "interop", ClientSecret: interopSecret, TokenURL: tokenURL, Scopes: []string{"repo:read"},
		EndpointParams: url.Values{"resource": {"https://forge.example"}}}
	hc := cfg.Client(ctx)
	tests := []struct {
		path   string
		status int
		reason string
	}{
		{"/legacy/status", http.StatusNoContent, ""},
		{"/repos/acme/web/tree", http.StatusUnauthorized, "legacy_token_refused"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res, err := hc.Get(api.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.status)
			}
			if tt.reason != "" {
				if ch := res.Header.Get("WWW-Authenticate"); !strings.Contains(ch, tt.reason) {
					t.Fatalf("challenge %q lacks %s", ch, tt.reason)
				}
				return
			}
			if got := <-seen; got != "interop" {
				t.Fatalf("upstream saw client %q", got)
			}
		})
	}
}
