package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/token"
)

// TestAccessLogMCPTool: the access log names the MCP tool of allowed and
// refused calls, and the decision counter labels only tools the policy
// lists, so callers cannot grow its label set.
func TestAccessLogMCPTool(t *testing.T) {
	issuerKey, _ := keys.Generate(keys.ES256, nil)
	agent, _ := keys.Generate(keys.EdDSA, nil)
	iss, _ := token.NewIssuer("https://idp.example", issuerKey)
	now := time.Now()
	tok, err := iss.Mint(&token.Claims{Subject: "planner", Audience: token.Audience{"https://api.example"}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), ID: "j1", Scope: "repo:read",
		Cnf:        &token.Confirmation{JKT: agent.Thumbprint()},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000", RegistrationID: "r", Version: 1},
		Intent: &token.Intent{WorkflowID: "wf", WorkflowVersion: 1, RunID: "run", WorkflowStep: "plan", ExecutedBy: "planner",
			DelegationChain: []string{"planner"}, DelegationChainHash: token.ChainHash([]string{"planner"}), StepSequenceHash: token.StepSequenceHash(nil, "plan"),
			CompletedSteps: []string{}, ExecutionContext: map[string]string{"repo": "acme/web"}}})
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}})
	pol, err := policy.Compile(policy.Rules{Issuer: "https://idp.example", Resource: "https://api.example", Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "POST", Path: "/mcp"}, MCP: &policy.MCPRule{Tools: []policy.ToolRule{
			{Name: "read_file", Scopes: []string{"repo:read"}, Context: map[string]string{"repo": "{args.repo}"}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "d"}, []string{"decision", "reason", "tool"})
	enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(ks), middleware.WithoutRevocationFeed(),
		middleware.WithResultHook(accessLog(slog.New(slog.NewJSONHandler(&logs, nil)), decisions, pol, 1)))
	if err != nil {
		t.Fatal(err)
	}
	h := enf.Handler(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tool := range []string{"read_file", "read_file", "invented_tool_1", "invented_tool_2"} {
		const u = "http://api.example/mcp"
		proof, _ := dpop.NewProof(agent, http.MethodPost, u, dpop.ProofOptions{AccessToken: tok})
		r := httptest.NewRequest(http.MethodPost, u, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"`+tool+`","arguments":{"repo":"acme/web"}}}`))
		r.Header.Set("Authorization", "DPoP "+tok)
		r.Header.Set("DPoP", proof)
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if got := testutil.ToFloat64(decisions.WithLabelValues("allow", "", "read_file")); got != 2 {
		t.Errorf("allowed read_file counted %v times, want 2", got)
	}
	if got := testutil.ToFloat64(decisions.WithLabelValues("deny", "tool_not_allowed", "")); got != 2 {
		t.Errorf("unlisted tools counted %v times under the empty label, want 2", got)
	}
	if n := testutil.CollectAndCount(decisions); n != 2 {
		t.Errorf("%d label sets, want 2 (callers must not create labels)", n)
	}
	for _, want := range []string{`"tool":"read_file"`, `"tool":"invented_tool_1"`, `"mcp_method":"tools/call"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("access log lacks %s:\n%s", want, logs.String())
		}
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the access log holds the token")
	}
}
