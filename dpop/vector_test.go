package dpop

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/keys"
)

func TestProofVector(t *testing.T) {
	data, err := os.ReadFile("../testdata/vectors/dpop.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		SeedHex     string `json:"seed_hex"`
		Method, URI string
		HTU         string
		AccessToken string `json:"access_token"`
		JTI, JKT    string
		Now         int64
		Proof       string
	}
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	seed, _ := hex.DecodeString(v.SeedHex)
	key, _ := keys.NewSigner(ed25519.NewKeyFromSeed(seed), keys.EdDSA, "")
	now := time.Unix(v.Now, 0)
	got, err := NewProof(key, v.Method, v.URI, ProofOptions{AccessToken: v.AccessToken, Now: now, JTI: v.JTI})
	if err != nil || got != v.Proof {
		t.Fatalf("NewProof gave\n%s (%v)\nwant\n%s", got, err, v.Proof)
	}
	if key.Thumbprint() != v.JKT {
		t.Fatalf("jkt %s, want %s", key.Thumbprint(), v.JKT)
	}
	ver := newVerifier(t, &now)
	p, err := ver.Verify(context.Background(), Request{Proof: v.Proof, Method: v.Method, URL: v.URI, AccessToken: v.AccessToken, JKT: v.JKT})
	if err != nil || p.HTU != v.HTU || p.JTI != v.JTI {
		t.Fatalf("verify: %+v %v", p, err)
	}
}

func FuzzVerify(f *testing.F) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	valid := mustProof(f, key, "POST", api, ProofOptions{AccessToken: "tok"})
	f.Add(valid, "POST", api)
	f.Add("a.b.c", "GET", "https://x/")
	f.Add(strings.Repeat("e", 100), "POST", api)
	f.Fuzz(func(t *testing.T, proof, method, url string) {
		now := t0
		v := newVerifier(t, &now)
		p, err := v.Verify(context.Background(), Request{Proof: proof, Method: method, URL: url, AccessToken: "tok", JKT: key.Thumbprint()})
		if err == nil && p.JKT != key.Thumbprint() {
			t.Fatal("accepted a proof by another key")
		}
	})
}

func FuzzNormalizeHTU(f *testing.F) {
	f.Add("https://API.example:443/a/%7e?q#f")
	f.Add("http://[::1]:80/")
	f.Fuzz(func(t *testing.T, uri string) {
		n, err := NormalizeHTU(uri)
		if err != nil {
			return
		}
		if again, err := NormalizeHTU(n); err != nil || again != n {
			t.Fatalf("not idempotent: %q → %q → %q (%v)", uri, n, again, err)
		}
	})
}

func BenchmarkNewProof(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			key, _ := keys.Generate(alg, nil)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := NewProof(key, "POST", api, ProofOptions{AccessToken: "tok"}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkVerify(b *testing.B) {
	for _, alg := range []keys.Alg{keys.ES256, keys.EdDSA} {
		b.Run(string(alg), func(b *testing.B) {
			key, _ := keys.Generate(alg, nil)
			proofs := make([]string, 0, 4096)
			for range cap(proofs) {
				proofs = append(proofs, mustProof(b, key, "POST", api, ProofOptions{AccessToken: "tok"}))
			}
			now := t0
			v, _ := NewVerifier(NewMemoryReplayCache(1<<22, func() time.Time { return now }), WithClock(func() time.Time { return now }))
			ctx := context.Background()
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i == len(proofs) { // fresh cache once the pre-made proofs are used up
					b.StopTimer()
					v, _ = NewVerifier(NewMemoryReplayCache(1<<22, func() time.Time { return now }), WithClock(func() time.Time { return now }))
					i = 0
					b.StartTimer()
				}
				if _, err := v.Verify(ctx, Request{Proof: proofs[i], Method: "POST", URL: api, AccessToken: "tok", JKT: key.Thumbprint()}); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}

func BenchmarkReplayCacheUse(b *testing.B) {
	c := NewMemoryReplayCache(1<<20, nil)
	ctx := context.Background()
	exp := time.Now().Add(time.Minute)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c.Use(ctx, strings.Repeat("x", 8)+string(rune(i%1000000)), exp)
		i++
	}
}
