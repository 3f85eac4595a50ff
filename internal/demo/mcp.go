package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ajwt/ajwt/client"
)

// MCPPath is where the forge serves MCP, behind the same proxy and
// policy as its REST API.
const MCPPath = "/mcp"

// OtherRepo is the forge's second repository, which no run is about.
const OtherRepo = "acme/api"

// mcpRoutes are the forge policy's MCP routes (PROTOCOL.md §12.2): the
// REST rules above, tool by tool; examples/mcp/policy.yaml has the same
// rules, commented.
const mcpRoutes = `  - match: {method: POST, path: /mcp}
    workflow: vuln-patch
    mcp:
      methods: [server/discover]   # the SDK's first probe (MCP 2026-07-28) before initialize
      tools:
        - {name: list_files, scopes: [repo:read], context: {repo: "{args.repo}"}}
        - {name: read_file, scopes: [repo:read], context: {repo: "{args.repo}"}}
        - {name: create_branch, scopes: [repo:write], steps: [patch], agents: [patcher], context: {repo: "{args.repo}"}}
        - {name: write_file, scopes: [repo:write], steps: [patch], agents: [patcher], context: {repo: "{args.repo}"}}
        - {name: open_pull_request, scopes: [repo:write], steps: [patch], agents: [patcher], context: {repo: "{args.repo}"}}
        - {name: merge_pull_request, scopes: [repo:write], steps: [patch], agents: [patcher], context: {repo: "{args.repo}"}, one_time: true}
  - match: {method: GET, path: /mcp}
    mcp: {}
  - match: {method: DELETE, path: /mcp}
    mcp: {}`

// refusals remembers the last refusal an enforcer or API answered, so an
// attack through an MCP SDK can report the §8 reason the SDK's error
// does not carry.
type refusals struct {
	base http.RoundTripper
	mu   sync.Mutex
	last *APIError
}

func (r *refusals) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := r.base.RoundTrip(req)
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	body, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	res.Body = io.NopCloser(bytes.NewReader(body))
	var b struct{ Error, Reason string }
	if json.Unmarshal(body, &b) == nil && b.Error != "" {
		r.mu.Lock()
		r.last = &APIError{Status: res.StatusCode, Code: b.Error, Reason: b.Reason}
		r.mu.Unlock()
	}
	return res, nil
}

// explain replaces an MCP SDK's error by the refusal behind it.
func (r *refusals) explain(err error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil && r.last != nil {
		return r.last
	}
	return err
}

// mcpAs opens an MCP session with the forge as agent at step of run: in
// ajwt mode with the shim's Transport (intent token, DPoP proof per
// message), in legacy mode with the app's one bearer token.
func (e *Env) mcpAs(ctx context.Context, agent, runID, step string, opts ...client.Option) (*mcp.ClientSession, *refusals, error) {
	rec := &refusals{base: http.DefaultTransport}
	var rt http.RoundTripper
	if e.Mode == Legacy {
		tok, err := e.legacyToken(ctx)
		if err != nil {
			return nil, nil, err
		}
		rt = bearerTransport{token: tok, agent: agent, base: rec}
	} else {
		src := e.agents[agent].TokenSource(runID, step, append([]client.Option{client.WithResource(ForgeResource)}, opts...)...)
		rt = &client.Transport{Source: src, Base: rec, MCP: true}
	}
	s, err := e.mcpSession(ctx, rt)
	return s, rec, rec.explain(err)
}

func (e *Env) mcpSession(ctx context.Context, rt http.RoundTripper) (*mcp.ClientSession, error) {
	c := mcp.NewClient(&mcp.Implementation{Name: "demo-agent", Version: "1"}, nil)
	return c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: e.ForgeURL + MCPPath,
		HTTPClient: &http.Client{Transport: rt}, DisableStandaloneSSE: true, MaxRetries: -1}, nil)
}

// callTool calls a tool; a tool result marked as an error is an error too.
func callTool(ctx context.Context, s *mcp.ClientSession, rec *refusals, tool string, args map[string]any) (string, error) {
	res, err := s.CallTool(ctx, &mcp.CallToolParams{Name: tool, Arguments: args})
	if err != nil {
		return "", rec.explain(err)
	}
	text := ""
	for _, c := range res.Content {
		if t, ok := c.(*mcp.TextContent); ok {
			text += t.Text
		}
	}
	if res.IsError {
		return "", fmt.Errorf("%s: %s", tool, text)
	}
	return text, nil
}

