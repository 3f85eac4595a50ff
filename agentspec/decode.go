package agentspec

import (
	"fmt"

	"github.com/ajwt/ajwt/agentspec/specnode"
)

func (d *decoder) spec(root *specnode.Node) (*Spec, error) {
	if err := d.want(root, "", specnode.Object); err != nil {
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
			err = d.unknown(m, m.Key, "agent_id, prompt_template, substitutions, tools, configuration")
		}
		if err != nil {
			return nil, err
		}
	}
	return s, d.required(root, "", "agent_id", "prompt_template")
}

func (d *decoder) substitutions(n *specnode.Node) (map[string]Substitution, error) {
	if err := d.want(n, "substitutions", specnode.Object); err != nil {
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
	if err := d.want(n, field, specnode.Object); err != nil {
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
			err = d.unknown(m, field+"."+m.Key, "pattern, max_length")
		}
		if err != nil {
			return sub, err
		}
	}
	return sub, d.required(n, field, "pattern", "max_length")
}

func (d *decoder) tools(n *specnode.Node) ([]Tool, error) {
	if err := d.want(n, "tools", specnode.Array); err != nil {
		return nil, err
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
	if err := d.want(n, field, specnode.Object); err != nil {
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
			err = d.unknown(m, field+"."+m.Key, "name, description, parameters, source_sha256")
		}
		if err != nil {
			return t, err
		}
	}
	return t, d.required(n, field, "name")
}
