package authserver

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/ajwt/ajwt/protocol"
)

// cheapArgonHash is a valid $argon2id$ value with the smallest parameters
// parseArgon accepts, so tests can run many checks.
func cheapArgonHash(t testing.TB, secret string) *secretHash {
	t.Helper()
	salt := []byte("0123456789abcdef")
	key := argon2.IDKey([]byte(secret), salt, 1, 8*1024, 1, 32)
	b := base64.RawStdEncoding
	h, err := parseSecretHash(fmt.Sprintf("$argon2id$v=19$m=%d,t=1,p=1$%s$%s", 8*1024, b.EncodeToString(salt), b.EncodeToString(key)))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func wantCode(t *testing.T, err error, code string, status int) {
	t.Helper()
	var perr *protocol.Error
	if !errors.As(err, &perr) || perr.Code != code || perr.Status != status {
		t.Fatalf("err = %v, want %d %s", err, status, code)
	}
}

func TestKDFGuard(t *testing.T) {
	ctx := context.Background()
	h := cheapArgonHash(t, "right")
	t.Run("busy slots answer 503 at once, a cached secret still passes", func(t *testing.T) {
		c := newSecretChecker(time.Minute, time.Now)
		c.kdfWait = time.Millisecond
		if err := c.check(ctx, "app", "192.0.2.1", h, "right"); err != nil {
			t.Fatal(err)
		}
		for range cap(c.slots) { // every slot taken by someone's KDF
			c.slots <- struct{}{}
		}
		err := c.check(ctx, "app", "192.0.2.1", h, "wrong")
		wantCode(t, err, protocol.CodeTemporarilyUnavailable, http.StatusServiceUnavailable)
		if err := c.check(ctx, "app", "192.0.2.1", h, "right"); err != nil {
			t.Fatalf("cached secret needs no KDF slot: %v", err)
		}
	})
	t.Run("failures are limited per client and per address before the KDF", func(t *testing.T) {
		// A frozen clock: slow KDFs on a loaded machine must not refill the buckets.
		c := newSecretChecker(time.Minute, (&fakeClock{t: time.Unix(1_800_000_000, 0)}).Now)
		for i := range authFailuresPerMinute {
			wantCode(t, c.check(ctx, "app", "192.0.2.1", h, fmt.Sprint("guess", i)), protocol.CodeInvalidClient, http.StatusUnauthorized)
		}
		for range cap(c.slots) { // a KDF attempt would now answer 503: 429 proves none ran
			c.slots <- struct{}{}
		}
		wantCode(t, c.check(ctx, "app", "198.51.100.7", h, "guess"), protocol.CodeSlowDown, http.StatusTooManyRequests) // same client
		wantCode(t, c.check(ctx, "other", "192.0.2.1", h, "guess"), protocol.CodeSlowDown, http.StatusTooManyRequests)  // same address
		wantCode(t, c.check(ctx, "other", "198.51.100.7", h, "guess"), protocol.CodeTemporarilyUnavailable, http.StatusServiceUnavailable)
	})
	t.Run("a client authenticated before the attack is not locked out", func(t *testing.T) {
		c := newSecretChecker(time.Minute, (&fakeClock{t: time.Unix(1_800_000_000, 0)}).Now)
		if err := c.check(ctx, "app", "192.0.2.9", h, "right"); err != nil {
			t.Fatal(err)
		}
		for i := range authFailuresPerMinute + 5 {
			_ = c.check(ctx, "app", "192.0.2.1", h, fmt.Sprint("guess", i))
		}
		if err := c.check(ctx, "app", "192.0.2.9", h, "right"); err != nil {
			t.Fatalf("legitimate client during the attack: %v", err)
		}
	})
	t.Run("the limit refills", func(t *testing.T) {
		clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
		c := newSecretChecker(time.Minute, clk.Now)
		for i := range authFailuresPerMinute {
			_ = c.check(ctx, "app", "192.0.2.1", h, fmt.Sprint("guess", i))
		}
		wantCode(t, c.check(ctx, "app", "192.0.2.1", h, "right"), protocol.CodeSlowDown, http.StatusTooManyRequests)
		clk.Advance(time.Minute)
		if err := c.check(ctx, "app", "192.0.2.1", h, "right"); err != nil {
			t.Fatalf("after a minute: %v", err)
		}
	})
}

func TestTokenEndpointKDFGuard(t *testing.T) {
	hash, _ := HashSecret("correct horse battery staple")
	cfg := testConfig + "  - client_id: human\n    client_secret_hash: \"" + hash + "\"\n    scopes: [repo:read]\n"
	h := newHarnessAt(t, t.TempDir()+"/db", cfg)
	form := url.Values{"grant_type": {"client_credentials"}}
	for i := range authFailuresPerMinute {
		wantError(t, h.form("/token", "human", fmt.Sprint("guess", i), form, nil), 401, "invalid_client")
	}
	res := h.form("/token", "human", "correct horse battery staple", form, nil)
	wantError(t, res, 429, "slow_down")
	if res.header.Get("Retry-After") == "" {
		t.Fatal("429 without Retry-After")
	}
	h.clock.Advance(time.Minute)
	if res := h.form("/token", "human", "correct horse battery staple", form, nil); res.status != 200 {
		t.Fatalf("after the window: %d %s", res.status, res.raw)
	}
}
