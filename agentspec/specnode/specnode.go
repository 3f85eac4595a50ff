// Package specnode is a JSON value tree that remembers source positions,
// so that errors in agent spec files (JSON or YAML) name the line and
// column. Parsers of both formats build it; package agentspec turns it into
// a Spec.
package specnode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"io"
	"unicode/utf8"
)

// Kind of a node.
type Kind int

// The JSON kinds.
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
	Col     int
	Value   any
	Members []Member // Object, in source order
	Items   []*Node  // Array
}

// Member is one object member; Line and Col are those of its name.
type Member struct {
	Key  string
	Line int
	Col  int
	Val  *Node
}

// Error is a syntax or structure error at a position.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// ParseJSON parses one JSON value strictly: no duplicate member names, at
// most maxDepth nested containers, nothing after the value, and strings
// that are exactly what they say: invalid UTF-8 and unpaired surrogate
// escapes are errors (encoding/json would silently turn them into U+FFFD,
// so two different files would hash alike).
func ParseJSON(data []byte, maxDepth int) (*Node, error) {
	p := &parser{data: data, dec: json.NewDecoder(bytes.NewReader(data)), line: 1}
	p.dec.UseNumber()
	n, err := p.value(maxDepth)
	if err != nil {
		return nil, err
	}
	if _, err := p.dec.Token(); err != io.EOF {
		line, col := p.pos(p.dec.InputOffset())
		return nil, &Error{Line: line, Col: col, Msg: "data after the JSON value"}
	}
	return n, nil
}

type parser struct {
	data      []byte
	dec       *json.Decoder
	counted   int // bytes of data already scanned for newlines
	line      int
	lineStart int // offset of the current line's first byte
}

// pos returns the line and column (in characters, from 1) of byte offset
// off; offsets only grow.
func (p *parser) pos(off int64) (int, int) {
	o := min(int(off), len(p.data))
	for p.counted < o {
		i := bytes.IndexByte(p.data[p.counted:o], '\n')
		if i < 0 {
			p.counted = o
			break
		}
		p.line++
		p.counted += i + 1
		p.lineStart = p.counted
	}
	return p.line, utf8.RuneCount(p.data[p.lineStart:max(o, p.lineStart)]) + 1
}

func (p *parser) fail(off int64, format string, args ...any) *Error {
	line, col := p.pos(off)
	return &Error{Line: line, Col: col, Msg: fmt.Sprintf(format, args...)}
}

// token reads the next token and returns it with the offset of its first
// byte.
func (p *parser) token() (json.Token, int64, error) {
	off := p.dec.InputOffset()
	off += int64(leadingSpace(p.data[min(int(off), len(p.data)):]))
	tok, err := p.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, off, p.fail(se.Offset, "JSON syntax: %s", se.Error())
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			return nil, off, p.fail(off, "unexpected end of JSON")
		}
		return nil, off, p.fail(off, "%s", err.Error())
	}
	if _, ok := tok.(string); ok {
		if msg := checkRawString(p.data[off:p.dec.InputOffset()]); msg != "" {
			return nil, off, p.fail(off, "%s", msg)
		}
	}
	return tok, off, nil
}

// leadingSpace counts what Token skips before a token: white space and the
// separators it consumes itself.
func leadingSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != ',' && c != ':' {
			return i
		}
	}
	return len(b)
}

func (p *parser) value(depth int) (*Node, error) {
	tok, off, err := p.token()
	if err != nil {
		return nil, err
	}
	line, col := p.pos(off)
	n := &Node{Line: line, Col: col, Value: tok}
	switch t := tok.(type) {
	case json.Delim:
		if depth <= 0 {
			return nil, p.fail(off, "nesting deeper than the limit")
		}
		n.Value = nil
		if t == '{' {
			return p.object(n, depth-1)
		}
		return p.array(n, depth-1)
	case nil:
		n.Kind = Null
	case bool:
		n.Kind = Bool
	case json.Number:
		n.Kind = Number
	case string:
		n.Kind = String
	default:
		return nil, p.fail(off, "unexpected token %v", tok)
	}
	return n, nil
}

func (p *parser) object(n *Node, depth int) (*Node, error) {
	n.Kind = Object
	seen := map[string]bool{}
	for p.dec.More() {
		tok, off, err := p.token()
		if err != nil {
			return nil, err
		}
		key, _ := tok.(string) // the decoder guarantees a string here
		if seen[key] {
			return nil, p.fail(off, "duplicate member %q", clip.Text(key, clip.Short))
		}
		seen[key] = true
		line, col := p.pos(off)
		val, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.Members = append(n.Members, Member{Key: key, Line: line, Col: col, Val: val})
	}
	_, _, err := p.token() // }
	return n, err
}

func (p *parser) array(n *Node, depth int) (*Node, error) {
	n.Kind = Array
	for p.dec.More() {
		val, err := p.value(depth)
		if err != nil {
			return nil, err
		}
		n.Items = append(n.Items, val)
	}
	_, _, err := p.token() // ]
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

// String names a kind for messages.
func (k Kind) String() string {
	return [...]string{"null", "boolean", "number", "string", "object", "array"}[k]
}
