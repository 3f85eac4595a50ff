package policy

import (
	"errors"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

func mcpPolicy(t testing.TB) *Route {
	t.Helper()
	p, err := Compile(Rules{Issuer: "http://127.0.0.1:8420", Resource: "http://127.0.0.1:9000/mcp",
		Routes: []Rule{{Match: MatchRule{Method: "POST", Path: "/t/{tenant}/mcp"}, Workflow: "vuln-patch", MCP: &MCPRule{
			Methods: []string{"resources/list"},
			Tools: []ToolRule{
				{Name: "list_files", Scopes: []string{"repo:read"}, Steps: []string{"classify", "plan"}, Agents: []string{"classifier", "planner"},
					Context: map[string]string{"repo": "{args.repo}"}},
				{Name: "merge_pull_request", Scopes: []string{"repo:write"}, Steps: []string{"patch"}, Agents: []string{"patcher"},
					Context: map[string]string{"repo": "{args.repo}", "tenant": "{tenant}"}, OneTime: true},
			}}}}})
	if err != nil {
		t.Fatal(err)
	}
	return p.Routes()[0]
}

func msg(t *testing.T, body string) *MCPMessage {
	t.Helper()
	m, err := ParseMCPMessage([]byte(body))
	if err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return m
}

func TestAuthorizeMCP(t *testing.T) {
	r := mcpPolicy(t)
	params := map[string]string{"tenant": "acme"}
	classifier := Subject{Agent: "classifier", Scopes: []string{"repo:read"}, Workflow: "vuln-patch", Step: "classify",
		ExecutionContext: map[string]string{"repo": "acme/web"}}
	patcher := Subject{Agent: "patcher", Scopes: []string{"repo:read", "repo:write"}, Workflow: "vuln-patch", Step: "patch",
		ExecutionContext: map[string]string{"repo": "acme/web", "tenant": "acme"}}
	call := func(tool, args string) string {
		return `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":` + args + `}}`
	}
	tests := []struct {
		name    string
		subject Subject
		body    string
		reason  string // "" allowed
		once    bool
	}{
		{"initialize", classifier, `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, "", false},
		{"ping", classifier, `{"jsonrpc":"2.0","id":"p","method":"ping"}`, "", false},
		{"notification", classifier, `{"jsonrpc":"2.0","method":"notifications/initialized"}`, "", false},
		{"tools/list", classifier, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`, "", false},
		{"extra method", classifier, `{"jsonrpc":"2.0","id":2,"method":"resources/list"}`, "", false},
		{"other method", classifier, `{"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"x"}}`, protocol.ReasonMethodNotAllowed, false},
		{"response from the client", classifier, `{"jsonrpc":"2.0","id":2,"result":{}}`, protocol.ReasonMethodNotAllowed, false},
		{"tools/call as notification", patcher, `{"jsonrpc":"2.0","method":"tools/call","params":{"name":"merge_pull_request"}}`, protocol.ReasonMethodNotAllowed, false},
		{"allowed tool", classifier, call("list_files", `{"repo":"acme/web"}`), "", false},
		{"unlisted tool", patcher, call("delete_repository", `{"repo":"acme/web"}`), protocol.ReasonToolNotAllowed, false},
		{"tool case differs", patcher, call("Merge_pull_request", `{"repo":"acme/web"}`), protocol.ReasonToolNotAllowed, false},
		{"tool outside the step", classifier, call("merge_pull_request", `{"repo":"acme/web","number":1}`), protocol.ReasonInsufficientScope, false},
		{"wrong step", Subject{Agent: "patcher", Scopes: []string{"repo:read"}, Workflow: "vuln-patch", Step: "patch"}, call("list_files", `{"repo":"acme/web"}`), protocol.ReasonWrongStep, false},
		{"swapped repository", patcher, call("merge_pull_request", `{"repo":"acme/api","number":1}`), protocol.ReasonContextMismatch, false},
		{"repository not a string", patcher, call("merge_pull_request", `{"repo":["acme/web"],"number":1}`), protocol.ReasonContextMismatch, false},
		{"no arguments", patcher, `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"merge_pull_request"}}`, protocol.ReasonContextMismatch, false},
		{"one-time tool", patcher, call("merge_pull_request", `{"repo":"acme/web","number":1}`), "", true},
		{"escaped tool name", patcher, call(`merge_pull\u005frequest`, `{"repo":"acme\/web"}`), "", true},
		{"legacy token", Subject{Legacy: true, Scopes: []string{"repo:read"}}, call("list_files", `{"repo":"acme/web"}`), protocol.ReasonLegacyTokenRefused, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			once, err := r.AuthorizeMCP(params, msg(t, tt.body), tt.subject)
			if tt.reason == "" {
				if err != nil || once != tt.once {
					t.Fatalf("err = %v, once = %v; want allowed, once %v", err, once, tt.once)
				}
				return
			}
			var pe *protocol.Error
			want := 403
			if tt.reason == protocol.ReasonLegacyTokenRefused {
				want = 401
			}
			if !errors.As(err, &pe) || pe.Reason != tt.reason || pe.Status != want {
				t.Fatalf("err = %v, want %d %s", err, want, tt.reason)
			}
		})
	}
}

