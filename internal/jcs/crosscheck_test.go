package jcs

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	gowebpki "github.com/gowebpki/jcs"
)

// TestAgainstIndependentImplementation cross-checks random documents with
// github.com/gowebpki/jcs, an independent RFC 8785 implementation.
func TestAgainstIndependentImplementation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 3000 {
		text, _ := json.Marshal(randomValue(rng, 5))
		want, err := gowebpki.Transform(text)
		if err != nil {
			t.Fatalf("gowebpki rejected %s: %v", text, err)
		}
		got, err := Marshal(decode(t, string(text)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d: %s\n ours   %s (%v)\n theirs %s", i, text, got, err, want)
		}
	}
}

// TestNumbersAgainstIndependentImplementation focuses on number layout:
// random bit patterns cover every exponent range.
func TestNumbersAgainstIndependentImplementation(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 20000 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		text, _ := json.Marshal([]float64{f})
		want, err := gowebpki.Transform(text)
		if err != nil {
			t.Fatalf("gowebpki rejected %s: %v", text, err)
		}
		got, err := Marshal([]any{f})
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%x: ours %s (%v), theirs %s", math.Float64bits(f), got, err, want)
		}
	}
}

func randomValue(rng *rand.Rand, depth int) any {
	switch k := rng.IntN(7); {
	case depth == 0 || k == 0:
		return randomNumber(rng)
	case k == 1:
		return randomString(rng)
	case k == 2:
		return rng.IntN(2) == 0
	case k == 3:
		return nil
	case k == 4 || k == 5:
		m := map[string]any{}
		for range rng.IntN(6) {
			m[randomString(rng)] = randomValue(rng, depth-1)
		}
		return m
	default:
		a := make([]any, rng.IntN(4))
		for i := range a {
			a[i] = randomValue(rng, depth-1)
		}
		return a
	}
}

func randomNumber(rng *rand.Rand) float64 {
	switch rng.IntN(4) {
	case 0:
		return float64(rng.IntN(1e6) - 5e5)
	case 1:
		return rng.NormFloat64() * math.Pow(10, float64(rng.IntN(60)-30))
	case 2:
		return math.Float64frombits(rng.Uint64()&^(0x7ff<<52) | uint64(rng.IntN(0x7fe)+1)<<52)
	}
	return rng.Float64()
}

func randomString(rng *rand.Rand) string {
	pool := []rune{'a', 'Z', '0', ' ', '"', '\\', '/', '\n', '\t', 0x01, 0x1f, 0x7f, 0x80, 'é', '€',
		0xD7FF, 0xE000, 0xFB33, 0xFFFF, 0x10000, 0x1F600, 0x1F602, 0x10FFFF, 0x2028}
	r := make([]rune, rng.IntN(6))
	for i := range r {
		r[i] = pool[rng.IntN(len(pool))]
	}
	return string(r)
}

func FuzzMarshal(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,-0,1e21,"x\u0001"],"b":{"\u20ac":null,"\ud83d\ude00":1,"\ue000":2}}`))
	f.Add([]byte(`333333333.33333329`))
	f.Add([]byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		got, err := Marshal(v)
		if err != nil {
			return
		}
		if !json.Valid(got) {
			t.Fatalf("output is not JSON: %q", got)
		}
		// The canonical form is a fixed point.
		if again, err := Marshal(decode(t, string(got))); err != nil || !bytes.Equal(got, again) {
			t.Fatalf("not a fixed point: %q → %q (%v)", got, again, err)
		}
		// And agrees with the independent implementation.
		if want, err := gowebpki.Transform(data); err == nil && !bytes.Equal(got, want) {
			t.Fatalf("ours %q, gowebpki %q", got, want)
		}
	})
}

func BenchmarkMarshal(b *testing.B) {
	v := decode(b, `{"type":"object","required":["title","head"],"properties":{"title":{"type":"string","maxLength":200},"head":{"type":"string"},"n":{"type":"integer","minimum":0,"maximum":1e6}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}
