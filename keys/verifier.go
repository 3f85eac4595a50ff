package keys

import (
	"crypto"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"

	"github.com/go-jose/go-jose/v4"
)

// JOSEVerificationKey is what to hand go-jose's Verify or Claims for pub so
// that a JWS named Ed25519 (RFC 9864) verifies exactly as one named EdDSA:
// go-jose v4.1.9 verifies Ed25519 signatures only under the polymorphic
// name. An Ed25519 key becomes a jose.OpaqueVerifier that checks the name
// and the signature with the standard library; keys of other types are
// returned unchanged, so go-jose checks them as before.
func JOSEVerificationKey(pub crypto.PublicKey) any {
	if k, ok := pub.(ed25519.PublicKey); ok {
		return ed25519Verifier{pub: k}
	}
	return pub
}

// ed25519Verifier verifies EdDSA and Ed25519 signatures by one Ed25519 key.
type ed25519Verifier struct{ pub ed25519.PublicKey }

var errEd25519Signature = errors.New("keys: Ed25519 signature does not verify")

// VerifyPayload implements jose.OpaqueVerifier. FitsKey also refuses a key
// of the wrong length, on which ed25519.Verify would panic.
func (v ed25519Verifier) VerifyPayload(payload, sig []byte, alg jose.SignatureAlgorithm) error {
	if !FitsKey(string(alg), v.pub) {
		return fmt.Errorf("keys: alg %q does not fit an Ed25519 key", clip.Text(string(alg), clip.Short))
	}
	if !ed25519.Verify(v.pub, payload, sig) {
		return errEd25519Signature
	}
	return nil
}
