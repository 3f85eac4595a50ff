package agentspec

import (
	"fmt"
	"strings"
	"testing"
)

// realisticSpec is an agent with a ≈5 KB prompt and 10 tools with JSON
// Schemas, the size the benchmark targets (≤ 40 µs).
func realisticSpec() *Spec {
	line := "You review dependency manifests and propose minimal, safe upgrades; explain every change. "
	prompt := strings.Repeat(line+"\n", 5000/len(line)) + "Work on {{repo}}."
	tools := make([]Tool, 10)
	for i := range tools {
		tools[i] = Tool{
			Name:        fmt.Sprintf("tool_%02d", i),
			Description: "Performs one well-defined operation against the repository hosting API.",
			Parameters: map[string]any{
				"type": "object", "required": []any{"path", "ref"},
				"properties": map[string]any{
					"path":  map[string]any{"type": "string", "maxLength": 512.0},
					"ref":   map[string]any{"type": "string", "pattern": "^[A-Za-z0-9_./-]+$"},
					"limit": map[string]any{"type": "integer", "minimum": 1.0, "maximum": 100.0},
					"mode":  map[string]any{"type": "string", "enum": []any{"read", "list", "stat"}},
				},
			},
		}
	}
	return &Spec{AgentID: "planner", PromptTemplate: prompt, Tools: tools,
		Substitutions: map[string]Substitution{"repo": {Pattern: "^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", MaxLength: 100}},
		Configuration: map[string]any{"model": "example-model", "temperature": 0.0, "max_tokens": 4096.0}}
}

func BenchmarkSumRealistic(b *testing.B) {
	s := realisticSpec()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Sum(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRender(b *testing.B) {
	s := realisticSpec()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Render(map[string]string{"repo": "acme/web"}); err != nil {
			b.Fatal(err)
		}
	}
}
