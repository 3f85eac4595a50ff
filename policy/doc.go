// Package policy decides whether a verified token may make a request, from
// route rules (PROTOCOL.md §8): method and path template, scopes, workflow,
// steps, agents, binding of path parameters to the token's execution
// context, one-time use, public routes and legacy tokens.
//
// It is pure: no I/O, no token parsing. The middleware verifies the token
// and the DPoP proof, then asks the compiled policy:
//
//	p, err := policy.Compile(rules)
//	route, params, ok := p.Match("POST", "/repos/acme/web/pulls")
//	err = route.Authorize(params, policy.Subject{...})
//
// Paths are matched in the one canonical form of §8 (CanonicalPath): the
// enforcer refuses a path that has none with 400 non_canonical_path, and
// the proxy forwards the canonical form, so the path a rule was applied to
// is the path the upstream serves.
//
// Every refusal is a *protocol.Error with a stable reason code.
package policy
