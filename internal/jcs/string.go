package jcs

import (
	"cmp"
	"unicode/utf8"
)

// AppendString appends s as a JSON string escaped as RFC 8785 §3.2.2.2
// prescribes. Invalid UTF-8 is an error: replacing it with U+FFFD would
// hash a value nobody wrote. One pass validates and escapes, eight plain
// ASCII bytes at a time: prompts are kilobytes of text with few escapes.
func AppendString(b []byte, s string) ([]byte, error) {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && plainASCII(word(s, i)) {
			i += 8
			continue
		}
		c := s[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 { // also surrogates and overlong forms
				return nil, ErrInvalidUTF8
			}
			i += n
			continue
		}
		if c < 0x20 || c == '"' || c == '\\' {
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			start = i + 1
		}
		i++
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

// IsASCII reports whether s has only bytes below 0x80.
func IsASCII(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		if word(s, i)&highBits != 0 {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

const (
	lowBits  = 0x0101010101010101
	highBits = 0x8080808080808080
)

// word loads s[i:i+8] little-endian (the compiler makes it one load).
func word(s string, i int) uint64 {
	_ = s[i+7]
	return uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
		uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
}

// plainASCII reports whether all eight bytes of w are ASCII that JSON
// strings carry unescaped: none ≥ 0x80, < 0x20, '"' or '\\'. The
// zero-byte tests are exact once no byte has its high bit set.
func plainASCII(w uint64) bool {
	hasZero := func(v uint64) bool { return (v-lowBits)&^v&highBits != 0 }
	return w&highBits == 0 && (w-lowBits*0x20)&^w&highBits == 0 &&
		!hasZero(w^(lowBits*'"')) && !hasZero(w^(lowBits*'\\'))
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"':
		return append(b, '\\', '"')
	case '\\':
		return append(b, '\\', '\\')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// CompareUTF16 orders strings by their UTF-16 code units (RFC 8785
// §3.2.3) without converting them. The order differs from byte (code
// point) order only where a character above U+FFFF meets one in
// U+E000–U+FFFF: the former's high surrogate (U+D800–U+DBFF) sorts first.
// Invalid UTF-8 compares as U+FFFD; AppendString refuses it anyway.
func CompareUTF16(a, b string) int {
	for a != "" && b != "" {
		if a[0] < utf8.RuneSelf && b[0] < utf8.RuneSelf {
			if a[0] != b[0] {
				return cmp.Compare(a[0], b[0])
			}
			a, b = a[1:], b[1:]
			continue
		}
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			return compareRunesUTF16(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

// compareRunesUTF16 compares two different runes by their first UTF-16
// code unit; two runes above U+FFFF with the same high surrogate differ in
// the low one, which keeps code point order.
func compareRunesUTF16(a, b rune) int {
	if c := cmp.Compare(firstUnit(a), firstUnit(b)); c != 0 {
		return c
	}
	return cmp.Compare(a, b)
}

func firstUnit(r rune) rune {
	if r > 0xFFFF {
		return 0xD800 + (r-0x10000)>>10
	}
	return r
}
