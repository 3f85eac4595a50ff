package jcs

import (
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"math"
	"strconv"
)

// AppendNumber appends f in ECMAScript Number.prototype.toString form
// (RFC 8785 §3.2.2.3). NaN and infinities have no JSON form.
func AppendNumber(b []byte, f float64) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("%w: %v", ErrNumber, f)
	}
	if f == 0 {
		return append(b, '0'), nil // -0 too
	}
	if f < 0 {
		b = append(b, '-')
		f = -f
	}
	// The shortest digits that read back as f, the closest to f among
	// equally short ones: what ECMAScript requires and strconv's -1
	// precision gives. Then laid out by the ECMAScript rules.
	var buf [32]byte
	e := strconv.AppendFloat(buf[:0], f, 'e', -1, 64)
	var digits [24]byte
	k, exp := 0, 0
	for i, c := range e {
		if c == 'e' {
			exp, _ = strconv.Atoi(string(e[i+1:]))
			break
		}
		if c != '.' {
			digits[k] = c
			k++
		}
	}
	return appendECMA(b, digits[:k], exp+1), nil
}

// appendECMA lays out digits d1…dk with value 0.d1…dk × 10^n as
// Number.prototype.toString does (ECMA-262 Number::toString steps 6–10).
func appendECMA(b, digits []byte, n int) []byte {
	k := len(digits)
	switch {
	case k <= n && n <= 21: // integer: digits then zeros
		b = append(b, digits...)
		for range n - k {
			b = append(b, '0')
		}
		return b
	case 0 < n && n <= 21: // point inside the digits
		b = append(b, digits[:n]...)
		b = append(b, '.')
		return append(b, digits[n:]...)
	case -6 < n && n <= 0: // 0.000ddd
		b = append(b, '0', '.')
		for range -n {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[0]) // exponent form d.ddde±x
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

// appendInt encodes an integer only when float64 holds it exactly: JCS
// numbers are IEEE 754 doubles, and rounding silently would hash another
// value than the one given.
func appendInt(b []byte, i int64, p profile) ([]byte, error) {
	f := float64(i)
	// 2^63, the rounding of values near MaxInt64, does not fit int64, so
	// it is tested before converting back.
	if f >= 0x1p63 || int64(f) != i {
		return nil, fmt.Errorf("%w: %d is not exactly representable as a double", ErrNumber, i)
	}
	return appendFloat(b, f, p)
}

// ParseNumber parses s as a JSON number (RFC 8259 §6 syntax, nothing
// more: no hex, no underscores, no NaN) to a finite float64.
func ParseNumber(s string) (float64, error) {
	if !validNumber(s) {
		return 0, fmt.Errorf("%w: %q is not JSON number syntax", ErrNumber, clip.Text(s, clip.Short))
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: %q is out of the double range", ErrNumber, clip.Text(s, clip.Short))
	}
	return f, nil
}

// validNumber checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func validNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		i = skipDigits(s, i)
	default:
		return false
	}
	if i < len(s) && s[i] == '.' {
		if i = skipDigits(s, i+1); s[i-1] == '.' {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		j := skipDigits(s, i)
		if j == i {
			return false
		}
		i = j
	}
	return i == len(s)
}

func skipDigits(s string, i int) int {
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}
