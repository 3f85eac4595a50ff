package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/protocol"
)

// privateMembers are the JWK members that carry private or symmetric key
// material (RFC 7518 §6.2.2, §6.3.2, §6.4; "priv" is go-jose's AKP key).
var privateMembers = []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"}

// ParsePublicJWK reads a public JWK of an allowed type (EC P-256, OKP
// Ed25519, RSA ≥ 2048 bits) from untrusted input: a DPoP header, an agent
// registration. Private members and symmetric keys are refused, since a
// registry must never hold a private key; so are a "use" other than "sig"
// and an "alg" that does not fit the key. The input is capped at
// protocol.MaxTokenSize, as a JWK never legitimately exceeds a token.
func ParsePublicJWK(data []byte) (*jose.JSONWebKey, error) {
	if len(data) > protocol.MaxTokenSize {
		return nil, fmt.Errorf("keys: JWK larger than %d bytes", protocol.MaxTokenSize)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, errors.New("keys: malformed JWK")
	}
	for _, m := range privateMembers {
		if _, ok := raw[m]; ok {
			return nil, fmt.Errorf("keys: JWK has private member %q; send the public key only", m)
		}
	}
	var jwk jose.JSONWebKey
	if err := json.Unmarshal(data, &jwk); err != nil {
		return nil, fmt.Errorf("keys: JWK: %w", err)
	}
	if !jwk.Valid() || !jwk.IsPublic() {
		return nil, errors.New("keys: not a valid public JWK")
	}
	if err := checkJWKMembers(&jwk); err != nil {
		return nil, err
	}
	return &jwk, nil
}

// checkJWKMembers refuses a key of a type ajwt does not use, and "alg" or
// "use" members that contradict how the key would be used.
func checkJWKMembers(jwk *jose.JSONWebKey) error {
	alg, err := AlgForKey(jwk.Key)
	if err != nil {
		return err
	}
	if jwk.Algorithm != "" && !FitsKey(jwk.Algorithm, jwk.Key) {
		return fmt.Errorf("keys: JWK alg %q does not fit a key for %s", clip.Text(jwk.Algorithm, clip.Short), alg)
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return fmt.Errorf("keys: JWK use %q, want sig", clip.Text(jwk.Use, clip.Short))
	}
	return nil
}

// MarshalPublicJWK encodes the public half of key (a public key, or a
// private key whose public half is wanted) as a JWK with kid, alg and
// use "sig". An empty kid becomes the RFC 7638 thumbprint. Private members
// are never written.
func MarshalPublicJWK(key crypto.PublicKey, kid string) ([]byte, error) {
	if s, ok := key.(crypto.Signer); ok {
		key = s.Public()
	}
	alg, err := AlgForKey(key)
	if err != nil {
		return nil, err
	}
	jwk := jose.JSONWebKey{Key: key, Algorithm: string(alg), Use: "sig", KeyID: kid}
	if kid == "" {
		if jwk.KeyID, err = Thumbprint(&jwk); err != nil {
			return nil, err
		}
	}
	out, err := json.Marshal(jwk)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	return out, nil
}

// AlgForKey names the one algorithm ajwt uses with a public key: EdDSA for
// Ed25519, ES256 for P-256, RS256 for RSA of 2048 to 4096 bits with
// e = 65537 (a 48,000-bit key in an 8 KiB proof would cost ~100 ms per
// signature check: a cheap DoS found by fuzzing). It is the name ajwt
// writes; FitsKey also accepts RFC 9864's Ed25519 for an Ed25519 key.
func AlgForKey(pub crypto.PublicKey) (Alg, error) {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) == ed25519.PublicKeySize {
			return EdDSA, nil
		}
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return ES256, nil
		}
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits >= 2048 && bits <= 4096 && k.E == 65537 {
			return RS256, nil
		}
	}
	return "", fmt.Errorf("keys: unsupported public key %T (want Ed25519, P-256 or RSA 2048–4096 bits with e = 65537)", pub)
}

// FitsKey reports whether alg, as a JWS or JWK names it, is the algorithm
// ajwt uses with pub: AlgForKey's, or Ed25519 for an Ed25519 key, since
// RFC 9864 gives that algorithm two names. Any other pairing is refused,
// so neither name ever lets an EC or RSA key through.
func FitsKey(alg string, pub crypto.PublicKey) bool {
	want, err := AlgForKey(pub)
	return err == nil && (alg == string(want) || want == EdDSA && alg == string(Ed25519))
}
