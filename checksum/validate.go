package checksum

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

var (
	agentIDRE     = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	placeholderRE = regexp.MustCompile(`\{\{([^{}]*)\}\}`)
	nameRE        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
)

// Validate checks the rules of §2: agent_id syntax, placeholders declared
// and used, patterns that compile, unique tool names, source_sha256 form,
// and JSON values that have a canonical form.
func (s *Spec) Validate() error {
	if !agentIDRE.MatchString(s.AgentID) {
		return specErr("agent_id", 0, "%q does not match ^[a-z0-9][a-z0-9-]{0,62}$", trunc(s.AgentID))
	}
	if strings.IndexFunc(s.PromptTemplate, func(r rune) bool { return !isWhiteSpace(r) }) < 0 {
		return specErr("prompt_template", 0, "empty after normalization")
	}
	if err := s.validatePlaceholders(); err != nil {
		return err
	}
	if err := s.validateTools(); err != nil {
		return err
	}
	if !validJSONValue(s.Configuration, 1) {
		return checkJSONValue("configuration", s.Configuration, 1)
	}
	return nil
}

// validJSONValue is checkJSONValue without building field paths: the fast
// path for the common, valid case.
func validJSONValue(v any, depth int) bool {
	if depth > 32 {
		return false
	}
	switch x := v.(type) {
	case nil, bool, string, int:
		return true
	case float64:
		return !math.IsNaN(x) && !math.IsInf(x, 0)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return err == nil && !math.IsInf(f, 0)
	case map[string]any:
		for _, e := range x {
			if !validJSONValue(e, depth+1) {
				return false
			}
		}
		return true
	case []any:
		for _, e := range x {
			if !validJSONValue(e, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func (s *Spec) validatePlaceholders() error {
	used := map[string]bool{}
	for _, m := range placeholderRE.FindAllStringSubmatch(s.PromptTemplate, -1) {
		if !nameRE.MatchString(m[1]) {
			return specErr("prompt_template", 0, "placeholder {{%s}}: name must match [A-Za-z_][A-Za-z0-9_]*", trunc(m[1]))
		}
		if _, ok := s.Substitutions[m[1]]; !ok {
			return specErr("prompt_template", 0, "placeholder {{%s}} is not declared in substitutions", m[1])
		}
		used[m[1]] = true
	}
	for _, name := range sortedKeys(s.Substitutions) {
		sub := s.Substitutions[name]
		field := "substitutions." + name
		switch {
		case !nameRE.MatchString(name):
			return specErr(field, 0, "name must match [A-Za-z_][A-Za-z0-9_]*")
		case !used[name]:
			return specErr(field, 0, "declared but not used in prompt_template")
		case sub.Pattern == "":
			return specErr(field+".pattern", 0, "required")
		case sub.MaxLength < 1:
			return specErr(field+".max_length", 0, "must be at least 1")
		}
		if _, err := regexp.Compile(sub.Pattern); err != nil {
			return specErr(field+".pattern", 0, "does not compile: %v", err)
		}
	}
	return nil
}

func (s *Spec) validateTools() error {
	seen := make(map[string]bool, len(s.Tools))
	for i, t := range s.Tools {
		field := fmt.Sprintf("tools[%d]", i)
		switch {
		case t.Name == "":
			return specErr(field+".name", 0, "required")
		case seen[t.Name]:
			return specErr(field+".name", 0, "duplicate tool name %q", trunc(t.Name))
		case t.SourceSHA256 != "" && !isLowerHex64(t.SourceSHA256):
			return specErr(field+".source_sha256", 0, "want 64 lowercase hex digits")
		}
		seen[t.Name] = true
		if !validJSONValue(t.Parameters, 1) {
			return checkJSONValue(field+".parameters", t.Parameters, 1)
		}
	}
	return nil
}

// checkJSONValue refuses what has no canonical form: NaN, infinities,
// unparseable numbers, unsupported Go types, and nesting past 32.
func checkJSONValue(field string, v any, depth int) error {
	if depth > 32 {
		return specErr(field, 0, "nested deeper than 32")
	}
	switch x := v.(type) {
	case nil, bool, string:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return specErr(field, 0, "NaN and infinities have no JSON form")
		}
		return nil
	case int:
		return nil
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil || math.IsInf(f, 0) {
			return specErr(field, 0, "number %q out of range", trunc(string(x)))
		}
		return nil
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if err := checkJSONValue(field+"."+k, x[k], depth+1); err != nil {
				return err
			}
		}
		return nil
	case []any:
		for i, e := range x {
			if err := checkJSONValue(fmt.Sprintf("%s[%d]", field, i), e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return specErr(field, 0, "unsupported value of type %T", v)
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

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
