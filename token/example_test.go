package token_test

import (
	"context"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/token"
)

func Example() {
	key, _ := keys.Generate(keys.ES256, nil)
	issuer, _ := token.NewIssuer("https://idp.example", key)
	now := time.Now()
	raw, _ := issuer.Mint(&token.Claims{
		Subject: "app", Audience: token.Audience{"https://api.example"}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(5 * time.Minute).Unix(), ID: "1", Scope: "read",
	})

	keySet, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	verifier, _ := token.NewVerifier("https://idp.example", "https://api.example", keySet)
	claims, err := verifier.Verify(context.Background(), raw)
	fmt.Println(claims.Subject, claims.HasScope("read"), claims.IsIntent(), err)

	_, err = verifier.Verify(context.Background(), raw+"x")
	fmt.Println(err)
	// Output:
	// app true false <nil>
	// invalid_token (bad_signature): signature does not verify
}
