package policyfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/policy"
)

const example = `issuer: http://127.0.0.1:8420
resource: https://forge.example
public_url: http://127.0.0.1:9000
routes:
  - match: {method: POST, path: "/repos/{owner}/{repo}/pulls"}
    scopes: [repo:write]
    workflow: vuln-patch
    steps: [patch]
    agents: [patcher]
    context: {repo: "{owner}/{repo}"}
    one_time: true
  - match: {method: GET, path: "/health"}
    public: true
  - match: {method: GET, path: "/legacy/**"}
    legacy: allow
default: deny
`

func TestParseProtocolExample(t *testing.T) {
	p, err := Parse([]byte(example))
	if err != nil {
		t.Fatal(err)
	}
	routes := p.Routes()
	if len(routes) != 3 || routes[0].Rule().Line != 5 || !routes[0].OneTime() || !routes[1].Public() || routes[2].Rule().Legacy != "allow" {
		t.Fatalf("routes %+v", routes)
	}
	if p.Issuer() != "http://127.0.0.1:8420" || p.Resource() != "https://forge.example" || p.DefaultAllow() {
		t.Fatalf("policy %+v", p)
	}
}

func TestParseErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key", strings.Replace(example, "one_time: true", "one_tim: true", 1), `line 11: unknown field "one_tim"`},
		{"wrong type", strings.Replace(example, "one_time: true", "one_time: maybe", 1), `line 11: one_time: want true or false, got the text "maybe"`},
		{"list for a string", strings.Replace(example, "workflow: vuln-patch", "workflow: [vuln-patch]", 1), `line 7: workflow: want a string, got a list`},
		{"duplicate key", strings.Replace(example, "one_time: true", "one_time: true\n    one_time: false", 1), "line 12"},
		{"bad template", strings.Replace(example, "{owner}/{repo}/pulls", "{owner}x/pulls", 1), "line 5"},
		{"context param missing", strings.Replace(example, `"{owner}/{repo}"}`, `"{org}/{repo}"}`, 1), "line 5"},
		{"public with conditions", strings.Replace(example, "public: true", "public: true\n    scopes: [a]", 1), "line 12"},
		{"bad default", strings.Replace(example, "default: deny", "default: maybe", 1), "default"},
		{"alias", example + "x: &a [1]\ny: *a\n", "alias"},
		{"not yaml", "{{{", "invalid"},
		{"two documents", example + "---\nissuer: x\n", "document"},
		{"legacy with agents", strings.Replace(example, "legacy: allow", "legacy: allow\n    agents: [x]", 1), "line 14"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !errors.Is(err, policy.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrInvalid mentioning %q", err, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(example))
	f.Add([]byte("routes: [{match: {method: GET, path: /a/**}}]"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Parse(data)
		if err == nil {
			p.Match("GET", "/a/b")
		}
	})
}

// mcpExample is the §12.2 example.
const mcpExample = `issuer: http://127.0.0.1:8420
resource: http://127.0.0.1:9000/mcp
routes:
  - match: {method: POST, path: /mcp}
    workflow: vuln-patch
    mcp:
      list: filter
      methods: [resources/list]
      tools:
        - name: list_files
          scopes: [repo:read]
          steps: [classify, plan]
          agents: [classifier, planner]
          context: {repo: "{args.repo}"}
        - name: merge_pull_request
          scopes: [repo:write]
          steps: [patch]
          agents: [patcher]
          context: {repo: "{args.repo}"}
          one_time: true
  - match: {method: GET, path: /mcp}
    mcp: {}
  - match: {method: DELETE, path: /mcp}
    mcp: {}
`

func TestParseMCPExample(t *testing.T) {
	p, err := Parse([]byte(mcpExample))
	if err != nil {
		t.Fatal(err)
	}
	routes := p.Routes()
	if len(routes) != 3 || !routes[0].IsMCP() || !routes[1].IsMCP() || !routes[2].IsMCP() || !routes[0].FiltersToolsList() {
		t.Fatalf("routes %+v", routes)
	}
	if !routes[0].HasTool("merge_pull_request") || routes[0].HasTool("delete_repository") {
		t.Fatal("tools not compiled")
	}
	if got := strings.Join(p.Scopes(), " "); got != "repo:read repo:write" {
		t.Fatalf("scopes %q", got)
	}
}

func TestParseMCPErrorsNameTheLine(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown tool key", strings.Replace(mcpExample, "one_time: true", "once: true", 1), "line 20"},
		{"bad list", strings.Replace(mcpExample, "list: filter", "list: some", 1), "line 4"},
		{"tools/call in methods", strings.Replace(mcpExample, "[resources/list]", "[tools/call]", 1), "line 4"},
		{"duplicate tool", strings.Replace(mcpExample, "name: merge_pull_request", "name: list_files", 1), "line 15"},
		{"bad context param", strings.Replace(mcpExample, `{repo: "{args.repo}"}
          one_time`, `{repo: "{owner}"}
          one_time`, 1), "line 15"},
		{"empty args name", strings.Replace(mcpExample, "{args.repo}", "{args.}", 1), "line 10"},
		{"route one_time", strings.Replace(mcpExample, "workflow: vuln-patch", "workflow: vuln-patch\n    one_time: true", 1), "line 4"},
		{"public mcp", strings.Replace(mcpExample, "  - match: {method: GET, path: /mcp}\n    mcp: {}", "  - match: {method: GET, path: /mcp}\n    public: true\n    mcp: {}", 1), "line 21"},
		{"message too large", strings.Replace(mcpExample, "list: filter", "list: filter\n      max_message_bytes: 2000000", 1), "line 4"},
		{"tool without name", strings.Replace(mcpExample, "- name: list_files", `- name: ""`, 1), "line 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want mentioning %q", err, tt.want)
			}
		})
	}
}
