package agentspec

import (
	"fmt"

	"github.com/ajwt/ajwt/protocol"
)

// SpecError is a refused specification: the offending field (a path like
// tools[1].name or substitutions.repo.pattern; empty for the whole
// document) and, when the spec came from a file, its position.
type SpecError struct {
	Field  string
	Line   int // 0 when unknown
	Column int // in characters, from 1; 0 when unknown
	Msg    string
}

// Error reads like `line 7: tools[1].name: duplicate tool name "open_pr"`.
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

// Is makes every spec error an invalid_request (§2.4, §4.1):
// errors.Is(err, protocol.ErrInvalidRequest) holds.
func (e *SpecError) Is(target error) bool { return protocol.ErrInvalidRequest.Is(target) }

func specErr(field string, format string, args ...any) *SpecError {
	return &SpecError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// RenderError says which placeholder a runtime value was refused for and
// why (§2.5). It never repeats the value: it may be an injection payload,
// and errors end up in logs and in front of models.
type RenderError struct {
	Placeholder string
	Msg         string
}

func (e *RenderError) Error() string {
	return fmt.Sprintf("checksum: substitution {{%s}}: %s", e.Placeholder, e.Msg)
}
