package dpop

import (
	"strconv"
	"testing"
	"time"

	"github.com/ajwt/ajwt/keys"
)

func BenchmarkNewProof(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			key, err := keys.Generate(alg, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewProof(key, "POST", api, ProofOptions{AccessToken: "tok"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify verifies distinct proofs (a replayed one would fail),
// pre-made in batches outside the timer, with the replay cache included.
func BenchmarkVerify(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			key, err := keys.Generate(alg, nil)
			if err != nil {
				b.Fatal(err)
			}
			proofs := make([]string, 1024)
			for i := range proofs {
				proofs[i] = mustProof(b, key, "POST", api, ProofOptions{AccessToken: "tok"})
			}
			clock := func() time.Time { return t0 }
			var v *Verifier
			b.ReportAllocs()
			i := len(proofs)
			for b.Loop() {
				if i == len(proofs) { // every proof used: start a fresh cache
					b.StopTimer()
					// Room for every proof within one key's share of the cache.
					v, err = NewVerifier(NewMemoryReplayCache(32*len(proofs), clock), WithClock(clock))
					if err != nil {
						b.Fatal(err)
					}
					i = 0
					b.StartTimer()
				}
				if _, err := v.Verify(b.Context(), Request{Proof: proofs[i], Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

// BenchmarkReplayCacheUse inserts new ids into a cache in its steady
// state: the clock moves so that as many ids expire as arrive.
func BenchmarkReplayCacheUse(b *testing.B) {
	now := t0
	c := NewMemoryReplayCache(1<<16, func() time.Time { return now })
	ids := make([]string, 1<<16)
	for i := range ids {
		ids[i] = "dpop:" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if i%1024 == 0 {
			now = now.Add(time.Second)
		}
		if _, _, err := c.Use(b.Context(), Entry{ID: ids[i%len(ids)], Exp: now.Add(30 * time.Second)}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}
