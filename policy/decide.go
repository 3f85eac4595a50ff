package policy

import (
	"crypto/subtle"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/protocol"
)

// Subject is what the enforcer learned from a verified token.
type Subject struct {
	Legacy           bool // a token without agent binding (client_credentials)
	Agent            string
	Scopes           []string
	Workflow         string
	Step             string
	ExecutionContext map[string]string
}

// Match finds the first route for method and a request path as sent
// (escaped). The path is canonicalized first (CanonicalPath): one that is
// not canonical matches nothing, so a caller that skips the enforcer's
// refusal still cannot route a spelling past a rule. Segments are matched
// in canonical escaped form, so "%2F" never splits one, and a trailing "/"
// is not significant.
func (p *Policy) Match(method, escapedPath string) (*Route, map[string]string, bool) {
	canonical, err := CanonicalPath(escapedPath)
	if err != nil {
		return nil, nil, false
	}
	segs := splitPath(canonical)
	for _, r := range p.routes {
		if r.method != "*" && r.method != method {
			continue
		}
		if params, ok := r.match(segs); ok {
			return r, params, true
		}
	}
	return nil, nil, false
}

// HasPath reports whether some route, of any method, matches the path:
// the paths a resource serves metadata for (§12.1).
func (p *Policy) HasPath(escapedPath string) bool {
	canonical, err := CanonicalPath(escapedPath)
	if err != nil {
		return false
	}
	segs := splitPath(canonical)
	for _, r := range p.routes {
		if _, ok := r.match(segs); ok {
			return true
		}
	}
	return false
}

// splitPath splits a canonical path into segments without its trailing
// "/"; the root "/" is one empty segment, which "/**" matches.
func splitPath(canonical string) []string {
	return strings.Split(trimTrailingSlash(canonical)[1:], "/")
}

func (r *Route) match(segs []string) (map[string]string, bool) {
	// A final ** needs at least one more segment: /legacy/** is not /legacy.
	if (r.rest && len(segs) <= len(r.segments)) || (!r.rest && len(segs) != len(r.segments)) {
		return nil, false
	}
	var params map[string]string
	for i, s := range r.segments {
		if s.param == "" {
			if segs[i] != s.literal {
				return nil, false
			}
			continue
		}
		v, ok := unescapeSegment(segs[i])
		if !ok {
			return nil, false
		}
		if params == nil {
			params = map[string]string{}
		}
		params[s.param] = v
	}
	return params, true
}

// unescapeSegment decodes one path segment; an empty value or one that
// decodes to contain "/" never binds a parameter.
func unescapeSegment(s string) (string, bool) {
	v, err := url.PathUnescape(s)
	if err != nil || v == "" || strings.Contains(v, "/") {
		return "", false
	}
	return v, true
}

func intentMismatch(reason, format string, args ...any) error {
	e := &protocol.Error{Code: protocol.CodeIntentMismatch, Reason: reason, Status: http.StatusForbidden}
	return e.WithDescription(format, args...)
}

// Authorize applies the route's conditions to a verified subject.
func (r *Route) Authorize(params map[string]string, s Subject) error {
	if s.Legacy && r.rule.Legacy != "allow" {
		return protocol.ErrLegacyTokenRefused.WithDescription("this route requires an agent intent token")
	}
	c := conditions{scopes: r.rule.Scopes, workflow: r.rule.Workflow, steps: r.rule.Steps, agents: r.rule.Agents, context: r.rule.Context}
	if err := c.check(s); err != nil {
		return err
	}
	return c.checkContext(s.ExecutionContext, func(name string) (string, bool) {
		v, ok := params[name]
		return v, ok
	})
}

// conditions are what a route or an MCP tool demands of a token.
type conditions struct {
	scopes   []string
	workflow string
	steps    []string
	agents   []string
	context  map[string]string
}

// check applies everything but the context, which needs the request.
func (c conditions) check(s Subject) error {
	if err := checkScopes(c.scopes, s.Scopes); err != nil {
		return err
	}
	if s.Legacy {
		if c.workflow != "" || len(c.steps) > 0 || len(c.agents) > 0 || len(c.context) > 0 {
			return protocol.ErrLegacyTokenRefused.WithDescription("this requires an agent intent token")
		}
		return nil
	}
	switch {
	case c.workflow != "" && s.Workflow != c.workflow:
		return intentMismatch(protocol.ReasonWrongWorkflow, "token is for another workflow")
	case len(c.steps) > 0 && !slices.Contains(c.steps, s.Step):
		return intentMismatch(protocol.ReasonWrongStep, "token is for step %q, allowed: %v", s.Step, c.steps)
	case len(c.agents) > 0 && !slices.Contains(c.agents, s.Agent):
		return intentMismatch(protocol.ReasonWrongAgent, "agent %q may not do this", s.Agent)
	}
	return nil
}

// checkScopes refuses with the scopes the request needs, for the
// WWW-Authenticate scope challenge (RFC 6750 §3, §12.1).
func checkScopes(want, have []string) error {
	for _, w := range want {
		if !slices.Contains(have, w) {
			e := &protocol.Error{Code: protocol.CodeInsufficientScope, Reason: protocol.ReasonInsufficientScope, Status: http.StatusForbidden,
				Scope: strings.Join(want, " ")}
			return e.WithDescription("requires scope %s", w)
		}
	}
	return nil
}

// checkContext requires every bound value to equal the token's execution
// context: a token for acme/web cannot touch acme/api. lookup resolves a
// template's {name}; a name it cannot resolve fails the check.
func (c conditions) checkContext(ctx map[string]string, lookup func(name string) (string, bool)) error {
	for key, tmpl := range c.context {
		want, ok := expand(tmpl, lookup)
		got, has := ctx[key]
		if !ok || !has || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return intentMismatch(protocol.ReasonContextMismatch, "request is outside the token's execution context (%s)", key)
		}
	}
	return nil
}

func expand(tmpl string, lookup func(name string) (string, bool)) (string, bool) {
	var b strings.Builder
	for {
		start := strings.IndexByte(tmpl, '{')
		end := strings.IndexByte(tmpl, '}')
		if start < 0 || end < start {
			b.WriteString(tmpl)
			return b.String(), true
		}
		v, ok := lookup(tmpl[start+1 : end])
		if !ok {
			return "", false
		}
		b.WriteString(tmpl[:start])
		b.WriteString(v)
		tmpl = tmpl[end+1:]
	}
}
