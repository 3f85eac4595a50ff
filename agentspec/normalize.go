package agentspec

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/ajwt/ajwt/internal/jcs"
)

// NormalizePrompt applies §2.3: NFC; CRLF and lone CR become LF; each line
// trimmed of Unicode White_Space at both ends; empty lines dropped; lines
// joined with LF, no trailing LF.
//
// White_Space is the Unicode property (unicode.White_Space), not Go's
// unicode.IsSpace: both include U+0085 and U+00A0, but the property is the
// one the contract names; U+200B and U+FEFF are not white space.
func NormalizePrompt(s string) string {
	if !jcs.IsASCII(s) && !norm.NFC.IsNormalString(s) { // ASCII is NFC; the check alone is a slow byte loop
		s = norm.NFC.String(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for line := range splitLines(s) {
		line = strings.TrimFunc(line, isWhiteSpace)
		if line == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(line)
	}
	return b.String()
}

// splitLines yields the lines of s split at LF, CRLF and lone CR.
func splitLines(s string) func(func(string) bool) {
	return func(yield func(string) bool) {
		hasCR := strings.IndexByte(s, '\r') >= 0
		for len(s) > 0 {
			var i int
			if hasCR {
				i = strings.IndexAny(s, "\r\n")
			} else {
				i = strings.IndexByte(s, '\n')
			}
			if i < 0 {
				yield(s)
				return
			}
			if !yield(s[:i]) {
				return
			}
			if s[i] == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			s = s[i+1:]
		}
	}
}

func isWhiteSpace(r rune) bool {
	if r < utf8.RuneSelf {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}
