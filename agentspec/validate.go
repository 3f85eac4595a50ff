package agentspec

import (
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"regexp/syntax"
	"unicode/utf8"

	"github.com/ajwt/ajwt/internal/jcs"
)

// Document depth of the JSON values a spec holds, counted as RFC 8785
// nests them (§10 caps the whole document at 32): the spec object is 1,
// configuration 2, tools 2, a tool 3, its parameters 4.
const (
	configurationDepth = 2
	parametersDepth    = 4
	maxDepth           = jcs.MaxDepth
)

// Validate checks the rules of §2: agent_id syntax, a template that is
// valid UTF-8 and not empty after normalization, placeholders declared and
// declarations used, patterns that compile and max_length from 1 to
// MaxValueLength, unique non-empty tool names, source_sha256 as 64
// lowercase hex, and parameters and configuration that have an RFC 8785
// form within the depth limit. Errors are *SpecError naming the field.
func (s *Spec) Validate() error {
	_, err := s.validate()
	return err
}

// validate checks s and returns its normalized template, which Render
// needs anyway.
func (s *Spec) validate() (string, error) {
	tmpl, err := s.validateStructure()
	if err != nil {
		return "", err
	}
	return tmpl, s.validateValues()
}

// validateValues checks the JSON values of parameters and configuration.
// Canonical leaves it out of its fast path: encoding them checks the same
// rules, and this walk only runs to name the field when encoding fails.
func (s *Spec) validateValues() error {
	for i := range s.Tools {
		if err := checkValue(s.Tools[i].Parameters, parametersDepth); err != nil {
			return err.at(fmt.Sprintf("tools[%d].parameters", i))
		}
	}
	if err := checkValue(s.Configuration, configurationDepth); err != nil {
		return err.at("configuration")
	}
	return nil
}

// validateStructure checks everything but the values of parameters and
// configuration, and returns the normalized template.
func (s *Spec) validateStructure() (string, error) {
	if !validAgentID(s.AgentID) {
		return "", specErr("agent_id", "%q does not match ^[a-z0-9][a-z0-9-]{0,62}$", clip.Text(s.AgentID, clip.Short))
	}
	if !utf8.ValidString(s.PromptTemplate) {
		return "", specErr("prompt_template", "not valid UTF-8")
	}
	tmpl := NormalizePrompt(s.PromptTemplate)
	if tmpl == "" {
		return "", specErr("prompt_template", "empty after normalization")
	}
	if err := s.validateSubstitutions(tmpl); err != nil {
		return "", err
	}
	if err := s.validateTools(); err != nil {
		return "", err
	}
	return tmpl, nil
}

// validAgentID matches ^[a-z0-9][a-z0-9-]{0,62}$ without a regexp.
func validAgentID(id string) bool {
	if len(id) == 0 || len(id) > 63 || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

func (s *Spec) validateSubstitutions(tmpl string) error {
	used := make(map[string]bool, len(s.Substitutions))
	err := forEachPlaceholder(tmpl, func(name string) error {
		if !validPlaceholderName(name) {
			return specErr("prompt_template", "placeholder {{%s}}: name must match [A-Za-z_][A-Za-z0-9_]*", clip.Text(name, clip.Short))
		}
		if _, ok := s.Substitutions[name]; !ok {
			return specErr("prompt_template", "placeholder {{%s}} is not declared in substitutions", name)
		}
		used[name] = true
		return nil
	})
	if err != nil {
		return err
	}
	for _, name := range jcs.SortedKeys(s.Substitutions) {
		if err := checkSubstitution(name, s.Substitutions[name], used[name]); err != nil {
			return err
		}
	}
	return nil
}

func checkSubstitution(name string, sub Substitution, used bool) error {
	field := "substitutions." + name
	switch {
	case !validPlaceholderName(name):
		return specErr(field, "name must match [A-Za-z_][A-Za-z0-9_]*")
	case !used:
		return specErr(field, "declared but not used in prompt_template")
	case sub.Pattern == "":
		return specErr(field+".pattern", "required")
	case sub.MaxLength < 1 || sub.MaxLength > MaxValueLength:
		return specErr(field+".max_length", "must be from 1 to %d", MaxValueLength)
	}
	// Parsing is what can fail in regexp.Compile; Render compiles.
	if _, err := syntax.Parse(sub.Pattern, syntax.Perl); err != nil {
		return specErr(field+".pattern", "does not compile: %v", err)
	}
	return nil
}

func (s *Spec) validateTools() error {
	seen := make(map[string]bool, len(s.Tools))
	for i := range s.Tools {
		t := &s.Tools[i]
		if err := checkTool(t, seen[t.Name]); err != nil {
			err.Field = fmt.Sprintf("tools[%d]%s", i, err.Field)
			return err
		}
		seen[t.Name] = true
	}
	return nil
}

// checkTool checks one tool; the error's field is relative (".name"), so
// that the common, valid case formats no paths.
func checkTool(t *Tool, duplicate bool) *SpecError {
	switch {
	case t.Name == "":
		return specErr(".name", "required")
	case !utf8.ValidString(t.Name):
		return specErr(".name", "not valid UTF-8")
	case duplicate:
		return specErr(".name", "duplicate tool name %q", clip.Text(t.Name, clip.Short))
	case !utf8.ValidString(t.Description):
		return specErr(".description", "not valid UTF-8")
	case t.SourceSHA256 != "" && !isLowerHex64(t.SourceSHA256):
		return specErr(".source_sha256", "want 64 lowercase hex digits")
	}
	return nil
}

func isLowerHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
