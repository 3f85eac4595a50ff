package token

import (
	"context"
	"testing"

	"github.com/ajwt/ajwt/keys"
)

func BenchmarkMint(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			c := intentClaims()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.issuer.Mint(c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA, keys.RS256} {
		b.Run(string(alg), func(b *testing.B) {
			f := newFixture(b, alg)
			raw := f.mint(b, intentClaims())
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := f.verifier.Verify(ctx, raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
