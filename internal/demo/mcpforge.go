package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// MCPHandler serves the forge as an MCP server (Streamable HTTP transport).
// Every tool is one call of the REST API of Handler, made in process, so the
// MCP door shares the forge's logic and event log, and an enforcer in front
// of it sees the same forge whichever door an agent takes. Every tool takes
// `repo` ("owner/name") so a policy can bind it with {args.repo}.
func (f *Forge) MCPHandler() http.Handler {
	srv := f.mcpServer()
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil)
}

// errBadArgument is a tool argument the forge's URL space cannot hold.
var errBadArgument = errors.New("demo: bad tool argument")

// Tool inputs. Fields without omitempty are required by the derived schema.
type (
	listFilesArgs struct {
		Repo string `json:"repo" jsonschema:"repository as owner/name"`
		Ref  string `json:"ref,omitempty" jsonschema:"branch to list (default main)"`
	}
	readFileArgs struct {
		Repo string `json:"repo" jsonschema:"repository as owner/name"`
		Path string `json:"path" jsonschema:"file path inside the repository"`
		Ref  string `json:"ref,omitempty" jsonschema:"branch to read (default main)"`
	}
	createBranchArgs struct {
		Repo string `json:"repo" jsonschema:"repository as owner/name"`
		Name string `json:"name" jsonschema:"new branch name"`
		From string `json:"from,omitempty" jsonschema:"branch to copy (default main)"`
	}
	writeFileArgs struct {
		Repo    string `json:"repo" jsonschema:"repository as owner/name"`
		Branch  string `json:"branch" jsonschema:"existing branch other than main"`
		Path    string `json:"path" jsonschema:"file path inside the repository"`
		Content string `json:"content" jsonschema:"the file's new content"`
		Message string `json:"message,omitempty" jsonschema:"commit message"`
	}
	openPullArgs struct {
		Repo  string `json:"repo" jsonschema:"repository as owner/name"`
		Title string `json:"title" jsonschema:"pull request title"`
		Head  string `json:"head" jsonschema:"branch with the changes"`
		Base  string `json:"base,omitempty" jsonschema:"branch to merge into (default main)"`
	}
	mergePullArgs struct {
		Repo   string `json:"repo" jsonschema:"repository as owner/name"`
		Number int    `json:"number" jsonschema:"pull request number"`
	}
	repoArgs struct {
		Repo string `json:"repo" jsonschema:"repository as owner/name"`
	}
)

// forgeCall is the REST request a tool stands for.
type forgeCall struct {
	method string
	path   string // unescaped; every variable part validated
	query  url.Values
	body   any
}

func (f *Forge) mcpServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "ajwt-demo-forge", Version: "v1"}, nil)
	rest := f.Handler()
	read := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true}
	addForgeTool(s, rest, &mcp.Tool{Name: "list_files", Description: "List the file paths of a repository branch.", Annotations: read},
		func(a listFilesArgs) (forgeCall, error) {
			return forgeCall{method: http.MethodGet, path: "/tree", query: refQuery(a.Ref)}, nil
		})
	addForgeTool(s, rest, &mcp.Tool{Name: "read_file", Description: "Read one file of a repository branch.", Annotations: read},
		func(a readFileArgs) (forgeCall, error) {
			return forgeCall{method: http.MethodGet, path: "/contents/" + a.Path, query: refQuery(a.Ref)}, validFilePath(a.Path)
		})
	addForgeTool(s, rest, &mcp.Tool{Name: "create_branch", Description: "Create a branch as a copy of another (default main)."},
		func(a createBranchArgs) (forgeCall, error) {
			return forgeCall{method: http.MethodPost, path: "/branches", body: map[string]string{"name": a.Name, "from": a.From}}, nil
		})
	addForgeTool(s, rest, &mcp.Tool{Name: "write_file", Description: "Commit a file's content to a branch other than main."},
		func(a writeFileArgs) (forgeCall, error) {
			body := map[string]string{"branch": a.Branch, "content": a.Content, "message": a.Message}
			return forgeCall{method: http.MethodPut, path: "/contents/" + a.Path, body: body}, validFilePath(a.Path)
		})
	addForgeTool(s, rest, &mcp.Tool{Name: "open_pull_request", Description: "Open a pull request from head into base (default main)."},
		func(a openPullArgs) (forgeCall, error) {
			return forgeCall{method: http.MethodPost, path: "/pulls", body: map[string]string{"title": a.Title, "head": a.Head, "base": a.Base}}, nil
		})
	addForgeTool(s, rest, &mcp.Tool{Name: "merge_pull_request", Description: "Merge an open pull request."},
		func(a mergePullArgs) (forgeCall, error) {
			return forgeCall{method: http.MethodPut, path: "/pulls/" + strconv.Itoa(a.Number) + "/merge"}, nil
		})
	addForgeTool(s, rest, &mcp.Tool{Name: "delete_repository", Description: "Delete a repository.", Annotations: &mcp.ToolAnnotations{DestructiveHint: new(true)}},
		func(repoArgs) (forgeCall, error) {
			return forgeCall{method: http.MethodDelete}, nil
		})
	return s
}

