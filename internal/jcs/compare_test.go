package jcs

import (
	"math/rand/v2"
	"slices"
	"testing"
	"unicode/utf16"
)

func TestCompareUTF16(t *testing.T) {
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "abc", "abc", 0},
		{"prefix", "ab", "abc", -1},
		{"ascii", "B", "a", -1},
		{"emoji before private use (UTF-8 says after)", "😀", "\ue000", -1},
		{"emoji before U+FFFF", "𐀀", "\uffff", -1},
		{"U+D7FF before emoji", "\ud7ff", "😀", -1},
		{"two supplementary", "😀", "😂", -1},
		{"same high surrogate", "\U0001F600", "\U0001F601", -1},
		{"different high surrogates", "\U00010000", "\U0001F600", -1},
		{"after common prefix", "x😀", "x\ue000", -1},
		{"empty", "", "a", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CompareUTF16(tt.a, tt.b); got != tt.want {
				t.Fatalf("CompareUTF16(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := CompareUTF16(tt.b, tt.a); got != -tt.want {
				t.Fatalf("not antisymmetric: CompareUTF16(%q, %q) = %d", tt.b, tt.a, got)
			}
		})
	}
}

// TestCompareUTF16Random checks against the definition: encode to UTF-16
// and compare the code units.
func TestCompareUTF16Random(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20000 {
		a, b := randomString(rng), randomString(rng)
		want := slices.Compare(utf16.Encode([]rune(a)), utf16.Encode([]rune(b)))
		if got := CompareUTF16(a, b); got != want {
			t.Fatalf("CompareUTF16(%q, %q) = %d, want %d", a, b, got, want)
		}
	}
}

func BenchmarkCompareUTF16(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		CompareUTF16("properties_😀_name", "properties_\ue000_name")
	}
}
