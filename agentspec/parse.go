package agentspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ajwt/ajwt/agentspec/specnode"
	"github.com/ajwt/ajwt/internal/jcs"
	"github.com/ajwt/ajwt/protocol"
)

// ParseJSON parses and validates a spec from JSON strictly: unknown or
// duplicate members at any level, nesting deeper than
// protocol.MaxJSONDepth, trailing data, invalid UTF-8 and unpaired
// surrogate escapes are errors (*SpecError, with the line). Numbers are
// kept as json.Number.
func ParseJSON(data []byte) (*Spec, error) {
	if len(data) > protocol.MaxRegistrationBody {
		return nil, specErr("", "spec larger than 1 MiB")
	}
	root, err := specnode.ParseJSON(data, protocol.MaxJSONDepth)
	if err != nil {
		var ne *specnode.Error
		if errors.As(err, &ne) {
			return nil, &SpecError{Line: ne.Line, Column: ne.Col, Msg: ne.Msg}
		}
		return nil, specErr("", "%v", err)
	}
	return FromTree(root)
}

// FromTree builds and validates a spec from a parsed tree; errors carry
// the tree's positions. It serves parsers of other formats in this module
// (package specfile reads YAML with it).
func FromTree(root *specnode.Node) (*Spec, error) {
	d := &decoder{pos: map[string][2]int{}}
	spec, err := d.spec(root)
	if err != nil {
		return nil, err
	}
	if err := spec.Validate(); err != nil {
		var se *SpecError
		if errors.As(err, &se) && se.Line == 0 {
			p := d.posOf(se.Field)
			se.Line, se.Column = p[0], p[1]
		}
		return nil, err
	}
	return spec, nil
}

// decoder maps a tree onto a Spec, remembering each field's position so
// that Validate's errors can be placed.
type decoder struct{ pos map[string][2]int }

func (d *decoder) posOf(field string) [2]int {
	for f := field; f != ""; f = parentField(f) {
		if p, ok := d.pos[f]; ok {
			return p
		}
	}
	return d.pos[""]
}

func parentField(f string) string {
	for i := len(f) - 1; i >= 0; i-- {
		if f[i] == '.' || f[i] == '[' {
			return f[:i]
		}
	}
	return ""
}

func (d *decoder) errAt(n *specnode.Node, field, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Line: n.Line, Column: n.Col, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) want(n *specnode.Node, field string, kind specnode.Kind) error {
	d.pos[field] = [2]int{n.Line, n.Col}
	if n.Kind != kind {
		return d.errAt(n, field, "want %s %s, got %s", article(kind), kind, n.Kind)
	}
	return nil
}

func article(k specnode.Kind) string {
	if k == specnode.Object || k == specnode.Array {
		return "an"
	}
	return "a"
}

func (d *decoder) str(n *specnode.Node, field string) (string, error) {
	if err := d.want(n, field, specnode.String); err != nil {
		return "", err
	}
	return n.Value.(string), nil
}

func (d *decoder) plainObject(n *specnode.Node, field string) (map[string]any, error) {
	if err := d.want(n, field, specnode.Object); err != nil {
		return nil, err
	}
	return n.Plain().(map[string]any), nil
}

// integer accepts any I-JSON number with an integral value in range: 100,
// 100.0 and 1e2 are one number to RFC 8785, so they are one here.
func (d *decoder) integer(n *specnode.Node, field string) (int, error) {
	if err := d.want(n, field, specnode.Number); err != nil {
		return 0, err
	}
	f, err := jcs.ParseIJSON(string(n.Value.(json.Number)))
	if err != nil || f != math.Trunc(f) || f < 0 || f > MaxValueLength {
		return 0, d.errAt(n, field, "want an integer from 1 to %d", MaxValueLength)
	}
	return int(f), nil
}

// unknown reports a member the contract does not define: ignoring it
// would leave out of the checksum something the author meant.
func (d *decoder) unknown(m specnode.Member, field, allowed string) error {
	return &SpecError{Field: field, Line: m.Line, Column: m.Col, Msg: "unknown member (allowed: " + allowed + ")"}
}

func (d *decoder) required(n *specnode.Node, parent string, names ...string) error {
	for _, name := range names {
		if !slices.ContainsFunc(n.Members, func(m specnode.Member) bool { return m.Key == name }) {
			return d.errAt(n, joinField(parent, name), "required member missing")
		}
	}
	return nil
}

func joinField(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}
