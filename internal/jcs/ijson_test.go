package jcs

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

func TestParseIJSON(t *testing.T) {
	valid := []string{
		"0", "-0", "0.0", "0e-400", "1", "-1", "1.5", "4.50", "1e2", "1E2", "100.0", "0.1", "0.7", "-0.7",
		"333333333.3333333", "0.000001", "1e-7", "5e-324", "2.2250738585072014e-308", "1e-310",
		"9007199254740991", "9007199254740992", "-9007199254740992", "9007199254740992.000", "90071992547409920e-1",
		"1e21", "1e22", "1000000000000000000", "18014398509481984", "123456789012345.67",
	}
	for _, s := range valid {
		f, err := ParseIJSON(s)
		if err != nil {
			t.Errorf("ParseIJSON(%q): %v", s, err)
			continue
		}
		if want, _ := strconv.ParseFloat(s, 64); f != want {
			t.Errorf("ParseIJSON(%q) = %v, want %v", s, f, want)
		}
	}
	inexact := []string{
		"9007199254740993", "-9007199254740993", "9007199254740993.0", "90071992547409930e-1", "9007199254740992.5",
		"1e23", "1e30", "1E30", "1e300", "1.7976931348623157e308", // beyond 2^53 and not doubles
		"1152921504606846976", "-9223372036854775808", // 2^60 and -2^63: doubles, canonical form says otherwise
		"1152921504606847000", // the canonical form of 2^60, which is not 2^60
		"0.1000000000000000055511151231257827", "0.1000000000000000055511151231257827021181583404541015625",
		"3.141592653589793238462643383279", "0.10000000000000001", "333333333.33333329", "4.9e-324", "1.7976931348623157e-308", "123456789012345678e-3",
		"1e-400", "-1e-400", "0." + strings.Repeat("0", 400) + "1",
	}
	for _, s := range inexact {
		if _, err := ParseIJSON(s); !errors.Is(err, ErrInexact) {
			t.Errorf("ParseIJSON(%q) = %v, want ErrInexact", s, err)
		}
	}
	for _, s := range []string{"1e400", "-1e400", "0x10", "+1", "NaN", ""} {
		if _, err := ParseIJSON(s); !errors.Is(err, ErrNumber) || errors.Is(err, ErrInexact) {
			t.Errorf("ParseIJSON(%q) = %v, want ErrNumber", s, err)
		}
	}
}

// TestIJSONNoCollision: the case of the report. Two specs differing only in
// 9007199254740993 versus 9007199254740992 had one canonical form; now the
// first is refused, and so is every literal whose canonical form names
// another value.
func TestIJSONNoCollision(t *testing.T) {
	a, errA := AppendIJSON(nil, map[string]any{"n": json.Number("9007199254740993")}, MaxDepth)
	b, errB := AppendIJSON(nil, map[string]any{"n": json.Number("9007199254740992")}, MaxDepth)
	if !errors.Is(errA, ErrInexact) || errB != nil || string(b) != `{"n":9007199254740992}` {
		t.Fatalf("2^53+1: %s, %v; 2^53: %s, %v", a, errA, b, errB)
	}
}

// exactRat is the oracle: the exact value of a JSON number literal.
func exactRat(t testing.TB, s string) *big.Rat {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		t.Fatalf("big.Rat cannot read %q", s)
	}
	return r
}

// ijsonOracle decides with exact rational arithmetic, independently of
// the digit comparison ParseIJSON does: a literal is I-JSON when its value
// is that of the canonical text of its double, and beyond 2^53 also that
// of the double itself.
func ijsonOracle(t testing.TB, s string) bool {
	f, err := ParseNumber(s)
	if err != nil {
		return false
	}
	canon, _ := AppendNumber(nil, f)
	c := exactRat(t, string(canon))
	if exactRat(t, s).Cmp(c) != 0 {
		return false
	}
	return math.Abs(f) < 1<<53 || new(big.Rat).SetFloat64(f).Cmp(c) == 0
}

