package jcs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	gowebpki "github.com/gowebpki/jcs"
)

type vectors struct {
	Samples [][2]string `json:"samples"`
	Example struct {
		Input     string `json:"input"`
		Canonical string `json:"canonical"`
	} `json:"example_3_2_4"`
	Sorting struct {
		Input string   `json:"input"`
		Order []string `json:"order"`
	} `json:"sorting_3_2_3"`
}

func loadVectors(t testing.TB) vectors {
	data, err := os.ReadFile("../../testdata/vectors/jcs-numbers.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// decode parses JSON into the generic tree Marshal takes.
func decode(t testing.TB, s string) any {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestRFC8785NumberSamples(t *testing.T) {
	for _, s := range loadVectors(t).Samples {
		raw, _ := hex.DecodeString(s[0])
		f := math.Float64frombits(binary.BigEndian.Uint64(raw))
		got, err := Marshal(f)
		if s[1] == "" {
			if !errors.Is(err, ErrNumber) {
				t.Errorf("%s: got %q, %v; want ErrNumber", s[0], got, err)
			}
			continue
		}
		if err != nil || string(got) != s[1] {
			t.Errorf("%s: got %q, %v; want %q", s[0], got, err, s[1])
		}
	}
}

func TestRFC8785Examples(t *testing.T) {
	v := loadVectors(t)
	got, err := Marshal(decode(t, v.Example.Input))
	if err != nil || string(got) != v.Example.Canonical {
		t.Fatalf("§3.2.4 example:\n got %s (%v)\nwant %s", got, err, v.Example.Canonical)
	}
	got, err = Marshal(decode(t, v.Sorting.Input))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.Token()
	for dec.More() {
		k, _ := dec.Token()
		order = append(order, k.(string))
		dec.Token()
	}
	if strings.Join(order, "|") != strings.Join(v.Sorting.Order, "|") {
		t.Fatalf("§3.2.3 order %q, want %q", order, v.Sorting.Order)
	}
}

func TestMarshalErrors(t *testing.T) {
	deep := any("x")
	for range MaxDepth + 1 {
		deep = []any{deep}
	}
	tests := map[string]struct {
		v    any
		want error
	}{
		"too deep":        {deep, ErrTooDeep},
		"invalid utf-8":   {"\xff", ErrInvalidUTF8},
		"nan":             {math.NaN(), ErrNumber},
		"inexact integer": {int64(1<<53 + 1), ErrNumber},
		"bad number":      {json.Number("1x"), ErrNumber},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := Marshal(tt.v); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// TestAgainstIndependentImplementation cross-checks random documents with
// github.com/gowebpki/jcs, an independent RFC 8785 implementation.
func TestAgainstIndependentImplementation(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		doc := randomValue(rng, 4)
		text, _ := json.Marshal(doc)
		want, err := gowebpki.Transform(text)
		if err != nil {
			t.Fatalf("gowebpki rejected %s: %v", text, err)
		}
		got, err := Marshal(decode(t, string(text)))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("case %d: %s\n ours %s (%v)\n theirs %s", i, text, got, err, want)
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
		for range rng.IntN(5) {
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
	pool := []rune{'a', 'Z', '0', ' ', '"', '\\', '\n', '\t', 0x01, 0x1f, 0x7f, 'é', '€', 0xE000, 0xFB33, 0x1F600, 0x10FFFF, 0x2028}
	r := make([]rune, rng.IntN(6))
	for i := range r {
		r[i] = pool[rng.IntN(len(pool))]
	}
	return string(r)
}

func FuzzMarshal(f *testing.F) {
	f.Add([]byte(`{"a":[1,2.5,-0,1e21,"x\u0001"],"b":{"\u20ac":null}}`))
	f.Add([]byte(`333333333.33333329`))
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
		// Canonical output is a fixed point.
		dec = json.NewDecoder(bytes.NewReader(got))
		dec.UseNumber()
		var again any
		if err := dec.Decode(&again); err != nil {
			t.Fatalf("canonical output %q does not parse: %v", got, err)
		}
		if got2, err := Marshal(again); err != nil || !bytes.Equal(got, got2) {
			t.Fatalf("not a fixed point: %q → %q", got, got2)
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
