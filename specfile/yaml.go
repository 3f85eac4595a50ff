package specfile

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"io"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/agentspec/specnode"
	"github.com/ajwt/ajwt/protocol"
)

// yamlTree parses exactly one YAML document into a position-keeping tree.
func yamlTree(data []byte) (*specnode.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &agentspec.SpecError{Msg: "empty file"}
		}
		return nil, &agentspec.SpecError{Line: yamlErrLine(err), Msg: "YAML: " + err.Error()}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &agentspec.SpecError{Line: extra.Line, Column: extra.Column, Msg: "more than one YAML document"}
	}
	if len(doc.Content) != 1 {
		return nil, errAt(&doc, "", "empty document")
	}
	return convert(doc.Content[0], "", protocol.MaxJSONDepth)
}

// yamlErrLine digs the line out of a yaml.v3 error ("yaml: line 7: …").
func yamlErrLine(err error) int {
	_, rest, ok := strings.Cut(err.Error(), "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end <= 0 {
		return 0
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

func errAt(n *yaml.Node, field, format string, args ...any) *agentspec.SpecError {
	return &agentspec.SpecError{Field: field, Line: n.Line, Column: n.Column, Msg: fmt.Sprintf(format, args...)}
}

// convert maps a YAML node onto a JSON node; field is its path, for
// messages, and depth how many more containers may open (the whole
// document counts, as in JSON).
func convert(n *yaml.Node, field string, depth int) (*specnode.Node, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return nil, errAt(n, field, "YAML aliases are not allowed in agent specs")
	case yaml.ScalarNode:
		return scalar(n, field)
	case yaml.MappingNode, yaml.SequenceNode:
		if depth <= 0 {
			return nil, errAt(n, field, "nested deeper than %d", protocol.MaxJSONDepth)
		}
		if n.Kind == yaml.MappingNode {
			return mapping(n, field, depth-1)
		}
		return sequence(n, field, depth-1)
	}
	return nil, errAt(n, field, "unsupported YAML node")
}

func mapping(n *yaml.Node, field string, depth int) (*specnode.Node, error) {
	if tag := n.ShortTag(); tag != "!!map" {
		return nil, errAt(n, field, "YAML type %s is not allowed (only the core schema)", tag)
	}
	out := &specnode.Node{Kind: specnode.Object, Line: n.Line, Col: n.Column}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if err := checkKey(k, field); err != nil {
			return nil, err
		}
		path := joinPath(field, k.Value)
		if seen[k.Value] {
			return nil, errAt(k, path, "duplicate key")
		}
		seen[k.Value] = true
		val, err := convert(v, path, depth)
		if err != nil {
			return nil, err
		}
		out.Members = append(out.Members, specnode.Member{Key: k.Value, Line: k.Line, Col: k.Column, Val: val})
	}
	return out, nil
}

// checkKey accepts only string keys: JSON has no others, and turning 1,
// true, ~ or 0x1F into text would make distinct YAML keys collide or
// equal ones differ.
func checkKey(k *yaml.Node, field string) error {
	switch {
	case k.Kind == yaml.AliasNode:
		return errAt(k, field, "YAML aliases are not allowed in agent specs")
	case k.Kind != yaml.ScalarNode:
		return errAt(k, field, "mapping keys must be strings")
	case k.ShortTag() == "!!merge":
		return errAt(k, field, "YAML merge keys (<<) are not allowed")
	case k.ShortTag() != "!!str":
		return errAt(k, field, "key %q has YAML type %s; quote it to make it a string", clip.Text(k.Value, clip.Short), k.ShortTag())
	}
	return nil
}

func sequence(n *yaml.Node, field string, depth int) (*specnode.Node, error) {
	if tag := n.ShortTag(); tag != "!!seq" {
		return nil, errAt(n, field, "YAML type %s is not allowed (only the core schema)", tag)
	}
	out := &specnode.Node{Kind: specnode.Array, Line: n.Line, Col: n.Column}
	for i, c := range n.Content {
		item, err := convert(c, fmt.Sprintf("%s[%d]", field, i), depth)
		if err != nil {
			return nil, err
		}
		out.Items = append(out.Items, item)
	}
	return out, nil
}

func joinPath(field, key string) string {
	if field == "" {
		return key
	}
	return field + "." + key
}
