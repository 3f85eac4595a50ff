package checksum

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
	return doc.Vectors
}

func checkVectors(t *testing.T, path string) {
	for _, v := range loadVectors(t, path) {
		kind := "computed"
		if v.Independent {
			kind = "independent"
		}
		t.Run(kind+"/"+v.Name, func(t *testing.T) {
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

// TestVectors reproduces the project's vectors; those marked independent
// had their canonical text written by hand and hashed with sha256sum.
func TestVectors(t *testing.T) {
	checkVectors(t, "../testdata/vectors/checksum.json")
}

// TestSharedVectors reproduces the vectors of an independent implementation
// (shared/vectors, copied into testdata and read live when present).
func TestSharedVectors(t *testing.T) {
	checkVectors(t, "../testdata/vectors/shared-checksum.json")
	live := filepath.Join("..", "..", "shared", "vectors", "checksum.json")
	if _, err := os.Stat(live); err != nil {
		t.Logf("%s not present; checked the copy only", live)
		return
	}
	checkVectors(t, live)
}

func TestInvalidSpecs(t *testing.T) {
	data, _ := os.ReadFile("../testdata/vectors/checksum-invalid.json")
	var doc struct {
		Vectors []struct {
			Name, Field, Spec string
			Line              int
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			_, err := ParseJSON([]byte(v.Spec))
			var se *SpecError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SpecError", err)
			}
			if !errors.Is(err, protocol.ErrInvalidRequest) {
				t.Fatal("spec error is not an invalid_request")
			}
			if v.Field != "" && !strings.Contains(se.Field, v.Field) {
				t.Fatalf("field %q (%v), want %q", se.Field, err, v.Field)
			}
			if v.Line != 0 && se.Line != v.Line {
				t.Fatalf("line %d (%v), want %d", se.Line, err, v.Line)
			}
		})
	}
}

func TestNormalizePrompt(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"crlf", "a\r\nb", "a\nb"},
		{"lone cr", "a\rb", "a\nb"},
		{"cr cr lf", "a\r\r\nb", "a\nb"},
		{"blank lines", "\n\na\n\n\nb\n\n", "a\nb"},
		{"trim ascii", " \t a \t ", "a"},
		{"trim unicode white space", "\u00a0\u1680\u2000\u200a\u2028\u2029\u202f\u205f\u3000\u0085a\u3000", "a"},
		{"zero width is not white space", "\u200ba\ufeff", "\u200ba\ufeff"},
		{"nfc", "e\u0301", "\u00e9"},
		{"inner spaces kept", "a  b", "a  b"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NormalizePrompt(tt.in); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseChecksum(t *testing.T) {
	hex := strings.Repeat("ab", 32)
	for _, ok := range []string{"sha256:" + hex, hex} {
		if c, err := ParseChecksum(ok); err != nil || string(c) != "sha256:"+hex {
			t.Errorf("ParseChecksum(%q) = %q, %v", ok, c, err)
		}
	}
	for _, bad := range []string{"", "sha256:", "sha256:" + strings.ToUpper(hex), "sha512:" + hex, hex + "0", "md5:abc", " sha256:" + hex} {
		if _, err := ParseChecksum(bad); !errors.Is(err, protocol.ErrInvalidRequest) {
			t.Errorf("ParseChecksum(%q) = %v, want invalid_request", bad, err)
		}
	}
	a, _ := ParseChecksum(hex)
	if !a.Equal(Checksum("sha256:"+hex)) || a.Equal(Checksum("sha256:"+strings.Repeat("cd", 32))) {
		t.Fatal("Equal")
	}
}

func TestChangeChangesChecksum(t *testing.T) {
	base := func() *Spec {
		return &Spec{AgentID: "a", PromptTemplate: "Do {{x}}.", Substitutions: map[string]Substitution{"x": {Pattern: "^[a-z]+$", MaxLength: 5}},
			Tools: []Tool{{Name: "t", Parameters: map[string]any{"type": "object"}}}, Configuration: map[string]any{"temperature": 0.0}}
	}
	sum0, _ := Sum(base())
	mutations := map[string]func(*Spec){
		"prompt":      func(s *Spec) { s.PromptTemplate = "Do {{x}} now." },
		"pattern":     func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "^.*$", MaxLength: 5} },
		"tool added":  func(s *Spec) { s.Tools = append(s.Tools, Tool{Name: "u"}) },
		"parameters":  func(s *Spec) { s.Tools[0].Parameters["type"] = "string" },
		"description": func(s *Spec) { s.Tools[0].Description = "x" },
		"config":      func(s *Spec) { s.Configuration["temperature"] = 0.1 },
		"agent id":    func(s *Spec) { s.AgentID = "b" },
	}
	for name, mutate := range mutations {
		s := base()
		mutate(s)
		if sum, err := Sum(s); err != nil || sum == sum0 {
			t.Errorf("%s: checksum unchanged (%v)", name, err)
		}
	}
	// Changes that are not identity: whitespace-only and tool order.
	s := base()
	s.PromptTemplate = "  Do {{x}}.  \r\n\r\n"
	s.Tools = append([]Tool{{Name: "a"}}, s.Tools...)
	s2 := base()
	s2.Tools = append(s2.Tools, Tool{Name: "a"})
	if a, _ := Sum(s); a != mustSum(t, s2) {
		t.Error("normalization or tool order changed the checksum")
	}
}

func mustSum(t *testing.T, s *Spec) Checksum {
	sum, err := Sum(s)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestClone(t *testing.T) {
	s := &Spec{AgentID: "a", PromptTemplate: "p", Tools: []Tool{{Name: "t", Parameters: map[string]any{"k": []any{"v"}}}}, Configuration: map[string]any{"m": "x"}}
	c := s.Clone()
	c.Tools[0].Parameters["k"].([]any)[0] = "changed"
	c.Configuration["m"] = "y"
	if s.Tools[0].Parameters["k"].([]any)[0] != "v" || s.Configuration["m"] != "x" {
		t.Fatal("Clone shares state")
	}
}

func TestHashSource(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "pkg", "sub"), 0o755)
	os.WriteFile(filepath.Join(dir, "pkg", "a.go"), []byte("package a\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "sub", "b.go"), []byte("package sub\n"), 0o644)
	got, err := HashSourceDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// sha256 of "pkg/a.go\x0010\x00package a\n" + "pkg/sub/b.go\x0012\x00package sub\n", computed with sha256sum.
	const want = "768d314fe69d875a8ae4366c0baa39b0f2d821085a5cee327510b777063835ac"
	if got != want {
		t.Fatalf("HashSource = %s, want %s", got, want)
	}
	os.WriteFile(filepath.Join(dir, "pkg", "a.go"), []byte("package a // changed\n"), 0o644)
	if changed, _ := HashSourceDir(dir); changed == got {
		t.Fatal("a changed file did not change the hash")
	}
	// Moving bytes between files changes the hash (length framing).
	os.WriteFile(filepath.Join(dir, "pkg", "a.go"), []byte("package a\npackage sub\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "pkg", "sub", "b.go"), []byte(""), 0o644)
	if moved, _ := HashSourceDir(dir); moved == got {
		t.Fatal("moving content between files kept the hash")
	}
	if _, err := HashSource(os.DirFS(dir)); err == nil {
		t.Fatal("no paths accepted")
	}
}
