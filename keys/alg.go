package keys

import (
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Alg is a JWS signature algorithm ajwt accepts. There is deliberately no way
// to name "none" or an HMAC algorithm with it.
type Alg string

const (
	ES256 Alg = "ES256"
	EdDSA Alg = "EdDSA"
	RS256 Alg = "RS256"
	// Ed25519 is RFC 9864's fully-specified name for what EdDSA means on an
	// Ed25519 key, which stock clients now send. It is accepted on what
	// agents and clients sign (ProofAlgs) but never signed with: go-jose
	// v4.1.9 signs only under the polymorphic name, and our own signatures
	// keep the name every verifier already accepts.
	Ed25519 Alg = "Ed25519"
)

// DefaultAlgs is the allow-list used where the caller does not narrow it.
var defaultAlgs = []Alg{ES256, EdDSA, RS256}

// proofAlgs adds Ed25519 to defaultAlgs for JWSs made by agents and clients
// (PROTOCOL.md §3): those come from libraries ajwt does not control.
var proofAlgs = []Alg{ES256, Ed25519, EdDSA, RS256}

// DefaultAlgs returns a fresh copy of the default allow-list: the
// algorithms ajwt signs with, and those of the access tokens it verifies.
func DefaultAlgs() []Alg { return append([]Alg(nil), defaultAlgs...) }

// ProofAlgs returns a fresh copy of the allow-list for what agents and
// clients sign to show they hold a key (DPoP proofs, delegation
// assertions, private_key_jwt client assertions): DefaultAlgs and Ed25519.
func ProofAlgs() []Alg { return append([]Alg(nil), proofAlgs...) }

// ParseAlg accepts only the algorithms ajwt signs with (PROTOCOL.md §3):
// Ed25519 names a verification-only algorithm here, so a configuration
// asking to sign with it is refused rather than failing at the first token.
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case ES256, EdDSA, RS256:
		return a, nil
	}
	return "", fmt.Errorf("keys: algorithm %q not allowed (want ES256, EdDSA or RS256)", s)
}

// JOSEAlgs converts an allow-list for go-jose's parse functions, refusing
// an empty list (go-jose would refuse it too, later and less clearly) and
// anything outside ParseAlg and Ed25519.
func JOSEAlgs(algs []Alg) ([]jose.SignatureAlgorithm, error) {
	if len(algs) == 0 {
		return nil, fmt.Errorf("keys: empty algorithm allow-list")
	}
	out := make([]jose.SignatureAlgorithm, 0, len(algs))
	for _, a := range algs {
		if _, err := ParseAlg(string(a)); err != nil && a != Ed25519 {
			return nil, fmt.Errorf("keys: algorithm %q not allowed (want ES256, Ed25519, EdDSA or RS256)", a)
		}
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out, nil
}
