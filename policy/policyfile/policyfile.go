// Package policyfile reads enforcement policies (PROTOCOL.md §8) from YAML
// files strictly: unknown keys, duplicate keys and aliases are errors that
// name the line.
package policyfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/internal/yamlerr"
	"github.com/ajwt/ajwt/policy"
)

const maxSize = 1 << 20

// Load reads and compiles a policy file.
func Load(path string) (*policy.Policy, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	p, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

// Parse compiles policy YAML.
func Parse(data []byte) (*policy.Policy, error) {
	rules, err := ParseRules(data)
	if err != nil {
		return nil, err
	}
	return policy.Compile(*rules)
}

// ParseRules decodes policy YAML without compiling it.
func ParseRules(data []byte) (*policy.Rules, error) {
	if len(data) > maxSize {
		return nil, errors.New("policy file larger than 1 MiB")
	}
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%w: %v", policy.ErrInvalid, err)
	}
	if err := dec.Decode(new(yaml.Node)); err != io.EOF {
		return nil, fmt.Errorf("%w: more than one YAML document", policy.ErrInvalid)
	}
	if err := checkNode(&root); err != nil {
		return nil, err
	}
	var rules policy.Rules
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&rules); err != nil {
		return nil, fmt.Errorf("%w: %s", policy.ErrInvalid, yamlerr.Describe(err, &root))
	}
	setLines(&root, &rules)
	return &rules, nil
}

// checkNode refuses aliases (expansion bombs) and duplicate mapping keys.
func checkNode(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode {
		return fmt.Errorf("%w: line %d: YAML aliases are not allowed", policy.ErrInvalid, n.Line)
	}
	if n.Kind == yaml.MappingNode {
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if seen[k] {
				return fmt.Errorf("%w: line %d: duplicate key %q", policy.ErrInvalid, n.Content[i].Line, k)
			}
			seen[k] = true
		}
	}
	for _, c := range n.Content {
		if err := checkNode(c); err != nil {
			return err
		}
	}
	return nil
}

// setLines records each route's line for later error messages.
func setLines(root *yaml.Node, rules *policy.Rules) {
	if root.Kind != yaml.DocumentNode || len(root.Content) == 0 {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value != "routes" {
			continue
		}
		for j, r := range m.Content[i+1].Content {
			if j < len(rules.Routes) {
				rules.Routes[j].Line = r.Line
				setToolLines(r, rules.Routes[j].MCP)
			}
		}
	}
}

// setToolLines records the line of each tool of a route's mcp block.
func setToolLines(route *yaml.Node, m *policy.MCPRule) {
	tools := child(child(route, "mcp"), "tools")
	if m == nil || tools == nil {
		return
	}
	for k, t := range tools.Content {
		if k < len(m.Tools) {
			m.Tools[k].Line = t.Line
		}
	}
}

// child returns the value of key in a mapping node.
func child(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
