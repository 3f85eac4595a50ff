package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/dpop/dpoptest"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/token"
)

// BenchmarkCheck is the enforcer's whole decision for one request: token,
// DPoP proof (made before the timer) and route policy, with the
// verified-token cache (the same token on every request, as in a step)
// and without it.
func BenchmarkCheck(b *testing.B) {
	agent, tok, ks := benchToken(b)
	pol, _ := policy.Compile(policy.Rules{Issuer: "https://idp.example", Resource: "https://api.example", Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/contents/**"}, Scopes: []string{"repo:read"},
			Steps: []string{"plan"}, Context: map[string]string{"repo": "{owner}/{repo}"}}}})
	const url = "http://api.example/repos/acme/web/contents/go.mod"
	for _, bc := range []struct {
		name  string
		cache int
	}{{"token-cache", middleware.DefaultTokenCache}, {"no-token-cache", 0}} {
		b.Run(bc.name, func(b *testing.B) {
			enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(ks), middleware.WithoutRevocationFeed(),
				middleware.WithTokenCache(bc.cache))
			if err != nil {
				b.Fatal(err)
			}
			proofs := &dpoptest.ProofBatches{Make: func() (string, error) {
				return dpop.NewProof(agent, http.MethodGet, url, dpop.ProofOptions{AccessToken: tok})
			}}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodGet, url, nil)
				r.Header.Set("Authorization", "DPoP "+tok)
				r.Header.Set("DPoP", proofs.Next(b))
				if _, err := enf.Check(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchToken mints a planner's intent token for https://api.example and
// returns the agent's key and the issuer's key set.
func benchToken(b *testing.B) (*keys.Signer, string, token.KeySource) {
	issuerKey, _ := keys.Generate(keys.ES256, nil)
	agent, _ := keys.Generate(keys.EdDSA, nil)
	iss, _ := token.NewIssuer("https://idp.example", issuerKey)
	now := time.Now()
	chain := []string{"planner"}
	tok, err := iss.Mint(&token.Claims{Subject: "planner", Audience: token.Audience{"https://api.example"}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), ID: "j1", Scope: "repo:read",
		Cnf:        &token.Confirmation{JKT: agent.Thumbprint()},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000", RegistrationID: "r", Version: 1},
		Intent: &token.Intent{WorkflowID: "wf", WorkflowVersion: 1, RunID: "run", WorkflowStep: "plan", ExecutedBy: "planner",
			DelegationChain: chain, DelegationChainHash: token.ChainHash(chain), StepSequenceHash: token.StepSequenceHash(nil, "plan"),
			CompletedSteps: []string{}, ExecutionContext: map[string]string{"repo": "acme/web"}}})
	if err != nil {
		b.Fatal(err)
	}
	ks, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}})
	return agent, tok, ks
}

// BenchmarkCheckMCP compares the enforcer's decision for an MCP tools/call
// (body read, JSON-RPC parsed, tool rule with an {args.repo} context) with
// the same decision for a plain HTTP request to an equivalent route; the
// MCP work should stay within 1.5× of the plain one.
func BenchmarkCheckMCP(b *testing.B) {
	agent, tok, ks := benchToken(b)
	pol, _ := policy.Compile(policy.Rules{Issuer: "https://idp.example", Resource: "https://api.example", Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/contents/**"}, Scopes: []string{"repo:read"},
			Steps: []string{"plan"}, Context: map[string]string{"repo": "{owner}/{repo}"}},
		{Match: policy.MatchRule{Method: "POST", Path: "/mcp"}, Workflow: "wf", MCP: &policy.MCPRule{Tools: []policy.ToolRule{
			{Name: "read_file", Scopes: []string{"repo:read"}, Steps: []string{"plan"}, Context: map[string]string{"repo": "{args.repo}"}}}}}}})
	enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(ks), middleware.WithoutRevocationFeed())
	if err != nil {
		b.Fatal(err)
	}
	const call = `{"jsonrpc":"2.0","id":42,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"acme/web","path":"go.mod"}}}`
	for _, bc := range []struct{ name, method, url, body string }{
		{"http", http.MethodGet, "http://api.example/repos/acme/web/contents/go.mod", ""},
		{"mcp-tools-call", http.MethodPost, "http://api.example/mcp", call},
	} {
		b.Run(bc.name, func(b *testing.B) {
			proofs := &dpoptest.ProofBatches{Make: func() (string, error) {
				return dpop.NewProof(agent, bc.method, bc.url, dpop.ProofOptions{AccessToken: tok})
			}}
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(bc.method, bc.url, strings.NewReader(bc.body))
				r.Header.Set("Authorization", "DPoP "+tok)
				r.Header.Set("DPoP", proofs.Next(b))
				if _, err := enf.Check(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