// mcpScenarios are the attacks on the forge's MCP door.
func mcpScenarios() []Scenario {
	return []Scenario{
		{"M1", "MCP: tool outside the step (classifier merges a PR)", "E", m1Legacy, m1},
		{"M2", "MCP: tool argument swaps the repository", "T", m2Legacy, m2},
		{"M3", "MCP: token of another step (planner's OSV token)", "E", m3Legacy, m3},
		{"M4", "MCP: plain bearer token on the MCP endpoint", "S", m4Legacy, m4},
		{"M5", "MCP: tools/list shows the classifier write tools", "I", m5Legacy, m5},
	}
}

func m1Legacy(ctx context.Context, e *Env) Result {
	s, rec, err := e.mcpAs(ctx, "classifier", "", "")
	if err != nil {
		return blockedBy("legacy resource server", err, "MCP session")
	}
	defer s.Close()
	opened, err := callTool(ctx, s, rec, "open_pull_request", map[string]any{"repo": Repo, "title": "injected", "head": "main"})
	if err != nil {
		return blockedBy("legacy resource server", err, "open_pull_request")
	}
	var pr struct{ Number int }
	_ = json.Unmarshal([]byte(opened), &pr)
	out, err := callTool(ctx, s, rec, "merge_pull_request", map[string]any{"repo": Repo, "number": pr.Number})
	if err != nil {
		return blockedBy("legacy resource server", err, "merge_pull_request")
	}
	return succeeded("the prompt-injected classifier merged a pull request through MCP: %s", clip.Text(out, 80))
}

func m1(ctx context.Context, e *Env) Result {
	run, err := e.runAt(ctx, "classify")
	if err != nil {
		return blockedBy("setup", err, "")
	}
	s, rec, err := e.mcpAs(ctx, "classifier", run, "classify")
	if err != nil {
		return blockedBy("setup", err, "")
	}
	defer s.Close()
	_, err = callTool(ctx, s, rec, "merge_pull_request", map[string]any{"repo": Repo, "number": 1})
	return blockedBy("proxy: MCP tool rule (scope, step, agent)", err, "the classifier's classify token called merge_pull_request")
}

func m2Legacy(ctx context.Context, e *Env) Result {
	s, rec, err := e.mcpAs(ctx, "patcher", "", "")
	if err != nil {
		return blockedBy("legacy resource server", err, "MCP session")
	}
	defer s.Close()
	if _, err := callTool(ctx, s, rec, "create_branch", map[string]any{"repo": OtherRepo, "name": "mcp-swap"}); err != nil {
		return blockedBy("legacy resource server", err, "create_branch on "+OtherRepo)
	}
	return succeeded("create_branch with repo %s was served: the tool argument chose the repository", OtherRepo)
}

func m2(ctx context.Context, e *Env) Result {
	run, err := e.runAt(ctx, "patch")
	if err != nil {
		return blockedBy("setup", err, "")
	}
	delegate := func() (string, error) { return e.agents["supervisor"].Delegate("patcher", run, "patch") }
	s, rec, err := e.mcpAs(ctx, "patcher", run, "patch", client.WithDelegation(delegate))
	if err != nil {
		return blockedBy("setup", err, "")
	}
	defer s.Close()
	_, err = callTool(ctx, s, rec, "create_branch", map[string]any{"repo": OtherRepo, "name": "mcp-swap"})
	return blockedBy("proxy: {args.repo} = intent.execution_context.repo", err, "the patcher's token for "+Repo+" called create_branch with repo "+OtherRepo)
}

func m3Legacy(ctx context.Context, e *Env) Result {
	s, rec, err := e.mcpAs(ctx, "planner", "", "")
	if err != nil {
		return blockedBy("legacy resource server", err, "MCP session")
	}
	defer s.Close()
	if _, err := callTool(ctx, s, rec, "create_branch", map[string]any{"repo": Repo, "name": "planner-mcp"}); err != nil {
		return blockedBy("legacy resource server", err, "create_branch")
	}
	return succeeded("the app's one token works at every step and for every API: the planner created a branch through MCP")
}

