package agentspec

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode"
)

func FuzzParseJSON(f *testing.F) {
	for _, path := range []string{"../testdata/vectors/checksum.json", "../testdata/vectors/shared-checksum.json"} {
		data, _ := os.ReadFile(path)
		var doc struct {
			Vectors []struct{ Spec json.RawMessage }
		}
		json.Unmarshal(data, &doc)
		for _, v := range doc.Vectors {
			f.Add([]byte(v.Spec))
		}
	}
	f.Add([]byte(`{"agent_id":"a","prompt_template":"{{x}}","substitutions":{"x":{"pattern":"^a$","max_length":1e0}}}`))
	f.Add([]byte(`{"agent_id":"a","prompt_template":"p","configuration":{"\ud83d\ude00":[1.0,-0,1e21,"\u2028"]}}`))
	f.Add([]byte(`{"agent_id":"a","prompt_template":"p","configuration":{"n":[9007199254740992,9007199254740993,1e22,1e30,0.1,4.50,1152921504606846976,5e-324,1e-400]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseJSON(data)
		if err != nil {
			var se *SpecError
			if !errors.As(err, &se) || spec != nil {
				t.Fatalf("ParseJSON returned %v, %v; want only a *SpecError", spec, err)
			}
			return
		}
		canon, err := Canonical(spec)
		if err != nil {
			t.Fatalf("accepted spec does not canonicalize: %v", err)
		}
		// The canonical form is itself a valid spec with the same
		// canonical form: it holds no unknown members and its template
		// is already normalized.
		again, err := ParseJSON(canon)
		if err != nil {
			t.Fatalf("canonical form does not parse: %v\n%s", err, canon)
		}
		canon2, err := Canonical(again)
		if err != nil || !bytes.Equal(canon, canon2) {
			t.Fatalf("canonical form is not a fixed point:\n%s\n%s", canon, canon2)
		}
	})
}

func FuzzNormalizePrompt(f *testing.F) {
	f.Add(" a \r\n\r b\u3000\n")
	f.Add("e\u0301\u2028x")
	f.Add("\u0085\u0301a\n\u00a0\u0308")
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizePrompt(s)
		if NormalizePrompt(n) != n {
			t.Fatalf("not idempotent: %q → %q → %q", s, n, NormalizePrompt(n))
		}
		if n == "" {
			return
		}
		for _, line := range strings.Split(n, "\n") {
			r0, rn := []rune(line)[0], []rune(line)[len([]rune(line))-1]
			if line == "" || strings.ContainsRune(line, '\r') || unicode.Is(unicode.White_Space, r0) || unicode.Is(unicode.White_Space, rn) {
				t.Fatalf("%q normalized to %q: line %q not trimmed", s, n, line)
			}
		}
	})
}
