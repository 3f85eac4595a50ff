package policy

import (
	"errors"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

func testPolicy(t *testing.T) *Policy {
	t.Helper()
	p, err := Compile(Rules{
		Issuer: "http://127.0.0.1:8420", Resource: "https://forge.example",
		Routes: []Rule{
			{Match: MatchRule{Method: "POST", Path: "/repos/{owner}/{repo}/pulls"}, Scopes: []string{"repo:write"},
				Workflow: "vuln-patch", Steps: []string{"patch"}, Agents: []string{"patcher"},
				Context: map[string]string{"repo": "{owner}/{repo}"}, OneTime: true},
			{Match: MatchRule{Method: "GET", Path: "/health"}, Public: true},
			{Match: MatchRule{Method: "GET", Path: "/legacy/**"}, Legacy: "allow"},
			{Match: MatchRule{Method: "*", Path: "/any/{x}"}},
			{Match: MatchRule{Method: "GET", Path: "/caf%c3%a9/%7ex/"}},
			{Match: MatchRule{Method: "GET", Path: "/"}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestMatch(t *testing.T) {
	p := testPolicy(t)
	tests := []struct {
		method, path string
		route        int // index, -1 for none
		params       map[string]string
	}{
		{"POST", "/repos/acme/web/pulls", 0, map[string]string{"owner": "acme", "repo": "web"}},
		{"GET", "/repos/acme/web/pulls", -1, nil},
		{"POST", "/repos/acme/web/pulls/", 0, map[string]string{"owner": "acme", "repo": "web"}}, // trailing / not significant
		{"POST", "/repos/acme%2Fx/web/pulls", -1, nil},                                           // %2F never binds a parameter
		{"POST", "/repos/ac%6De/web/pulls", 0, map[string]string{"owner": "acme", "repo": "web"}},
		{"POST", "/repos/acme/web/%70ulls", 0, map[string]string{"owner": "acme", "repo": "web"}},
		{"POST", "/repos/ac%3ae/web/pulls", 0, map[string]string{"owner": "ac:e", "repo": "web"}},
		{"POST", "/repos//web/pulls", -1, nil},
		{"POST", "/repos/acme/x/../web/pulls", -1, nil}, // not canonical: matches nothing
		{"POST", "/repos/acme/web/pulls;x", -1, nil},
		{"GET", "/health", 1, nil},
		{"GET", "/health/", 1, nil},
		{"GET", "/%68ealth", 1, nil},
		{"GET", "/legacy", -1, nil},
		{"GET", "/legacy/", -1, nil},
		{"GET", "/legacy/a/b/c", 2, nil},
		{"GET", "/legacy/a/b/c/", 2, nil},
		{"GET", "/caf%c3%a9/~x", 4, nil},
		{"GET", "/caf%C3%A9/%7Ex", 4, nil},
		{"GET", "/", 5, nil},
		{"DELETE", "/any/1", 3, map[string]string{"x": "1"}},
	}
	routes := p.Routes()
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r, params, ok := p.Match(tt.method, tt.path)
			if tt.route < 0 {
				if ok {
					t.Fatalf("matched %+v", r.Rule().Match)
				}
				return
			}
			if !ok || r != routes[tt.route] {
				t.Fatalf("got %v %v, want route %d", r, ok, tt.route)
			}
			for k, v := range tt.params {
				if params[k] != v {
					t.Fatalf("param %s = %q, want %q", k, params[k], v)
				}
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	p := testPolicy(t)
	pulls, params, _ := p.Match("POST", "/repos/acme/web/pulls")
	legacy, _, _ := p.Match("GET", "/legacy/x")
	good := Subject{Agent: "patcher", Scopes: []string{"repo:write"}, Workflow: "vuln-patch", Step: "patch",
		ExecutionContext: map[string]string{"repo": "acme/web"}}
	with := func(f func(*Subject)) Subject { s := good; f(&s); return s }
	tests := []struct {
		name   string
		route  *Route
		sub    Subject
		reason string // "" = allowed
		code   string
	}{
		{"allowed", pulls, good, "", ""},
		{"missing scope", pulls, with(func(s *Subject) { s.Scopes = []string{"repo:read"} }), protocol.ReasonInsufficientScope, protocol.CodeInsufficientScope},
		{"wrong workflow", pulls, with(func(s *Subject) { s.Workflow = "other" }), protocol.ReasonWrongWorkflow, protocol.CodeIntentMismatch},
		{"wrong step", pulls, with(func(s *Subject) { s.Step = "plan" }), protocol.ReasonWrongStep, protocol.CodeIntentMismatch},
		{"wrong agent", pulls, with(func(s *Subject) { s.Agent = "classifier" }), protocol.ReasonWrongAgent, protocol.CodeIntentMismatch},
		{"context mismatch", pulls, with(func(s *Subject) { s.ExecutionContext = map[string]string{"repo": "acme/api"} }), protocol.ReasonContextMismatch, protocol.CodeIntentMismatch},
		{"context missing", pulls, with(func(s *Subject) { s.ExecutionContext = nil }), protocol.ReasonContextMismatch, protocol.CodeIntentMismatch},
		{"legacy refused", pulls, Subject{Legacy: true, Scopes: []string{"repo:write"}}, protocol.ReasonLegacyTokenRefused, protocol.CodeInvalidToken},
		{"legacy allowed", legacy, Subject{Legacy: true}, "", ""},
		{"intent on legacy route", legacy, good, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.route.Authorize(params, tt.sub)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var pe *protocol.Error
			if !errors.As(err, &pe) || pe.Reason != tt.reason || pe.Code != tt.code {
				t.Fatalf("err = %v, want %s/%s", err, tt.code, tt.reason)
			}
		})
	}
}

func TestCompileRejects(t *testing.T) {
	base := Rules{Issuer: "http://i", Resource: "https://r"}
	tests := map[string]Rules{
		"no issuer":          {Resource: "https://r"},
		"relative resource":  {Issuer: "http://i", Resource: "/r"},
		"bad method":         withRoute(base, Rule{Match: MatchRule{Method: "get it", Path: "/"}}),
		"path without slash": withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "x"}}),
		"** in the middle":   withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a/**/b"}}),
		"repeated param":     withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/{a}/{a}"}}),
		"bad legacy":         withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/"}, Legacy: "maybe"}),
		"dot segment":        withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a/../b"}}),
		"encoded dot":        withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a/%2e"}}),
		"empty segment":      withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a//b"}}),
		"path parameter":     withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a;b"}}),
		"encoded slash":      withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a%2Fb"}}),
		"malformed escape":   withRoute(base, Rule{Match: MatchRule{Method: "GET", Path: "/a%zz"}}),
	}
	for name, rules := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Compile(rules); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func withRoute(r Rules, rule Rule) Rules { r.Routes = []Rule{rule}; return r }

func BenchmarkMatchAuthorize(b *testing.B) {
	p, _ := Compile(Rules{Issuer: "http://i", Resource: "https://r", Routes: []Rule{
		{Match: MatchRule{Method: "GET", Path: "/a/{x}"}},
		{Match: MatchRule{Method: "POST", Path: "/repos/{owner}/{repo}/pulls"}, Scopes: []string{"repo:write"}, Steps: []string{"patch"},
			Context: map[string]string{"repo": "{owner}/{repo}"}},
	}})
	sub := Subject{Scopes: []string{"repo:write"}, Step: "patch", ExecutionContext: map[string]string{"repo": "acme/web"}}
	b.ReportAllocs()
	for b.Loop() {
		r, params, ok := p.Match("POST", "/repos/acme/web/pulls")
		if !ok || r.Authorize(params, sub) != nil {
			b.Fatal("refused")
		}
	}
}

// TestCompiledPolicyIsImmutable: neither the rules a policy was compiled
// from nor anything it hands out can change its decisions.
func TestCompiledPolicyIsImmutable(t *testing.T) {
	rules := Rules{Issuer: "http://127.0.0.1:8420", Resource: "https://forge.example", Routes: []Rule{
		{Match: MatchRule{Method: "POST", Path: "/repos/{owner}/{repo}/pulls"}, Scopes: []string{"repo:write"}, Steps: []string{"patch"},
			Context: map[string]string{"repo": "{owner}/{repo}"}, MCP: nil},
		{Match: MatchRule{Method: "POST", Path: "/mcp"}, MCP: &MCPRule{Tools: []ToolRule{{Name: "merge", Scopes: []string{"repo:write"}, Steps: []string{"patch"}}}}},
	}}
	p, err := Compile(rules)
	if err != nil {
		t.Fatal(err)
	}
	patcher := Subject{Agent: "patcher", Scopes: []string{"repo:write"}, Step: "patch", ExecutionContext: map[string]string{"repo": "acme/web"}}
	planner := Subject{Agent: "planner", Scopes: []string{"repo:read"}, Step: "plan", ExecutionContext: map[string]string{"repo": "acme/web"}}
	check := func(when string) {
		t.Helper()
		r, params, _ := p.Match("POST", "/repos/acme/web/pulls")
		if r.Authorize(params, patcher) != nil || r.Authorize(params, planner) == nil {
			t.Fatalf("%s: the REST rule changed", when)
		}
		mcp, _, _ := p.Match("POST", "/mcp")
		if !mcp.ToolVisible("merge", patcher) || mcp.ToolVisible("merge", planner) {
			t.Fatalf("%s: the tool rule changed", when)
		}
	}
	check("after compile")
	rules.Routes[0].Scopes[0], rules.Routes[0].Steps[0], rules.Routes[0].Context["repo"] = "repo:read", "plan", "x"
	rules.Routes[1].MCP.Tools[0].Scopes[0], rules.Routes[1].MCP.Tools[0].Steps[0] = "repo:read", "plan"
	check("after changing the compiled rules")
	for _, r := range p.Routes() {
		rule := r.Rule()
		if len(rule.Scopes) > 0 {
			rule.Scopes[0], rule.Steps[0] = "repo:read", "plan"
		}
		if rule.MCP != nil {
			rule.MCP.Tools[0].Scopes[0], rule.MCP.Tools[0].Steps[0] = "repo:read", "plan"
		}
	}
	check("after changing what Rule returned")
}
