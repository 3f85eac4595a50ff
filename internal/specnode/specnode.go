// Package specnode is a JSON value tree that remembers source lines, so
// that spec errors from JSON and YAML files can name the line. Parsers for
// both formats build it; checksum turns it into a Spec.
package specnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Kind of a node.
type Kind int

const (
	Null Kind = iota
	Bool
	Number
	String
	Object
	Array
)

// Node is one JSON value. Value holds a bool, json.Number or string for
// scalars.
type Node struct {
	Kind    Kind
	Line    int
	Value   any
	Members []Member // Object, in source order
	Items   []*Node  // Array
}

// Member is one object member.
type Member struct {
	Key  string
	Line int
	Val  *Node
}

// Error is a syntax or structure error at a line.
type Error struct {
	Line int
	Msg  string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseJSON parses one JSON value strictly: no duplicate member names, at
// most maxDepth nested containers, nothing after the value.
func ParseJSON(data []byte, maxDepth int) (*Node, error) {
	p := &parser{data: data, dec: json.NewDecoder(bytes.NewReader(data)), line: 1}
	p.dec.UseNumber()
	n, err := p.value(maxDepth)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		return nil, &Error{Line: p.lineAt(p.dec.InputOffset()), Msg: "data after the JSON value"}
	}
	return n, nil
}

type parser struct {
	data    []byte
	dec     *json.Decoder
	counted int64 // bytes of data already scanned for newlines
	line    int
}

// lineAt returns the line of byte offset off; offsets only grow.
func (p *parser) lineAt(off int64) int {
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	if off > p.counted {
		p.line += bytes.Count(p.data[p.counted:off], []byte{'\n'})
		p.counted = off
	}
	return p.line
}

func (p *parser) token() (json.Token, int, error) {
	off := p.dec.InputOffset()
	tok, err := p.dec.Token()
	line := p.lineAt(off + int64(leadingSpace(p.data[min(off, int64(len(p.data))):])))
	if err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, p.lineAt(se.Offset), &Error{Line: p.lineAt(se.Offset), Msg: "JSON syntax: " + se.Error()}
		}
		if err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, line, &Error{Line: line, Msg: "unexpected end of JSON"}
		}
		return nil, line, &Error{Line: line, Msg: err.Error()}
	}
	return tok, line, nil
}

func leadingSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' && c != ':' {
			return i
		}
	}
	return len(b)
}

func (p *parser) value(depth int) (*Node, error) {
	tok, line, err := p.token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth <= 0 {
			return nil, &Error{Line: line, Msg: "nesting deeper than the limit"}
		}
		if t == '{' {
			return p.object(line, depth-1)
		}
		return p.array(line, depth-1)
	case nil:
		return &Node{Kind: Null, Line: line}, nil
	case bool:
		return &Node{Kind: Bool, Line: line, Value: t}, nil
	case json.Number:
		return &Node{Kind: Number, Line: line, Value: t}, nil
	case string:
		return &Node{Kind: String, Line: line, Value: t}, nil
	}
	return nil, &Error{Line: line, Msg: fmt.Sprintf("unexpected token %v", tok)}
}

func (p *parser) object(line, depth int) (*Node, error) {
	n := &Node{Kind: Object, Line: line}
	seen := map[string]bool{}
	for p.dec.More() {
		tok, kline, err := p.token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string)
		if seen[key] {
			return nil, &Error{Line: kline, Msg: fmt.Sprintf("duplicate member %q", key)}
		}
		seen[key] = true
		val, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.Members = append(n.Members, Member{Key: key, Line: kline, Val: val})
	}
	_, _, err := p.token()
	return n, err
}

func (p *parser) array(line, depth int) (*Node, error) {
	n := &Node{Kind: Array, Line: line}
	for p.dec.More() {
		val, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.Items = append(n.Items, val)
	}
	_, _, err := p.token()
	return n, err
}

// Plain converts a node to the generic tree encoding/json would produce
// with UseNumber: map[string]any, []any, json.Number, string, bool, nil.
func (n *Node) Plain() any {
	switch n.Kind {
	case Object:
		m := make(map[string]any, len(n.Members))
		for _, mem := range n.Members {
			m[mem.Key] = mem.Val.Plain()
		}
		return m
	case Array:
		a := make([]any, len(n.Items))
		for i, it := range n.Items {
			a[i] = it.Plain()
		}
		return a
	}
	return n.Value
}

// KindName names a kind for messages.
func (k Kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "object", "array"}[k]
}