// repoOf is implemented by every tool input: the repository it acts on.
type repoOf interface{ repo() string }

func (a listFilesArgs) repo() string    { return a.Repo }
func (a readFileArgs) repo() string     { return a.Repo }
func (a createBranchArgs) repo() string { return a.Repo }
func (a writeFileArgs) repo() string    { return a.Repo }
func (a openPullArgs) repo() string     { return a.Repo }
func (a mergePullArgs) repo() string    { return a.Repo }
func (a repoArgs) repo() string         { return a.Repo }

// addForgeTool registers a tool whose call is the forge request build
// returns, under /repos/{repo}.
func addForgeTool[In repoOf](s *mcp.Server, rest http.Handler, t *mcp.Tool, build func(In) (forgeCall, error)) {
	mcp.AddTool(s, t, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, any, error) {
		if err := validRepo(in.repo()); err != nil {
			return nil, nil, err
		}
		call, err := build(in)
		if err != nil {
			return nil, nil, err
		}
		call.path = "/repos/" + in.repo() + call.path
		return callREST(ctx, rest, req, call)
	})
}

// validRepo accepts exactly "owner/name": the path is built from it, and a
// policy binds {args.repo} to the run's repository, so nothing else may hide
// in it (another segment, a dot segment, an escape the mux would undo).
func validRepo(repo string) error {
	owner, name, ok := strings.Cut(repo, "/")
	if !ok || strings.Contains(name, "/") || strings.Contains(repo, "..") || !plainSegment(owner) || !plainSegment(name) {
		return fmt.Errorf("%w: repo %q is not owner/name", errBadArgument, repo)
	}
	return nil
}

// validFilePath refuses paths the forge's router would clean or redirect.
func validFilePath(p string) error {
	for seg := range strings.SplitSeq(p, "/") {
		if !plainSegment(seg) {
			return fmt.Errorf("%w: path %q", errBadArgument, p)
		}
	}
	return nil
}

func plainSegment(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsAny(s, "\\%?#") && !strings.ContainsFunc(s, isControl)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func refQuery(ref string) url.Values {
	if ref == "" {
		return nil
	}
	return url.Values{"ref": {ref}}
}

// forwardedHeaders are what the forge's event log reads: who the caller is,
// as the enforcer (Ajwt-*) or a legacy client (X-Agent) said.
var forwardedHeaders = []string{"Ajwt-Agent", "Ajwt-Initiated-By", "X-Agent"}

// callREST runs call through the REST handler and turns its answer into a
// tool result: 2xx is the forge's JSON (text and structured content),
// anything else a tool error carrying the forge's JSON, so a model sees why.
func callREST(ctx context.Context, rest http.Handler, mreq *mcp.CallToolRequest, call forgeCall) (*mcp.CallToolResult, any, error) {
	req, err := restRequest(ctx, call)
	if err != nil {
		return nil, nil, err
	}
	if mreq.Extra != nil {
		for _, h := range forwardedHeaders {
			if v := mreq.Extra.Header.Get(h); v != "" {
				req.Header.Set(h, v)
			}
		}
	}
	rec := &memoryResponse{header: http.Header{}}
	rest.ServeHTTP(rec, req)
	body := bytes.TrimSpace(rec.body.Bytes())
	res := &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(body)}}}
	if rec.status/100 != 2 || !json.Valid(body) {
		res.IsError = true
		return res, nil, nil
	}
	return res, json.RawMessage(body), nil
}

func restRequest(ctx context.Context, call forgeCall) (*http.Request, error) {
	u := url.URL{Scheme: "http", Host: "forge.internal", Path: call.path, RawQuery: call.query.Encode()}
	var body io.Reader = http.NoBody
	if call.body != nil {
		data, err := json.Marshal(call.body)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, call.method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if call.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// memoryResponse is the ResponseWriter of an in-process REST call.
type memoryResponse struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (m *memoryResponse) Header() http.Header { return m.header }

func (m *memoryResponse) WriteHeader(status int) {
	if m.status == 0 {
		m.status = status
	}
}

func (m *memoryResponse) Write(p []byte) (int, error) {
	m.WriteHeader(http.StatusOK)
	// The forge's answers are small; the cap keeps a tool result bounded.
	if m.body.Len()+len(p) > 1<<20 {
		return 0, errors.New("demo: forge answer too large")
	}
	return m.body.Write(p)
}
