package agentspec

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/ajwt/ajwt/internal/jcs"
)

// lineBreaks are the characters a value may not hold (§2.5): LF, CR, VT,
// FF, NEL, LINE SEPARATOR and PARAGRAPH SEPARATOR all start a new line for
// some reader.
const lineBreaks = "\n\r\v\f\u0085\u2028\u2029"

// Render fills the normalized template (§2.3) with values (§2.5). The spec
// must be valid; every placeholder needs a value that is valid UTF-8, holds
// no line break, is at most max_length characters (runes, not bytes) and
// fully matches its pattern: the pattern is wrapped as ^(?:pattern)$, so
// one written without anchors cannot be satisfied by a substring. A value
// for a name the spec does not declare is refused too. Errors are
// *RenderError (or *SpecError for an invalid spec) and never repeat the
// value.
func (s *Spec) Render(values map[string]string) (string, error) {
	tmpl, err := s.validate()
	if err != nil {
		return "", err
	}
	for _, name := range jcs.SortedKeys(values) {
		if _, ok := s.Substitutions[name]; !ok {
			return "", &RenderError{Placeholder: name, Msg: "not declared in the spec"}
		}
	}
	for _, name := range jcs.SortedKeys(s.Substitutions) {
		if err := checkRuntimeValue(name, s.Substitutions[name], values); err != nil {
			return "", err
		}
	}
	return fill(tmpl, values), nil
}

func checkRuntimeValue(name string, sub Substitution, values map[string]string) error {
	v, ok := values[name]
	refuse := func(format string, args ...any) error {
		return &RenderError{Placeholder: name, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case !ok:
		return refuse("no value given")
	case !utf8.ValidString(v):
		return refuse("value is not valid UTF-8")
	case strings.ContainsAny(v, lineBreaks):
		return refuse("value contains a line break")
	case utf8.RuneCountInString(v) > sub.MaxLength:
		return refuse("value longer than max_length %d", sub.MaxLength)
	}
	re, err := regexp.Compile(`^(?:` + sub.Pattern + `)$`)
	if err != nil {
		return refuse("pattern does not compile: %v", err)
	}
	if !re.MatchString(v) {
		return refuse("value (%d characters) does not match the declared pattern", utf8.RuneCountInString(v))
	}
	return nil
}

// fill replaces each placeholder of the validated template with its value.
func fill(tmpl string, values map[string]string) string {
	var b strings.Builder
	b.Grow(len(tmpl) + 64*len(values))
	for {
		start, end, ok := nextPlaceholder(tmpl)
		if !ok {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:start])
		b.WriteString(values[tmpl[start+2:end-2]])
		tmpl = tmpl[end:]
	}
}
