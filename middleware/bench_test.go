package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
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
