package token

import (
	"context"
	"testing"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// TestDPoPBoundClientToken: a client_credentials token bound to a key
// (PROTOCOL.md §6.1, §7) carries cnf and neither agent_proof nor intent.
// It is minted and verified as a legacy token; cnf.jkt must still be a
// thumbprint, and a half intent token is refused as before.
func TestDPoPBoundClientToken(t *testing.T) {
	f := newFixture(t, keys.ES256)
	bound := mutate(legacyClaims(), func(c *Claims) { c.Cnf = &Confirmation{JKT: testJKT} })
	raw, err := f.issuer.Mint(bound)
	if err != nil {
		t.Fatalf("mint: %v", err)
	}
	c, err := f.verifier.Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if c.Cnf == nil || c.Cnf.JKT != testJKT || c.IsIntent() {
		t.Fatalf("claims %+v", c)
	}
	sign := signedBy(t, f.key)
	leg := func(fn func(*Claims)) *Claims { return mutate(withIss(bound), fn) }
	runVerifyCases(t, f.verifier, []verifyCase{
		{"cnf with an empty jkt", sign(nil, leg(func(c *Claims) { c.Cnf.JKT = "" })), protocol.ErrMissingClaim},
		{"cnf.jkt not a thumbprint", sign(nil, leg(func(c *Claims) { c.Cnf.JKT = "thumb" })), protocol.ErrMalformedToken},
		{"cnf and agent_proof without intent", sign(nil, mutate(withIss(intentClaims()), func(c *Claims) { c.Intent = nil })), protocol.ErrMissingClaim},
		{"cnf and intent without agent_proof", sign(nil, mutate(withIss(intentClaims()), func(c *Claims) { c.AgentProof = nil })), protocol.ErrMissingClaim},
		{"agent_proof alone", sign(nil, mutate(withIss(intentClaims()), func(c *Claims) { c.Cnf, c.Intent = nil, nil })), protocol.ErrMissingClaim},
	})
}
