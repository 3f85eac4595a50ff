package dpop

import "github.com/go-jose/go-jose/v4"

// The Verifier remembers embedded keys that passed parseEmbeddedKey, by
// the header's alg and the exact bytes of the jwk member: an agent signs
// every proof with the same key, and parsing and checking it (and its
// thumbprint) was a fifth of a proof check. Everything remembered depends
// on those bytes alone; refused keys are never remembered.
type cachedKey struct {
	jwk *jose.JSONWebKey
	jkt string
}

const maxCachedKeys = 4096
