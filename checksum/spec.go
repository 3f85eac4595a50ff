package checksum

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/ajwt/ajwt/internal/specnode"
	"github.com/ajwt/ajwt/protocol"
)

// Substitution declares a runtime placeholder (§2.5).
type Substitution struct {
	Pattern   string `json:"pattern"`
	MaxLength int    `json:"max_length"`
}

// Tool is one tool the agent may call.
type Tool struct {
	Name         string         `json:"name"`
	Description  string         `json:"description,omitempty"`
	Parameters   map[string]any `json:"parameters,omitempty"` // JSON Schema; numbers as json.Number or float64
	SourceSHA256 string         `json:"source_sha256,omitempty"`
}

// Spec is an agent specification (§2.1).
type Spec struct {
	AgentID        string                  `json:"agent_id"`
	PromptTemplate string                  `json:"prompt_template"`
	Substitutions  map[string]Substitution `json:"substitutions,omitempty"`
	Tools          []Tool                  `json:"tools"`
	Configuration  map[string]any          `json:"configuration,omitempty"`
}

// SpecError names the offending field and, for files, the line.
type SpecError struct {
	Field string // e.g. tools[1].name; empty for the whole document
	Line  int    // 0 when unknown
	Msg   string
}

func (e *SpecError) Error() string {
	s := e.Msg
	if e.Field != "" {
		s = e.Field + ": " + s
	}
	if e.Line > 0 {
		s = fmt.Sprintf("line %d: %s", e.Line, s)
	}
	return s
}

// Is makes every spec error an invalid_request (§2.4, §4.1).
func (e *SpecError) Is(target error) bool { return target == protocol.ErrInvalidRequest }

func specErr(field string, line int, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Line: line, Msg: fmt.Sprintf(format, args...)}
}

// ParseJSON parses and validates a spec from JSON strictly: unknown or
// duplicate members, nesting deeper than 32 and trailing data are errors.
func ParseJSON(data []byte) (*Spec, error) {
	if len(data) > protocol.MaxRegistrationBody {
		return nil, specErr("", 0, "spec larger than 1 MiB")
	}
	root, err := specnode.ParseJSON(data, protocol.MaxJSONDepth)
	if err != nil {
		var ne *specnode.Error
		if errors.As(err, &ne) {
			return nil, specErr("", ne.Line, "%s", ne.Msg)
		}
		return nil, specErr("", 0, "%v", err)
	}
	return FromTree(root)
}

// FromTree builds and validates a spec from a parsed tree; errors carry the
// tree's lines. Parsers of other formats (YAML) use it.
func FromTree(root *specnode.Node) (*Spec, error) {
	d := &decoder{lines: map[string]int{}}
	spec, err := d.spec(root)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		var se *SpecError
		if errors.As(err, &se) && se.Line == 0 {
			se.Line = d.lineOf(se.Field)
		}
		return nil, err
	}
	return spec, nil
}

// decoder maps a tree onto Spec, remembering each field's line.
type decoder struct{ lines map[string]int }

func (d *decoder) lineOf(field string) int {
	for f := field; f != ""; f = parentField(f) {
		if l, ok := d.lines[f]; ok {
			return l
		}
	}
	return d.lines[""]
}

func parentField(f string) string {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i] == '.' || f[i] == '[' {
			return f[:i]
		}
	}
	return ""
}

func (d *decoder) object(n *specnode.Node, field string) error {
	d.lines[field] = n.Line
	if n.Kind != specnode.Object {
		return specErr(field, n.Line, "want an object, got %s", n.Kind)
	}
	return nil
}

func (d *decoder) str(n *specnode.Node, field string) (string, error) {
	d.lines[field] = n.Line
	if n.Kind != specnode.String {
		return "", specErr(field, n.Line, "want a string, got %s", n.Kind)
	}
	return n.Value.(string), nil
}

func (d *decoder) spec(root *specnode.Node) (*Spec, error) {
	if err := d.object(root, ""); err != nil {
		return nil, err
	}
	s := &Spec{Tools: []Tool{}}
	for _, m := range root.Members {
		var err error
		switch m.Key {
		case "agent_id":
			s.AgentID, err = d.str(m.Val, m.Key)
		case "prompt_template":
			s.PromptTemplate, err = d.str(m.Val, m.Key)
		case "substitutions":
			s.Substitutions, err = d.substitutions(m.Val)
		case "tools":
			s.Tools, err = d.tools(m.Val)
		case "configuration":
			s.Configuration, err = d.plainObject(m.Val, m.Key)
		default:
			err = specErr(m.Key, m.Line, "unknown member (allowed: agent_id, prompt_template, substitutions, tools, configuration)")
		}
		if err != nil {
			return nil, err
		}
	}
	return s, d.required(root, "agent_id", "prompt_template")
}

