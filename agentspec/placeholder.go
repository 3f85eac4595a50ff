package agentspec

import "strings"

// forEachPlaceholder calls fn with the text between the braces of every
// {{…}} in s, left to right: "{{" followed by characters other than
// braces, then "}}" (the leftmost such run, as the regexp
// \{\{([^{}]*)\}\} would find). It stops at fn's first error.
func forEachPlaceholder(s string, fn func(name string) error) error {
	for {
		start, end, ok := nextPlaceholder(s)
		if !ok {
			return nil
		}
		if err := fn(s[start+2 : end-2]); err != nil {
			return err
		}
		s = s[end:]
	}
}

// nextPlaceholder returns the byte range of the first placeholder in s.
func nextPlaceholder(s string) (start, end int, ok bool) {
	for off := 0; ; {
		i := strings.Index(s[off:], "{{")
		if i < 0 {
			return 0, 0, false
		}
		i += off
		j := i + 2
		for j < len(s) && s[j] != '{' && s[j] != '}' {
			j++
		}
		if strings.HasPrefix(s[j:], "}}") {
			return i, j + 2, true
		}
		off = i + 1
	}
}

// validPlaceholderName matches [A-Za-z_][A-Za-z0-9_]* without a regexp.
func validPlaceholderName(name string) bool {
	if name == "" || name[0] >= '0' && name[0] <= '9' {
		return false
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
