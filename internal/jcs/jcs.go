package jcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// MaxDepth bounds the nesting of arrays and objects (PROTOCOL.md §10): a
// value with MaxDepth nested containers is encoded, one more is refused.
const MaxDepth = 32

// Errors of Marshal, wrapped with detail; match them with errors.Is.
var (
	ErrTooDeep     = errors.New("jcs: nesting deeper than 32")
	ErrInvalidUTF8 = errors.New("jcs: string is not valid UTF-8")
	ErrNumber      = errors.New("jcs: number has no canonical form")
	ErrType        = errors.New("jcs: unsupported type")
)

// Marshal returns the RFC 8785 encoding of v.
func Marshal(v any) ([]byte, error) {
	return Append(nil, v)
}

// Append appends the RFC 8785 encoding of v to dst. On error it returns
// nil, never a partial encoding.
func Append(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, MaxDepth, rfc8785)
}

// AppendIJSON is Append for a value nested inside an I-JSON document
// (RFC 7493) being written piecewise, such as an agent spec: numbers must
// pass ParseIJSON (json.Number) or CheckIJSON (float64, and int and int64
// as the float64 they become), and v may hold at most depth nested
// containers (itself included), so that the whole document stays within
// MaxDepth.
func AppendIJSON(dst []byte, v any, depth int) ([]byte, error) {
	return appendValue(dst, v, min(depth, MaxDepth), ijson)
}

// profile says which numbers are accepted: any RFC 8785 number, or only
// I-JSON ones.
type profile bool

const (
	rfc8785 profile = false
	ijson   profile = true
)

// appendValue encodes v; depth is how many more containers may open.
func appendValue(b []byte, v any, depth int, p profile) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return AppendString(b, x)
	case float64:
		return appendFloat(b, x, p)
	case int:
		return appendInt(b, int64(x), p)
	case int64:
		return appendInt(b, x, p)
	case json.Number:
		return appendJSONNumber(b, x, p)
	}
	if depth <= 0 {
		return nil, ErrTooDeep
	}
	return appendContainer(b, v, depth-1, p)
}

func appendFloat(b []byte, f float64, p profile) ([]byte, error) {
	if p == ijson {
		if err := CheckIJSON(f); err != nil {
			return nil, err
		}
	}
	return AppendNumber(b, f)
}

func appendJSONNumber(b []byte, n json.Number, p profile) ([]byte, error) {
	parse := ParseNumber
	if p == ijson {
		parse = ParseIJSON
	}
	f, err := parse(string(n))
	if err != nil {
		return nil, err
	}
	return AppendNumber(b, f)
}

func appendContainer(b []byte, v any, depth int, p profile) ([]byte, error) {
	elem := func(b []byte, e any) ([]byte, error) { return appendValue(b, e, depth, p) }
	switch x := v.(type) {
	case map[string]any:
		return appendObject(b, x, elem)
	case []any:
		return appendArray(b, x, elem)
	case map[string]string:
		return appendObject(b, x, AppendString)
	case []string:
		return appendArray(b, x, AppendString)
	}
	return nil, fmt.Errorf("%w %T", ErrType, v)
}

func appendArray[E any](b []byte, a []E, enc func([]byte, E) ([]byte, error)) ([]byte, error) {
	b = append(b, '[')
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = enc(b, e); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendObject[V any](b []byte, m map[string]V, enc func([]byte, V) ([]byte, error)) ([]byte, error) {
	var buf [16]string // most objects are small: sort their keys on the stack
	b = append(b, '{')
	for i, k := range appendSortedKeys(buf[:0], m) {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = AppendString(b, k); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = enc(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// SortedKeys returns the keys of m in RFC 8785 order (UTF-16 code units).
func SortedKeys[V any](m map[string]V) []string {
	return appendSortedKeys(make([]string, 0, len(m)), m)
}

func appendSortedKeys[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, CompareUTF16)
	return keys
}
