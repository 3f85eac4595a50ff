package checksum

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// RenderError says which placeholder was refused and why; it never repeats
// a refused value in full (it may be an injection payload).
type RenderError struct {
	Placeholder string
	Msg         string
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("checksum: substitution {{%s}}: %s", e.Placeholder, e.Msg)
}

// Render fills the normalized template with values (§2.5). Every
// placeholder needs a value that fully matches its pattern (anchored here,
// whatever the pattern says), is at most max_length characters (runes) and
// holds no line break; a value for an undeclared name is refused too.
func (s *Spec) Render(values map[string]string) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	for name := range values {
		if _, ok := s.Substitutions[name]; !ok {
			return "", &RenderError{Placeholder: name, Msg: "not declared in the spec"}
		}
	}
	for name, sub := range s.Substitutions {
		if err := checkValue(name, sub, values); err != nil {
			return "", err
		}
	}
	tmpl := NormalizePrompt(s.PromptTemplate)
	return placeholderRE.ReplaceAllStringFunc(tmpl, func(m string) string {
		return values[m[2:len(m)-2]]
	}), nil
}

func checkValue(name string, sub Substitution, values map[string]string) error {
	v, ok := values[name]
	switch {
	case !ok:
		return &RenderError{Placeholder: name, Msg: "no value given"}
	case utf8.RuneCountInString(v) > sub.MaxLength:
		return &RenderError{Placeholder: name, Msg: fmt.Sprintf("value longer than max_length %d", sub.MaxLength)}
	case strings.ContainsAny(v, "\n\r\v\f\u0085\u2028\u2029"):
		return &RenderError{Placeholder: name, Msg: "value contains a line break"}
	case !utf8.ValidString(v):
		return &RenderError{Placeholder: name, Msg: "value is not valid UTF-8"}
	}
	re, err := regexp.Compile(`^(?:` + sub.Pattern + `)$`)
	if err != nil || !re.MatchString(v) {
		return &RenderError{Placeholder: name, Msg: fmt.Sprintf("value %q does not match the declared pattern", trunc(v))}
	}
	return nil
}
