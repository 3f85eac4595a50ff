package specfile

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/protocol"
)

// TestYAMLMatchesJSON: the same spec in YAML and JSON has one checksum.
func TestYAMLMatchesJSON(t *testing.T) {
	yamlSpec := `agent_id: patcher
prompt_template: |
  You fix vulnerable dependencies in {{repo}}.

     Never touch other files.
substitutions:
  repo: {pattern: "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", max_length: 100}
tools:
  - name: open_pr
    description: Open a pull request.
    parameters: {type: object, required: [title], properties: {title: {type: string}}}
  - name: commit_file
    description: Commit one file.
configuration: {model: example-model, temperature: 0, max_tokens: 2048, top_p: 1e-07}
`
	spec, err := Parse("patcher.yaml", []byte(yamlSpec))
	if err != nil {
		t.Fatal(err)
	}
	// shared/vectors "normalization-and-tool-order"
	const want = "sha256:43da56d0a6916e19a2f7a04a18bc24a6824e4161ebd42a5876938f7bee1ad742"
	if sum, _ := agentspec.Sum(spec); string(sum) != want {
		t.Fatalf("checksum %s, want %s", sum, want)
	}
}

// TestVectorsYAML checks the vectors that come with a YAML form, and the
// JSON form of every vector read through Parse(".json").
func TestVectorsYAML(t *testing.T) {
	data, err := os.ReadFile("../testdata/vectors/checksum.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Vectors []struct {
			Name          string          `json:"name"`
			Spec          json.RawMessage `json:"spec"`
			SpecYAML      string          `json:"spec_yaml"`
			AgentChecksum string          `json:"agent_checksum"`
		}
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	yamlVectors := 0
	for _, v := range doc.Vectors {
		t.Run(v.Name, func(t *testing.T) {
			forms := map[string][]byte{"spec.json": v.Spec}
			if v.SpecYAML != "" {
				forms["spec.yaml"] = []byte(v.SpecYAML)
				yamlVectors++
			}
			for name, text := range forms {
				spec, err := Parse(name, text)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if sum, _ := agentspec.Sum(spec); string(sum) != v.AgentChecksum {
					t.Fatalf("%s: checksum %s, want %s", name, sum, v.AgentChecksum)
				}
			}
		})
	}
	if yamlVectors == 0 {
		t.Fatal("no vector has a spec_yaml form")
	}
}

func TestExampleAgents(t *testing.T) {
	files, _ := filepath.Glob("../examples/vuln-patch/agents/*.yaml")
	if len(files) == 0 {
		t.Skip("no example agents in this tree")
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%v", err)
		}
	}
}

func TestYAMLErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown key", "agent_id: a\nprompt_template: p\nmodel: x\n", "line 3: model: unknown member"},
		{"duplicate key", "agent_id: a\nagent_id: b\nprompt_template: p\n", "line 2: agent_id: duplicate key"},
		{"nested duplicate key", "agent_id: a\nprompt_template: p\nconfiguration:\n  n:\n    a: 1\n    a: 2\n", "line 6: configuration.n.a: duplicate key"},
		{"duplicate tool", "agent_id: a\nprompt_template: p\ntools:\n  - name: t\n  - name: t\n", "line 5: tools[1].name: duplicate tool name"},
		{"alias", "agent_id: a\nprompt_template: &p hi\nconfiguration: {x: *p}\n", "line 3: configuration.x: YAML aliases"},
		{"alias as key", "agent_id: a\nprompt_template: p\nconfiguration: {&k a: 1, *k : 2}\n", "YAML aliases"},
		{"merge key", "agent_id: a\nprompt_template: p\nconfiguration: {<<: {a: 1}}\n", "merge keys"},
		{"integer key", "agent_id: a\nprompt_template: p\nconfiguration: {1: a}\n", "key \"1\" has YAML type !!int"},
		{"null key", "agent_id: a\nprompt_template: p\nconfiguration: {~: a}\n", "!!null"},
		{"boolean key", "agent_id: a\nprompt_template: p\nconfiguration: {true: a}\n", "!!bool"},
		{"complex key", "agent_id: a\nprompt_template: p\nconfiguration: {? [a]: 1}\n", "keys must be strings"},
		{"custom tag on mapping", "agent_id: a\nprompt_template: p\nconfiguration: !foo {a: 1}\n", "line 3: configuration: YAML type !foo"},
		{"set", "agent_id: a\nprompt_template: p\nconfiguration: !!set {a, b}\n", "YAML type !!set"},
		{"omap", "agent_id: a\nprompt_template: p\nconfiguration: {o: !!omap [a: 1]}\n", "YAML type !!omap"},
		{"custom tag on sequence", "agent_id: a\nprompt_template: p\ntools: !list []\n", "YAML type !list"},
		{"binary", "agent_id: a\nprompt_template: p\nconfiguration: {b: !!binary aGVsbG8=}\n", "!!binary; quote it"},
		{"timestamp", "agent_id: a\nprompt_template: p\nconfiguration: {d: 2024-01-01}\n", "quote it"},
		{"infinity", "agent_id: a\nprompt_template: p\nconfiguration: {t: .inf}\n", "line 3: configuration.t: number"},
		{"nan", "agent_id: a\nprompt_template: p\nconfiguration: {t: !!float nan}\n", "no JSON form"},
		{"huge number", "agent_id: a\nprompt_template: p\nconfiguration: {t: 1e400}\n", "line 3: configuration.t: number \"1e400\" is out of range"},
		{"huge hex", "agent_id: a\nprompt_template: p\nconfiguration: {t: 0x1_0000_0000_0000_0000}\n", "is out of range"},
		{"huge in a list", "agent_id: a\nprompt_template: p\nconfiguration: {t: [1, -1.5e999]}\n", "configuration.t[1]: number"},
		{"two documents", "agent_id: a\nprompt_template: p\n---\nagent_id: b\n", "line 3: more than one YAML document"},
		{"syntax", "agent_id: [a\n", "line"},
		{"bad escape", "agent_id: a\nprompt_template: \"p\\ud800\"\n", "line 2"},
		{"empty", "", "empty"},
		{"scalar document", "just text\n", "want an object"},
		{"bad agent id", "agent_id: Bad\nprompt_template: p\n", "line 1: agent_id"},
		{"too deep", "agent_id: a\nprompt_template: p\nconfiguration: {x: " + strings.Repeat("[", 31) + strings.Repeat("]", 31) + "}\n", "configuration.x" + strings.Repeat("[0]", 30) + ": nested deeper than 32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "agent.yaml: ") {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
			var se *agentspec.SpecError
			if !errors.As(err, &se) || !errors.Is(err, protocol.ErrInvalidRequest) {
				t.Fatalf("err = %v, want a *agentspec.SpecError", err)
			}
		})
	}
}

func TestYAMLErrorPosition(t *testing.T) {
	_, err := Parse("agent.yaml", []byte("agent_id: a\nprompt_template: p\ntools:\n  - name: t\n    source_sha256: ABC\n"))
	var se *agentspec.SpecError
	if !errors.As(err, &se) || se.Field != "tools[0].source_sha256" || se.Line != 5 || se.Column != 20 {
		t.Fatalf("err = %v (%+v), want tools[0].source_sha256 at 5:20", err, se)
	}
}

func TestNumberLike(t *testing.T) {
	for _, yes := range []string{"1", "-1", "+1", "1_000", "1.", ".5", "1.5e300", "1E+400", "0x1F", "-0x1f", "0o17", "0b101", "1e400"} {
		if !numberLike(yes) {
			t.Errorf("numberLike(%q) = false", yes)
		}
	}
	for _, no := range []string{"", ".", "e5", "1e", "1.2.3", "0x", "0xg", "0o8", "abc", "1-2", "--1", ".e1", "inf", "1 2", "_1", ".5_0"} {
		if numberLike(no) {
			t.Errorf("numberLike(%q) = true", no)
		}
	}
	// Quoted or explicitly tagged, such text is a string on purpose.
	spec, err := Parse("a.yaml", []byte("agent_id: a\nprompt_template: p\nconfiguration: {a: '1e400', b: !!str 1e400, c: _1}\n"))
	if err != nil || spec.Configuration["a"] != "1e400" || spec.Configuration["b"] != "1e400" || spec.Configuration["c"] != "_1" {
		t.Fatalf("quoted numbers: %v, %v", spec, err)
	}
}

func TestYAMLDepthLimit(t *testing.T) {
	ok := "agent_id: a\nprompt_template: p\nconfiguration: {x: " + strings.Repeat("[", 30) + strings.Repeat("]", 30) + "}\n"
	if _, err := Parse("a.yaml", []byte(ok)); err != nil {
		t.Fatalf("depth 32 refused: %v", err)
	}
}

