package client

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
)

// MCPRefusalCode is the JSON-RPC error code of an enforcer's refusal that
// Transport.MCP turns into a JSON-RPC error (the implementation-defined
// server error range of JSON-RPC 2.0).
const MCPRefusalCode = -32001

// MCPRefusal is the data of such a JSON-RPC error: the enforcer's §8
// answer, so a caller can tell tool_not_allowed from token_used.
type MCPRefusal struct {
	Status      int    `json:"status"`
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// mcpRefusal rewrites an enforcer's refusal of a JSON-RPC POST into a
// JSON-RPC error response for the request's id, keeping the HTTP status.
// MCP SDKs surface such an answer as the call's error and keep the
// session; a body in another format would end the session with only
// the status text.
func mcpRefusal(req *http.Request, res *http.Response) *http.Response {
	if req.Method != http.MethodPost || res.StatusCode < 400 || res.StatusCode >= 500 || !isJSON(res.Header.Get("Content-Type")) {
		return res
	}
	body, err := io.ReadAll(io.LimitReader(res.Body, 64<<10))
	res.Body.Close()
	var refusal MCPRefusal
	if err != nil || json.Unmarshal(body, &refusal) != nil || refusal.Error == "" {
		res.Body = io.NopCloser(bytes.NewReader(body))
		return res
	}
	refusal.Status = res.StatusCode
	msg := refusal.Error
	if refusal.Reason != "" {
		msg += " (" + refusal.Reason + ")"
	}
	if refusal.Description != "" {
		msg += ": " + refusal.Description
	}
	out, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": requestID(req),
		"error": map[string]any{"code": MCPRefusalCode, "message": msg, "data": refusal}})
	res.Body = io.NopCloser(bytes.NewReader(out))
	res.ContentLength = int64(len(out))
	res.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return res
}

// requestID is the id of the JSON-RPC request in req's body (null when it
// has none, as a notification).
func requestID(req *http.Request) json.RawMessage {
	null := json.RawMessage("null")
	if req.GetBody == nil {
		return null
	}
	body, err := req.GetBody()
	if err != nil {
		return null
	}
	defer body.Close()
	var msg struct {
		ID json.RawMessage `json:"id"`
	}
	if json.NewDecoder(io.LimitReader(body, 1<<20)).Decode(&msg) != nil || len(msg.ID) == 0 {
		return null
	}
	return msg.ID
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
