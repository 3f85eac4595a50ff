package dpop

import "github.com/go-jose/go-jose/v4"

// The Verifier remembers headers that passed checkHeader and
// parseEmbeddedKey, by the header segment exactly as sent: an agent sends
// the same header (typ, alg, jwk) with every proof, and decoding and
// checking it, the key and its thumbprint was a fifth of a proof check
// and a third of what a proof costs besides its signature. Everything
// remembered depends on those bytes alone; refused headers are never
// remembered, and the header's verifier settings (the alg allow-list)
// are fixed for the Verifier's life.
type cachedKey struct {
	alg string
	jwk *jose.JSONWebKey
	jkt string
}

const maxCachedKeys = 4096