func randomLiteral(rng *rand.Rand) string {
	digits := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteByte(byte('0' + rng.IntN(10)))
		}
		return strings.TrimLeft(b.String(), "0")
	}
	var s string
	switch rng.IntN(5) {
	case 0: // integers around 2^53 and beyond
		s = strconv.FormatUint(1<<53+uint64(rng.IntN(64))-32, 10)
		if rng.IntN(2) == 0 {
			s = strconv.FormatUint(rng.Uint64()>>rng.IntN(12), 10)
		}
	case 1: // the canonical text of a random double, maybe one digit changed
		f := math.Float64frombits(rng.Uint64() &^ (1 << 62))
		b, _ := AppendNumber(nil, f)
		s = string(b)
		if i := rng.IntN(len(s)); rng.IntN(2) == 0 && s[i] >= '0' && s[i] < '9' && i > 0 {
			s = s[:i] + string(s[i]+1) + s[i+1:]
		}
	case 2: // the exact value of a double
		s = new(big.Rat).SetFloat64(math.Float64frombits(rng.Uint64()>>2 + 0x3000000000000000)).FloatString(rng.IntN(80))
	case 3: // many digits with a point and an exponent
		s = digits(1+rng.IntN(25)) + "." + digits(1+rng.IntN(25)) + "e" + strconv.Itoa(rng.IntN(700)-350)
	default:
		s = strconv.FormatFloat(rng.NormFloat64()*math.Pow(10, float64(rng.IntN(40)-20)), 'g', 1+rng.IntN(20), 64)
	}
	if s == "" || s[0] == '.' || s[0] == 'e' {
		s = "0" + s
	}
	if rng.IntN(4) == 0 && s[0] != '-' {
		s = "-" + s
	}
	return s
}

func TestParseIJSONAgainstExactArithmetic(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	accepted := 0
	for range 30000 {
		s := randomLiteral(rng)
		if _, err := ParseNumber(s); err != nil {
			continue
		}
		_, err := ParseIJSON(s)
		if want := ijsonOracle(t, s); (err == nil) != want {
			t.Fatalf("ParseIJSON(%q) = %v, oracle says I-JSON %v", s, err, want)
		}
		if err == nil {
			accepted++
		}
	}
	if accepted < 3000 || accepted > 27000 {
		t.Fatalf("%d of 30000 accepted: the generator does not cover both outcomes", accepted)
	}
}

// TestIJSONCanonicalIsFixedPoint: the canonical form of an I-JSON number
// is I-JSON and names the same value, so a canonical spec parses again.
func TestIJSONCanonicalIsFixedPoint(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	for range 20000 {
		f := math.Float64frombits(rng.Uint64())
		if math.IsNaN(f) || math.IsInf(f, 0) {
			continue
		}
		canon, _ := AppendNumber(nil, f)
		errF := CheckIJSON(f)
		_, errT := ParseIJSON(string(canon))
		if (errF == nil) != (errT == nil) {
			t.Fatalf("%x: CheckIJSON = %v but ParseIJSON(%s) = %v", math.Float64bits(f), errF, canon, errT)
		}
		if want := math.Abs(f) < 1<<53 || new(big.Rat).SetFloat64(f).Cmp(exactRat(t, string(canon))) == 0; (errF == nil) != want {
			t.Fatalf("CheckIJSON(%s) = %v, want I-JSON %v", canon, errF, want)
		}
	}
}

func TestAppendIJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string // "" means refused with ErrInexact
	}{
		{"float 0.1", 0.1, "0.1"},
		{"float 2^53", float64(1 << 53), "9007199254740992"},
		{"float 1e21", 1e21, "1e+21"},
		{"float 1e30", 1e30, ""},
		{"float 2^60", float64(1 << 60), ""},
		{"int 2^53", 1 << 53, "9007199254740992"},
		{"int64 1e18", int64(1e18), "1000000000000000000"},
		{"int64 2^60", int64(1 << 60), ""},
		{"int64 min", int64(math.MinInt64), ""},
		{"json.Number 1.0", json.Number("1.0"), "1"},
		{"json.Number 2^53+1", json.Number("9007199254740993"), ""},
		{"json.Number deep", map[string]any{"a": []any{1.5, map[string]any{"b": json.Number("1e30")}}}, ""},
		{"string slice", []string{"9007199254740993"}, `["9007199254740993"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := AppendIJSON(nil, tt.v, MaxDepth)
			if tt.want == "" {
				if !errors.Is(err, ErrInexact) || got != nil {
					t.Fatalf("got %s, %v; want ErrInexact", got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
	// Marshal stays plain RFC 8785: it encodes what I-JSON refuses.
	if got, err := Marshal([]any{json.Number("1E30"), int64(1 << 60), 1e30}); err != nil || string(got) != "[1e+30,1152921504606847000,1e+30]" {
		t.Fatalf("Marshal: %s, %v", got, err)
	}
}

func FuzzParseIJSON(f *testing.F) {
	for _, s := range []string{"9007199254740993", "0.1", "1e30", "1152921504606846976", "4.9e-324", "1e-400", "0.10000000000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if len(s) > 400 {
			return // keeps the big.Rat oracle fast; ParseIJSON itself has no such limit
		}
		if _, e, _ := strings.Cut(strings.ToLower(s), "e"); len(strings.TrimLeft(e, "+-0")) > 4 {
			return
		}
		_, err := ParseIJSON(s)
		if want := ijsonOracle(t, s); (err == nil) != want {
			t.Fatalf("ParseIJSON(%q) = %v, oracle says I-JSON %v", s, err, want)
		}
	})
}
