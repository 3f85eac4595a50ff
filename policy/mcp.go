package policy

import (
	"slices"
	"strings"

	"github.com/ajwt/ajwt/protocol"
)

// MCPRule is the mcp block of a route (§12.2): the route carries the
// JSON-RPC messages of an MCP server's Streamable HTTP endpoint, and each
// POSTed message is authorized on its own.
type MCPRule struct {
	// List is "filter" (the default: tools/list answers keep only the
	// tools the caller may call) or "all".
	List string `json:"list,omitempty" yaml:"list"`
	// Methods are extra JSON-RPC methods any valid token may call.
	Methods []string `json:"methods,omitempty" yaml:"methods"`
	// Tools are the tools/call rules; a tool not listed is refused.
	Tools []ToolRule `json:"tools,omitempty" yaml:"tools"`
	// MaxMessageBytes bounds a POSTed message (default
	// DefaultMCPMessageBytes, at most MaxMCPMessageBytes).
	MaxMessageBytes int `json:"max_message_bytes,omitempty" yaml:"max_message_bytes"`
}

// ToolRule is what a tools/call of one tool needs. Context values may use
// {args.NAME}, the string argument NAME of the call, and the route's path
// parameters.
type ToolRule struct {
	Name     string            `json:"name" yaml:"name"`
	Scopes   []string          `json:"scopes,omitempty" yaml:"scopes"`
	Workflow string            `json:"workflow,omitempty" yaml:"workflow"`
	Steps    []string          `json:"steps,omitempty" yaml:"steps"`
	Agents   []string          `json:"agents,omitempty" yaml:"agents"`
	Context  map[string]string `json:"context,omitempty" yaml:"context"`
	OneTime  bool              `json:"one_time,omitempty" yaml:"one_time"`
	Line     int               `json:"-" yaml:"-"` // source line, for messages
}

// Limits of a POSTed MCP message (§12.2).
const (
	DefaultMCPMessageBytes = protocol.MaxRequestBody
	MaxMCPMessageBytes     = 1 << 20
)

// JSON-RPC methods every valid token may call on an mcp route (§12.2).
const (
	MethodInitialize = "initialize"
	MethodPing       = "ping"
	MethodToolsList  = "tools/list"
	MethodToolsCall  = "tools/call"
)

// mcpRoute is the compiled mcp block.
type mcpRoute struct {
	filter   bool
	maxBytes int
	methods  []string
	tools    map[string]*ToolRule
}

func (r *Route) compileMCP(params map[string]bool) error {
	m := r.rule.MCP
	if m == nil {
		return nil
	}
	c := &mcpRoute{maxBytes: m.MaxMessageBytes, tools: map[string]*ToolRule{}}
	switch m.List {
	case "", "filter":
		c.filter = true
	case "all":
	default:
		return invalid(&r.rule, "mcp.list must be filter or all, not %q", m.List)
	}
	switch {
	case c.maxBytes == 0:
		c.maxBytes = DefaultMCPMessageBytes
	case c.maxBytes < 0 || c.maxBytes > MaxMCPMessageBytes:
		return invalid(&r.rule, "mcp.max_message_bytes must be from 1 to %d", MaxMCPMessageBytes)
	}
	if r.rule.OneTime {
		return invalid(&r.rule, "one_time on an mcp route would be spent by initialize or tools/list: put it on the tools")
	}
	for _, name := range m.Methods {
		if name == "" || name == MethodToolsCall {
			return invalid(&r.rule, "mcp.methods may not list %q (tools/call is governed by mcp.tools)", name)
		}
		c.methods = append(c.methods, name)
	}
	for i := range m.Tools {
		t := &m.Tools[i]
		if err := r.checkTool(t, params, c.tools); err != nil {
			return err
		}
		c.tools[t.Name] = t
	}
	r.mcp = c
	return nil
}

func (r *Route) checkTool(t *ToolRule, params map[string]bool, seen map[string]*ToolRule) error {
	at := r.rule
	if t.Line > 0 {
		at.Line = t.Line
	}
	if t.Name == "" {
		return invalid(&at, "mcp.tools: a tool needs a name")
	}
	if seen[t.Name] != nil {
		return invalid(&at, "mcp.tools: tool %q listed twice", t.Name)
	}
	for key, tmpl := range t.Context {
		for _, name := range templateParams(tmpl) {
			arg, isArg := strings.CutPrefix(name, "args.")
			if (isArg && arg == "") || (!isArg && !params[name]) {
				return invalid(&at, "tool %s: context.%s uses {%s}, which is neither {args.NAME} nor a path parameter", t.Name, key, name)
			}
		}
	}
	return nil
}

