package agentspec

import (
	"encoding/json"
	"errors"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/protocol"
)

func baseSpec() *Spec {
	return &Spec{AgentID: "a", PromptTemplate: "Do {{x}}.", Substitutions: map[string]Substitution{"x": {Pattern: "^[a-z]+$", MaxLength: 5}},
		Tools: []Tool{{Name: "t", Parameters: map[string]any{"type": "object"}}}, Configuration: map[string]any{"temperature": 0.0}}
}

func nestedArrays(n int) any {
	v := any([]any{})
	for range n - 1 {
		v = []any{v}
	}
	return v
}

// TestValidate covers specs built in code, which skip the parser's checks.
func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Spec)
		field  string // "" means valid
	}{
		{"valid", func(*Spec) {}, ""},
		{"agent_id 63 characters", func(s *Spec) { s.AgentID = strings.Repeat("a", 63) }, ""},
		{"agent_id 64 characters", func(s *Spec) { s.AgentID = strings.Repeat("a", 64) }, "agent_id"},
		{"agent_id uppercase", func(s *Spec) { s.AgentID = "A" }, "agent_id"},
		{"agent_id empty", func(s *Spec) { s.AgentID = "" }, "agent_id"},
		{"agent_id underscore", func(s *Spec) { s.AgentID = "a_b" }, "agent_id"},
		{"template invalid utf-8", func(s *Spec) { s.PromptTemplate = "{{x}}\xff" }, "prompt_template"},
		{"template blank", func(s *Spec) { s.PromptTemplate = " \u3000\n\t"; s.Substitutions = nil }, "prompt_template"},
		{"undeclared placeholder", func(s *Spec) { s.PromptTemplate = "{{x}} {{y}}" }, "prompt_template"},
		{"unused declaration", func(s *Spec) { s.PromptTemplate = "Do it." }, "substitutions.x"},
		{"pattern missing", func(s *Spec) { s.Substitutions["x"] = Substitution{MaxLength: 1} }, "substitutions.x.pattern"},
		{"pattern does not compile", func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "a(", MaxLength: 1} }, "substitutions.x.pattern"},
		{"pattern repeat too large", func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "a{1001}", MaxLength: 1} }, "substitutions.x.pattern"},
		{"max_length zero", func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "a", MaxLength: 0} }, "substitutions.x.max_length"},
		{"max_length above cap", func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "a", MaxLength: MaxValueLength + 1} }, "substitutions.x.max_length"},
		{"tool name empty", func(s *Spec) { s.Tools = append(s.Tools, Tool{}) }, "tools[1].name"},
		{"tool name duplicate", func(s *Spec) { s.Tools = append(s.Tools, Tool{Name: "t"}) }, "tools[1].name"},
		{"tool name invalid utf-8", func(s *Spec) { s.Tools[0].Name = "\xff" }, "tools[0].name"},
		{"description invalid utf-8", func(s *Spec) { s.Tools[0].Description = "\xff" }, "tools[0].description"},
		{"source_sha256 short", func(s *Spec) { s.Tools[0].SourceSHA256 = "abc" }, "tools[0].source_sha256"},
		{"parameters NaN", func(s *Spec) { s.Tools[0].Parameters["x"] = math.NaN() }, "tools[0].parameters.x"},
		{"parameters bad json.Number", func(s *Spec) { s.Tools[0].Parameters["x"] = json.Number("NaN") }, "tools[0].parameters.x"},
		{"parameters inexact int64", func(s *Spec) { s.Tools[0].Parameters["x"] = int64(1<<53 + 1) }, "tools[0].parameters.x"},
		{"parameters exact int 10^18", func(s *Spec) { s.Tools[0].Parameters["x"] = int64(1e18) }, ""},
		{"parameters int 2^60, canonical 1152921504606847000", func(s *Spec) { s.Tools[0].Parameters["x"] = 1 << 60 }, "tools[0].parameters.x"},
		{"parameters json.Number 2^53+1", func(s *Spec) { s.Tools[0].Parameters["x"] = json.Number("9007199254740993") }, "tools[0].parameters.x"},
		{"parameters json.Number 2^53", func(s *Spec) { s.Tools[0].Parameters["x"] = json.Number("9007199254740992") }, ""},
		{"configuration json.Number 0.1", func(s *Spec) { s.Configuration["x"] = json.Number("0.1") }, ""},
		{"configuration json.Number excess precision", func(s *Spec) { s.Configuration["x"] = json.Number("0.10000000000000001") }, "configuration.x"},
		{"configuration float 1e30", func(s *Spec) { s.Configuration["x"] = []any{1e30} }, "configuration.x[0]"},
		{"configuration float 1e21", func(s *Spec) { s.Configuration["x"] = 1e21 }, ""},
		{"parameters string slice", func(s *Spec) { s.Tools[0].Parameters["x"] = []string{"a"} }, ""},
		{"parameters unsupported type", func(s *Spec) { s.Tools[0].Parameters["x"] = []int{1} }, "tools[0].parameters.x"},
		{"parameters key invalid utf-8", func(s *Spec) { s.Tools[0].Parameters["\xff"] = 1.0 }, "tools[0].parameters"},
		{"parameters depth 32 in all", func(s *Spec) { s.Tools[0].Parameters["x"] = nestedArrays(28) }, ""},
		{"parameters depth 33 in all", func(s *Spec) { s.Tools[0].Parameters["x"] = nestedArrays(29) }, "tools[0].parameters.x" + strings.Repeat("[0]", 28)},
		{"configuration depth 32 in all", func(s *Spec) { s.Configuration["x"] = nestedArrays(30) }, ""},
		{"configuration depth 33 in all", func(s *Spec) { s.Configuration["x"] = nestedArrays(31) }, "configuration.x" + strings.Repeat("[0]", 30)},
		{"configuration string invalid utf-8", func(s *Spec) { s.Configuration["m"] = []any{"\xff"} }, "configuration.m[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := baseSpec()
			tt.mutate(s)
			err := s.Validate()
			_, cerr := Canonical(s)
			if tt.field == "" {
				if err != nil || cerr != nil {
					t.Fatalf("Validate = %v, Canonical = %v; want valid", err, cerr)
				}
				return
			}
			var se *SpecError
			if !errors.As(err, &se) || se.Field != tt.field {
				t.Fatalf("Validate = %v, want an error for %s", err, tt.field)
			}
			if !errors.As(cerr, &se) {
				t.Fatalf("Canonical = %v, want the *SpecError", cerr)
			}
		})
	}
}

