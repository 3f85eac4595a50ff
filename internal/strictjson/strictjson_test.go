package strictjson

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		depth int
		want  error // nil: accepted; errAny: any error
	}{
		{"object", `{"a":1,"b":[1,2,{"c":null}]}`, 32, nil},
		{"duplicate top", `{"a":1,"a":2}`, 32, ErrDuplicateKey},
		{"duplicate nested", `{"x":{"a":1,"b":{"a":1},"a":true}}`, 32, ErrDuplicateKey},
		{"same key in siblings ok", `[{"a":1},{"a":2}]`, 32, nil},
		{"escaped duplicate", `{"a":1,"\u0061":2}`, 32, ErrDuplicateKey},
		{"depth exact", `[[[1]]]`, 3, nil},
		{"too deep", `[[[[1]]]]`, 3, ErrTooDeep},
		{"trailing", `{"a":1} {}`, 32, ErrTrailingData},
		{"scalar", `"s"`, 0, nil},
		{"bad syntax", `{"a":}`, 32, errAny},
		{"empty", ``, 32, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Check([]byte(tt.in), tt.depth)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("Check(%s) = %v, want accepted", tt.in, err)
			case tt.want == errAny && err == nil:
				t.Fatalf("Check(%s) accepted, want an error", tt.in)
			case tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Fatalf("Check(%s) = %v, want %v", tt.in, err, tt.want)
			}
		})
	}
}

var errAny = errors.New("any")

// TestFastMatchesSlow: the scan and the token-by-token checker agree on
// every valid document.
func TestFastMatchesSlow(t *testing.T) {
	docs := []string{`{"a":1,"b":{"a":2,"c":[{"a":1},{"a":1}]}}`, `{"a":1,"\u0061":2}`, `{"\"":1,"\\":2,"\"":3}`,
		`[{"x":"}","y":"{"},"]"]`, `{"k\u00e9":1,"ké":2}`, "{\"\xff\":1,\"\xfe\":2}", `{}`, `[]`, `"s"`, `1`, `{"a":[1,2,{"b":{}}],"c":"\\\""}`}
	for i := range 40 {
		docs = append(docs, fmt.Sprintf(`{"k%d":%d,"k%d":0}`, i, i, i%7))
	}
	for _, d := range docs {
		for _, depth := range []int{0, 1, 2, 3, 32} {
			fast, slow := scanOrValid([]byte(d), depth), slowCheck([]byte(d), depth)
			if (fast == nil) != (slow == nil) {
				t.Errorf("%s depth %d: fast %v, slow %v", d, depth, fast, slow)
			}
		}
	}
}

func scanOrValid(d []byte, depth int) error { return Check(d, depth) }

// TestManyKeys: a 64 KiB object with thousands of members is checked in
// linear time (a map after the first members).
func TestManyKeys(t *testing.T) {
	var b strings.Builder
	b.WriteString("{")
	for i := range 6000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `"k%d":1`, i)
	}
	b.WriteString(`,"k5999":2}`)
	if err := Check([]byte(b.String()), 32); !errors.Is(err, ErrDuplicateKey) {
		t.Fatalf("err = %v", err)
	}
}

func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `{"a":1,"a":2}`, `[[[]]]`, `{"a":{"b":[1,"x",null]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, slow := Check(data, 8), slowCheck(data, 8)
		if (fast == nil) != (slow == nil) {
			t.Fatalf("%q: fast %v, slow %v", data, fast, slow)
		}
	})
}

func BenchmarkCheckClaims(b *testing.B) {
	claims := []byte(`{"iss":"http://127.0.0.1:8420","sub":"patcher","aud":"https://forge.example","client_id":"patch-app","iat":1,"exp":2,"jti":"x","scope":"repo:write","cnf":{"jkt":"abc"},"intent":{"workflow_id":"w","run_id":"r","delegation_chain":["a","b"],"execution_context":{"repo":"acme/web"}}}`)
	if strings.Count(string(claims), "{") == 0 {
		b.Fatal("bad fixture")
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(claims, 32); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheckClaimsTokenByToken(b *testing.B) {
	claims := []byte(`{"iss":"http://127.0.0.1:8420","sub":"patcher","aud":"https://forge.example","client_id":"patch-app","iat":1,"exp":2,"jti":"x","scope":"repo:write","cnf":{"jkt":"abc"},"intent":{"workflow_id":"w","run_id":"r","delegation_chain":["a","b"],"execution_context":{"repo":"acme/web"}}}`)
	b.ReportAllocs()
	for b.Loop() {
		if err := slowCheck(claims, 32); err != nil {
			b.Fatal(err)
		}
	}
}
