package dpop

import (
	"sync"

	"github.com/go-jose/go-jose/v4"
)

// keyCache remembers embedded keys that passed embeddedKey, by the exact
// bytes of the jwk member and the header's alg: an agent signs every
// proof with the same key, and parsing and checking it (and its
// thumbprint) is a fifth of a proof check. Everything it caches depends on
// those bytes alone; refused keys are never cached. When full, a random
// entry makes room.
type keyCache struct {
	mu      sync.RWMutex
	entries map[string]cachedKey
}

type cachedKey struct {
	jwk *jose.JSONWebKey
	jkt string
}

const maxCachedKeys = 4096

func (c *keyCache) get(id string) (cachedKey, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	k, ok := c.entries[id]
	return k, ok
}

func (c *keyCache) put(id string, k cachedKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[string]cachedKey{}
	}
	if _, ok := c.entries[id]; !ok && len(c.entries) >= maxCachedKeys {
		for victim := range c.entries {
			delete(c.entries, victim)
			break
		}
	}
	c.entries[id] = k
}
