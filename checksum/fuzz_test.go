package checksum

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

func FuzzParseJSON(f *testing.F) {
	data, _ := os.ReadFile("../testdata/vectors/checksum.json")
	var doc struct {
		Vectors []struct{ Spec json.RawMessage }
	}
	json.Unmarshal(data, &doc)
	for _, v := range doc.Vectors {
		f.Add([]byte(v.Spec))
	}
	f.Add([]byte(`{"agent_id":"a","prompt_template":"{{x}}","substitutions":{"x":{"pattern":"^a$","max_length":1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := ParseJSON(data)
		if err != nil {
			return
		}
		canon, err := Canonical(spec)
		if err != nil {
			t.Fatalf("accepted spec does not canonicalize: %v", err)
		}
		// The canonical form is itself a valid spec with the same canonical form.
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
	f.Fuzz(func(t *testing.T, s string) {
		n := NormalizePrompt(s)
		if NormalizePrompt(n) != n {
			t.Fatalf("not idempotent: %q → %q → %q", s, n, NormalizePrompt(n))
		}
	})
}