func TestYAMLScalars(t *testing.T) {
	spec, err := Parse("a.yaml", []byte("agent_id: a\nprompt_template: p\nconfiguration: {a: 0x1F, b: 1e21, c: -0, d: 1.0, e: 1_000, s: '1.0', "+
		"f: 0o17, g: +1, h: .5, i: -0x10, j: !!str 12, k: !!float 1, n: ~, t: True, u: 0x20000000000000, v: +1.5, w: 1., "+
		"x: 01.50e1, y: -.5E-1, z: 1_000.000_1}\n"))
	if err != nil {
		t.Fatal(err)
	}
	canon, _ := agentspec.Canonical(spec)
	want := `"configuration":{"a":31,"b":1e+21,"c":0,"d":1,"e":1000,"f":15,"g":1,"h":0.5,"i":-16,"j":"12","k":1,"n":null,"s":"1.0","t":true,` +
		`"u":9007199254740992,"v":1.5,"w":1,"x":15,"y":-0.05,"z":1000.0001}`
	if !strings.Contains(string(canon), want) {
		t.Fatalf("canonical %s, want %s", canon, want)
	}
}

// TestYAMLNumbersBeyondDoublePrecision: YAML's own number forms get the
// I-JSON rule of JSON specs (§2.4), and are never rounded on the way: a
// number whose canonical form names another value is refused, whatever
// its spelling.
func TestYAMLNumbersBeyondDoublePrecision(t *testing.T) {
	for _, n := range []string{
		"9007199254740993", "-9007199254740993", "9_007_199_254_740_993", "+9007199254740993", "0x20000000000001",
		"-0x20000000000001", "0o400000000000000001", "0b1" + strings.Repeat("0", 52) + "1", "9007199254740993.",
		"+9007199254740993.0", ".9007199254740993e16", "123456789012345678901234567890", "1e30", "0x1000000000000000",
		"0xFFFFFFFFFFFFFFFF", "+0.10000000000000001", ".1000000000000000055511151231257827", "1e-400", "+.1e-400",
	} {
		t.Run(n, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte("agent_id: a\nprompt_template: p\nconfiguration: {x: [1, "+n+"]}\n"))
			var se *agentspec.SpecError
			if !errors.As(err, &se) || se.Field != "configuration.x[1]" || !errors.Is(err, protocol.ErrInvalidRequest) {
				t.Fatalf("err = %v; want an invalid_request for configuration.x[1]", err)
			}
		})
	}
}

func TestJSONFiles(t *testing.T) {
	_, err := Parse("agent.JSON", []byte("{\"agent_id\":\"a\",\n\"prompt_template\":\"p\",\"x\":1}"))
	if err == nil || err.Error() != "agent.JSON: line 2: x: unknown member (allowed: agent_id, prompt_template, substitutions, tools, configuration)" {
		t.Fatalf("err = %v", err)
	}
	// A .json name means JSON: YAML syntax is refused.
	if _, err := Parse("agent.json", []byte("agent_id: a\nprompt_template: p\n")); err == nil {
		t.Fatal("YAML accepted in a .json file")
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a.yml")
	os.WriteFile(path, []byte("agent_id: a\nprompt_template: p\n"), 0o644)
	if spec, err := Load(path); err != nil || spec.AgentID != "a" {
		t.Fatalf("Load = %+v, %v", spec, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("err = %v", err)
	}
	big := filepath.Join(dir, "big.yaml")
	os.WriteFile(big, []byte("agent_id: a\nprompt_template: "+strings.Repeat("a", MaxSize)+"\n"), 0o644)
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseYAML(f *testing.F) {
	files, _ := filepath.Glob("../examples/vuln-patch/agents/*.yaml")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Add([]byte("agent_id: a\nprompt_template: \"{{x}}\"\nsubstitutions: {x: {pattern: a, max_length: 0x10}}\nconfiguration: {n: [1_0, .5, ~]}\n"))
	f.Add([]byte("agent_id: a\nprompt_template: p\nconfiguration: {n: [0x20000000000001, +.5, 01.5e1, 9_007_199_254_740_993, 1., 0.10000000000000001]}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse("f.yaml", data)
		if err != nil {
			var se *agentspec.SpecError
			if !errors.As(err, &se) && !strings.Contains(err.Error(), "f.yaml: ") {
				t.Fatalf("unexpected error form: %v", err)
			}
			return
		}
		// An accepted YAML spec, written as JSON, is the same agent.
		js, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		back, err := Parse("f.json", js)
		if err != nil {
			t.Fatalf("JSON form of an accepted spec refused: %v\n%s", err, js)
		}
		a, errA := agentspec.Sum(spec)
		b, errB := agentspec.Sum(back)
		if errA != nil || errB != nil || a != b {
			t.Fatalf("YAML and JSON forms differ: %s (%v) vs %s (%v)", a, errA, b, errB)
		}
	})
}
