// Package yamlerr words the errors of a strict yaml.v3 decode in the terms
// of the file being read — its keys and values — instead of the Go types
// it is decoded into: "line 5: one_time: want true or false, got the text
// maybe", not "cannot unmarshal !!str `maybe` into bool".
package yamlerr

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type \S+$`)
	wrongType    = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+)(?: `(.*)`)? into (\\S+)$")
)

// Describe returns err's message in the file's words; root, when not nil,
// is the document it came from, to name the key of a value of the wrong
// type. Errors other than *yaml.TypeError keep their text.
func Describe(err error, root *yaml.Node) string {
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return err.Error()
	}
	out := make([]string, len(te.Errors))
	for i, msg := range te.Errors {
		out[i] = describe(msg, root)
	}
	return strings.Join(out, "; ")
}

func describe(msg string, root *yaml.Node) string {
	if m := unknownField.FindStringSubmatch(msg); m != nil {
		return fmt.Sprintf("line %s: unknown field %q", m[1], m[2])
	}
	m := wrongType.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	line, _ := strconv.Atoi(m[1])
	where := "line " + m[1] + ": "
	if key := keyAt(root, line, m[2], m[3]); key != "" {
		where += key + ": "
	}
	return where + "want " + goKind(m[4]) + ", got " + yamlKind(m[2], m[3])
}

// keyAt is the key whose value starts on line and is of the kind (and,
// for a scalar, has the value) the error names; the innermost one.
func keyAt(n *yaml.Node, line int, tag, value string) string {
	if n == nil {
		return ""
	}
	found := ""
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if v := n.Content[i+1]; v.Line == line && fits(v, tag, value) {
				found = n.Content[i].Value
			}
		}
	}
	for _, c := range n.Content {
		if k := keyAt(c, line, tag, value); k != "" {
			found = k
		}
	}
	return found
}

func fits(v *yaml.Node, tag, value string) bool {
	switch tag {
	case "seq":
		return v.Kind == yaml.SequenceNode
	case "map":
		return v.Kind == yaml.MappingNode
	}
	return v.Kind == yaml.ScalarNode && (value == "" || v.Value == value)
}

func goKind(t string) string {
	switch {
	case t == "string":
		return "a string"
	case t == "bool":
		return "true or false"
	case t == "time.Duration":
		return "a duration such as 300s"
	case strings.HasPrefix(t, "int"), strings.HasPrefix(t, "uint"):
		return "a whole number"
	case strings.HasPrefix(t, "float"):
		return "a number"
	case strings.HasPrefix(t, "[]"):
		return "a list"
	}
	return "a mapping (key: value)"
}

func yamlKind(tag, value string) string {
	switch tag {
	case "seq":
		return "a list"
	case "map":
		return "a mapping"
	case "null":
		return "nothing"
	case "str":
		return "the text " + strconv.Quote(value)
	}
	return value
}
