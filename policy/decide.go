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
	if s.Legacy {
		if r.Legacy != "allow" {
			return protocol.ErrLegacyTokenRefused.WithDescription("this route requires an agent intent token")
		}
		return r.checkScopes(s.Scopes)
	}
	if err := r.checkScopes(s.Scopes); err != nil {
		return err
	}
	switch {
	case r.Workflow != "" && s.Workflow != r.Workflow:
		return intentMismatch(protocol.ReasonWrongWorkflow, "token is for another workflow")
	case len(r.Steps) > 0 && !slices.Contains(r.Steps, s.Step):
		return intentMismatch(protocol.ReasonWrongStep, "token is for step %q, route allows %v", s.Step, r.Steps)
	case len(r.Agents) > 0 && !slices.Contains(r.Agents, s.Agent):
		return intentMismatch(protocol.ReasonWrongAgent, "agent %q may not call this route", s.Agent)
	}
	return r.checkContext(params, s.ExecutionContext)
}

func (r *Route) checkScopes(have []string) error {
	for _, want := range r.Scopes {
		if !slices.Contains(have, want) {
			e := &protocol.Error{Code: protocol.CodeInsufficientScope, Reason: protocol.ReasonInsufficientScope, Status: http.StatusForbidden}
			return e.WithDescription("requires scope %s", want)
		}
	}
	return nil
}

// checkContext requires every bound value to equal the token's execution
// context: a token for acme/web cannot touch acme/api.
func (r *Route) checkContext(params, ctx map[string]string) error {
	for key, tmpl := range r.Context {
		want := expand(tmpl, params)
		got, ok := ctx[key]
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return intentMismatch(protocol.ReasonContextMismatch, "request is outside the token's execution context (%s)", key)
		}
	}
	return nil
}

func expand(tmpl string, params map[string]string) string {
	var b strings.Builder
	for {
		start := strings.IndexByte(tmpl, '{')
		end := strings.IndexByte(tmpl, '}')
		if start < 0 || end < start {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:start])
		b.WriteString(params[tmpl[start+1:end]])
		tmpl = tmpl[end+1:]
	}
}
