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
)

// DefaultAlgs is the allow-list used where the caller does not narrow it.
var defaultAlgs = []Alg{ES256, EdDSA, RS256}

// DefaultAlgs returns a fresh copy of the default allow-list.
func DefaultAlgs() []Alg { return append([]Alg(nil), defaultAlgs...) }

// ParseAlg accepts only the algorithms of PROTOCOL.md §3.
func ParseAlg(s string) (Alg, error) {
	switch a := Alg(s); a {
	case ES256, EdDSA, RS256:
		return a, nil
	}
	return "", fmt.Errorf("keys: algorithm %q not allowed (want ES256, EdDSA or RS256)", s)
}

// JOSEAlgs converts an allow-list for go-jose's parse functions, refusing
// an empty list (go-jose would refuse it too, later and less clearly) and
// anything outside ParseAlg.
func JOSEAlgs(algs []Alg) ([]jose.SignatureAlgorithm, error) {
	if len(algs) == 0 {
		return nil, fmt.Errorf("keys: empty algorithm allow-list")
	}
	out := make([]jose.SignatureAlgorithm, 0, len(algs))
	for _, a := range algs {
		if _, err := ParseAlg(string(a)); err != nil {
			return nil, err
		}
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out, nil
}
