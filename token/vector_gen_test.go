package token

import (
	"crypto/ed25519"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// The vectors' inputs. The files under testdata/vectors are generated from
// them (go test ./token -run TestTokenVectors -update) and then committed.

const (
	vecIssuer    = "http://127.0.0.1:8420"
	vecAudience  = "https://forge.example"
	vecNow       = 1_800_000_000
	vecEdKid     = "issuer-2026"
	vecESKid     = "issuer-2026-es256"
	validAbout   = "Access tokens (PROTOCOL.md §7) signed with the fixed issuer keys of testdata/keys. Each verifies at now for issuer and audience with the given leeway and yields exactly claims; it is still valid at exp + leeway − 1 s and expired from exp + leeway on. Ed25519 signatures are deterministic: minting the claims (without iss) again with the key and kid gives the same token. The signatures were also checked with Python's cryptography package."
	invalidAbout = "Tokens a verifier must refuse, each with the OAuth error and the §8 reason it must report, when verified like testdata/vectors/token.json (same issuer, audience, now, leeway and keys). All are signed with the fixed Ed25519 issuer key (or, where named, the fixed attacker key of seed 32 × 0x66), so they are deterministic."
)

func vecIntent() Claims {
	chain, done := []string{"supervisor", "patcher"}, []string{"plan", "approve"}
	return Claims{
		Subject: "patcher", Audience: Audience{vecAudience}, ClientID: "patch-app",
		IssuedAt: vecNow, ExpiresAt: vecNow + 300, ID: "vector-jti-1", Scope: "repo:write",
		Cnf:        &Confirmation{JKT: "BCUnDMW8-7p4WJbBFY4DmByys8N4WOKHpNNMFz5FpVs"},
		AgentProof: &AgentProof{AgentChecksum: "sha256:43da56d0a6916e19a2f7a04a18bc24a6824e4161ebd42a5876938f7bee1ad742", RegistrationID: "reg-1", Version: 2},
		Intent: &Intent{WorkflowID: "vuln-patch", WorkflowVersion: 1, RunID: "run-1", WorkflowStep: "patch",
			ExecutedBy: "patcher", InitiatedBy: "user:alice", DelegationChain: chain, DelegationChainHash: ChainHash(chain),
			StepSequenceHash: StepSequenceHash(done, "patch"), CompletedSteps: done,
			ExecutionContext: map[string]string{"branch": "main", "repo": "acme/web"}},
	}
}

func vectorSkeleton(t *testing.T) *vectorFile {
	esIntent := vecIntent()
	esIntent.ID = "vector-jti-2"
	noRun := vecIntent()
	noRun.ID = "vector-jti-3"
	noRun.Intent = &Intent{ExecutedBy: "patcher", DelegationChain: []string{"patcher"}, DelegationChainHash: ChainHash([]string{"patcher"}),
		CompletedSteps: []string{}, StepSequenceHash: StepSequenceHash(nil, "")}
	legacy := Claims{Subject: "patch-app", Audience: Audience{"https://other.example", vecAudience}, ClientID: "patch-app",
		IssuedAt: vecNow, ExpiresAt: vecNow + 60, ID: "vector-jti-4", Scope: "repo:read repo:write"}
	return &vectorFile{
		About: validAbout, Issuer: vecIssuer, Audience: vecAudience, Now: vecNow,
		LeewaySeconds: int64(protocol.DefaultLeeway.Seconds()),
		Keys: []vectorKey{
			{File: "issuer-ed25519.pem", Alg: keys.EdDSA, Kid: vecEdKid},
			{File: "issuer-es256.pem", Alg: keys.ES256, Kid: vecESKid},
		},
		Tokens: []vectorToken{
			{Name: "intent token, EdDSA", Kid: vecEdKid, Deterministic: true, Claims: vecIntent()},
			{Name: "intent token, ES256", Kid: vecESKid, Claims: esIntent},
			{Name: "intent token of an agent without a run, EdDSA", Kid: vecEdKid, Deterministic: true, Claims: noRun},
			{Name: "legacy token with two audiences, ES256", Kid: vecESKid, Claims: legacy},
		},
	}
}

// invalidCases builds the negative vectors; everything in them is
// deterministic.
func invalidCases(t *testing.T, vf *vectorFile, signers map[string]*keys.Signer) []invalidCase {
	ed, es := signers[vecEdKid], signers[vecESKid]
	good := vecIntent()
	good.Issuer = vf.Issuer
	with := func(fn func(*Claims)) *Claims { return mutate(&good, fn) }
	tok := func(h map[string]any, claims any) string {
		payload, ok := claims.(string)
		if !ok {
			payload = claimsJSON(claims)
		}
		return rawSign(t, ed, header(ed, h), payload)
	}
	valid := tok(nil, &good)
	parts := strings.Split(valid, ".")
	goodJSON := claimsJSON(&good)
	edPub := []byte(ed.CryptoSigner().Public().(ed25519.PublicKey))
	esJWK, _ := keys.MarshalPublicJWK(es.CryptoSigner(), vecESKid)
	cases := []struct {
		name string
		want *protocol.Error
		raw  string
	}{
		{"over 8 KiB", protocol.ErrTokenTooLarge, tok(nil, with(func(c *Claims) { c.Scope = strings.Repeat("s ", protocol.MaxTokenSize/2) }))},
		{"two parts", protocol.ErrMalformedToken, parts[0] + "." + parts[1]},
		{"non-canonical base64url in the signature", protocol.ErrMalformedToken, parts[0] + "." + parts[1] + "." + nonCanonical(parts[2])},
		{"duplicate typ in the header", protocol.ErrMalformedToken, rawSign(t, ed, `{"alg":"EdDSA","kid":"`+vecEdKid+`","typ":"at+jwt","typ":"JWT"}`, goodJSON)},
		{"duplicate sub in the claims", protocol.ErrMalformedToken, tok(nil, strings.Replace(goodJSON, `"sub":"patcher"`, `"sub":"patcher","sub":"admin"`, 1))},
		{"claims are not JSON", protocol.ErrMalformedToken, tok(nil, "patcher may do anything")},
		{"alg none", protocol.ErrAlgNotAllowed, b64json(map[string]any{"alg": "none", "typ": "at+jwt", "kid": vecEdKid}) + "." + parts[1] + "."},
		{"HS256 keyed with the issuer's Ed25519 public key (alg confusion)", protocol.ErrAlgNotAllowed, hs256(vecEdKid, edPub, parts[1])},
		{"HS256 keyed with the issuer's public JWK (alg confusion)", protocol.ErrAlgNotAllowed, hs256(vecESKid, esJWK, parts[1])},
		{"EdDSA token naming the P-256 key", protocol.ErrAlgNotAllowed, tok(map[string]any{"kid": vecESKid}, &good)},
		{"jku header", protocol.ErrForbiddenHeader, tok(map[string]any{"jku": "https://evil.example/jwks.json"}, &good)},
		{"x5u header", protocol.ErrForbiddenHeader, tok(map[string]any{"x5u": "https://evil.example/cert.pem"}, &good)},
		{"embedded jwk header", protocol.ErrForbiddenHeader, tok(map[string]any{"jwk": ed.Public()}, &good)},
		{"x5c header", protocol.ErrForbiddenHeader, tok(map[string]any{"x5c": []string{"MIIB"}}, &good)},
		{"crit header", protocol.ErrForbiddenHeader, tok(map[string]any{"crit": []string{"exp"}, "exp": 1}, &good)},
		{"typ JWT", protocol.ErrWrongType, tok(map[string]any{"typ": "JWT"}, &good)},
		{"typ dpop+jwt", protocol.ErrWrongType, tok(map[string]any{"typ": "dpop+jwt"}, &good)},
		{"no typ", protocol.ErrWrongType, tok(map[string]any{"typ": nil}, &good)},
		{"no kid", protocol.ErrUnknownKey, tok(map[string]any{"kid": nil}, &good)},
		{"unknown kid", protocol.ErrUnknownKey, tok(map[string]any{"kid": "issuer-2025"}, &good)},
		{"path traversal kid", protocol.ErrUnknownKey, tok(map[string]any{"kid": "../../etc/passwd"}, &good)},
		{"signed by another key under the issuer's kid", protocol.ErrBadSignature, rawSign(t, attacker(t, vecEdKid), header(ed, nil), goodJSON)},
		{"scope edited after signing", protocol.ErrBadSignature, parts[0] + "." + b64json(with(func(c *Claims) { c.Scope = "repo:admin" })) + "." + parts[2]},
		{"signature stripped", protocol.ErrBadSignature, parts[0] + "." + parts[1] + "."},
		{"signature truncated by 3 bytes", protocol.ErrBadSignature, parts[0] + "." + parts[1] + "." + truncateSig(parts[2], 3)},
		{"wrong issuer", protocol.ErrWrongIssuer, tok(nil, with(func(c *Claims) { c.Issuer = "https://evil.example" }))},
		{"wrong audience", protocol.ErrWrongAudience, tok(nil, with(func(c *Claims) { c.Audience = Audience{"https://advisory.example"} }))},
		{"no audience", protocol.ErrMissingClaim, tok(nil, with(func(c *Claims) { c.Audience = nil }))},
		{"expired at now = exp + leeway", protocol.ErrExpired, tok(nil, with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = vecNow-305, vecNow-5 }))},
		{"nbf after now + leeway", protocol.ErrNotYetValid, tok(nil, with(func(c *Claims) { c.NotBefore = vecNow + 6 }))},
		{"iat after now + leeway", protocol.ErrIssuedInFuture, tok(nil, with(func(c *Claims) { c.IssuedAt, c.ExpiresAt = vecNow+6, vecNow+306 }))},
		{"no exp", protocol.ErrMissingClaim, tok(nil, with(func(c *Claims) { c.ExpiresAt = 0 }))},
		{"no jti", protocol.ErrMissingClaim, tok(nil, with(func(c *Claims) { c.ID = "" }))},
		{"intent token without cnf", protocol.ErrMissingClaim, tok(nil, with(func(c *Claims) { c.Cnf = nil }))},
		{"intent.executed_by is not sub", protocol.ErrMalformedToken, tok(nil, with(func(c *Claims) { c.Subject = "classifier" }))},
		{"delegation_chain_hash does not match the chain", protocol.ErrMalformedToken, tok(nil, with(func(c *Claims) { c.Intent.DelegationChain = []string{"patcher"} }))},
		{"step_sequence_hash does not match the steps", protocol.ErrMalformedToken, tok(nil, with(func(c *Claims) { c.Intent.CompletedSteps = []string{"approve", "plan"} }))},
	}
	out := make([]invalidCase, len(cases))
	for i, c := range cases {
		out[i] = invalidCase{Name: c.name, Error: c.want.Code, Reason: c.want.Reason, Token: c.raw}
	}
	return out
}
