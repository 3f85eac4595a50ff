package middleware_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/token"
)

// exampleToken stands in for the IdP: an intent token for the planner at
// step plan of a run about acme/web, bound to the agent's key.
func exampleToken() (issuerJWKS token.KeySource, agent *keys.Signer, tok string) {
	issuerKey, _ := keys.Generate(keys.ES256, nil)
	agent, _ = keys.Generate(keys.EdDSA, nil)
	iss, _ := token.NewIssuer("http://127.0.0.1:8420", issuerKey)
	now := time.Now()
	chain := []string{"planner"}
	tok, _ = iss.Mint(&token.Claims{Subject: "planner", Audience: token.Audience{"https://forge.example"}, ClientID: "patch-app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: "example-jti", Scope: "repo:read",
		Cnf:        &token.Confirmation{JKT: agent.Thumbprint()},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000", RegistrationID: "r", Version: 1},
		Intent: &token.Intent{WorkflowID: "vuln-patch", WorkflowVersion: 1, RunID: "run-1", WorkflowStep: "plan", ExecutedBy: "planner",
			InitiatedBy: "user:alice", DelegationChain: chain, DelegationChainHash: token.ChainHash(chain),
			StepSequenceHash: token.StepSequenceHash(nil, "plan"), CompletedSteps: []string{}, ExecutionContext: map[string]string{"repo": "acme/web"}}})
	issuerJWKS, _ = token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}})
	return issuerJWKS, agent, tok
}

// An API protected by the middleware: the handler runs only for requests
// whose token, DPoP proof and route policy check out, and learns from the
// context which agent, run and step is calling. In production New finds
// the IdP's keys and revocation feed through its metadata; here a static
// key set stands in for the IdP.
func Example() {
	jwks, agent, tok := exampleToken()
	pol, _ := policy.Compile(policy.Rules{Issuer: "http://127.0.0.1:8420", Resource: "https://forge.example", Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/contents/**"}, Scopes: []string{"repo:read"},
			Context: map[string]string{"repo": "{owner}/{repo}"}},
	}})
	enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(jwks), middleware.WithoutRevocationFeed())
	if err != nil {
		panic(err)
	}
	defer enf.Close()
	api := httptest.NewServer(enf.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, _ := middleware.FromContext(r.Context())
		fmt.Fprintf(w, "%s at %s of %s", v.Claims.Subject, v.Claims.Intent.WorkflowStep, v.Claims.Intent.RunID)
	})))
	defer api.Close()

	for _, path := range []string{"/repos/acme/web/contents/go.mod", "/repos/acme/api/contents/go.mod"} {
		proof, _ := dpop.NewProof(agent, http.MethodGet, api.URL+path, dpop.ProofOptions{AccessToken: tok})
		req, _ := http.NewRequest(http.MethodGet, api.URL+path, nil)
		req.Header.Set("Authorization", "DPoP "+tok)
		req.Header.Set("DPoP", proof)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Printf("%d %s\n", res.StatusCode, body)
	}
	// Output:
	// 200 planner at plan of run-1
	// 403 {"error":"intent_mismatch","error_description":"request is outside the token's execution context (repo)","reason":"context_mismatch"}
}
