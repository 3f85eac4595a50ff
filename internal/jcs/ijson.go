package jcs

import (
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"math"
	"strconv"
)

// ErrInexact is a number refused as not I-JSON: match it with errors.Is;
// the error itself is an *InexactError.
var ErrInexact = errors.New("jcs: number is not I-JSON (RFC 7493 §2.2)")

// InexactError is a number whose canonical form would name another value
// than the one given, so that two different documents would share one
// canonical form.
type InexactError struct {
	Number    string // as given (a literal, or the canonical text of a Go number)
	Canonical string // the RFC 8785 text of the double it reads as
	Exact     string // the double's exact value, when that is not Canonical
}

// Reason says what is wrong in words that fit after a field name.
func (e *InexactError) Reason() string {
	if e.Exact != "" {
		return fmt.Sprintf("integer %s is beyond 2^53 and canonicalizes to %s, while the double it reads as is %s: "+
			"not an exact value (RFC 7493); quote it to make it a string", clip.Text(e.Number, clip.Short), e.Canonical, clip.Text(e.Exact, clip.Short))
	}
	return fmt.Sprintf("number %s canonicalizes to %s, another value: more precision than a double holds (RFC 7493); "+
		"quote it to make it a string", clip.Text(e.Number, clip.Short), e.Canonical)
}

func (e *InexactError) Error() string { return "jcs: " + e.Reason() }

// Is makes errors.Is(err, ErrInexact) hold.
func (e *InexactError) Is(target error) bool { return target == ErrInexact }

// exactLimit: from 2^53 on, doubles are integers RFC 7493 §2.2 tells
// receivers not to take as exact.
const exactLimit = 1 << 53

// ParseIJSON is ParseNumber for I-JSON documents (RFC 7493 §2.2): a number
// is refused unless the value it names is the value its canonical form
// names, so that different documents never share a canonical form. Below
// 2^53 in magnitude the literal must therefore name the shortest decimal
// that reads back as its double, the one every JSON serializer writes
// (0.1, 4.50 and 1e2 do; 0.10000000000000001 and
// 3.141592653589793238462643383279 do not). From 2^53 on, that decimal
// must moreover be the double itself (9007199254740992 and 1e21 are
// I-JSON; 9007199254740993 and 1e30 name no double, and the double
// 1152921504606846976 is written 1152921504606847000). A non-zero literal
// that reads as 0 (1e-400) is refused too.
func ParseIJSON(s string) (float64, error) {
	f, err := ParseNumber(s)
	if err != nil {
		return 0, err
	}
	// Fast path: a decimal of at most 15 significant digits survives the
	// round trip through a normal double (DBL_DIG), so it is the shortest.
	if a := math.Abs(f); a >= 0x1p-1022 && a < exactLimit && significantDigits(s) <= 15 {
		return f, nil
	}
	return f, checkLiteral(s, f)
}

// CheckIJSON checks a Go float64 as the JSON text every encoder writes for
// it, its shortest decimal: beyond 2^53 that text must be exact, or the
// document a program sends would be refused where it is read.
func CheckIJSON(f float64) error {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("%w: %v", ErrNumber, f)
	}
	if math.Abs(f) < exactLimit {
		return nil
	}
	if canon, exact := shortestText(f), exactText(f); decimalOf(canon) != decimalOf(exact) {
		return &InexactError{Number: canonicalText(f), Canonical: canonicalText(f), Exact: exact}
	}
	return nil
}

func checkLiteral(s string, f float64) error {
	lit, canon := decimalOf(s), decimalOf(shortestText(f))
	if lit != canon {
		return &InexactError{Number: s, Canonical: canonicalText(f)}
	}
	if math.Abs(f) >= exactLimit {
		if exact := exactText(f); decimalOf(exact) != canon {
			return &InexactError{Number: s, Canonical: canonicalText(f), Exact: exact}
		}
	}
	return nil
}

func shortestText(f float64) string { return strconv.FormatFloat(f, 'e', -1, 64) }

// exactText is the exact decimal of an integral double.
func exactText(f float64) string { return strconv.FormatFloat(f, 'f', 0, 64) }

func canonicalText(f float64) string {
	b, _ := AppendNumber(nil, f)
	return string(b)
}

// significantDigits counts the digits of a JSON number literal from its
// first to its last non-zero digit, the point and exponent aside.
func significantDigits(s string) int {
	first, last, n := -1, -1, 0
	for i := 0; i < len(s) && s[i] != 'e' && s[i] != 'E'; i++ {
		c := s[i]
		if c < '0' || c > '9' {
			continue
		}
		if c != '0' {
			if first < 0 {
				first = n
			}
			last = n
		}
		n++
	}
	if first < 0 {
		return 0
	}
	return last - first + 1
}

// decimal is the exact value of a number: 0.digits × 10^exp, digits
// without leading or trailing zeros ("" for zero, which has no sign).
type decimal struct {
	neg    bool
	digits string
	exp    int
}

// maxExp saturates exponents: beyond it no literal is a finite double.
const maxExp = 1 << 30

// decimalOf reads a number in JSON syntax or strconv's 'e' and 'f' forms.
func decimalOf(s string) decimal {
	var d decimal
	if s != "" && s[0] == '-' {
		d.neg, s = true, s[1:]
	}
	mant, exp := s, 0
	for i := 0; i < len(s); i++ {
		if s[i] == 'e' || s[i] == 'E' {
			mant, exp = s[:i], parseExp(s[i+1:])
			break
		}
	}
	whole, frac := mant, ""
	for i := 0; i < len(mant); i++ {
		if mant[i] == '.' {
			whole, frac = mant[:i], mant[i+1:]
			break
		}
	}
	digits := whole + frac // the point sits after len(whole) digits
	point := len(whole)
	lead := 0
	for lead < len(digits) && digits[lead] == '0' {
		lead++
	}
	trail := len(digits)
	for trail > lead && digits[trail-1] == '0' {
		trail--
	}
	if lead == trail {
		return decimal{}
	}
	d.digits = digits[lead:trail]
	d.exp = clampExp(point - lead + exp)
	return d
}

func parseExp(s string) int {
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg, s = s[0] == '-', s[1:]
	}
	e := 0
	for i := 0; i < len(s); i++ {
		if e < maxExp {
			e = e*10 + int(s[i]-'0')
		}
	}
	if neg {
		return -e
	}
	return e
}

func clampExp(e int) int { return max(-maxExp, min(e, maxExp)) }
