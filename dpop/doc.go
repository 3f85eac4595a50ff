// Package dpop creates and verifies DPoP proofs (RFC 9449) as PROTOCOL.md
// §3 profiles them, and holds the replay cache the verifier needs.
//
// A client signs one proof per request:
//
//	proof, err := dpop.NewProof(agentKey, "POST", "https://api.example/repos/acme/web/pulls",
//		dpop.ProofOptions{AccessToken: tok, Nonce: lastNonce})
//	req.Header.Set("DPoP", proof)
//
// A server checks it against the request it received:
//
//	v, err := dpop.NewVerifier(dpop.NewMemoryReplayCache(1<<20, nil))
//	p, err := v.Verify(ctx, dpop.Request{
//		Proof: dpop.ProofFromHeader(r.Header), Method: r.Method, URL: requestURL,
//		AccessToken: tok, JKT: claims.Cnf.JKT,
//	})
//
// A request states what the proof is bound to: the access token (ath) and
// the key (jkt), or, at a token endpoint, NoAccessToken and, for a key not
// bound yet, AnyKey. A Request that says neither is refused
// (ErrUnstatedBinding), never read as "skip the check".
//
// Verify applies the checks of RFC 9449 §4.3 in a fixed order and reports
// the first failure as a *protocol.Error (code invalid_dpop_proof, or
// use_dpop_nonce; the reason names the check, PROTOCOL.md §8):
//
//  1. a proof is present (missing_proof), at most 8 KiB (too_large), one
//     proof only, a compact JWS whose header and payload are JSON objects
//     without duplicate members or nesting deeper than 32 (malformed);
//  2. typ is exactly "dpop+jwt" (wrong_type); alg is on the allow-list
//     (ES256, Ed25519, EdDSA, RS256 by default; Ed25519 and EdDSA are RFC
//     9864's two names for an Ed25519 key), never none or HMAC
//     (alg_not_allowed);
//  3. the key is the embedded jwk alone: kid, jku, x5u, x5c, x5t and crit
//     are refused (malformed); the jwk holds no private members
//     (private_key_in_jwk) and is a key type that fits alg
//     (alg_not_allowed); the signature verifies with it (bad_signature);
//  4. jti (1–256 bytes), htm, htu and iat are present (malformed); htm
//     equals the method (wrong_htm); htu has no query or fragment and
//     equals the request URL after NormalizeHTU (wrong_htu); iat is within
//     the window of now, 60 s by default (stale_proof); the nonce is valid
//     when WithNonce is set (use_dpop_nonce); ath matches the access token
//     (ath_mismatch) and the key's thumbprint matches cnf.jkt
//     (key_mismatch), both compared in constant time, when the request
//     names them;
//  5. last, the replay cache (replayed_proof), keyed on a hash of the key
//     thumbprint and jti, so that proofs failing any other check never
//     take an entry and no client can burn another's jti. Verify is Check
//     (steps 1–4, no I/O) then Checked.Use (step 5): a server that makes
//     more decisions (a route policy) calls Use only for requests it
//     serves. With WithEpochGuard, a proof the cache may have seen before
//     its epoch (a restart) gets use_dpop_nonce with the epoch's nonce
//     (*NonceError).
//
// Where RFC 9449 leaves a choice, this package is strict: typ is compared
// exactly (RFC 7515 would allow "application/dpop+jwt" and other cases),
// kid beside the jwk is refused, path dot segments are compared literally,
// and the nonce cannot replace iat as the time check (RFC 9449 §11.1).
// The proof's JSON is decoded by exact member names only.
//
// MemoryReplayCache is bounded: when it is full of unexpired ids it
// refuses new ones (ErrCacheFull) instead of evicting one, which would
// reopen that proof's replay window, and once half full it refuses a key
// that holds 1/16 of it (ErrOwnerFull). Every cache reports its Epoch,
// the start of its memory. Other caches (Redis) prove themselves against
// the same dpoptest.ReplayCacheSuite.
package dpop
