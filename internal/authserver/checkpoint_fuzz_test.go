package authserver

import (
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/keys"
)

// FuzzVerifyCheckpoint: a checkpoint from anywhere verifies only with the
// JWKS's key; anything else is refused, never a panic.
func FuzzVerifyCheckpoint(f *testing.F) {
	signer, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		f.Fatal(err)
	}
	set := &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{signer.Public()}}
	f.Add("eyJhbGciOiJFUzI1NiIsImtpZCI6IngiLCJ0eXAiOiJhand0LWF1ZGl0LWNoZWNrcG9pbnQrand0In0.e30.c2ln")
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Fuzz(func(t *testing.T, raw string) {
		if cp, err := VerifyCheckpoint(raw, set); err == nil {
			t.Fatalf("a forged checkpoint verified: %+v", cp)
		}
	})
}
