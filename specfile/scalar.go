package specfile

import (
	"encoding/json"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/agentspec/specnode"
	"github.com/ajwt/ajwt/internal/jcs"
)

// scalar maps a YAML core-schema scalar onto a JSON value without changing
// what it means: the literal of a number is kept when it is JSON already.
func scalar(n *yaml.Node, field string) (*specnode.Node, error) {
	out := &specnode.Node{Line: n.Line, Col: n.Column}
	switch tag := n.ShortTag(); tag {
	case "!!str":
		if n.Style == 0 && numberLike(n.Value) {
			return nil, errAt(n, field, "number %q is out of range (quote it to make it a string)", clip.Text(n.Value, clip.Short))
		}
		out.Kind, out.Value = specnode.String, n.Value
	case "!!null":
		out.Kind = specnode.Null
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, errAt(n, field, "%q is not a boolean", clip.Text(n.Value, clip.Short))
		}
		out.Kind, out.Value = specnode.Bool, b
	case "!!int", "!!float":
		num, err := yamlNumber(n.Value)
		if err != nil {
			return nil, errAt(n, field, "%v", err)
		}
		out.Kind, out.Value = specnode.Number, num
	default:
		return nil, errAt(n, field, "value %q has YAML type %s; quote it to make it a string", clip.Text(n.Value, clip.Short), tag)
	}
	return out, nil
}

// yamlNumber converts a YAML number literal to a JSON number with exactly
// its value, never rounded: the I-JSON check (§2.4) that follows must see
// what the author wrote. JSON syntax is kept as written; YAML's integer
// forms become decimal digits (0x1F → 31, 0o17 → 15, +1 → 1, 1_000 →
// 1000) and its float forms are respelled (+1.5 → 1.5, .5 → 0.5, 1. → 1,
// 01.5 → 1.5). Infinities and NaN have no JSON form.
func yamlNumber(lit string) (json.Number, error) {
	clean := strings.ReplaceAll(lit, "_", "")
	if _, err := jcs.ParseNumber(clean); err == nil {
		return json.Number(clean), nil
	}
	if i, err := strconv.ParseInt(clean, 0, 64); err == nil {
		return json.Number(strconv.FormatInt(i, 10)), nil
	}
	if u, err := strconv.ParseUint(strings.TrimPrefix(clean, "+"), 0, 64); err == nil {
		return json.Number(strconv.FormatUint(u, 10)), nil
	}
	if num, ok := jsonFloat(clean); ok {
		return num, nil
	}
	return "", fmt.Errorf("number %q has no JSON form", clip.Text(lit, clip.Short))
}

// jsonFloat respells a YAML float literal, [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?,
// as a JSON number of the same value.
func jsonFloat(s string) (json.Number, bool) {
	sign := ""
	if s != "" && (s[0] == '+' || s[0] == '-') {
		sign, s = strings.TrimPrefix(s[:1], "+"), s[1:]
	}
	if !floatLike(s) {
		return "", false
	}
	mant, exp := s, ""
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant, exp = s[:i], s[i:]
	}
	whole, frac, _ := strings.Cut(mant, ".")
	if whole = strings.TrimLeft(whole, "0"); whole == "" {
		whole = "0"
	}
	if frac != "" {
		frac = "." + frac
	}
	num := sign + whole + frac + exp
	if _, err := jcs.ParseNumber(num); err != nil {
		return "", false // out of the double range
	}
	return json.Number(num), true
}

// numberLike reports whether a scalar is spelled as a YAML 1.2 core int or
// float (with yaml.v3's underscores and 0b). yaml.v3 resolves such a plain
// scalar to a string when the number overflows (1e400, a hex int wider
// than 64 bits): the author wrote a number, so hashing text would be
// wrong, and the JSON form of the same spec is refused.
func numberLike(s string) bool {
	// yaml.v3 tries numbers only for these first characters, and drops
	// underscores except after a leading point.
	if s == "" || !strings.ContainsRune("0123456789+-.", rune(s[0])) || s[0] == '.' && strings.Contains(s, "_") {
		return false
	}
	s = strings.ReplaceAll(s, "_", "")
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	for _, p := range []struct{ prefix, digits string }{{"0x", "0123456789abcdefABCDEF"}, {"0o", "01234567"}, {"0b", "01"}} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			return rest != "" && strings.Trim(rest, p.digits) == ""
		}
	}
	return floatLike(s)
}

// floatLike matches (\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?
func floatLike(s string) bool {
	mant, exp, hasExp := strings.Cut(strings.ToLower(s), "e")
	whole, frac, hasPoint := strings.Cut(mant, ".")
	switch {
	case !allDigits(whole) || !allDigits(frac):
		return false
	case whole == "" && (frac == "" || !hasPoint):
		return false
	case !hasExp:
		return true
	}
	if exp != "" && (exp[0] == '+' || exp[0] == '-') {
		exp = exp[1:]
	}
	return exp != "" && allDigits(exp)
}

func allDigits(s string) bool {
	return strings.Trim(s, "0123456789") == ""
}
