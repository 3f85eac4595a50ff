package token_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

var now = time.Unix(1_800_000_000, 0)

// An IdP mints a legacy (client_credentials) token; intent tokens add
// Cnf, AgentProof and Intent.
func ExampleIssuer_Mint() {
	key, _ := keys.Generate(keys.ES256, nil) // in practice: keys.LoadSignerFile
	issuer, err := token.NewIssuer("https://idp.example", key)
	if err != nil {
		panic(err)
	}
	raw, err := issuer.Mint(&token.Claims{
		Subject: "app", Audience: token.Audience{"https://api.example"}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: "jti-1", Scope: "read",
	})
	claims, _ := token.UnsafeParseClaims(raw) // display only
	fmt.Println(err, claims.Issuer, claims.Scopes())
	// Output: <nil> https://idp.example [read]
}

// A resource server verifies tokens of one issuer, addressed to itself,
// with keys it trusts; failures carry §8 reason codes.
func ExampleVerifier_Verify() {
	key, _ := keys.Generate(keys.EdDSA, nil)
	issuer, _ := token.NewIssuer("https://idp.example", key)
	raw, _ := issuer.Mint(&token.Claims{
		Subject: "app", Audience: token.Audience{"https://api.example"}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: "jti-1", Scope: "read",
	})

	keySet, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	clock := now
	verifier, err := token.NewVerifier("https://idp.example", "https://api.example", keySet,
		token.WithClock(func() time.Time { return clock }))
	if err != nil {
		panic(err)
	}
	claims, err := verifier.Verify(context.Background(), raw)
	fmt.Println(claims.Subject, claims.HasScope("read"), claims.IsIntent(), err)

	clock = now.Add(time.Hour)
	_, err = verifier.Verify(context.Background(), raw)
	fmt.Println(errors.Is(err, protocol.ErrExpired), err)
	// Output:
	// app true false <nil>
	// true invalid_token (expired): token expired
}
