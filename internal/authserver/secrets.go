package authserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ajwt/ajwt/protocol"
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
//
// A wrong secret is never cached, so each costs a full argon2id (64 MiB,
// ~150 ms of CPU): unbounded, a few dozen guessers exhaust the memory and
// CPU of the IdP. Three things keep the KDF from being the cheapest way to
// take the IdP down: at most kdfSlots run at once (a request that finds
// them busy for kdfWait is answered 503 at once instead of queueing), and
// failures are counted per client_id and per source address before any KDF
// runs (429 slow_down once a bucket is empty). The cache is consulted
// first, so a client that authenticated recently is never slowed down by
// someone guessing its secret.
//
// Every failure costs the same (§1: its time must not tell whether the
// client exists or how its secret is stored): a client without an argon2id
// hash — unknown, private_key_jwt only, or holding a fast SHA-256 digest —
// that fails runs argon2id on a dummy hash with HashSecret's parameters,
// through the same limits and slots. So failures of every kind are as slow as an
// argon2id client's, and no cheaper to flood the KDF with; a right fast
// secret still costs one SHA-256.
type secretChecker struct {
	ttl   time.Duration
	now   func() time.Time
	mu    sync.Mutex
	cache map[string]cachedSecret // client_id → last good secret digest

	slots    chan struct{} // one token per KDF allowed to run
	kdfWait  time.Duration
	failures *failureLimiter // "auth-c:<client>" and "auth-ip:<address>"

	dummy   *secretHash  // what a failure runs when the client has no argon2id hash
	kdfRuns atomic.Int64 // KDF runs started, for tests
}

type cachedSecret struct {
	digest  [32]byte
	expires time.Time
}

// Defaults of the KDF guard: failures allowed per minute per client_id and
// per source address, and how long a check waits for a free KDF slot.
const (
	authFailuresPerMinute = 30
	defaultKDFWait        = 100 * time.Millisecond
)

func newSecretChecker(ttl time.Duration, now func() time.Time) *secretChecker {
	return &secretChecker{ttl: ttl, now: now, cache: map[string]cachedSecret{},
		slots: make(chan struct{}, runtime.GOMAXPROCS(0)), kdfWait: defaultKDFWait,
		failures: newFailureLimiter(authFailuresPerMinute, now), dummy: dummyArgonHash()}
}

// dummyArgonHash is an argon2id hash with HashSecret's parameters of a
// random key: checking any secret against it costs what checking a real
// one does, and matches nothing.
func dummyArgonHash() *secretHash {
	salt, key := make([]byte, 16), make([]byte, argonKeyLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go ≥ 1.24)
	_, _ = rand.Read(key)
	return &secretHash{kind: "argon2id", salt: salt, key: key, time: argonTime, memory: argonMemory, threads: argonThreads}
}

var errKDFBusy = &rateLimited{
	perr: &protocol.Error{Code: protocol.CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
		Description: "too many client authentications in progress; retry later"},
	retryAfter: 0,
}

// check reports nil for the right secret, errClient for a wrong one, and a
// *rateLimited (429 or 503, with Retry-After) when the KDF may not run now.
// h is the client's stored hash, nil for a client that has none (unknown,
// or private_key_jwt only): it fails after the same work as any other.
func (c *secretChecker) check(ctx context.Context, clientID, addr string, h *secretHash, secret string) error {
	digest := sha256.Sum256([]byte(secret))
	if c.passesFast(clientID, h, secret, digest) {
		return nil
	}
	keys := []string{"auth-c:" + clientID, "auth-ip:" + addr}
	if err := c.failures.allowKeys(keys...); err != nil {
		return err
	}
	slow := h
	if h == nil || h.kind != "argon2id" {
		slow = c.dummy // the fast check has failed: this is for the time only
	}
	ok, err := c.kdf(ctx, slow, secret)
	if err != nil {
		return err
	}
	if !ok || slow == c.dummy {
		c.failures.failKeys(keys...)
		return errClient
	}
	c.remember(clientID, digest)
	return nil
}

// passesFast accepts without the KDF: a right fast secret, or an argon2id
// one that checked out recently.
func (c *secretChecker) passesFast(clientID string, h *secretHash, secret string, digest [32]byte) bool {
	switch {
	case h == nil:
		return false
	case h.kind == "sha256":
		return h.check(secret)
	}
	return c.cached(clientID, digest)
}

// kdf runs the slow check in one of the slots, waiting at most kdfWait.
func (c *secretChecker) kdf(ctx context.Context, h *secretHash, secret string) (bool, error) {
	wait := time.NewTimer(c.kdfWait)
	defer wait.Stop()
	select {
	case c.slots <- struct{}{}:
	case <-wait.C:
		return false, errKDFBusy
	case <-ctx.Done():
		return false, errKDFBusy
	}
	defer func() { <-c.slots }()
	c.kdfRuns.Add(1)
	return h.check(secret), nil
}

func (c *secretChecker) remember(clientID string, digest [32]byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.cache) > 10000 { // bounded: the client list is finite, but be safe
		clear(c.cache)
	}
	c.cache[clientID] = cachedSecret{digest: digest, expires: c.now().Add(c.ttl)}
}

func (c *secretChecker) cached(clientID string, digest [32]byte) bool {
	c.mu.Lock()
	e, ok := c.cache[clientID]
	c.mu.Unlock()
	return ok && c.now().Before(e.expires) && subtle.ConstantTimeCompare(e.digest[:], digest[:]) == 1
}

// passwordAlphabet leaves out letters and digits that people confuse
// (0/o, 1/l/i).
const passwordAlphabet = "abcdefghjkmnpqrstuvwxyz23456789"

// GeneratePassword returns a password for a person to type: 24 characters
// of a 31-letter alphabet (≈ 119 bits), in groups of four. It is not an
// ajwt_s_ secret, so HashSecret gives it argon2id like any password.
func GeneratePassword() string {
	var b strings.Builder
	for i := range 24 {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(passwordAlphabet))))
		if err != nil {
			panic("authserver: crypto/rand failed: " + err.Error()) // never on supported platforms
		}
		b.WriteByte(passwordAlphabet[n.Int64()])
	}
	return b.String()
}
