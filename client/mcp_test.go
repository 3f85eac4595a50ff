package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/proxy"
)

const mcpPolicy = `
issuer: ISSUER
resource: https://forge.example
routes:
  - match: {method: POST, path: /mcp}
    workflow: wf
    mcp:
      tools:
        - {name: list_files, scopes: [repo:read], steps: [plan], context: {repo: "{args.repo}"}}
        - {name: merge_pull_request, scopes: [repo:write], steps: [patch], context: {repo: "{args.repo}"}, one_time: true}
  - match: {method: GET, path: /mcp}
    mcp: {}
  - match: {method: DELETE, path: /mcp}
    mcp: {}
`

type repoArgs struct {
	Repo string `json:"repo"`
}

// mcpServer is an MCP server built with the official Go SDK that counts
// the tool calls it serves: the enforcer must let none it refused through.
func mcpServer(t *testing.T, jsonResponse bool) (http.Handler, func() []string) {
	var mu sync.Mutex
	var calls []string
	s := mcp.NewServer(&mcp.Implementation{Name: "forge", Version: "1"}, nil)
	for _, name := range []string{"list_files", "merge_pull_request", "delete_repository"} {
		mcp.AddTool(s, &mcp.Tool{Name: name, Description: name}, func(_ context.Context, _ *mcp.CallToolRequest, in repoArgs) (*mcp.CallToolResult, any, error) {
			mu.Lock()
			calls = append(calls, name+" "+in.Repo)
			mu.Unlock()
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: name + " done"}}}, nil, nil
		})
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s }, &mcp.StreamableHTTPOptions{JSONResponse: jsonResponse})
	return h, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(calls) }
}

// TestMCPSDKThroughProxy: the official MCP Go SDK, with the shim's
// Transport as its HTTP client, initializes, sees only its step's tools,
// calls them, and gets each refusal as that call's error with the reason,
// its session intact — through a real `ajwt proxy` and IdP, for both
// answer forms of the Streamable HTTP transport.
func TestMCPSDKThroughProxy(t *testing.T) {
	w := newWorld(t, idptest.Config)
	for _, form := range []struct {
		name string
		json bool
	}{{"event-stream", false}, {"json", true}} {
		t.Run(form.name, func(t *testing.T) {
			ctx := context.Background()
			server, served := mcpServer(t, form.json)
			up := httptest.NewServer(server)
			t.Cleanup(up.Close)
			pol, err := policyfile.Parse([]byte(strings.ReplaceAll(mcpPolicy, "ISSUER", w.idp.URL)))
			if err != nil {
				t.Fatal(err)
			}
			enf, err := middleware.New(ctx, pol)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(enf.Close)
			u, _ := url.Parse(up.URL)
			h, _ := proxy.New(u, enf, proxy.Options{})
			prx := httptest.NewServer(h)
			t.Cleanup(prx.Close)

			run, err := w.c.StartRun(ctx, "wf", "user:alice", map[string]string{"repo": "acme/web"})
			if err != nil {
				t.Fatal(err)
			}
			hc := &http.Client{Transport: &client.Transport{Source: w.planner.TokenSource(run.ID, "plan"), MCP: true}}
			c := mcp.NewClient(&mcp.Implementation{Name: "planner", Version: "1"}, nil)
			session, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: prx.URL + "/mcp", HTTPClient: hc}, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer session.Close()

			tools, err := session.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(tools.Tools) != 1 || tools.Tools[0].Name != "list_files" {
				t.Fatalf("tools/list shows %v, want only list_files", toolNames(tools.Tools))
			}
			res, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "list_files", Arguments: map[string]any{"repo": "acme/web"}})
			if err != nil || res.IsError {
				t.Fatalf("allowed call: %v %+v", err, res)
			}
			for _, tt := range []struct{ tool, repo, reason string }{
				{"merge_pull_request", "acme/web", "insufficient_scope"},
				{"delete_repository", "acme/web", "tool_not_allowed"},
				{"list_files", "acme/api", "context_mismatch"},
			} {
				_, err := session.CallTool(ctx, &mcp.CallToolParams{Name: tt.tool, Arguments: map[string]any{"repo": tt.repo}})
				var rpcErr *jsonrpc.Error
				var refusal client.MCPRefusal
				if !errors.As(err, &rpcErr) || rpcErr.Code != client.MCPRefusalCode || json.Unmarshal(rpcErr.Data, &refusal) != nil ||
					refusal.Reason != tt.reason || refusal.Status != http.StatusForbidden {
					t.Fatalf("%s on %s: err = %v, want a refusal with reason %s", tt.tool, tt.repo, err, tt.reason)
				}
			}
			// The session survived the refusals.
			if _, err := session.CallTool(ctx, &mcp.CallToolParams{Name: "list_files", Arguments: map[string]any{"repo": "acme/web"}}); err != nil {
				t.Fatalf("call after refusals: %v", err)
			}
			if got := served(); !slices.Equal(got, []string{"list_files acme/web", "list_files acme/web"}) {
				t.Fatalf("the MCP server served %v", got)
			}
		})
	}
}

func toolNames(tools []*mcp.Tool) []string {
	var names []string
	for _, t := range tools {
		names = append(names, t.Name)
	}
	return names
}
