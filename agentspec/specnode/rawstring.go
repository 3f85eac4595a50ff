package specnode

import "unicode/utf8"

// checkRawString inspects the source text of a JSON string token (quotes
// included) for what the decoder would silently replace with U+FFFD:
// invalid UTF-8 and \u escapes of unpaired surrogates. It returns "" when
// the string is sound.
func checkRawString(raw []byte) string {
	if !utf8.Valid(raw) {
		return "string is not valid UTF-8"
	}
	for i := 0; i < len(raw); i++ {
		if raw[i] != '\\' {
			continue
		}
		i++ // the escaped character; the decoder has checked the syntax
		if i >= len(raw) || raw[i] != 'u' {
			continue
		}
		u := hex4(raw[i+1:])
		switch {
		case u >= 0xDC00 && u <= 0xDFFF:
			return "string has an unpaired surrogate escape"
		case u >= 0xD800 && u <= 0xDBFF:
			if len(raw) < i+11 || raw[i+5] != '\\' || raw[i+6] != 'u' {
				return "string has an unpaired surrogate escape"
			}
			if lo := hex4(raw[i+7:]); lo < 0xDC00 || lo > 0xDFFF {
				return "string has an unpaired surrogate escape"
			}
			i += 6 // skip the low half
		}
		i += 4
	}
	return ""
}

// hex4 decodes four hex digits; the decoder has validated them.
func hex4(b []byte) rune {
	if len(b) < 4 {
		return -1
	}
	var r rune
	for _, c := range b[:4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return -1
		}
	}
	return r
}