func m3(ctx context.Context, e *Env) Result {
	run, err := e.runAt(ctx, "assess")
	if err != nil {
		return blockedBy("setup", err, "")
	}
	src := e.agents["planner"].TokenSource(run, "assess", client.WithResource(OSVResource))
	rec := &refusals{base: http.DefaultTransport}
	s, err := e.mcpSession(ctx, &client.Transport{Source: src, Base: rec, MCP: true})
	if err == nil {
		defer s.Close()
		_, err = callTool(ctx, s, rec, "list_files", map[string]any{"repo": Repo})
	}
	return blockedBy("proxy: token audience is the step's resource", rec.explain(err), "the planner's assess-step token (for the advisory API) on the forge's MCP endpoint")
}

func m4Legacy(ctx context.Context, e *Env) Result {
	s, rec, err := e.mcpAs(ctx, "patcher", "", "")
	if err != nil {
		return blockedBy("legacy resource server", err, "MCP session")
	}
	defer s.Close()
	if _, err := callTool(ctx, s, rec, "create_branch", map[string]any{"repo": Repo, "name": "bearer-mcp"}); err != nil {
		return blockedBy("legacy resource server", err, "create_branch")
	}
	return succeeded("a plain bearer token opened an MCP session and created a branch")
}

func m4(ctx context.Context, e *Env) Result {
	tok, err := e.clientToken(ctx, "patch-app", appSecret, ForgeResource)
	if err != nil {
		return blockedBy("setup", err, "")
	}
	rec := &refusals{base: http.DefaultTransport}
	s, err := e.mcpSession(ctx, bearerTransport{token: tok, agent: "patcher", base: rec})
	if err == nil {
		defer s.Close()
		_, err = callTool(ctx, s, rec, "create_branch", map[string]any{"repo": Repo, "name": "bearer-mcp"})
	}
	return blockedBy("proxy: MCP routes need an intent token", rec.explain(err), "the app's client_credentials token (audience "+ForgeResource+") on the MCP endpoint")
}

// writeTools are the forge tools a classifier has no business seeing.
var writeTools = []string{"create_branch", "write_file", "open_pull_request", "merge_pull_request", "delete_repository"}

func listTools(ctx context.Context, s *mcp.ClientSession) ([]string, error) {
	res, err := s.ListTools(ctx, nil)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, t := range res.Tools {
		names = append(names, t.Name)
	}
	slices.Sort(names)
	return names, nil
}

func m5Legacy(ctx context.Context, e *Env) Result {
	s, _, err := e.mcpAs(ctx, "classifier", "", "")
	if err != nil {
		return blockedBy("legacy resource server", err, "MCP session")
	}
	defer s.Close()
	names, err := listTools(ctx, s)
	if err != nil {
		return blockedBy("legacy resource server", err, "tools/list")
	}
	if !slices.ContainsFunc(names, func(n string) bool { return slices.Contains(writeTools, n) }) {
		return Result{Blocked: true, Check: "none", Evidence: "tools/list: " + strings.Join(names, ", ")}
	}
	return succeeded("the classifier's tools/list shows every tool: %s", strings.Join(names, ", "))
}

func m5(ctx context.Context, e *Env) Result {
	run, err := e.runAt(ctx, "classify")
	if err != nil {
		return blockedBy("setup", err, "")
	}
	s, _, err := e.mcpAs(ctx, "classifier", run, "classify")
	if err != nil {
		return blockedBy("setup", err, "")
	}
	defer s.Close()
	names, err := listTools(ctx, s)
	if err != nil {
		return blockedBy("setup", err, "tools/list")
	}
	if slices.ContainsFunc(names, func(n string) bool { return slices.Contains(writeTools, n) }) {
		return Result{Evidence: "NOT BLOCKED: tools/list shows " + strings.Join(names, ", ")}
	}
	return Result{Blocked: true, Check: "proxy: tools/list filtered by the step's tool rules",
		Reason: "tools/list filtered", Evidence: "the classify step sees only " + strings.Join(names, ", ")}
}