func TestPlaceholders(t *testing.T) {
	tests := []struct {
		tmpl string
		want []string
	}{
		{"none", nil},
		{"{{a}} and {{b_2}}", []string{"a", "b_2"}},
		{"{{{x}}}", []string{"x"}},
		{"{{ x }}", []string{" x "}},
		{"{{a}b}}", nil},
		{"{{}}", []string{""}},
		{"{{a", nil},
		{"}}{{a}}{{", []string{"a"}},
		{"{{a{{b}}", []string{"b"}},
	}
	for _, tt := range tests {
		var got []string
		forEachPlaceholder(tt.tmpl, func(n string) error { got = append(got, n); return nil })
		if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
			t.Errorf("%q: placeholders %q, want %q", tt.tmpl, got, tt.want)
		}
	}
}

func TestChangeChangesChecksum(t *testing.T) {
	sum0 := mustSum(t, baseSpec())
	mutations := map[string]func(*Spec){
		"prompt":          func(s *Spec) { s.PromptTemplate = "Do {{x}} now." },
		"pattern":         func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "^.*$", MaxLength: 5} },
		"max_length":      func(s *Spec) { s.Substitutions["x"] = Substitution{Pattern: "^[a-z]+$", MaxLength: 6} },
		"tool added":      func(s *Spec) { s.Tools = append(s.Tools, Tool{Name: "u"}) },
		"parameters":      func(s *Spec) { s.Tools[0].Parameters["type"] = "string" },
		"description":     func(s *Spec) { s.Tools[0].Description = "x" },
		"source_sha256":   func(s *Spec) { s.Tools[0].SourceSHA256 = strings.Repeat("0", 64) },
		"config":          func(s *Spec) { s.Configuration["temperature"] = 0.1 },
		"agent id":        func(s *Spec) { s.AgentID = "b" },
		"inner space":     func(s *Spec) { s.PromptTemplate = "Do  {{x}}." },
		"zero-width char": func(s *Spec) { s.PromptTemplate = "Do\u200b {{x}}." },
	}
	for name, mutate := range mutations {
		s := baseSpec()
		mutate(s)
		if mustSum(t, s) == sum0 {
			t.Errorf("%s: checksum unchanged", name)
		}
	}
	// Not identity: surrounding white space, blank lines, line endings,
	// tool order, empty versus absent parameters, number spelling.
	withA := func(s *Spec, a Tool) { s.Tools = append(s.Tools, a) }
	same := map[string]func(*Spec){
		"white space":      func(s *Spec) { s.PromptTemplate = " \u00a0Do {{x}}.\u3000\r\n\r\n"; withA(s, Tool{Name: "a"}) },
		"tool order":       func(s *Spec) { s.Tools = append([]Tool{{Name: "a"}}, s.Tools...) },
		"empty parameters": func(s *Spec) { withA(s, Tool{Name: "a", Parameters: map[string]any{}}) },
		"json.Number 0.0":  func(s *Spec) { s.Configuration["temperature"] = json.Number("0.0"); withA(s, Tool{Name: "a"}) },
		"json.Number -0":   func(s *Spec) { s.Configuration["temperature"] = json.Number("-0"); withA(s, Tool{Name: "a"}) },
	}
	ref := baseSpec()
	withA(ref, Tool{Name: "a"})
	want := mustSum(t, ref)
	for name, mutate := range same {
		s := baseSpec()
		mutate(s)
		if got := mustSum(t, s); got != want {
			t.Errorf("%s changed the checksum", name)
		}
	}
}

