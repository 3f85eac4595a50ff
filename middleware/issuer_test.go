package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// TestWrongIssuer: a token signed with a key the enforcer trusts but
// issued under another issuer name is refused.
func TestWrongIssuer(t *testing.T) {
	key, _ := keys.Generate(keys.ES256, nil)
	ks, _ := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{key.Public()}})
	pol, _ := policy.Compile(policy.Rules{Issuer: "https://idp.example", Resource: "https://api.example", Default: "allow"})
	enf, err := middleware.New(context.Background(), pol, middleware.WithKeySource(ks), middleware.WithoutRevocationFeed())
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tt := range []struct {
		issuer string
		want   error
	}{{"https://other-idp.example", protocol.ErrWrongIssuer}, {"https://idp.example", nil}} {
		iss, _ := token.NewIssuer(tt.issuer, key)
		raw, _ := iss.Mint(&token.Claims{Subject: "app", Audience: token.Audience{"https://api.example"}, ClientID: "app",
			IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Minute).Unix(), ID: "j"})
		r := httptest.NewRequest(http.MethodGet, "http://api.example/x", nil)
		r.Header.Set("Authorization", "Bearer "+raw)
		_, err := enf.Check(r)
		if (tt.want == nil && err != nil) || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Fatalf("issuer %s: err = %v, want %v", tt.issuer, err, tt.want)
		}
	}
}
