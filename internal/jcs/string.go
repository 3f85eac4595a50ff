package jcs

import (
	"cmp"
	"unicode/utf8"
)

// AppendString appends s as a JSON string escaped as RFC 8785 §3.2.2.2
// prescribes. Invalid UTF-8 is an error: replacing it with U+FFFD would
// hash a value nobody wrote.
func AppendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, ErrInvalidUTF8
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			b = append(b, s[start:i]...)
			b = appendEscape(b, c)
			start = i + 1
		}
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
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
