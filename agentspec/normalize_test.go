package agentspec

import (
	"testing"
	"unicode"
)

func TestNormalizePrompt(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"crlf", "a\r\nb", "a\nb"},
		{"lone cr", "a\rb", "a\nb"},
		{"cr cr lf", "a\r\r\nb", "a\nb"},
		{"lf cr", "a\n\rb", "a\nb"},
		{"blank lines", "\n\na\n\n\nb\n\n", "a\nb"},
		{"trim ascii", " \t\v\f a \t ", "a"},
		{"trim unicode white space", "\u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000a\u3000", "a"},
		{"zero width is not white space", "\u200ba\ufeff", "\u200ba\ufeff"},
		{"mongolian vowel separator is not white space", "\u180ea", "\u180ea"},
		{"line separator inside a line", "a\u2028b", "a\u2028b"},
		{"nfc", "e\u0301", "\u00e9"},
		{"nfc across the template", "Cafe\u0301\r\nre\u0301sume\u0301", "Caf\u00e9\nr\u00e9sum\u00e9"},
		{"nfc keeps compatibility forms", "\ufb01", "\ufb01"},
		{"inner spaces kept", "a  b", "a  b"},
		{"empty", "", ""},
		{"only white space", " \r\n\u3000\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizePrompt(tt.in); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestWhiteSpaceIsTheUnicodeProperty checks every code point: trimming
// uses exactly White_Space, which strings.TrimSpace does not.
func TestWhiteSpaceIsTheUnicodeProperty(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if unicode.Is(unicode.White_Space, r) != isWhiteSpace(r) {
			t.Fatalf("%U: isWhiteSpace = %v", r, isWhiteSpace(r))
		}
	}
}

func BenchmarkNormalizePrompt(b *testing.B) {
	prompt := realisticSpec().PromptTemplate
	b.ReportAllocs()
	for b.Loop() {
		NormalizePrompt(prompt)
	}
}