func mustSum(t *testing.T, s *Spec) Checksum {
	t.Helper()
	sum, err := Sum(s)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func TestClone(t *testing.T) {
	s := &Spec{AgentID: "a", PromptTemplate: "{{x}}", Substitutions: map[string]Substitution{"x": {Pattern: "a", MaxLength: 1}},
		Tools:         []Tool{{Name: "t", Parameters: map[string]any{"k": []any{"v"}, "s": []string{"w"}}}},
		Configuration: map[string]any{"m": map[string]any{"n": "x"}}}
	before := mustSum(t, s)
	c := s.Clone()
	c.Tools[0].Parameters["k"].([]any)[0] = "changed"
	c.Tools[0].Parameters["s"].([]string)[0] = "changed"
	c.Tools[0].Name = "u"
	c.Configuration["m"].(map[string]any)["n"] = "y"
	c.Substitutions["x"] = Substitution{Pattern: "b", MaxLength: 2}
	if mustSum(t, s) != before {
		t.Fatal("Clone shares state with the original")
	}
	empty := (&Spec{AgentID: "a", PromptTemplate: "p"}).Clone()
	if empty.Configuration != nil || empty.Substitutions != nil || empty.Tools != nil {
		t.Fatalf("Clone invented members: %+v", empty)
	}
}

// TestValidateAgreesWithCanonical: Canonical encodes parameters and
// configuration without walking them first, so it must refuse exactly
// what Validate refuses, with the same field.
func TestValidateAgreesWithCanonical(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	refused := 0
	for i := range 3000 {
		s := baseSpec()
		s.Tools[0].Parameters["p"] = randomJSON(rng, 0)
		s.Configuration["c"] = randomJSON(rng, 0)
		verr := s.Validate()
		_, cerr := Canonical(s)
		var v, c *SpecError
		if (verr == nil) != (cerr == nil) || verr != nil && (!errors.As(verr, &v) || !errors.As(cerr, &c) || v.Field != c.Field) {
			t.Fatalf("case %d: Validate = %v, Canonical = %v", i, verr, cerr)
		}
		if verr != nil {
			refused++
		}
	}
	if refused == 0 || refused == 3000 {
		t.Fatalf("%d of 3000 refused: the generator does not cover both outcomes", refused)
	}
}

// randomJSON makes a value tree, mostly valid, sometimes deep or holding
// one thing without a canonical form.
func randomJSON(rng *rand.Rand, depth int) any {
	bad := []any{math.NaN(), math.Inf(-1), json.Number("0x1"), json.Number("1e999"), "\xff", int64(1<<53 + 1), []int{1},
		json.Number("9007199254740993"), int64(1 << 60), 1e30}
	switch k := rng.IntN(20); {
	case k == 0:
		return bad[rng.IntN(len(bad))]
	case k < 6 || depth > 34:
		return []any{"s", 1.5, json.Number("-0"), 7, int64(1e18), nil, true}[rng.IntN(7)]
	case k < 13:
		return []any{randomJSON(rng, depth+1)}
	case k < 19:
		return map[string]any{"k": randomJSON(rng, depth+1), "😀": 1.0}
	}
	return map[string]any{"\xc3": 1.0}
}

// TestNumbersBeyondDoublePrecisionRefused: 9007199254740993 and
// 9007199254740992 gave one canonical form, so two different specs shared
// one checksum (§2.4). Every way a spec is read refuses the first.
func TestNumbersBeyondDoublePrecisionRefused(t *testing.T) {
	doc := func(n string) []byte {
		return []byte(`{"agent_id":"a","prompt_template":"p","configuration":{"n":` + n + `}}`)
	}
	if _, err := ParseJSON(doc("9007199254740992")); err != nil {
		t.Fatalf("2^53: %v", err)
	}
	for _, n := range []string{"9007199254740993", "9007199254740993.0", "1e30", "0.1000000000000000055511151231257827"} {
		_, err := ParseJSON(doc(n))
		var se *SpecError
		if !errors.As(err, &se) || se.Field != "configuration.n" || !errors.Is(err, protocol.ErrInvalidRequest) {
			t.Errorf("ParseJSON with %s: %v; want an invalid_request for configuration.n", n, err)
		}
		s := &Spec{AgentID: "a", PromptTemplate: "p", Configuration: map[string]any{"n": json.Number(n)}}
		if sum, err := Sum(s); !errors.As(err, &se) || se.Field != "configuration.n" {
			t.Errorf("Sum with json.Number(%s) = %s, %v; want the *SpecError", n, sum, err)
		}
	}
}
