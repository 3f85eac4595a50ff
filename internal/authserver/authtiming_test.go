package authserver

import (
	"context"
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/ajwt/ajwt/protocol"
)

// timingClients adds, to testConfig's plaintext-secret clients, one with a
// generated secret stored as $sha256$, one with an argon2id hash and one
// that authenticates with private_key_jwt only.
func timingClients(t testing.TB) (config string, generated string) {
	t.Helper()
	generated = GenerateSecret()
	fast, err := HashSecret(generated)
	if err != nil {
		t.Fatal(err)
	}
	slow, err := HashSecret("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	jwk := `{"kty":"EC","crv":"P-256","kid":"k1","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	config = testConfig +
		"  - client_id: generated\n    client_secret_hash: \"" + fast + "\"\n    scopes: [repo:read]\n" +
		"  - client_id: human\n    client_secret_hash: \"" + slow + "\"\n    scopes: [repo:read]\n" +
		"  - client_id: jwt-app\n    scopes: [repo:read]\n    jwks: {keys: [" + jwk + "]}\n" +
		"token_requests_per_second: 1000000\n"
	return config, generated
}

// TestFailedClientAuthRunsTheKDF: §1 — a failed client authentication
// costs one argon2id run, through the KDF guard, whether the client
// exists or not and however its secret is stored, so its time tells
// nothing. Success keeps its cost: a hash for fast secrets, argon2id once
// per cache period for the others.
func TestFailedClientAuthRunsTheKDF(t *testing.T) {
	config, generated := timingClients(t)
	h := newHarnessAt(t, t.TempDir()+"/db", config)
	form := url.Values{"grant_type": {"client_credentials"}}
	post := func(id, secret string) func() *response {
		return func() *response {
			v := url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "client_secret": {secret}}
			return h.form("/token", "", "", v, nil)
		}
	}
	basic := func(id, secret string) func() *response {
		return func() *response { return h.form("/token", id, secret, form, nil) }
	}
	tests := []struct {
		name    string
		do      func() *response
		status  int
		kdfRuns int64
	}{
		{"unknown client (basic)", basic("ghost", "guess"), 401, 1},
		{"unknown client (post)", post("ghost", "guess"), 401, 1},
		{"plaintext-configured secret, wrong", basic("app", "guess"), 401, 1},
		{"generated secret, wrong", basic("generated", "guess"), 401, 1},
		{"generated secret, wrong (post)", post("generated", GenerateSecret()), 401, 1},
		{"argon2id secret, wrong", basic("human", "guess"), 401, 1},
		{"private_key_jwt client sending a secret", basic("jwt-app", "guess"), 401, 1},
		{"plaintext-configured secret, right", basic("app", secrets["app"]), 200, 0},
		{"generated secret, right", basic("generated", generated), 200, 0},
		{"argon2id secret, right", basic("human", "correct horse battery staple"), 200, 1},
		{"argon2id secret, right again (cached)", basic("human", "correct horse battery staple"), 200, 0},
		{"malformed client_id: no client can have it", basic("No Such/Client", "guess"), 401, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := h.srv.secrets.kdfRuns.Load()
			res := tt.do()
			if res.status != tt.status {
				t.Fatalf("got %d %s, want %d", res.status, res.raw, tt.status)
			}
			if tt.status == 401 && res.str("error") != protocol.CodeInvalidClient {
				t.Fatalf("error %q", res.str("error"))
			}
			if got := h.srv.secrets.kdfRuns.Load() - before; got != tt.kdfRuns {
				t.Fatalf("%d argon2id runs, want %d", got, tt.kdfRuns)
			}
		})
	}
}

// TestEqualWorkStaysGuarded: the argon2id run every failure now costs goes
// through the same guard as a real one — failures are limited per client_id
// and per address before it runs (429), and busy slots answer 503 — so
// guessing unknown clients or fast secrets cannot flood the KDF either.
func TestEqualWorkStaysGuarded(t *testing.T) {
	ctx := context.Background()
	fast := &secretHash{kind: "sha256", key: make([]byte, 32)}
	frozen := func() *secretChecker {
		c := newSecretChecker(time.Minute, (&fakeClock{t: time.Unix(1_800_000_000, 0)}).Now)
		c.dummy = cheapArgonHash(t, "nobody's secret")
		return c
	}
	paths := map[string]*secretHash{"unknown client": nil, "fast-hash client": fast}
	for name, hash := range paths {
		t.Run(name+": per address", func(t *testing.T) {
			c := frozen()
			for i := range authFailuresPerMinute {
				wantCode(t, c.check(ctx, fmt.Sprint("c", i), "192.0.2.1", hash, "guess"), protocol.CodeInvalidClient, http.StatusUnauthorized)
			}
			before := c.kdfRuns.Load()
			wantCode(t, c.check(ctx, "another", "192.0.2.1", hash, "guess"), protocol.CodeSlowDown, http.StatusTooManyRequests)
			if c.kdfRuns.Load() != before {
				t.Fatal("the KDF ran past the limit")
			}
		})
		t.Run(name+": per client", func(t *testing.T) {
			c := frozen()
			for i := range authFailuresPerMinute {
				wantCode(t, c.check(ctx, "target", fmt.Sprint("192.0.2.", i), hash, "guess"), protocol.CodeInvalidClient, http.StatusUnauthorized)
			}
			wantCode(t, c.check(ctx, "target", "198.51.100.7", hash, "guess"), protocol.CodeSlowDown, http.StatusTooManyRequests)
		})
		t.Run(name+": busy slots", func(t *testing.T) {
			c := frozen()
			c.kdfWait = time.Millisecond
			for range cap(c.slots) {
				c.slots <- struct{}{}
			}
			wantCode(t, c.check(ctx, "target", "192.0.2.1", hash, "guess"), protocol.CodeTemporarilyUnavailable, http.StatusServiceUnavailable)
		})
	}
	t.Run("a fast-hash client's right secret needs no slot", func(t *testing.T) {
		c := frozen()
		for range cap(c.slots) {
			c.slots <- struct{}{}
		}
		right := &secretHash{kind: "sha256", key: sha256Sum("right")}
		if err := c.check(ctx, "target", "192.0.2.1", right, "right"); err != nil {
			t.Fatal(err)
		}
	})
}

// BenchmarkFailedClientAuth reports (never asserts) how long a refused
// client authentication takes at the token endpoint, per kind of client:
// they should be alike. Each iteration moves the fake clock a minute on,
// so the failure limits never answer instead of the check.
//
//	go test ./internal/authserver -run '^$' -bench FailedClientAuth -benchtime 20x
func BenchmarkFailedClientAuth(b *testing.B) {
	config, generated := timingClients(b)
	h := newHarnessAt(&testing.T{}, b.TempDir()+"/db", config)
	h.t = &testing.T{}
	form := url.Values{"grant_type": {"client_credentials"}}
	cases := []struct{ name, id, secret string }{
		{"unknown", "ghost", "guess"},
		{"plaintext-configured", "app", "guess"},
		{"generated-sha256", "generated", "guess"},
		{"argon2id", "human", "guess"},
		{"success-generated-sha256", "generated", generated},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				h.clock.Advance(time.Minute)
				if res := h.form("/token", c.id, c.secret, form, nil); res.status != 401 && res.status != 200 {
					b.Fatalf("%d %s", res.status, res.raw)
				}
			}
		})
	}
}

func sha256Sum(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}
