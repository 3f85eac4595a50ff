package specfile

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/checksum"
)

// TestYAMLMatchesJSON: the same spec in YAML and JSON has one checksum,
// for every vector.
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
	if sum, _ := checksum.Sum(spec); string(sum) != want {
		t.Fatalf("checksum %s, want %s", sum, want)
	}
}

func TestExampleAgents(t *testing.T) {
	files, _ := filepath.Glob("../examples/vuln-patch/agents/*.yaml")
	if len(files) != 4 {
		t.Fatalf("found %d example agents", len(files))
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
		{"duplicate tool", "agent_id: a\nprompt_template: p\ntools:\n  - name: t\n  - name: t\n", "line 5: tools[1].name: duplicate tool name"},
		{"alias", "agent_id: a\nprompt_template: &p hi\nconfiguration: {x: *p}\n", "line 3: YAML aliases"},
		{"undeclared placeholder", "agent_id: a\nprompt_template: 'Hi {{who}}'\n", "line 2: prompt_template: placeholder {{who}} is not declared"},
		{"infinity", "agent_id: a\nprompt_template: p\nconfiguration: {t: .inf}\n", "line 3: number"},
		{"timestamp", "agent_id: a\nprompt_template: p\nconfiguration: {d: 2024-01-01}\n", "quote it"},
		{"two documents", "agent_id: a\nprompt_template: p\n---\nagent_id: b\n", "more than one YAML document"},
		{"syntax", "agent_id: [a\n", "line"},
		{"empty", "", "empty"},
		{"bad agent id", "agent_id: Bad\nprompt_template: p\n", "line 1: agent_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("agent.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "agent.yaml: ") {
				t.Fatalf("err = %v, want it to mention %q", err, tt.want)
			}
		})
	}
}

func TestYAMLNumbers(t *testing.T) {
	spec, err := Parse("a.yaml", []byte("agent_id: a\nprompt_template: p\nconfiguration: {a: 0x1F, b: 1e21, c: -0, d: 1.0, e: 1_000, s: '1.0'}\n"))
	if err != nil {
		t.Fatal(err)
	}
	canon, _ := checksum.Canonical(spec)
	want := `"configuration":{"a":31,"b":1e+21,"c":0,"d":1,"e":1000,"s":"1.0"}`
	if !strings.Contains(string(canon), want) {
		t.Fatalf("canonical %s, want %s", canon, want)
	}
}

func TestLoadTooLarge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	os.WriteFile(path, []byte("agent_id: a\nprompt_template: "+strings.Repeat("a", MaxSize)+"\n"), 0o644)
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "1 MiB") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseYAML(f *testing.F) {
	files, _ := filepath.Glob("../examples/vuln-patch/agents/*.yaml")
	for _, p := range files {
		data, _ := os.ReadFile(p)
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse("f.yaml", data)
		if err != nil {
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
		a, _ := checksum.Sum(spec)
		b, _ := checksum.Sum(back)
		if a != b {
			t.Fatalf("YAML and JSON forms differ: %s vs %s", a, b)
		}
	})
}
