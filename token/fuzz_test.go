package token

import (
	"context"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/keys"
)

// FuzzVerify feeds random strings and mutations of a valid token. Verify
// must never panic, must return claims exactly when it returns no error,
// and must accept nothing but the one valid token: the encoding is
// canonical, so any changed byte (in the signature or elsewhere) is a
// forgery.
func FuzzVerify(f *testing.F) {
	fx := newFixture(f, keys.EdDSA)
	valid := fx.mint(f, intentClaims())
	parts := strings.Split(valid, ".")
	f.Add(valid)
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(parts[0] + "." + parts[1] + "." + nonCanonical(parts[2]))
	f.Add(parts[0] + "." + parts[1] + "." + truncateSig(parts[2], 1))
	for i := 0; i < len(parts[2]); i += 11 {
		sig := []byte(parts[2])
		sig[i] ^= 0x01
		f.Add(parts[0] + "." + parts[1] + "." + string(sig))
	}
	f.Add("a.b.c")
	f.Add(strings.Replace(valid, ".", "..", 1))
	f.Add("")
	f.Fuzz(func(t *testing.T, raw string) {
		c, err := fx.verifier.Verify(context.Background(), raw)
		if (err == nil) != (c != nil) {
			t.Fatalf("claims %v with error %v", c, err)
		}
		if err == nil && raw != valid {
			t.Fatalf("accepted a token that is not the one signed: %q", raw)
		}
	})
}
