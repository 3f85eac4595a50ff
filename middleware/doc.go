// Package middleware enforces ajwt intent tokens in a net/http resource
// server (PROTOCOL.md §8): it verifies the access token against the IdP's
// JWKS, checks revocation, the DPoP proof (RFC 9449) and the route policy,
// and hands the verified intent to the next handler.
//
//	pol, _ := policyfile.Load("policy.yaml")
//	enf, _ := middleware.New(ctx, pol)        // discovers JWKS and the revocation feed
//	defer enf.Close()
//	http.ListenAndServe(":9000", enf.Handler(api))
//
//	func api(w http.ResponseWriter, r *http.Request) {
//		v, _ := middleware.FromContext(r.Context())
//		log.Print(v.Claims.Subject, v.Claims.Intent.WorkflowStep)
//	}
//
// The path is canonicalized first (policy.CanonicalPath; a path that is
// not canonical gets 400 non_canonical_path). Then checks run in the
// protocol's order: signature by kid (unknown kid → one rate-limited JWKS
// refresh), alg allow-list, typ, iss, aud, exp/nbf/iat with leeway,
// revocation, DPoP, route policy. The proof's jti and a one-time token are
// recorded in the replay cache only once the policy allows the request,
// so refused requests take no entry. Every refusal is answered with the
// §8 status, WWW-Authenticate challenge and JSON body
// {"error","error_description","reason"}; a replay cache that is full or
// unreachable gives 503 temporarily_unavailable (a key over its share 429
// slow_down), with Retry-After.
//
// WithRestartGuard keeps a restarted replay cache (a new process, a Redis
// that lost its data) from accepting again what its predecessor accepted;
// a server using it should call WaitReplayWindow before it listens.
package middleware
