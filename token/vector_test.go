package token

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

func TestTokenVector(t *testing.T) {
	data, err := os.ReadFile("../testdata/vectors/token.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Issuer, Audience, Kid, Token string
		SeedHex                      string          `json:"seed_hex"`
		PublicJWK                    jose.JSONWebKey `json:"public_jwk"`
		Now                          int64
		Claims                       Claims
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	seed, _ := hex.DecodeString(v.SeedHex)
	signer, _ := keys.NewSigner(ed25519.NewKeyFromSeed(seed), keys.EdDSA, v.Kid)
	iss, _ := NewIssuer(v.Issuer, signer)
	c := v.Claims
	c.Issuer = ""
	if raw, err := iss.Mint(&c); err != nil || raw != v.Token {
		t.Fatalf("minting the vector's claims gave\n%s (%v)\nwant\n%s", raw, err, v.Token)
	}
	ks, _ := NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{v.PublicJWK}})
	now := time.Unix(v.Now, 0)
	ver, _ := NewVerifier(v.Issuer, v.Audience, ks, WithClock(func() time.Time { return now }))
	got, err := ver.Verify(context.Background(), v.Token)
	if err != nil {
		t.Fatal(err)
	}
	want := v.Claims
	want.Issuer = v.Issuer // the vector lists the claims given to Mint, which adds iss
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("claims\n%+v\nwant\n%+v", got, v.Claims)
	}
	now = time.Unix(v.Claims.ExpiresAt, 0).Add(protocol.DefaultLeeway)
	if _, err := ver.Verify(context.Background(), v.Token); !errors.Is(err, protocol.ErrExpired) {
		t.Fatalf("at exp+leeway: %v, want expired", err)
	}
}
