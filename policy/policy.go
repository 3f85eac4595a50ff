package policy

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/protocol"
)

// Rules is a policy file's content (§8).
type Rules struct {
	Issuer    string `json:"issuer" yaml:"issuer"`
	Resource  string `json:"resource" yaml:"resource"`
	PublicURL string `json:"public_url,omitempty" yaml:"public_url"`
	Routes    []Rule `json:"routes" yaml:"routes"`
	Default   string `json:"default,omitempty" yaml:"default"` // "deny" (default) or "allow"
}

// Rule is one route.
type Rule struct {
	Match    MatchRule         `json:"match" yaml:"match"`
	Scopes   []string          `json:"scopes,omitempty" yaml:"scopes"`
	Workflow string            `json:"workflow,omitempty" yaml:"workflow"`
	Steps    []string          `json:"steps,omitempty" yaml:"steps"`
	Agents   []string          `json:"agents,omitempty" yaml:"agents"`
	Context  map[string]string `json:"context,omitempty" yaml:"context"`
	OneTime  bool              `json:"one_time,omitempty" yaml:"one_time"`
	Public   bool              `json:"public,omitempty" yaml:"public"`
	Legacy   string            `json:"legacy,omitempty" yaml:"legacy"` // "allow" or "deny" (default)
	MCP      *MCPRule          `json:"mcp,omitempty" yaml:"mcp"`       // an MCP endpoint (§12.2)
	Line     int               `json:"-" yaml:"-"`                     // source line, for messages
}

// MatchRule selects requests: an HTTP method ("*" for any) and a path
// template where {name} matches one segment and a final ** the rest.
type MatchRule struct {
	Method string `json:"method" yaml:"method"`
	Path   string `json:"path" yaml:"path"`
}

// Policy is a compiled, immutable rule set; safe for concurrent use.
// Nothing it hands out can change it: routes are read through methods,
// and Rule returns a copy.
type Policy struct {
	issuer    string
	resource  string
	publicURL string
	allow     bool
	routes    []*Route
}

// Issuer is the IdP whose tokens the policy accepts, without a trailing "/".
func (p *Policy) Issuer() string { return p.issuer }

// Resource is the identifier that must appear in a token's aud.
func (p *Policy) Resource() string { return p.resource }

// PublicURL is the URL clients address (for the DPoP htu), without a
// trailing "/"; "" means scheme and Host of each request.
func (p *Policy) PublicURL() string { return p.publicURL }

// Route is one compiled rule, immutable.
type Route struct {
	rule     Rule // a deep copy of the rule it was compiled from
	method   string
	segments []segment
	rest     bool      // template ends in **
	mcp      *mcpRoute // nil: not an MCP route
}

type segment struct {
	literal string
	param   string // non-empty: {param}
}

// ErrInvalid reports a policy that cannot be compiled.
var ErrInvalid = errors.New("policy: invalid")

func invalid(r *Rule, format string, args ...any) error {
	where := ""
	if r != nil && r.Line > 0 {
		where = fmt.Sprintf("line %d: ", r.Line)
	}
	return fmt.Errorf("%w: %s%s", ErrInvalid, where, fmt.Sprintf(format, args...))
}

// Compile checks rules and prepares them for matching.
func Compile(rules Rules) (*Policy, error) {
	if err := checkURL("issuer", rules.Issuer, false); err != nil {
		return nil, err
	}
	if err := checkURL("resource", rules.Resource, false); err != nil {
		return nil, err
	}
	if rules.PublicURL != "" {
		if err := checkURL("public_url", rules.PublicURL, true); err != nil {
			return nil, err
		}
	}
	p := &Policy{issuer: strings.TrimSuffix(rules.Issuer, "/"), resource: rules.Resource, publicURL: strings.TrimSuffix(rules.PublicURL, "/")}
	switch rules.Default {
	case "", "deny":
	case "allow":
		p.allow = true
	default:
		return nil, invalid(nil, "default must be deny or allow, not %q", rules.Default)
	}
	for i := range rules.Routes {
		r, err := compileRule(rules.Routes[i])
		if err != nil {
			return nil, err
		}
		p.routes = append(p.routes, r)
	}
	return p, nil
}

func checkURL(field, s string, http bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Fragment != "" || u.RawQuery != "" {
		return invalid(nil, "%s must be an absolute URI without query, got %q", field, s)
	}
	if http && u.Scheme != "http" && u.Scheme != "https" {
		return invalid(nil, "%s must be http(s)", field)
	}
	return nil
}

func compileRule(rule Rule) (*Route, error) {
	r := &Route{rule: rule.clone(), method: strings.ToUpper(rule.Match.Method)}
	if r.method == "" || (r.method != "*" && !isToken(r.method)) {
		return nil, invalid(&rule, "match.method must be an HTTP method or *")
	}
	params, err := r.compilePath()
	if err != nil {
		return nil, err
	}
	if err := r.checkFields(); err != nil {
		return nil, err
	}
	return r, r.compileMCP(params)
}

