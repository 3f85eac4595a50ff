package agentspec

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

type vector struct {
	Name          string          `json:"name"`
	Independent   bool            `json:"independent"`
	Spec          json.RawMessage `json:"spec"`
	SpecYAML      string          `json:"spec_yaml"`
	Canonical     string          `json:"canonical"`
	AgentChecksum string          `json:"agent_checksum"`
}

func loadVectors(t *testing.T, path string) []vector {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Vectors []vector }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Vectors) == 0 {
		t.Fatalf("%s holds no vectors", path)
	}
	return doc.Vectors
}

// checkVectors reproduces canonical form and checksum of every vector;
// kind prefixes the subtest names.
func checkVectors(t *testing.T, path, kind string) {
	for _, v := range loadVectors(t, path) {
		k := kind
		if v.Independent {
			k = "independent"
		}
		t.Run(k+"/"+v.Name, func(t *testing.T) {
			spec, err := ParseJSON(v.Spec)
			if err != nil {
				t.Fatal(err)
			}
			canon, err := Canonical(spec)
			if err != nil || string(canon) != v.Canonical {
				t.Fatalf("canonical:\n got %s (%v)\nwant %s", canon, err, v.Canonical)
			}
			if sum, err := Sum(spec); err != nil || string(sum) != v.AgentChecksum {
				t.Fatalf("checksum %s (%v), want %s", sum, err, v.AgentChecksum)
			}
		})
	}
}

// TestVectors reproduces the project's vectors. Those named independent/…
// had their canonical text written by hand from the contract and hashed
// with sha256sum, not produced by this code.
func TestVectors(t *testing.T) {
	checkVectors(t, "../testdata/vectors/checksum.json", "computed")
}

// TestSharedVectors reproduces the vectors of an independent
// implementation: the copy in testdata, and the live file beside the
// contract when it is there.
func TestSharedVectors(t *testing.T) {
	checkVectors(t, "../testdata/vectors/shared-checksum.json", "shared")
	live := filepath.Join("..", "..", "shared", "vectors", "checksum.json")
	if _, err := os.Stat(live); err != nil {
		t.Skipf("%s not present; checked the copy only", live)
	}
	checkVectors(t, live, "shared-live")
}

type invalidVector struct {
	Name, Field, Spec string
	Line, Column      int
}

func TestInvalidSpecs(t *testing.T) {
	data, err := os.ReadFile("../testdata/vectors/checksum-invalid.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Vectors []invalidVector }
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			spec, err := ParseJSON([]byte(v.Spec))
			var se *SpecError
			if !errors.As(err, &se) || spec != nil {
				t.Fatalf("spec %v, err = %v; want *SpecError", spec, err)
			}
			if !errors.Is(err, protocol.ErrInvalidRequest) {
				t.Fatal("spec error is not an invalid_request")
			}
			if se.Field != v.Field {
				t.Fatalf("field %q (%v), want %q", se.Field, err, v.Field)
			}
			if v.Line != 0 && se.Line != v.Line || v.Column != 0 && se.Column != v.Column {
				t.Fatalf("at %d:%d (%v), want %d:%d", se.Line, se.Column, err, v.Line, v.Column)
			}
		})
	}
}

func TestParseJSONRefusesInvalidUTF8(t *testing.T) {
	for name, spec := range map[string]string{
		"template": "{\"agent_id\":\"a\",\"prompt_template\":\"p\xff\"}",
		"key":      "{\"agent_id\":\"a\",\"prompt_template\":\"p\",\"configuration\":{\"\xc3\":1}}",
		"tool":     "{\"agent_id\":\"a\",\"prompt_template\":\"p\",\"tools\":[{\"name\":\"\xed\xa0\x80\"}]}",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseJSON([]byte(spec))
			if !errors.Is(err, protocol.ErrInvalidRequest) || !strings.Contains(err.Error(), "UTF-8") {
				t.Fatalf("err = %v, want an invalid UTF-8 spec error", err)
			}
		})
	}
}

func TestParseJSONSizeLimit(t *testing.T) {
	big := `{"agent_id":"a","prompt_template":"` + strings.Repeat("a", protocol.MaxRegistrationBody) + `"}`
	if _, err := ParseJSON([]byte(big)); !errors.Is(err, protocol.ErrInvalidRequest) {
		t.Fatalf("err = %v", err)
	}
}

func TestSpecError(t *testing.T) {
	err := error(&SpecError{Field: "tools[1].name", Line: 7, Column: 3, Msg: `duplicate tool name "open_pr"`})
	if got, want := err.Error(), `line 7: tools[1].name: duplicate tool name "open_pr"`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if got := (&SpecError{Msg: "empty"}).Error(); got != "empty" {
		t.Fatalf("Error() = %q", got)
	}
	if !errors.Is(err, protocol.ErrInvalidRequest) || errors.Is(err, protocol.ErrExpired) {
		t.Fatal("SpecError must match invalid_request and nothing else")
	}
}

func TestParseChecksum(t *testing.T) {
	hex := strings.Repeat("0123456789abcdef", 4)
	for _, ok := range []string{"sha256:" + hex, hex} {
		if c, err := ParseChecksum(ok); err != nil || string(c) != "sha256:"+hex {
			t.Errorf("ParseChecksum(%q) = %q, %v", ok, c, err)
		}
	}
	bad := map[string]string{
		"empty": "", "prefix only": "sha256:", "uppercase": "sha256:" + strings.ToUpper(hex),
		"uppercase bare": strings.ToUpper(hex), "other algorithm": "sha512:" + hex, "too long": hex + "0",
		"too short": hex[1:], "leading space": " sha256:" + hex, "prefix twice": "sha256:sha256:" + hex,
		"uppercase prefix": "SHA256:" + hex, "non-hex": "sha256:" + strings.Repeat("g", 64),
	}
	for name, s := range bad {
		if _, err := ParseChecksum(s); !errors.Is(err, protocol.ErrInvalidRequest) {
			t.Errorf("%s: ParseChecksum(%q) = %v, want invalid_request", name, s, err)
		}
	}
}

func TestChecksumEqual(t *testing.T) {
	a := Checksum("sha256:" + strings.Repeat("ab", 32))
	tests := []struct {
		name string
		b    Checksum
		want bool
	}{
		{"same", a, true},
		{"one digit differs", Checksum("sha256:" + strings.Repeat("ab", 31) + "ac"), false},
		{"bare form", Checksum(strings.Repeat("ab", 32)), false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		if got := a.Equal(tt.b); got != tt.want {
			t.Errorf("%s: Equal = %v", tt.name, got)
		}
	}
}
