package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// switchableKeys is a key set keys can leave.
type switchableKeys struct {
	mu   sync.Mutex
	keys map[string]*jose.JSONWebKey
}

func (k *switchableKeys) PublicKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if key := k.keys[kid]; key != nil {
		return key, nil
	}
	return nil, protocol.ErrUnknownKey.WithDescription("unknown key id")
}

func (k *switchableKeys) drop(kid string) {
	k.mu.Lock()
	delete(k.keys, kid)
	k.mu.Unlock()
}

type ownTokensFixture struct {
	own    *ownTokens
	keys   *switchableKeys
	issuer *token.Issuer
	clock  *fakeClock
}

func newOwnTokensFixture(t *testing.T) *ownTokensFixture {
	t.Helper()
	signer, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		t.Fatal(err)
	}
	pub := signer.Public()
	f := &ownTokensFixture{keys: &switchableKeys{keys: map[string]*jose.JSONWebKey{signer.KeyID(): &pub}},
		clock: &fakeClock{t: time.Unix(1_800_000_000, 0)}}
	if f.issuer, err = token.NewIssuer("https://idp.example", signer); err != nil {
		t.Fatal(err)
	}
	if f.own, err = newOwnTokens("https://idp.example", f.keys, f.clock.Now); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *ownTokensFixture) mint(t *testing.T, jti string) string {
	t.Helper()
	now := f.clock.Now().Unix()
	raw, err := f.issuer.Mint(&token.Claims{Subject: "app", ClientID: "app", Audience: token.Audience{"https://idp.example"},
		IssuedAt: now, ExpiresAt: now + 60, ID: jti, Scope: "ajwt:run"})
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestOwnTokensRemembered: a token verified once, or minted here, skips
// its signature check next time, but never what can change: a key gone
// from the key set and exp refuse it as an uncached check would, and a
// caller editing its claims does not change what the next one sees.
func TestOwnTokensRemembered(t *testing.T) {
	ctx := t.Context()
	for _, how := range []string{"verified", "minted"} {
		t.Run(how, func(t *testing.T) {
			f := newOwnTokensFixture(t)
			raw := f.mint(t, "jti-1")
			if how == "minted" {
				f.own.minted(raw, f.issuer.KeyID())
			} else if _, err := f.own.Verify(ctx, raw); err != nil {
				t.Fatal(err)
			}
			if _, ok := f.own.known.Get(raw); !ok {
				t.Fatal("not remembered")
			}
			c, err := f.own.Verify(ctx, raw)
			if err != nil || c.ID != "jti-1" || c.Issuer != "https://idp.example" || c.Scope != "ajwt:run" {
				t.Fatalf("hit: %+v %v", c, err)
			}
			c.Scope, c.Audience[0] = "ajwt:admin", "elsewhere"
			if c, err := f.own.Verify(ctx, raw); err != nil || c.Scope != "ajwt:run" || c.Audience[0] != "https://idp.example" {
				t.Fatalf("a caller's edit leaked into the next hit: %+v %v", c, err)
			}
			f.clock.Advance(60 * time.Second)
			if _, err := f.own.Verify(ctx, raw); !errors.Is(err, protocol.ErrExpired) {
				t.Fatalf("at exp: %v", err)
			}
			f.clock.Advance(-60 * time.Second)
			if _, err := f.own.Verify(ctx, raw); err != nil {
				t.Fatal(err)
			}
			f.keys.drop(f.issuer.KeyID())
			if _, err := f.own.Verify(ctx, raw); !errors.Is(err, protocol.ErrUnknownKey) {
				t.Fatalf("key gone from the key set: %v", err)
			}
			if _, ok := f.own.known.Get(raw); ok {
				t.Fatal("a refused token stays remembered")
			}
		})
	}
}

// TestOwnTokensNotRememberedUnverified: a forgery is never remembered,
// and remembering a token does not make a variant of it pass.
func TestOwnTokensNotRememberedUnverified(t *testing.T) {
	ctx := t.Context()
	f := newOwnTokensFixture(t)
	raw := f.mint(t, "jti-1")
	f.own.minted(raw, f.issuer.KeyID())
	head, rest, _ := strings.Cut(raw, ".")
	payload, sig, _ := strings.Cut(rest, ".")
	other := f.mint(t, "jti-2")
	_, otherRest, _ := strings.Cut(other, ".")
	otherPayload, _, _ := strings.Cut(otherRest, ".")
	forged := head + "." + otherPayload + "." + sig // jti-2's claims under jti-1's signature
	for range 2 {
		if _, err := f.own.Verify(ctx, forged); !errors.Is(err, protocol.ErrBadSignature) {
			t.Fatalf("forgery: %v", err)
		}
	}
	if _, ok := f.own.known.Get(forged); ok {
		t.Fatal("forgery remembered")
	}
	if c, err := f.own.Verify(ctx, head+"."+payload+"."+sig); err != nil || c.ID != "jti-1" {
		t.Fatalf("the genuine token: %+v %v", c, err)
	}
}

// TestRememberedTokensStillRevoked: a token the IdP remembers as verified
// (an intent token from its mint on, a client token from its first use)
// is refused as soon as its run, agent or client is revoked.
func TestRememberedTokensStillRevoked(t *testing.T) {
	h := delegationFixture(t)
	run := h.startRun("app", "w", nil)
	lead := h.mustGrant("app", "boss", run, "lead", nil)
	if _, ok := h.srv.verifier.known.Get(lead); !ok {
		t.Fatal("intent token of a run not remembered at its mint")
	}
	app := h.bearer("app")
	if res := h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/revoke", app, nil, nil); res.status != 200 {
		t.Fatalf("revoke run: %d %s", res.status, res.raw)
	}
	if res := h.complete("boss", run, "lead", lead); res.status != http.StatusUnauthorized {
		t.Fatalf("complete after the run's revocation: %d %s", res.status, res.raw)
	}

	run = h.startRun("app", "w", nil) // the app token is remembered by now
	lead = h.mustGrant("app", "boss", run, "lead", nil)
	h.revokeAgentAPI("boss")
	if res := h.complete("boss", run, "lead", lead); res.status != http.StatusUnauthorized {
		t.Fatalf("complete after the agent's revocation: %d %s", res.status, res.raw)
	}
	if res := h.revokeClient(h.bearer("admin"), "app"); res.status != 200 {
		t.Fatalf("revoke client: %d %s", res.status, res.raw)
	}
	if res := h.jsonReq(http.MethodGet, "/v1/runs/"+run, app, nil, nil); res.status != http.StatusUnauthorized {
		t.Fatalf("remembered client token after its client's revocation: %d %s", res.status, res.raw)
	}
}