// compilePath prepares the path template and returns its parameters.
func (r *Route) compilePath() (map[string]bool, error) {
	path := r.rule.Match.Path
	if !strings.HasPrefix(path, "/") || strings.Contains(path, "//") {
		return nil, invalid(&r.rule, "match.path must start with / and have no empty segment")
	}
	seen := map[string]bool{}
	parts := splitPath(path)
	for i, part := range parts {
		switch {
		case part == "**" && i == len(parts)-1:
			r.rest = true
		case strings.Contains(part, "**"):
			return nil, invalid(&r.rule, "** may only be the last path segment")
		case strings.HasPrefix(part, "{") && strings.HasSuffix(part, "}"):
			name := part[1 : len(part)-1]
			if !isParamName(name) || seen[name] {
				return nil, invalid(&r.rule, "bad or repeated path parameter {%s}", name)
			}
			seen[name] = true
			r.segments = append(r.segments, segment{param: name})
		case strings.ContainsAny(part, "{}*"):
			return nil, invalid(&r.rule, "path segment %q mixes text and a parameter", part)
		default:
			literal, err := canonicalLiteral(part, len(parts) == 1)
			if err != nil {
				return nil, invalid(&r.rule, "path segment %q: %v", part, err)
			}
			r.segments = append(r.segments, segment{literal: literal})
		}
	}
	return seen, r.checkContextParams(seen)
}

// canonicalLiteral puts a template's literal segment in the form request
// segments are compared in; a segment no canonical path can hold (empty,
// dot, ";", encoded "/") would never match, so it is an error. The empty
// segment of the root template "/" is the exception.
func canonicalLiteral(part string, only bool) (string, error) {
	if part == "" && only {
		return "", nil
	}
	if part == "" {
		return "", errors.New("empty segment")
	}
	c, err := CanonicalPath("/" + part)
	var pe *protocol.Error
	if errors.As(err, &pe) {
		return "", errors.New(pe.Description)
	}
	return c[1:], nil
}

func (r *Route) checkContextParams(params map[string]bool) error {
	for key, tmpl := range r.rule.Context {
		for _, name := range templateParams(tmpl) {
			if !params[name] {
				return invalid(&r.rule, "context.%s uses {%s}, which the path does not define", key, name)
			}
		}
	}
	return nil
}

func (r *Route) checkFields() error {
	switch {
	case r.rule.Legacy != "" && r.rule.Legacy != "allow" && r.rule.Legacy != "deny":
		return invalid(&r.rule, "legacy must be allow or deny")
	case r.rule.Public && (len(r.rule.Scopes) > 0 || r.rule.Workflow != "" || len(r.rule.Steps) > 0 || len(r.rule.Agents) > 0 || len(r.rule.Context) > 0 || r.rule.OneTime || r.rule.Legacy != "" || r.rule.MCP != nil):
		return invalid(&r.rule, "a public route takes no other conditions")
	case r.rule.Legacy == "allow" && (r.rule.Workflow != "" || len(r.rule.Steps) > 0 || len(r.rule.Agents) > 0 || len(r.rule.Context) > 0):
		return invalid(&r.rule, "a route that allows legacy tokens cannot demand workflow, steps, agents or context (a legacy token has none)")
	}
	return nil
}

func isToken(s string) bool {
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return s != ""
}

func isParamName(s string) bool {
	for i, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// templateParams lists the {name} references of a context template.
func templateParams(tmpl string) []string {
	var out []string
	for {
		start := strings.IndexByte(tmpl, '{')
		if start < 0 {
			return out
		}
		end := strings.IndexByte(tmpl[start:], '}')
		if end < 0 {
			return out
		}
		out = append(out, tmpl[start+1:start+end])
		tmpl = tmpl[start+end+1:]
	}
}

// Routes returns the compiled routes in file order.
func (p *Policy) Routes() []*Route { return slices.Clone(p.routes) }

// DefaultAllow reports whether unmatched requests need only a valid token.
func (p *Policy) DefaultAllow() bool { return p.allow }

// Rule returns a copy of the rule the route was compiled from.
func (r *Route) Rule() Rule { return r.rule.clone() }

// Public reports a route that needs no token.
func (r *Route) Public() bool { return r.rule.Public }

// OneTime reports a route that accepts a token once.
func (r *Route) OneTime() bool { return r.rule.OneTime }

// clone copies r deeply: a compiled route must not share a slice or map
// with a caller that could change it.
func (r Rule) clone() Rule {
	r.Scopes, r.Steps, r.Agents = slices.Clone(r.Scopes), slices.Clone(r.Steps), slices.Clone(r.Agents)
	r.Context = maps.Clone(r.Context)
	if r.MCP != nil {
		m := *r.MCP
		m.Methods = slices.Clone(m.Methods)
		m.Tools = slices.Clone(m.Tools)
		for i := range m.Tools {
			t := &m.Tools[i]
			t.Scopes, t.Steps, t.Agents, t.Context = slices.Clone(t.Scopes), slices.Clone(t.Steps), slices.Clone(t.Agents), maps.Clone(t.Context)
		}
		r.MCP = &m
	}
	return r
}