// IsMCP reports whether the route carries MCP messages (§12.2).
func (r *Route) IsMCP() bool { return r.mcp != nil }

// MCPMaxMessageBytes is the largest POST body the route accepts.
func (r *Route) MCPMaxMessageBytes() int {
	if r.mcp == nil {
		return 0
	}
	return r.mcp.maxBytes
}

// FiltersToolsList reports whether tools/list answers on this route must
// be cut down to the tools the caller may call.
func (r *Route) FiltersToolsList() bool { return r.mcp != nil && r.mcp.filter }

// HasTool reports whether the route has a rule for the tool: a name
// callers cannot choose freely, so it can label metrics.
func (r *Route) HasTool(name string) bool { return r.mcp != nil && r.mcp.tools[name] != nil }

// Tools returns the names of the route's tool rules, sorted.
func (r *Route) Tools() []string {
	if r.mcp == nil {
		return nil
	}
	names := make([]string, 0, len(r.mcp.tools))
	for name := range r.mcp.tools {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// HasTool reports whether any route has a rule for the tool.
func (p *Policy) HasTool(name string) bool {
	for _, r := range p.routes {
		if r.HasTool(name) {
			return true
		}
	}
	return false
}

// AuthorizeMCP applies the route's mcp block to one message (§12.2), after
// Authorize has applied the route's own conditions. oneTime reports that
// the token is spent by this message.
func (r *Route) AuthorizeMCP(params map[string]string, m *MCPMessage, s Subject) (oneTime bool, err error) {
	switch {
	case r.mcp == nil:
		return false, nil
	case m.Method == MethodToolsCall && m.Request():
		t := r.mcp.tools[m.Tool]
		if t == nil {
			return false, refuseTool(protocol.ReasonToolNotAllowed, "tool %q is not allowed on this route", m.Tool)
		}
		return t.OneTime, t.authorize(params, m, s)
	case r.mcp.freeMethod(m.Method):
		return false, nil
	default:
		return false, refuseTool(protocol.ReasonMethodNotAllowed, "method %q is not allowed on this route", m.Method)
	}
}

// freeMethod: the lifecycle, listing and notifications any valid token
// may send; a JSON-RPC response (no method) is none of them.
func (c *mcpRoute) freeMethod(method string) bool {
	switch {
	case method == MethodInitialize, method == MethodPing, method == MethodToolsList:
		return true
	case strings.HasPrefix(method, "notifications/"):
		return true
	}
	return method != "" && slices.Contains(c.methods, method)
}

func refuseTool(reason, format string, args ...any) error {
	e := &protocol.Error{Code: protocol.CodeInsufficientScope, Reason: reason, Status: 403}
	return e.WithDescription(format, args...)
}

// ToolVisible reports whether s satisfies the tool's rule apart from its
// context, which only a call's arguments can satisfy: what a tools/list
// answer keeps (§12.2 list: filter).
func (r *Route) ToolVisible(name string, s Subject) bool {
	if r.mcp == nil {
		return false
	}
	t := r.mcp.tools[name]
	return t != nil && t.conditions().check(s) == nil
}

func (t *ToolRule) conditions() conditions {
	return conditions{scopes: t.Scopes, workflow: t.Workflow, steps: t.Steps, agents: t.Agents, context: t.Context}
}

func (t *ToolRule) authorize(params map[string]string, m *MCPMessage, s Subject) error {
	c := t.conditions()
	if err := c.check(s); err != nil {
		return err
	}
	return c.checkContext(s.ExecutionContext, func(name string) (string, bool) {
		if arg, ok := strings.CutPrefix(name, "args."); ok {
			return m.StringArg(arg)
		}
		v, ok := params[name]
		return v, ok
	})
}

// Scopes returns every scope the policy names, sorted and without
// duplicates: the scopes_supported of the resource's metadata (§12.1).
func (p *Policy) Scopes() []string {
	var all []string
	for _, r := range p.routes {
		all = append(all, r.rule.Scopes...)
		if r.mcp != nil {
			for _, t := range r.mcp.tools {
				all = append(all, t.Scopes...)
			}
		}
	}
	slices.Sort(all)
	return slices.Compact(all)
}
