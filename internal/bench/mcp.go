package bench

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

type readFileArgs struct {
	Repo string `json:"repo"`
	Path string `json:"path"`
}

// mcpServer is an MCP server built with the official Go SDK, stateless
// and answering in JSON, so that a tools/call is one request with no
// session set-up on either side of the comparison.
func mcpServer() http.Handler {
	s := mcp.NewServer(&mcp.Implementation{Name: "bench-forge", Version: "1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "read_file", Description: "Read a file."},
		func(context.Context, *mcp.CallToolRequest, readFileArgs) (*mcp.CallToolResult, any, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "module x"}}}, nil, nil
		})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s },
		&mcp.StreamableHTTPOptions{Stateless: true, JSONResponse: true})
}

// MCPSeries compares a tools/call sent to an MCP server directly with the
// same call through `ajwt proxy` (token, DPoP proof, JSON-RPC parse, tool
// rule), at concurrency 1 and the configured one, as ProxySeries does for
// plain HTTP.
func MCPSeries(cfg Config) ([]Series, func(), error) {
	f, err := newFixture()
	if err != nil {
		return nil, nil, err
	}
	upstream, prx, stop, err := f.behindProxy(mcpServer())
	if err != nil {
		return nil, nil, err
	}
	hc := newHTTP(cfg.Concurrency)
	call := func(u, proof string) error {
		req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(readFileCall))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if proof != "" {
			req.Header.Set("Authorization", "DPoP "+f.tok)
			req.Header.Set("DPoP", proof)
		}
		return expectOK(hc.Do(req))
	}
	var ss []Series
	for _, conc := range slices.Compact([]int{1, cfg.Concurrency}) {
		proofs := make([]string, cfg.Ops)
		ss = append(ss,
			Series{Name: NameMCPDirect, Concurrency: conc, Op: func(int) error { return call(upstream.URL+"/mcp", "") }},
			Series{Name: NameMCPViaProxy, Concurrency: conc, Note: "proofs made untimed; client, proxy and MCP server share this process",
				Prepare: func(from, to int) error { return f.proofsFor(proofs[from:to], http.MethodPost, prx.URL+"/mcp") },
				Op:      func(i int) error { return call(prx.URL+"/mcp", proofs[i]) }})
	}
	return ss, stop, nil
}
