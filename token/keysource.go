package token

import (
	"context"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// KeySource returns the public key for a kid. Implementations look the kid
// up in keys they trust (a pinned set, the issuer's JWKS fetched from the
// configured jwks_uri), never at a location named by the token. An unknown
// kid is an error wrapping protocol.ErrUnknownKey; any other error is
// reported as unknown_key with the error as cause.
type KeySource interface {
	PublicKey(ctx context.Context, kid string) (*jose.JSONWebKey, error)
}

// StaticKeys is a KeySource over a fixed JWK set (pinned keys, tests).
type StaticKeys struct {
	keys map[string]*jose.JSONWebKey
}

// NewStaticKeys accepts only public keys of allowed types (P-256, Ed25519,
// RSA ≥ 2048) with non-empty, unique kids, whose alg and use, when set,
// fit the key.
func NewStaticKeys(set jose.JSONWebKeySet) (*StaticKeys, error) {
	s := &StaticKeys{keys: make(map[string]*jose.JSONWebKey, len(set.Keys))}
	for i := range set.Keys {
		k := set.Keys[i]
		if k.KeyID == "" || !k.IsPublic() || s.keys[k.KeyID] != nil {
			return nil, fmt.Errorf("token: key %d: want public keys with unique kids", i)
		}
		alg, err := keys.AlgForKey(k.Key)
		if err != nil {
			return nil, fmt.Errorf("token: key %q: %w", k.KeyID, err)
		}
		if (k.Algorithm != "" && k.Algorithm != string(alg)) || (k.Use != "" && k.Use != "sig") {
			return nil, fmt.Errorf("token: key %q: alg %q or use %q does not fit a %s key", k.KeyID, k.Algorithm, k.Use, alg)
		}
		s.keys[k.KeyID] = &k
	}
	return s, nil
}

// PublicKey implements KeySource.
func (s *StaticKeys) PublicKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if k, ok := s.keys[kid]; ok {
		return k, nil
	}
	return nil, protocol.ErrUnknownKey.WithDescription("unknown kid")
}
