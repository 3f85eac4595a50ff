// Package jcs encodes JSON values in the RFC 8785 JSON Canonicalization
// Scheme: object members sorted by UTF-16 code units, minimal string
// escaping, numbers in ECMAScript form, no insignificant white space.
//
// It encodes a generic value tree (nil, bool, string, float64, integers,
// json.Number, map[string]any, []any and string maps/slices), so callers
// build exactly the object they mean to hash.
package jcs

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds nesting of arrays and objects (PROTOCOL.md §10).
const MaxDepth = 32

var (
	ErrTooDeep     = errors.New("jcs: nesting deeper than 32")
	ErrInvalidUTF8 = errors.New("jcs: string is not valid UTF-8")
	ErrNumber      = errors.New("jcs: number not representable (NaN, Inf or inexact integer)")
)

// Marshal returns the canonical encoding of v.
func Marshal(v any) ([]byte, error) {
	var b []byte
	return Append(b, v)
}

// Append appends the canonical encoding of v to dst.
func Append(dst []byte, v any) ([]byte, error) {
	return appendValue(dst, v, MaxDepth)
}

func appendValue(b []byte, v any, depth int) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case string:
		return AppendString(b, x)
	case float64:
		return AppendNumber(b, x)
	case int:
		return appendInt(b, int64(x))
	case int64:
		return appendInt(b, x)
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return nil, fmt.Errorf("%w: %q", ErrNumber, string(x))
		}
		return AppendNumber(b, f)
	}
	if depth <= 0 {
		return nil, ErrTooDeep
	}
	switch x := v.(type) {
	case map[string]any:
		return appendObject(b, x, depth-1)
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return appendObject(b, m, depth-1)
	case []any:
		return appendArray(b, x, depth-1)
	case []string:
		a := make([]any, len(x))
		for i, s := range x {
			a[i] = s
		}
		return appendArray(b, a, depth-1)
	}
	return nil, fmt.Errorf("jcs: unsupported type %T", v)
}

func appendInt(b []byte, i int64) ([]byte, error) {
	f := float64(i)
	if int64(f) != i || math.Abs(f) > 1<<53 {
		return nil, fmt.Errorf("%w: %d", ErrNumber, i)
	}
	return AppendNumber(b, f)
}

func appendArray(b []byte, a []any, depth int) ([]byte, error) {
	b = append(b, '[')
	for i, e := range a {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = appendValue(b, e, depth); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

func appendObject(b []byte, m map[string]any, depth int) ([]byte, error) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, CompareUTF16)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = AppendString(b, k); err != nil {
			return nil, err
		}
		b = append(b, ':')
		if b, err = appendValue(b, m[k], depth); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// CompareUTF16 orders strings by their UTF-16 code units (RFC 8785 §3.2.3),
// which differs from byte order for characters above U+FFFF versus
// U+E000–U+FFFF.
func CompareUTF16(a, b string) int {
	if isASCII(a) && isASCII(b) {
		return strings.Compare(a, b)
	}
	ua, ub := utf16.Encode([]rune(a)), utf16.Encode([]rune(b))
	return slices.Compare(ua, ub)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// AppendString appends s as a JSON string with RFC 8785 §3.2.2.2 escaping.
func AppendString(b []byte, s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, ErrInvalidUTF8
	}
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		b = appendEscape(b, c)
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"'), nil
}

func appendEscape(b []byte, c byte) []byte {
	switch c {
	case '"':
		return append(b, '\\', '"')
	case '\\':
		return append(b, '\\', '\\')
	case '\b':
		return append(b, '\\', 'b')
	case '\f':
		return append(b, '\\', 'f')
	case '\n':
		return append(b, '\\', 'n')
	case '\r':
		return append(b, '\\', 'r')
	case '\t':
		return append(b, '\\', 't')
	}
	const hex = "0123456789abcdef"
	return append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
}

// AppendNumber appends f in ECMAScript Number.prototype.toString form
// (RFC 8785 §3.2.2.3).
func AppendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, ErrNumber
	}
	if f == 0 {
		return append(b, '0'), nil // also -0
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// Shortest round-trip digits d1…dk and exponent: f = 0.d1…dk × 10^n.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	mant, exp, _ := strings.Cut(string(e), "e")
	digits := strings.Replace(mant, ".", "", 1)
	x, _ := strconv.Atoi(exp)
	return appendECMA(b, digits, x+1), nil
}

func appendECMA(b []byte, digits string, n int) []byte {
	k := len(digits)
	switch {
	case k <= n && n <= 21:
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
		return b
	case 0 < n && n <= 21:
		b = append(b, digits[:n]...)
		b = append(b, '.')
		return append(b, digits[n:]...)
	case -6 < n && n <= 0:
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[0])
	if k > 1 {
		b = append(b, '.')
		b = append(b, digits[1:]...)
	}
	b = append(b, 'e')
	if n-1 >= 0 {
		b = append(b, '+')
	}
	return strconv.AppendInt(b, int64(n-1), 10)
}
