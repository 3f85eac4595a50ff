package token

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/keys"
)

func TestRoundTrip(t *testing.T) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			f := newFixture(t, alg)
			raw := f.mint(t, intentClaims())
			c, err := f.verifier.Verify(context.Background(), raw)
			if err != nil {
				t.Fatal(err)
			}
			want := withIss(intentClaims())
			if claimsJSON(c) != claimsJSON(want) {
				t.Fatalf("claims\n%s\nwant\n%s", claimsJSON(c), claimsJSON(want))
			}
			hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
			var h map[string]any
			if err := json.Unmarshal(hdr, &h); err != nil || len(h) != 3 || h["alg"] != string(alg) || h["typ"] != "at+jwt" || h["kid"] != f.issuer.KeyID() {
				t.Fatalf("header %s", hdr)
			}
		})
	}
}

func TestMintSetsIssuerOnACopy(t *testing.T) {
	f := newFixture(t, keys.EdDSA)
	c := intentClaims()
	c.Issuer = "https://evil.example"
	raw := f.mint(t, c)
	if c.Issuer != "https://evil.example" {
		t.Fatal("Mint changed the caller's claims")
	}
	got, err := UnsafeParseClaims(raw)
	if err != nil || got.Issuer != testIssuer {
		t.Fatalf("iss %q, %v", got.Issuer, err)
	}
}

func TestMintRefuses(t *testing.T) {
	f := newFixture(t, keys.ES256)
	tests := []struct {
		name string
		c    *Claims
	}{
		{"nil claims", nil},
		{"no sub", mutate(legacyClaims(), func(c *Claims) { c.Subject = "" })},
		{"no jti", mutate(legacyClaims(), func(c *Claims) { c.ID = "" })},
		{"no client_id", mutate(legacyClaims(), func(c *Claims) { c.ClientID = "" })},
		{"no aud", mutate(legacyClaims(), func(c *Claims) { c.Audience = nil })},
		{"empty aud value", mutate(legacyClaims(), func(c *Claims) { c.Audience = Audience{""} })},
		{"no iat", mutate(legacyClaims(), func(c *Claims) { c.IssuedAt = 0 })},
		{"exp equal to iat", mutate(legacyClaims(), func(c *Claims) { c.ExpiresAt = c.IssuedAt })},
		{"exp before iat", mutate(legacyClaims(), func(c *Claims) { c.ExpiresAt = c.IssuedAt - 1 })},
		{"lifetime over an hour", mutate(legacyClaims(), func(c *Claims) { c.ExpiresAt = c.IssuedAt + 3601 })},
		{"nbf after exp", mutate(legacyClaims(), func(c *Claims) { c.NotBefore = c.ExpiresAt })},
		{"incomplete intent token", mutate(intentClaims(), func(c *Claims) { c.Cnf = nil })},
		{"intent for another agent", mutate(intentClaims(), func(c *Claims) { c.Subject = "other" })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if raw, err := f.issuer.Mint(tt.c); err == nil || raw != "" {
				t.Fatal("minted")
			}
		})
	}
}

func TestNewIssuerRefuses(t *testing.T) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	tests := []struct {
		name   string
		issuer string
		key    *keys.Signer
		opts   []IssuerOption
	}{
		{"empty issuer", "", key, nil},
		{"slash only", "/", key, nil},
		{"nil key", testIssuer, nil, nil},
		{"zero lifetime", testIssuer, key, []IssuerOption{WithMaxLifetime(0)}},
		{"lifetime over a day", testIssuer, key, []IssuerOption{WithMaxLifetime(25 * time.Hour)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if i, err := NewIssuer(tt.issuer, tt.key, tt.opts...); err == nil || i != nil {
				t.Fatal("accepted")
			}
		})
	}
	short, err := NewIssuer(testIssuer, key, WithMaxLifetime(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := short.Mint(legacyClaims()); err == nil {
		t.Fatal("5-minute token minted under a 1-minute maximum")
	}
}

// TestMintConcurrently runs Mint from many goroutines on one Issuer; with
// -race it shows that the shared go-jose signer is safe to share.
func TestMintConcurrently(t *testing.T) {
	f := newFixture(t, keys.ES256)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := mutate(intentClaims(), func(c *Claims) { c.ID = "jti-" + string(rune('a'+i)) })
			raw, err := f.issuer.Mint(c)
			if err == nil {
				var got *Claims
				if got, err = f.verifier.Verify(context.Background(), raw); err == nil && got.ID != c.ID {
					t.Errorf("token of %s came back as %s", c.ID, got.ID)
				}
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
