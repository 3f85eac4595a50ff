// Package token mints and verifies ajwt access tokens: RFC 9068 JWTs
// (typ "at+jwt") that carry, for agents, the intent claims of PROTOCOL.md §7
// (agent_proof, intent, cnf.jkt).
//
//	iss, _ := token.NewIssuer("https://idp.example", signer)
//	raw, _ := iss.Mint(&token.Claims{Subject: "patcher", ...})
//
//	v, _ := token.NewVerifier("https://idp.example", "https://forge.example", keySource)
//	claims, err := v.Verify(ctx, raw) // errors.Is(err, protocol.ErrExpired) …
//
// The verifier chooses the algorithms (ES256, EdDSA, RS256; never none or
// HMAC), looks keys up only by kid in the caller's KeySource (never from jku,
// x5u or an embedded jwk, which are refused outright) and checks typ, iss,
// aud, exp, nbf and iat with a bounded leeway. Every failure is a
// *protocol.Error with a §8 reason code.
package token
