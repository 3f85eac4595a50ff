package policy

import (
	"bytes"
	"encoding/json"
	"net/http"
	"unicode/utf8"

	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/protocol"
)

// MCPMessage is the part of one JSON-RPC 2.0 message of an MCP POST that
// a decision needs (§12.2). Member names are matched exactly, as every
// JSON-RPC server reads them: encoding/json's case-insensitive struct
// matching would let {"Method":"tools/call"} pass as a method the server
// never sees.
type MCPMessage struct {
	Method string          // "" for a JSON-RPC response
	ID     json.RawMessage // nil for a notification
	Tool   string          // tools/call: params.name
	args   map[string]json.RawMessage
}

// Request reports whether the message expects an answer (it has an id).
func (m *MCPMessage) Request() bool { return m.ID != nil && m.Method != "" }

// StringArg returns the tools/call argument name when it is a JSON string.
func (m *MCPMessage) StringArg(name string) (string, bool) {
	raw, ok := m.args[name]
	if !ok || len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func malformedMCP(format string, args ...any) error {
	e := &protocol.Error{Code: protocol.CodeInvalidRequest, Reason: protocol.ReasonMCPMalformed, Status: http.StatusBadRequest}
	return e.WithDescription(format, args...)
}

var errMCPBatch = &protocol.Error{Code: protocol.CodeInvalidRequest, Reason: protocol.ReasonMCPBatch, Status: http.StatusBadRequest,
	Description: "one JSON-RPC message per request; batches are not accepted"}

// ParseMCPMessage reads one JSON-RPC 2.0 request, notification or response.
// Anything else — not UTF-8, not JSON, duplicate member names (two parsers
// could each pick another method), nesting beyond protocol.MaxJSONDepth,
// not JSON-RPC 2.0 — is 400 mcp_malformed; an array is 400 mcp_batch.
func ParseMCPMessage(body []byte) (*MCPMessage, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) > 0 && trimmed[0] == '[' {
		return nil, errMCPBatch
	}
	if !utf8.Valid(body) {
		return nil, malformedMCP("the message is not UTF-8")
	}
	if err := strictjson.Check(body, protocol.MaxJSONDepth); err != nil {
		return nil, malformedMCP("the message is not one strict JSON value: %v", err)
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(body, &members) != nil || members == nil {
		return nil, malformedMCP("the message is not a JSON object")
	}
	if !isString(members["jsonrpc"], "2.0") {
		return nil, malformedMCP(`"jsonrpc" must be "2.0"`)
	}
	m := &MCPMessage{}
	if err := m.readID(members); err != nil {
		return nil, err
	}
	if _, ok := members["method"]; !ok {
		return m, checkResponse(members)
	}
	if err := unmarshalString(members["method"], &m.Method); err != nil || m.Method == "" {
		return nil, malformedMCP(`"method" must be a non-empty string`)
	}
	if m.Method == MethodToolsCall && m.ID != nil {
		return m, m.readCall(members["params"])
	}
	return m, checkParams(members["params"])
}

func (m *MCPMessage) readID(members map[string]json.RawMessage) error {
	id, ok := members["id"]
	if !ok {
		return nil
	}
	_, hasMethod := members["method"]
	switch {
	case len(id) > 0 && (id[0] == '"' || id[0] == '-' || id[0] >= '0' && id[0] <= '9'):
		m.ID = id
	case string(id) == "null" && !hasMethod:
		m.ID = id // an error response to a request the server could not read
	default:
		return malformedMCP(`"id" must be a string or a number`)
	}
	return nil
}

// checkResponse accepts a JSON-RPC response: an id and exactly one of
// result and error.
func checkResponse(members map[string]json.RawMessage) error {
	_, result := members["result"]
	_, failure := members["error"]
	if members["id"] == nil || result == failure {
		return malformedMCP(`a message without "method" must be a response with "id" and one of "result" or "error"`)
	}
	return nil
}

func checkParams(params json.RawMessage) error {
	if params != nil && params[0] != '{' && params[0] != '[' {
		return malformedMCP(`"params" must be an object or an array`)
	}
	return nil
}

// readCall reads params.name and params.arguments of a tools/call.
func (m *MCPMessage) readCall(params json.RawMessage) error {
	var p map[string]json.RawMessage
	if params == nil || params[0] != '{' || json.Unmarshal(params, &p) != nil {
		return malformedMCP(`tools/call needs "params" with the tool's "name"`)
	}
	if err := unmarshalString(p["name"], &m.Tool); err != nil || m.Tool == "" {
		return malformedMCP(`tools/call needs "params.name", a non-empty string`)
	}
	args, ok := p["arguments"]
	if !ok || string(args) == "null" {
		return nil
	}
	if args[0] != '{' || json.Unmarshal(args, &m.args) != nil {
		return malformedMCP(`"params.arguments" must be an object`)
	}
	return nil
}

func unmarshalString(raw json.RawMessage, dst *string) error {
	if len(raw) == 0 || raw[0] != '"' {
		return errNotString
	}
	return json.Unmarshal(raw, dst)
}

var errNotString = malformedMCP("not a string")

func isString(raw json.RawMessage, want string) bool {
	var s string
	return unmarshalString(raw, &s) == nil && s == want
}
