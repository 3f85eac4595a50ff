// Package specfile reads agent specification files (PROTOCOL.md §2.1) in
// YAML or JSON, strictly, with errors that name the file, the line and the
// field: unknown or duplicate keys, YAML aliases, custom tags and numbers
// without a JSON form are refused.
//
// It is separate from package checksum so that the SDK needs no YAML
// library.
package specfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/checksum"
	"github.com/ajwt/ajwt/internal/specnode"
	"github.com/ajwt/ajwt/protocol"
)

// MaxSize is the largest spec file accepted (the §10 registration limit).
const MaxSize = protocol.MaxRegistrationBody

// Load reads and validates a spec file; .json files are JSON, anything else
// YAML.
func Load(path string) (*checksum.Spec, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse validates spec file content; name decides the format and prefixes
// errors.
func Parse(name string, data []byte) (*checksum.Spec, error) {
	spec, err := parse(name, data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return spec, nil
}

func parse(name string, data []byte) (*checksum.Spec, error) {
	if len(data) > MaxSize {
		return nil, &checksum.SpecError{Msg: "file larger than 1 MiB"}
	}
	if strings.EqualFold(filepath.Ext(name), ".json") {
		return checksum.ParseJSON(data)
	}
	root, err := yamlTree(data)
	if err != nil {
		return nil, err
	}
	return checksum.FromTree(root)
}

func yamlTree(data []byte) (*specnode.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &checksum.SpecError{Msg: "empty file"}
		}
		return nil, &checksum.SpecError{Line: yamlErrLine(err), Msg: "YAML: " + err.Error()}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &checksum.SpecError{Line: extra.Line, Msg: "more than one YAML document"}
	}
	if len(doc.Content) != 1 {
		return nil, &checksum.SpecError{Line: doc.Line, Msg: "empty document"}
	}
	return convert(doc.Content[0], protocol.MaxJSONDepth)
}

// yamlErrLine digs the line out of a yaml.v3 error message ("yaml: line 7: …").
func yamlErrLine(err error) int {
	msg := err.Error()
	if _, rest, ok := strings.Cut(msg, "line "); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end > 0 {
			n, _ := strconv.Atoi(rest[:end])
			return n
		}
	}
	return 0
}

func convert(n *yaml.Node, depth int) (*specnode.Node, error) {
	switch n.Kind {
	case yaml.AliasNode:
		return nil, &checksum.SpecError{Line: n.Line, Msg: "YAML aliases are not allowed in agent specs"}
	case yaml.ScalarNode:
		return scalar(n)
	}
	if depth <= 0 {
		return nil, &checksum.SpecError{Line: n.Line, Msg: "nested deeper than 32"}
	}
	if n.Kind == yaml.MappingNode {
		return mapping(n, depth-1)
	}
	if n.Kind == yaml.SequenceNode {
		out := &specnode.Node{Kind: specnode.Array, Line: n.Line}
		for _, c := range n.Content {
			item, err := convert(c, depth-1)
			if err != nil {
				return nil, err
			}
			out.Items = append(out.Items, item)
		}
		return out, nil
	}
	return nil, &checksum.SpecError{Line: n.Line, Msg: "unsupported YAML node"}
}

func mapping(n *yaml.Node, depth int) (*specnode.Node, error) {
	out := &specnode.Node{Kind: specnode.Object, Line: n.Line}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode || k.Tag == "!!merge" {
			return nil, &checksum.SpecError{Line: k.Line, Msg: "mapping keys must be plain strings"}
		}
		if seen[k.Value] {
			return nil, &checksum.SpecError{Field: k.Value, Line: k.Line, Msg: "duplicate key"}
		}
		seen[k.Value] = true
		val, err := convert(v, depth)
		if err != nil {
			return nil, err
		}
		out.Members = append(out.Members, specnode.Member{Key: k.Value, Line: k.Line, Val: val})
	}
	return out, nil
}

// scalar maps YAML core-schema scalars onto JSON values without changing
// what a number means: the literal is kept when it is already valid JSON.
func scalar(n *yaml.Node) (*specnode.Node, error) {
	out := &specnode.Node{Line: n.Line}
	switch n.ShortTag() {
	case "!!str":
		out.Kind, out.Value = specnode.String, n.Value
	case "!!null":
		out.Kind = specnode.Null
	case "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			return nil, &checksum.SpecError{Line: n.Line, Msg: "bad boolean"}
		}
		out.Kind, out.Value = specnode.Bool, b
	case "!!int", "!!float":
		num, err := yamlNumber(n.Value)
		if err != nil {
			return nil, &checksum.SpecError{Line: n.Line, Msg: err.Error()}
		}
		out.Kind, out.Value = specnode.Number, num
	default:
		return nil, &checksum.SpecError{Line: n.Line, Msg: fmt.Sprintf("value %q has YAML type %s; quote it to make it a string", trunc(n.Value), n.ShortTag())}
	}
	return out, nil
}

func yamlNumber(lit string) (json.Number, error) {
	clean := strings.ReplaceAll(lit, "_", "")
	if json.Valid([]byte(clean)) {
		if f, err := strconv.ParseFloat(clean, 64); err == nil && !math.IsInf(f, 0) {
			return json.Number(clean), nil
		}
	}
	if i, err := strconv.ParseInt(clean, 0, 64); err == nil { // 0x1F, 0o17
		return json.Number(strconv.FormatInt(i, 10)), nil
	}
	f, err := strconv.ParseFloat(strings.TrimPrefix(clean, "+"), 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		return "", fmt.Errorf("number %q has no JSON form", trunc(lit))
	}
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64)), nil
}

func trunc(s string) string {
	if len(s) > 32 {
		return s[:32] + "…"
	}
	return s
}
