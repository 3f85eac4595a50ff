// Package token mints and verifies ajwt access tokens: RFC 9068 JWTs
// (typ "at+jwt") that carry, for agents, the intent claims of PROTOCOL.md §7
// (cnf.jkt, agent_proof, intent). Legacy client_credentials tokens (§6.1)
// are the same JWTs without those three claims, or with cnf alone when the
// client bound its token to a key with a DPoP proof.
//
//	iss, _ := token.NewIssuer("https://idp.example", signer) // keys.Signer, ES256 by default
//	raw, _ := iss.Mint(&token.Claims{Subject: "patcher", ...})
//
//	v, _ := token.NewVerifier("https://idp.example", "https://forge.example", keySource)
//	claims, err := v.Verify(ctx, raw) // errors.Is(err, protocol.ErrExpired) …
//
// The verifier chooses the algorithms (ES256, EdDSA, RS256; never none or
// HMAC), looks keys up only by kid in the caller's KeySource (never from
// jku, x5u, x5c or an embedded jwk, which are refused outright), requires
// the key type to fit alg, checks typ, iss, aud, exp, nbf and iat with a
// bounded leeway, and requires intent tokens to be complete and
// self-consistent (see Verify and checkIntent for the exact order and
// rules). Every failure is a *protocol.Error with a §8 reason code.
//
// Choices where the RFCs leave room, written down here:
//   - typ "at+jwt" and "application/at+jwt" are both accepted, compared
//     case-insensitively (RFC 7515 §4.1.9, RFC 9068 §4).
//   - Tokens must use canonical unpadded base64url and strict JSON (no
//     duplicate members, nesting ≤ protocol.MaxJSONDepth), so one token has
//     exactly one encoding and no two parsers read it differently.
//   - client_id is required as well as sub and jti (RFC 9068 §2.2).
//   - A token's alg must fit its key's type, and the key's own alg and use
//     members when set; a mismatch is reported as alg_not_allowed.
//   - Issuer identifiers are compared after removing one trailing slash
//     from the configured value; the token's iss must then match exactly.
//
// Implements: RFC 7515 and RFC 7519 (JWS, JWT), RFC 9068 (JWT access
// tokens), RFC 8725 (JWT best practices: explicit algorithms, typ), RFC 9449
// §6 (cnf.jkt), PROTOCOL.md §7, §8 (first paragraph) and §10.
package token
