package demo

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// agentHeader stands in for the proxy: it says which agent is calling.
type agentHeader struct {
	agent string
	base  http.RoundTripper
}

func (t agentHeader) RoundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.Header.Set("Ajwt-Agent", t.agent)
	return t.base.RoundTrip(out)
}

// connectMCP serves a fresh forge over MCP and connects the official SDK
// client to it, speaking protocolVersion ("" is the SDK's latest).
func connectMCP(t *testing.T, protocolVersion string) (*Forge, *mcp.ClientSession) {
	t.Helper()
	forge, err := NewForge()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(forge.MCPHandler())
	t.Cleanup(srv.Close)
	transport := &mcp.StreamableClientTransport{
		Endpoint:   srv.URL,
		HTTPClient: &http.Client{Transport: agentHeader{agent: "patcher", base: http.DefaultTransport}},
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "mcpforge-test", Version: "v0"}, nil)
	cs, err := client.Connect(t.Context(), transport, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cs.Close() })
	return forge, cs
}

// TestMCPForgeSession plays the patch step through the MCP door, with the
// SDK's default handshake (a server/discover probe, then initialize) and
// with initialize alone (what a client pinned to 2025-11-25 sends, and what
// remains when an enforcer refuses the probe).
func TestMCPForgeSession(t *testing.T) {
	handshakes := map[string]string{"default": "", "initialize only": "2025-11-25"}
	for name, version := range handshakes {
		t.Run(name, func(t *testing.T) {
			forge, cs := connectMCP(t, version)
			assertToolNames(t, cs)
			for _, c := range patchSession {
				res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				if text := toolText(res); res.IsError != c.isError || !strings.Contains(text, c.want) {
					t.Fatalf("%s: isError=%v %s; want isError=%v and %q", c.name, res.IsError, text, c.isError, c.want)
				}
				if !res.IsError && res.StructuredContent == nil {
					t.Fatalf("%s: no structured content", c.name)
				}
			}
			if !forge.Merged("acme/web") || forge.File("acme/web", "go.mod") != patchedGoMod {
				t.Fatalf("merged=%v go.mod=%q", forge.Merged("acme/web"), forge.File("acme/web", "go.mod"))
			}
			assertMergedBy(t, forge, "patcher")
		})
	}
}

const patchedGoMod = "module example.com/web\n\ngo 1.26\n"

// patchSession is one agent's calls in order, each with what it must answer.
var patchSession = []struct {
	name    string
	tool    string
	args    map[string]any
	want    string
	isError bool
}{
	{"list main", "list_files", map[string]any{"repo": "acme/web"}, `"go.mod"`, false},
	{"read go.mod", "read_file", map[string]any{"repo": "acme/web", "path": "go.mod"}, `"content"`, false},
	{"read missing file", "read_file", map[string]any{"repo": "acme/web", "path": "nope.txt"}, "not_found", true},
	{"create branch", "create_branch", map[string]any{"repo": "acme/web", "name": "fix"}, `"fix"`, false},
	{"write to main refused by the forge", "write_file", map[string]any{"repo": "acme/web", "branch": "main", "path": "go.mod", "content": "x"}, "non-default branch", true},
	{"write file", "write_file", map[string]any{"repo": "acme/web", "branch": "fix", "path": "go.mod", "content": patchedGoMod, "message": "bump"}, `"fix"`, false},
	{"list branch", "list_files", map[string]any{"repo": "acme/web", "ref": "fix"}, `"ref":"fix"`, false},
	{"open pull request", "open_pull_request", map[string]any{"repo": "acme/web", "title": "Patch", "head": "fix"}, `"number":1`, false},
	{"merge", "merge_pull_request", map[string]any{"repo": "acme/web", "number": 1}, `"merged"`, false},
	{"merge twice", "merge_pull_request", map[string]any{"repo": "acme/web", "number": 1}, "no open pull request", true},
	{"unknown repository", "list_files", map[string]any{"repo": "acme/nope"}, "not_found", true},
}

func assertToolNames(t *testing.T, cs *mcp.ClientSession) {
	t.Helper()
	list, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range list.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	want := []string{"create_branch", "delete_repository", "list_files", "merge_pull_request", "open_pull_request", "read_file", "write_file"}
	if !slices.Equal(names, want) {
		t.Fatalf("tools %v, want %v", names, want)
	}
}

func assertMergedBy(t *testing.T, forge *Forge, agent string) {
	t.Helper()
	for _, ev := range forge.Events() {
		if ev.Action == "merge" {
			if ev.Agent != agent || ev.Repo != "acme/web" {
				t.Fatalf("merge event %+v, want agent %s", ev, agent)
			}
			return
		}
	}
	t.Fatalf("no merge event in %+v", forge.Events())
}

// TestMCPForgeRefusesBadArguments: arguments that would reach another
// path than the one a policy bound with {args.repo} are refused before the
// forge sees them.
func TestMCPForgeRefusesBadArguments(t *testing.T) {
	forge, cs := connectMCP(t, "")
	const refused, invalid = "bad tool argument", "validating"
	cases := []struct {
		name string
		tool string
		args map[string]any
		want string // why it is refused: our check or the SDK's schema check
	}{
		{"no slash", "list_files", map[string]any{"repo": "acme"}, refused},
		{"three segments", "list_files", map[string]any{"repo": "acme/web/tree"}, refused},
		{"empty owner", "list_files", map[string]any{"repo": "/web"}, refused},
		{"empty name", "list_files", map[string]any{"repo": "acme/"}, refused},
		{"dot dot", "list_files", map[string]any{"repo": "acme/.."}, refused},
		{"dot dot in name", "delete_repository", map[string]any{"repo": "acme/web..api"}, refused},
		{"query", "list_files", map[string]any{"repo": "acme/web?ref=x"}, refused},
		{"escape", "delete_repository", map[string]any{"repo": "acme/w%65b"}, refused},
		{"file path escapes", "read_file", map[string]any{"repo": "acme/web", "path": "../api/go.mod"}, refused},
		{"absolute file path", "write_file", map[string]any{"repo": "acme/web", "branch": "x", "path": "/go.mod", "content": ""}, refused},
		{"missing repo", "list_files", map[string]any{}, invalid},
		{"repo not a string", "list_files", map[string]any{"repo": 7}, invalid},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := cs.CallTool(t.Context(), &mcp.CallToolParams{Name: c.tool, Arguments: c.args})
			if err != nil {
				t.Fatal(err)
			}
			if !res.IsError || !strings.Contains(toolText(res), c.want) {
				t.Fatalf("isError=%v %s; want a tool error with %q", res.IsError, toolText(res), c.want)
			}
		})
	}
	if ev := forge.Events(); len(ev) != 0 {
		t.Fatalf("the forge acted: %+v", ev)
	}
}

func toolText(res *mcp.CallToolResult) string {
	var b strings.Builder
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			b.WriteString(tc.Text)
		}
	}
	return b.String()
}
