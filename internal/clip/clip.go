// Package clip shortens caller-chosen text before it goes into an error
// description or a log line: a client must not be able to make either
// arbitrarily long, or split a UTF-8 sequence, by what it sends.
package clip

import "strings"

// Short is the length error descriptions quote caller text at.
const Short = 32

// Text returns s cut after max runes, with "…" appended when cut;
// invalid UTF-8 becomes U+FFFD.
func Text(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	n := 0
	for i := range s {
		if n == max {
			return s[:i] + "…"
		}
		n++
	}
	return s
}
