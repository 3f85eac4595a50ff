package authserver

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
)

// Secrets that ajwt generates carry 256 random bits behind this prefix. For
// them a single SHA-256 is as strong as any KDF (nobody can enumerate 2^256
// candidates), so checking one costs microseconds. Anything else may be
// human-chosen and gets argon2id.
const generatedSecretPrefix = "ajwt_s_"

// GenerateSecret returns a new client secret with 256 random bits.
func GenerateSecret() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("authserver: crypto/rand failed: " + err.Error()) // never on supported platforms
	}
	return generatedSecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

func isGeneratedSecret(s string) bool {
	rest, ok := strings.CutPrefix(s, generatedSecretPrefix)
	if !ok || len(rest) != 43 {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// argon2id parameters (RFC 9106 second recommendation, memory-constrained).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	argonKeyLen  = 32
)

// HashSecret returns the stored form of a client secret: "$sha256$…" for
// generated secrets, "$argon2id$v=19$m=…,t=…,p=…$salt$hash" otherwise.
func HashSecret(secret string) (string, error) {
	if secret == "" {
		return "", errors.New("authserver: empty secret")
	}
	if isGeneratedSecret(secret) {
		sum := sha256.Sum256([]byte(secret))
		return "$sha256$" + b64(sum[:]), nil
	}
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(secret), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", argonMemory, argonTime, argonThreads, b64(salt), b64(key)), nil
}

func b64(b []byte) string { return base64.RawStdEncoding.EncodeToString(b) }

type secretHash struct {
	kind         string // "sha256" or "argon2id"
	salt, key    []byte
	time, memory uint32
	threads      uint8
}

func parseSecretHash(s string) (*secretHash, error) {
	parts := strings.Split(s, "$")
	switch {
	case len(parts) == 3 && parts[0] == "" && parts[1] == "sha256":
		key, err := base64.RawStdEncoding.DecodeString(parts[2])
		if err != nil || len(key) != sha256.Size {
			return nil, errors.New("client_secret_hash: bad $sha256$ value")
		}
		return &secretHash{kind: "sha256", key: key}, nil
	case len(parts) == 6 && parts[0] == "" && parts[1] == "argon2id" && parts[2] == "v=19":
		return parseArgon(parts[3], parts[4], parts[5])
	}
	return nil, errors.New("client_secret_hash: want $sha256$… or $argon2id$v=19$… (see `ajwt hash-secret`)")
}

func parseArgon(params, salt, key string) (*secretHash, error) {
	h := &secretHash{kind: "argon2id"}
	if _, err := fmt.Sscanf(params, "m=%d,t=%d,p=%d", &h.memory, &h.time, &h.threads); err != nil {
		return nil, errors.New("client_secret_hash: bad argon2id parameters")
	}
	if h.memory < 8*1024 || h.memory > 1<<20 || h.time < 1 || h.time > 10 || h.threads < 1 {
		return nil, errors.New("client_secret_hash: argon2id parameters out of range")
	}
	var err1, err2 error
	h.salt, err1 = base64.RawStdEncoding.DecodeString(salt)
	h.key, err2 = base64.RawStdEncoding.DecodeString(key)
	if err1 != nil || err2 != nil || len(h.salt) < 8 || len(h.key) < 16 {
		return nil, errors.New("client_secret_hash: bad argon2id salt or key")
	}
	return h, nil
}

func (h *secretHash) check(secret string) bool {
	var got []byte
	if h.kind == "sha256" {
		sum := sha256.Sum256([]byte(secret))
		got = sum[:]
	} else {
		got = argon2.IDKey([]byte(secret), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
	}
	return subtle.ConstantTimeCompare(got, h.key) == 1
}

// secretChecker verifies client secrets. Successful argon2id checks are
// remembered for a short time as a SHA-256 of the secret, so a client
// asking for many tokens pays the slow KDF once per TTL, not per request.
// A wrong secret is never cached and always pays the full cost.
type secretChecker struct {
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]cachedSecret // client_id → last good secret digest
}

type cachedSecret struct {
	digest  [32]byte
	expires time.Time
}

func newSecretChecker(ttl time.Duration, now func() time.Time) *secretChecker {
	return &secretChecker{ttl: ttl, now: now, cache: map[string]cachedSecret{}}
}

func (c *secretChecker) check(clientID string, h *secretHash, secret string) bool {
	if h.kind == "sha256" {
		return h.check(secret)
	}
	digest := sha256.Sum256([]byte(secret))
	if c.cached(clientID, digest) {
		return true
	}
	if !h.check(secret) {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) > 10000 { // bounded: the client list is finite, but be safe
		clear(c.cache)
	}
	c.cache[clientID] = cachedSecret{digest: digest, expires: c.now().Add(c.ttl)}
	return true
}

func (c *secretChecker) cached(clientID string, digest [32]byte) bool {
	c.mu.Lock()
	e, ok := c.cache[clientID]
	c.mu.Unlock()
	return ok && c.now().Before(e.expires) && subtle.ConstantTimeCompare(e.digest[:], digest[:]) == 1
}
