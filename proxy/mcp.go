package proxy

import (
	"net/http"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
)

// rewriteMCP names the tool of a tools/call for the upstream and, when
// the answer must be filtered, asks the upstream for an uncompressed one:
// Go's transport then negotiates gzip itself and decompresses, so the
// filter reads JSON, never a compressed body.
func rewriteMCP(out *http.Request, v *middleware.Verified) {
	if v.MCP != nil && v.MCP.Method == policy.MethodToolsCall {
		out.Header.Set(HeaderTool, v.MCP.Tool)
	}
	if filtersToolsList(out.Method, v) {
		out.Header.Del("Accept-Encoding")
	}
}

// filtersToolsList: the answer to a tools/list, and the GET event stream
// of an MCP session, which may replay one after a reconnection
// (Last-Event-ID), on a route with list: filter.
func filtersToolsList(method string, v *middleware.Verified) bool {
	if v.Route == nil || !v.Route.FiltersToolsList() {
		return false
	}
	return method == http.MethodGet || (v.MCP != nil && v.MCP.Method == policy.MethodToolsList && v.MCP.Request())
}

// filterResponse cuts the tools of a tools/list answer down to those the
// caller may call (§12.2 list: filter); every other answer passes as is.
func filterResponse(resp *http.Response) error {
	v, ok := middleware.FromContext(resp.Request.Context())
	if !ok || !filtersToolsList(resp.Request.Method, v) {
		return nil
	}
	return filterToolsList(resp, v.ToolVisible)
}
