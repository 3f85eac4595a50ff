package agentspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"math"
	"unicode/utf8"

	"github.com/ajwt/ajwt/internal/jcs"
)

// valueError is a bad JSON value inside parameters or configuration; path
// is built while the recursion unwinds, so valid values cost no strings.
type valueError struct {
	path string // relative, like .properties.limit[0]
	msg  string
}

func (e *valueError) at(field string) *SpecError {
	return specErr(field+e.path, "%s", e.msg)
}

// checkValue refuses what has no RFC 8785 form: NaN, infinities, integers
// a double cannot hold, numbers not in JSON syntax, invalid UTF-8, types
// outside the JSON tree, and containers deeper than the document limit;
// and numbers that are not I-JSON (§2.4): their canonical form would name
// another value, so two different specs would share one checksum. depth is
// the document depth v has when it is a container.
func checkValue(v any, depth int) *valueError {
	switch x := v.(type) {
	case nil, bool:
		return nil
	case string:
		return checkString(x)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return &valueError{msg: "NaN and infinities have no JSON form"}
		}
		return inexact(jcs.CheckIJSON(x))
	case json.Number:
		if _, err := jcs.ParseIJSON(string(x)); err != nil {
			if verr := inexact(err); verr != nil {
				return verr
			}
			return &valueError{msg: fmt.Sprintf("number %q is not a finite JSON number", clip.Text(string(x), clip.Short))}
		}
		return nil
	case int:
		return checkInt(int64(x))
	case int64:
		return checkInt(x)
	}
	if depth > maxDepth {
		return &valueError{msg: fmt.Sprintf("nested deeper than %d (the whole spec counts)", maxDepth)}
	}
	return checkContainer(v, depth)
}

func checkContainer(v any, depth int) *valueError {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if err := checkKey(k); err != nil {
				return err
			}
			if err := checkValue(e, depth+1); err != nil {
				err.path = "." + k + err.path
				return err
			}
		}
		return nil
	case []any:
		for i, e := range x {
			if err := checkValue(e, depth+1); err != nil {
				err.path = fmt.Sprintf("[%d]%s", i, err.path)
				return err
			}
		}
		return nil
	case map[string]string, []string:
		if _, err := jcs.Marshal(x); err != nil {
			return &valueError{msg: "string is not valid UTF-8"}
		}
		return nil
	}
	return &valueError{msg: fmt.Sprintf("unsupported value of type %T", v)}
}

// checkInt accepts integers a double holds exactly and that are I-JSON as
// that double, as jcs does.
func checkInt(i int64) *valueError {
	f := float64(i)
	if f >= 0x1p63 || int64(f) != i {
		return &valueError{msg: fmt.Sprintf("integer %d is not exactly representable as a double", i)}
	}
	return inexact(jcs.CheckIJSON(f))
}

// inexact words a number that is not I-JSON; other errors are nil here
// (the callers have refused them already).
func inexact(err error) *valueError {
	var ie *jcs.InexactError
	if errors.As(err, &ie) {
		return &valueError{msg: ie.Reason()}
	}
	return nil
}

func checkString(s string) *valueError {
	if !utf8.ValidString(s) {
		return &valueError{msg: "string is not valid UTF-8"}
	}
	return nil
}

func checkKey(k string) *valueError {
	if !utf8.ValidString(k) {
		return &valueError{msg: "member name is not valid UTF-8"}
	}
	return nil
}