func (d *decoder) required(n *specnode.Node, fields ...string) error {
	for _, f := range fields {
		if !slices.ContainsFunc(n.Members, func(m specnode.Member) bool { return m.Key == f }) {
			return specErr(f, n.Line, "required member missing")
		}
	}
	return nil
}

func (d *decoder) plainObject(n *specnode.Node, field string) (map[string]any, error) {
	if err := d.object(n, field); err != nil {
		return nil, err
	}
	return n.Plain().(map[string]any), nil
}

func (d *decoder) substitutions(n *specnode.Node) (map[string]Substitution, error) {
	if err := d.object(n, "substitutions"); err != nil {
		return nil, err
	}
	out := make(map[string]Substitution, len(n.Members))
	for _, m := range n.Members {
		field := "substitutions." + m.Key
		sub, err := d.substitution(m.Val, field)
		if err != nil {
			return nil, err
		}
		out[m.Key] = sub
	}
	return out, nil
}

func (d *decoder) substitution(n *specnode.Node, field string) (Substitution, error) {
	var sub Substitution
	if err := d.object(n, field); err != nil {
		return sub, err
	}
	for _, m := range n.Members {
		var err error
		switch m.Key {
		case "pattern":
			sub.Pattern, err = d.str(m.Val, field+".pattern")
		case "max_length":
			sub.MaxLength, err = d.integer(m.Val, field+".max_length")
		default:
			err = specErr(field+"."+m.Key, m.Line, "unknown member (allowed: pattern, max_length)")
		}
		if err != nil {
			return sub, err
		}
	}
	return sub, d.required(n, "pattern", "max_length")
}

func (d *decoder) integer(n *specnode.Node, field string) (int, error) {
	d.lines[field] = n.Line
	if n.Kind != specnode.Number {
		return 0, specErr(field, n.Line, "want an integer, got %s", n.Kind)
	}
	i, err := n.Value.(json.Number).Int64()
	if err != nil || i < 0 || i > 1<<20 {
		return 0, specErr(field, n.Line, "want an integer from 1 to %d", 1<<20)
	}
	return int(i), nil
}

func (d *decoder) tools(n *specnode.Node) ([]Tool, error) {
	d.lines["tools"] = n.Line
	if n.Kind != specnode.Array {
		return nil, specErr("tools", n.Line, "want an array, got %s", n.Kind)
	}
	tools := make([]Tool, len(n.Items))
	for i, item := range n.Items {
		var err error
		if tools[i], err = d.tool(item, fmt.Sprintf("tools[%d]", i)); err != nil {
			return nil, err
		}
	}
	return tools, nil
}

func (d *decoder) tool(n *specnode.Node, field string) (Tool, error) {
	var t Tool
	if err := d.object(n, field); err != nil {
		return t, err
	}
	for _, m := range n.Members {
		var err error
		switch m.Key {
		case "name":
			t.Name, err = d.str(m.Val, field+".name")
		case "description":
			t.Description, err = d.str(m.Val, field+".description")
		case "parameters":
			t.Parameters, err = d.plainObject(m.Val, field+".parameters")
		case "source_sha256":
			t.SourceSHA256, err = d.str(m.Val, field+".source_sha256")
		default:
			err = specErr(field+"."+m.Key, m.Line, "unknown member (allowed: name, description, parameters, source_sha256)")
		}
		if err != nil {
			return t, err
		}
	}
	return t, d.required(n, "name")
}

// Clone returns a deep copy, so a caller can keep a spec it hands out.
func (s *Spec) Clone() *Spec {
	c := *s
	c.Substitutions = maps.Clone(s.Substitutions)
	c.Tools = make([]Tool, len(s.Tools))
	for i, t := range s.Tools {
		t.Parameters = deepCopy(t.Parameters).(map[string]any)
		c.Tools[i] = t
	}
	if s.Configuration != nil {
		c.Configuration = deepCopy(s.Configuration).(map[string]any)
	}
	return &c
}

func deepCopy(v any) any {
	switch x := v.(type) {
	case map[string]any:
		if x == nil {
			return map[string]any(nil)
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