func TestScopeChallengeNamesTheScopes(t *testing.T) {
	r := mcpPolicy(t)
	s := Subject{Agent: "patcher", Scopes: []string{"repo:read"}, Workflow: "vuln-patch", Step: "patch"}
	_, err := r.AuthorizeMCP(nil, msg(t, `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"merge_pull_request","arguments":{}}}`), s)
	var pe *protocol.Error
	if !errors.As(err, &pe) || pe.Code != protocol.CodeInsufficientScope || pe.Scope != "repo:write" {
		t.Fatalf("err = %#v", err)
	}
}

func TestToolVisible(t *testing.T) {
	r := mcpPolicy(t)
	tests := []struct {
		s    Subject
		tool string
		want bool
	}{
		{Subject{Agent: "classifier", Scopes: []string{"repo:read"}, Workflow: "vuln-patch", Step: "classify"}, "list_files", true},
		{Subject{Agent: "classifier", Scopes: []string{"repo:read"}, Workflow: "vuln-patch", Step: "classify"}, "merge_pull_request", false},
		{Subject{Agent: "patcher", Scopes: []string{"repo:write"}, Workflow: "vuln-patch", Step: "patch"}, "merge_pull_request", true},
		{Subject{Agent: "patcher", Scopes: []string{"repo:write"}, Workflow: "other", Step: "patch"}, "merge_pull_request", true}, // the route checks the workflow
		{Subject{Agent: "patcher", Scopes: []string{"repo:write"}, Workflow: "vuln-patch", Step: "patch"}, "delete_repository", false},
		{Subject{Legacy: true, Scopes: []string{"repo:read"}}, "list_files", false},
	}
	for _, tt := range tests {
		if got := r.ToolVisible(tt.tool, tt.s); got != tt.want {
			t.Errorf("%s for %+v = %v, want %v", tt.tool, tt.s, got, tt.want)
		}
	}
}

func TestParseMCPMessageRefusals(t *testing.T) {
	tests := []struct{ name, body, reason string }{
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"ping"}]`, protocol.ReasonMCPBatch},
		{"batch after space", " \n[]", protocol.ReasonMCPBatch},
		{"empty", ``, protocol.ReasonMCPMalformed},
		{"not json", `hello`, protocol.ReasonMCPMalformed},
		{"not an object", `"ping"`, protocol.ReasonMCPMalformed},
		{"no jsonrpc", `{"id":1,"method":"ping"}`, protocol.ReasonMCPMalformed},
		{"jsonrpc 1.0", `{"jsonrpc":"1.0","id":1,"method":"ping"}`, protocol.ReasonMCPMalformed},
		{"duplicate method", `{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}`, protocol.ReasonMCPMalformed},
		{"duplicate escaped", `{"jsonrpc":"2.0","id":1,"method":"ping","\u006dethod":"tools/call"}`, protocol.ReasonMCPMalformed},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":7}`, protocol.ReasonMCPMalformed},
		{"id object", `{"jsonrpc":"2.0","id":{},"method":"ping"}`, protocol.ReasonMCPMalformed},
		{"id null on request", `{"jsonrpc":"2.0","id":null,"method":"ping"}`, protocol.ReasonMCPMalformed},
		{"call without params", `{"jsonrpc":"2.0","id":1,"method":"tools/call"}`, protocol.ReasonMCPMalformed},
		{"call with name number", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":1}}`, protocol.ReasonMCPMalformed},
		{"arguments array", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":[]}}`, protocol.ReasonMCPMalformed},
		{"params string", `{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}`, protocol.ReasonMCPMalformed},
		{"neither request nor response", `{"jsonrpc":"2.0","id":1}`, protocol.ReasonMCPMalformed},
		{"trailing data", `{"jsonrpc":"2.0","id":1,"method":"ping"} {}`, protocol.ReasonMCPMalformed},
		{"not utf-8", "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\xff\"}", protocol.ReasonMCPMalformed},
		{"too deep", `{"jsonrpc":"2.0","id":1,"method":"ping","params":` + nest(40) + `}`, protocol.ReasonMCPMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMCPMessage([]byte(tt.body))
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Reason != tt.reason || pe.Status != 400 || pe.Code != protocol.CodeInvalidRequest {
				t.Fatalf("err = %v, want 400 %s", err, tt.reason)
			}
		})
	}
}

// TestCaseSensitiveMembers: {"Method": …} is no method to a JSON-RPC
// server; it must not be one to the enforcer either.
func TestCaseSensitiveMembers(t *testing.T) {
	m, err := ParseMCPMessage([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/list","Method":"tools/call","params":{"Name":"merge_pull_request","name":"list_files"}}`))
	if err != nil || m.Method != "tools/list" || m.Tool != "" {
		t.Fatalf("%+v, %v", m, err)
	}
}

func nest(n int) string {
	s := "1"
	for range n {
		s = "[" + s + "]"
	}
	return s
}

func FuzzParseMCPMessage(f *testing.F) {
	f.Add([]byte(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"merge_pull_request","arguments":{"repo":"acme/web"}}}`))
	f.Add([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`))
	f.Add([]byte(`{"jsonrpc":"2.0","id":"x","result":{}}`))
	f.Add([]byte(`[1]`))
	r := mcpPolicy(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := ParseMCPMessage(body)
		if err != nil {
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Status != 400 {
				t.Fatalf("refusal not a 400 protocol error: %v", err)
			}
			return
		}
		_, _ = r.AuthorizeMCP(nil, m, Subject{Agent: "patcher", Scopes: []string{"repo:write"}, Workflow: "vuln-patch", Step: "patch"})
	})
}
