package jcs

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math"
	"os"
	"strings"
	"testing"
)

type rfcVectors struct {
	Samples [][2]string `json:"samples"`
	Example struct {
		Input     string `json:"input"`
		Canonical string `json:"canonical"`
	} `json:"example_3_2_4"`
	Sorting struct {
		Input string   `json:"input"`
		Order []string `json:"order"`
	} `json:"sorting_3_2_3"`
	Documents []struct {
		Name, Input, Canonical string
	} `json:"documents"`
}

func loadVectors(t testing.TB) rfcVectors {
	data, err := os.ReadFile("../../testdata/vectors/jcs-numbers.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVectors
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

func TestRFC8785AppendixB(t *testing.T) {
	samples := loadVectors(t).Samples
	if len(samples) != 26 {
		t.Fatalf("%d samples, want the 26 of Appendix B", len(samples))
	}
	for _, s := range samples {
		t.Run(s[0], func(t *testing.T) {
			raw, _ := hex.DecodeString(s[0])
			f := math.Float64frombits(binary.BigEndian.Uint64(raw))
			got, err := Marshal(f)
			if s[1] == "" {
				if !errors.Is(err, ErrNumber) || got != nil {
					t.Fatalf("got %q, %v; want ErrNumber", got, err)
				}
				return
			}
			if err != nil || string(got) != s[1] {
				t.Fatalf("got %q, %v; want %q", got, err, s[1])
			}
		})
	}
}

func TestRFC8785Example(t *testing.T) {
	v := loadVectors(t)
	got, err := Marshal(decode(t, v.Example.Input))
	if err != nil || string(got) != v.Example.Canonical {
		t.Fatalf("§3.2.4 example:\n got %s (%v)\nwant %s", got, err, v.Example.Canonical)
	}
}

func TestRFC8785Sorting(t *testing.T) {
	v := loadVectors(t)
	got, err := Marshal(decode(t, v.Sorting.Input))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	dec := json.NewDecoder(bytes.NewReader(got))
	dec.Token() // {
	for dec.More() {
		k, _ := dec.Token()
		order = append(order, k.(string))
		dec.Token() // the value
	}
	if strings.Join(order, "|") != strings.Join(v.Sorting.Order, "|") {
		t.Fatalf("§3.2.3 order %q, want %q", order, v.Sorting.Order)
	}
}

func TestReferenceDocuments(t *testing.T) {
	docs := loadVectors(t).Documents
	if len(docs) == 0 {
		t.Fatal("no reference documents")
	}
	for _, d := range docs {
		t.Run(d.Name, func(t *testing.T) {
			got, err := Marshal(decode(t, d.Input))
			if err != nil || string(got) != d.Canonical {
				t.Fatalf("got %s (%v)\nwant %s", got, err, d.Canonical)
			}
		})
	}
}

func TestMarshal(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"json.Number 1.0", json.Number("1.0"), "1"},
		{"json.Number 1e21", json.Number("1e21"), "1e+21"},
		{"json.Number -0", json.Number("-0"), "0"},
		{"json.Number 1E-7", json.Number("1E-7"), "1e-7"},
		{"float 1e-6", 1e-6, "0.000001"},
		{"float 1.5e300", 1.5e300, "1.5e+300"},
		{"float 100", 100.0, "100"},
		{"negative zero", math.Copysign(0, -1), "0"},
		{"int", 42, "42"},
		{"int64 2^53", int64(1 << 53), "9007199254740992"},
		{"int64 2^53+2 exact", int64(1<<53 + 2), "9007199254740994"},
		{"int64 2^60 exact", int64(1 << 60), "1152921504606847000"},
		{"int64 min exact", int64(math.MinInt64), "-9223372036854776000"},
		{"string escapes", "\"\\\b\f\n\r\t\x00\x1f\x7f/€\u2028😀", `"\"\\\b\f\n\r\t\u0000\u001f` + "\x7f/€\u2028😀\""},
		{"string map", map[string]string{"b": "1", "a": "2"}, `{"a":"2","b":"1"}`},
		{"string slice", []string{"x", "y"}, `["x","y"]`},
		{"literals", []any{nil, true, false}, `[null,true,false]`},
		{"empty containers", map[string]any{"a": []any{}, "b": map[string]any{}}, `{"a":[],"b":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.v)
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func nested(n int) any {
	v := any([]any{})
	for range n - 1 {
		v = []any{v}
	}
	return v
}

func TestMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want error
	}{
		{"33 nested containers", nested(MaxDepth + 1), ErrTooDeep},
		{"33 nested objects", map[string]any{"a": nested(MaxDepth)}, ErrTooDeep},
		{"invalid utf-8 value", "\xff", ErrInvalidUTF8},
		{"invalid utf-8 key", map[string]any{"\xc3": 1}, ErrInvalidUTF8},
		{"surrogate bytes", "\xed\xa0\x80", ErrInvalidUTF8},
		{"nan", math.NaN(), ErrNumber},
		{"+inf", math.Inf(1), ErrNumber},
		{"-inf", math.Inf(-1), ErrNumber},
		{"int64 2^53+1 inexact", int64(1<<53 + 1), ErrNumber},
		{"int64 max inexact", int64(math.MaxInt64), ErrNumber},
		{"json.Number garbage", json.Number("1x"), ErrNumber},
		{"json.Number NaN", json.Number("NaN"), ErrNumber},
		{"json.Number hex", json.Number("0x10"), ErrNumber},
		{"json.Number leading zero", json.Number("01"), ErrNumber},
		{"json.Number plus", json.Number("+1"), ErrNumber},
		{"json.Number bare point", json.Number("1."), ErrNumber},
		{"json.Number empty exponent", json.Number("1e"), ErrNumber},
		{"json.Number overflow", json.Number("1e400"), ErrNumber},
		{"unsupported type", []int{1}, ErrType},
		{"error deep inside", map[string]any{"a": []any{1.0, math.Inf(1)}}, ErrNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Marshal(tt.v)
			if !errors.Is(err, tt.want) || got != nil {
				t.Fatalf("got %q, %v; want %v", got, err, tt.want)
			}
		})
	}
	if _, err := Marshal(nested(MaxDepth)); err != nil {
		t.Fatalf("%d nested containers refused: %v", MaxDepth, err)
	}
}

func TestParseNumber(t *testing.T) {
	for _, ok := range []string{"0", "-0", "1", "-12.5e+3", "0.001", "1E2", "1e-2", "123456789012345678901234567890"} {
		if _, err := ParseNumber(ok); err != nil {
			t.Errorf("ParseNumber(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-", ".5", "5.", "00", "-01", "1e", "1e+", "0x1p3", "1_000", "Infinity", " 1", "1 "} {
		if _, err := ParseNumber(bad); !errors.Is(err, ErrNumber) {
			t.Errorf("ParseNumber(%q) = %v, want ErrNumber", bad, err)
		}
	}
}

// TestPlainASCIIEveryByte: the eight-byte fast path agrees with the
// byte-wise rule for every byte value in every position.
func TestPlainASCIIEveryByte(t *testing.T) {
	for pos := range 8 {
		for c := range 256 {
			w := []byte("abcdefgh")
			w[pos] = byte(c)
			want := c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
			if got := plainASCII(word(string(w), 0)); got != want {
				t.Fatalf("byte %#x at %d: plain %v, want %v", c, pos, got, want)
			}
			if got := IsASCII(string(w) + "xyz"); got != (c < 0x80) {
				t.Fatalf("byte %#x at %d: IsASCII %v", c, pos, got)
			}
		}
	}
}
