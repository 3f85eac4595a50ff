package policy_test

import (
	"errors"
	"fmt"

	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/protocol"
)

// A route that only the patcher may use, at the patch step, on the
// repository its run is about; the policy decides from what the
// enforcer verified in the token.
func Example() {
	p, err := policy.Compile(policy.Rules{
		Issuer: "http://127.0.0.1:8420", Resource: "https://forge.example",
		Routes: []policy.Rule{{
			Match:  policy.MatchRule{Method: "POST", Path: "/repos/{owner}/{repo}/pulls"},
			Scopes: []string{"repo:write"}, Workflow: "vuln-patch", Steps: []string{"patch"}, Agents: []string{"patcher"},
			Context: map[string]string{"repo": "{owner}/{repo}"},
		}},
	})
	if err != nil {
		panic(err)
	}
	patcher := policy.Subject{Agent: "patcher", Scopes: []string{"repo:read", "repo:write"}, Workflow: "vuln-patch", Step: "patch",
		ExecutionContext: map[string]string{"repo": "acme/web"}}
	for _, path := range []string{"/repos/acme/web/pulls", "/repos/acme/api/pulls", "/repos/acme/web/../api/pulls"} {
		route, params, ok := p.Match("POST", path)
		if !ok {
			fmt.Printf("%s: no route\n", path)
			continue
		}
		var pe *protocol.Error
		if err := route.Authorize(params, patcher); errors.As(err, &pe) {
			fmt.Printf("%s: %d %s\n", path, pe.Status, pe.Reason)
			continue
		}
		fmt.Printf("%s: allowed\n", path)
	}
	// Output:
	// /repos/acme/web/pulls: allowed
	// /repos/acme/api/pulls: 403 context_mismatch
	// /repos/acme/web/../api/pulls: no route
}

// An MCP endpoint: every JSON-RPC message is decided on its own, and a
// tools/list answer shows a step only the tools it may call.
func ExampleRoute_AuthorizeMCP() {
	p, _ := policy.Compile(policy.Rules{Issuer: "http://127.0.0.1:8420", Resource: "https://forge.example",
		Routes: []policy.Rule{{Match: policy.MatchRule{Method: "POST", Path: "/mcp"}, MCP: &policy.MCPRule{Tools: []policy.ToolRule{
			{Name: "read_file", Scopes: []string{"repo:read"}, Context: map[string]string{"repo": "{args.repo}"}},
			{Name: "merge_pull_request", Scopes: []string{"repo:write"}, Steps: []string{"patch"}},
		}}}}})
	route, params, _ := p.Match("POST", "/mcp")
	classifier := policy.Subject{Agent: "classifier", Scopes: []string{"repo:read"}, Step: "classify",
		ExecutionContext: map[string]string{"repo": "acme/web"}}
	for _, body := range []string{
		`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"acme/web"}}}`,
		`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"acme/api"}}}`,
		`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"merge_pull_request","arguments":{}}}`,
		`{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"delete_repository","arguments":{}}}`,
	} {
		msg, err := policy.ParseMCPMessage([]byte(body))
		if err == nil {
			_, err = route.AuthorizeMCP(params, msg, classifier)
		}
		var pe *protocol.Error
		if errors.As(err, &pe) {
			fmt.Printf("%s: %s\n", msg.Tool, pe.Reason)
			continue
		}
		fmt.Printf("%s: allowed\n", msg.Tool)
	}
	fmt.Println("visible:", route.ToolVisible("read_file", classifier), route.ToolVisible("merge_pull_request", classifier))
	// Output:
	// read_file: allowed
	// read_file: context_mismatch
	// merge_pull_request: insufficient_scope
	// delete_repository: tool_not_allowed
	// visible: true false
}
