// Package dpop creates and verifies DPoP proofs (RFC 9449) as PROTOCOL.md §3
// profiles them: typ dpop+jwt, an algorithm from the allow-list (never none
// or HMAC), a public embedded jwk, htm and htu equal to the request, iat in
// a window, jti never seen before, ath bound to the access token and the
// key's thumbprint equal to the token's cnf.jkt.
//
//	proof, _ := dpop.NewProof(agentKey, "POST", "https://api.example/repos/acme/web/pulls",
//		dpop.ProofOptions{AccessToken: tok})
//
//	v, _ := dpop.NewVerifier(dpop.NewMemoryReplayCache(1<<20, time.Now))
//	p, err := v.Verify(ctx, dpop.Request{Proof: proof, Method: "POST", URL: requestURL,
//		AccessToken: tok, JKT: claims.Cnf.JKT})
//
// The replay check runs last, so proofs that fail any other check never
// occupy the cache. Nonces (RFC 9449 §8/§9) are optional: WithNonce.
package dpop
