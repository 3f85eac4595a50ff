package agentspec

import (
	"encoding/json"
	"maps"
	"slices"
)

// Substitution declares a runtime placeholder (§2.5). Both members are
// required: a value is checked against Pattern (anchored at both ends
// whatever it says) and MaxLength (characters, from 1 to MaxValueLength).
type Substitution struct {
	Pattern   string `json:"pattern"`
	MaxLength int    `json:"max_length"`
}

// MaxValueLength caps Substitution.MaxLength.
const MaxValueLength = 1 << 20

// Tool is one tool the agent may call.
type Tool struct {
	Name         string         `json:"name"`
	Description  string         `json:"description,omitempty"`   // hashed as given; "" when absent
	Parameters   map[string]any `json:"parameters,omitempty"`    // a JSON Schema; numbers as json.Number or float64; {} when absent
	SourceSHA256 string         `json:"source_sha256,omitempty"` // optional "deep" checksum (HashSource), 64 lowercase hex
}

// Spec is an agent specification (§2.1).
type Spec struct {
	AgentID        string                  `json:"agent_id"`
	PromptTemplate string                  `json:"prompt_template"`
	Substitutions  map[string]Substitution `json:"substitutions,omitempty"`
	Tools          []Tool                  `json:"tools"`
	Configuration  map[string]any          `json:"configuration,omitempty"`
}

// Clone returns a deep copy, so that a caller can keep a spec it hands
// out.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Substitutions = maps.Clone(s.Substitutions)
	c.Tools = slices.Clone(s.Tools)
	for i := range c.Tools {
		c.Tools[i].Parameters = deepCopy(c.Tools[i].Parameters).(map[string]any)
	}
	c.Configuration = deepCopy(s.Configuration).(map[string]any)
	return &c
}

// deepCopy copies the containers of a JSON value tree; scalars are
// immutable and shared.
func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return x
		}
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = deepCopy(e)
		}
		return a
	case map[string]string:
		return maps.Clone(x)
	case []string:
		return slices.Clone(x)
	}
	return v
}

// MarshalJSON writes the spec as a §2.1 spec file would hold it; tools is
// always an array.
func (s Spec) MarshalJSON() ([]byte, error) {
	type plain Spec // no methods: no recursion
	p := plain(s)
	if p.Tools == nil {
		p.Tools = []Tool{}
	}
	return json.Marshal(p)
}
