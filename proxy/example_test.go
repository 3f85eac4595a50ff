package proxy_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/proxy"
	"github.com/ajwt/ajwt/token"
)

// An unmodified API behind the enforcing proxy: it sees only requests the
// policy allows, never the caller's credentials, and learns who calls
// from the Ajwt-* headers, which a client cannot forge (the proxy drops
// any it sends). `ajwt proxy` is this, with a policy file, the IdP's
// keys and revocation feed, and an access log; a static key set stands in
// for the IdP here.
func Example() {
	issuerKey, _ := keys.Generate(keys.ES256, nil)
	agent, _ := keys.Generate(keys.EdDSA, nil)
	iss, _ := token.NewIssuer("http://127.0.0.1:8420", issuerKey)
	now := time.Now()
	chain := []string{"patcher"}
	tok, _ := iss.Mint(&token.Claims{Subject: "patcher", Audience: token.Audience{"https://forge.example"}, ClientID: "patch-app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: "example-jti", Scope: "repo:read",
		Cnf:        &token.Confirmation{JKT: agent.Thumbprint()},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000", RegistrationID: "r", Version: 1},
		Intent: &token.Intent{WorkflowID: "vuln-patch", WorkflowVersion: 1, RunID: "run-1", WorkflowStep: "patch", ExecutedBy: "patcher",
			InitiatedBy: "user:alice", DelegationChain: chain, DelegationChainHash: token.ChainHash(chain),
			StepSequenceHash: token.StepSequenceHash(nil, "patch"), CompletedSteps: []string{}, ExecutionContext: map[string]string{"repo": "acme/web"}}})
	jwks, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}})

	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Printf("API: %s %s by %s (run %s, step %s, for %s); Authorization %q\n", r.Method, r.URL.Path,
			r.Header.Get("Ajwt-Agent"), r.Header.Get("Ajwt-Run"), r.Header.Get("Ajwt-Step"), r.Header.Get("Ajwt-Initiated-By"), r.Header.Get("Authorization"))
	}))
	defer api.Close()
	pol, _ := policy.Compile(policy.Rules{Issuer: "http://127.0.0.1:8420", Resource: "https://forge.example", Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/tree"}, Scopes: []string{"repo:read"},
			Context: map[string]string{"repo": "{owner}/{repo}"}},
	}})
	enf, _ := middleware.New(context.Background(), pol, middleware.WithKeySource(jwks), middleware.WithoutRevocationFeed())
	defer enf.Close()
	upstream, _ := url.Parse(api.URL)
	h, err := proxy.New(upstream, enf, proxy.Options{})
	if err != nil {
		panic(err)
	}
	front := httptest.NewServer(h)
	defer front.Close()

	u := front.URL + "/repos/acme/web/tree"
	proof, _ := dpop.NewProof(agent, http.MethodGet, u, dpop.ProofOptions{AccessToken: tok})
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	req.Header.Set("Ajwt-Initiated-By", "user:ceo") // dropped: the token says who
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println("client:", res.StatusCode)
	// Output:
	// API: GET /repos/acme/web/tree by patcher (run run-1, step patch, for user:alice); Authorization ""
	// client: 200
}
