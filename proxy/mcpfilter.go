package proxy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The tools/list filter of PROTOCOL.md §12.2 ("list: filter"). It fails
// closed: where it cannot tell what a client would read, it refuses the
// response (ReverseProxy answers 502) or cuts the stream, since a cut
// stream is safer than an unfiltered tool list. "What a client reads" is
// the union of what the MCP SDKs read (TypeScript, Python, Go) wherever
// they are looser than the specifications; each such place says so.

const (
	maxToolsListJSON = 8 << 20  // an application/json answer
	maxSSEEvent      = 1 << 20  // one event of an event stream, and any one line
	sseReadSize      = 16 << 10 // the upstream read size of the stream filter
	utf8BOM          = "\xEF\xBB\xBF"
)

var (
	errToolsListTooLarge  = errors.New("proxy: tools/list response over the size limit")
	errToolsListEncoded   = errors.New("proxy: tools/list response with a content encoding")
	errToolsListType      = errors.New("proxy: tools/list response typed both JSON and event stream")
	errToolsListMalformed = errors.New("proxy: tools/list response with malformed JSON")
	errSSEEventTooLarge   = errors.New("proxy: event-stream event or line over the size limit")
)

// filterToolsList rewrites resp, the upstream's answer to a JSON-RPC
// tools/list request (or an event stream that may replay one), so that
// the result.tools of every response in it keeps only the tools t for
// which keep(t.name) is true. Everything else passes unchanged and in
// order. An error means the response must not reach the client.
//
// Every response is filtered, whatever its id: the stream of a POST
// carries only the answer to that POST's request, and a GET stream
// carries no answers but replays, so no other request waits for a tool
// list there. Matching the id would instead have to reproduce how each
// client SDK compares ids (TypeScript looks answers up by Number(id),
// Python by int(id)), and any spelling a client accepts but the filter
// does not would pass unfiltered.
func filterToolsList(resp *http.Response, keep func(name string) bool) error {
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil
	}
	kind, err := bodyKindOf(resp.Header)
	if err != nil || kind == otherBody {
		// Other types pass: no client reads a tool list from HTML or text.
		return err
	}
	if contentEncoded(resp.Header) {
		return errToolsListEncoded
	}
	if keep == nil {
		keep = func(string) bool { return false }
	}
	if resp.Body == nil {
		resp.Body = http.NoBody
	}
	if kind == jsonBody {
		return filterJSONBody(resp, keep)
	}
	resp.Body = &sseFilter{src: resp.Body, keep: keep}
	resp.ContentLength = -1
	resp.Header.Del("Content-Length")
	return nil
}

type bodyKind int

const (
	otherBody bodyKind = iota
	jsonBody
	sseBody
)

// bodyKindOf classifies as loosely as the loosest client: older TypeScript
// SDKs test contentType.includes("text/event-stream") and
// includes("application/json") on the raw header, Python tests a prefix,
// the Go SDK parses the media type. A case-insensitive substring test over
// every Content-Type field is a superset of all three (and of
// mime.ParseMediaType); a header that reads as both is refused.
func bodyKindOf(h http.Header) (bodyKind, error) {
	ct := strings.ToLower(strings.Join(h.Values("Content-Type"), ","))
	sse, js := strings.Contains(ct, "text/event-stream"), strings.Contains(ct, "application/json")
	switch {
	case sse && js:
		return otherBody, errToolsListType
	case sse:
		return sseBody, nil
	case js:
		return jsonBody, nil
	}
	return otherBody, nil
}

// contentEncoded reports a coding the filter cannot read; the proxy asks
// without Accept-Encoding, so Go's transport undoes gzip itself.
func contentEncoded(h http.Header) bool {
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

func filterJSONBody(resp *http.Response, keep func(string) bool) error {
	body, err := readBounded(resp.Body, resp.ContentLength, maxToolsListJSON)
	_ = resp.Body.Close()
	resp.Body = http.NoBody
	if err != nil {
		return err
	}
	out, err := rewriteToolsListJSON(body, keep)
	if err != nil {
		return err
	}
	if out == nil {
		resp.Body = io.NopCloser(bytes.NewReader(body))
		return nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Length", strconv.Itoa(len(out)))
	return nil
}

func readBounded(r io.Reader, declared, limit int64) ([]byte, error) {
	if declared > limit {
		return nil, errToolsListTooLarge
	}
	var buf bytes.Buffer
	if declared > 0 {
		buf.Grow(int(declared) + bytes.MinRead) // room for the read that sees EOF
	}
	if _, err := buf.ReadFrom(io.LimitReader(r, limit+1)); err != nil {
		return nil, fmt.Errorf("proxy: reading the tools/list response: %w", err)
	}
	if int64(buf.Len()) > limit {
		return nil, errToolsListTooLarge
	}
	return buf.Bytes(), nil
}

// rewriteToolsListJSON is rewriteMessage for a whole body, after a UTF-8
// byte order mark, which the Fetch API's json() skips.
func rewriteToolsListJSON(body []byte, keep func(string) bool) ([]byte, error) {
	msg, bom := bytes.CutPrefix(body, []byte(utf8BOM))
	out, err := rewriteMessage(msg, keep)
	if out == nil || !bom {
		return out, err
	}
	return append([]byte(utf8BOM), out...), nil
}

// rewriteMessage returns msg with every tool list filtered
// filtered, or nil when nothing changes. msg is one JSON-RPC message or a
// batch (the TypeScript SDK reads an array body as one). It is first
// trimmed of every space some client trims (the Go SDK trims Unicode
// spaces off SSE data); what then starts like an object or array but does
// not parse is refused, as some client may parse it all the same.
//
// Only what changes is re-encoded: the members of the message and of its
// result keep their order and bytes, and so does every kept tool.
func rewriteMessage(msg []byte, keep func(string) bool) ([]byte, error) {
	doc := bytes.TrimSpace(msg)
	if len(doc) == 0 || (doc[0] != '{' && doc[0] != '[') {
		return nil, nil
	}
	if !json.Valid(doc) {
		return nil, errToolsListMalformed
	}
	if doc[0] == '{' {
		return rewriteResponse(doc, keep), nil
	}
	var edits []edit
	for s := range elements(doc) {
		if doc[s.start] != '{' {
			continue
		}
		if out := rewriteResponse(doc[s.start:s.end], keep); out != nil {
			edits = append(edits, edit{s, out})
		}
	}
	return splice(doc, edits), nil
}

// rewriteResponse filters result.tools of obj. It does not ask for an id,
// "jsonrpc" or the absence of "error": filtering more is safe.
func rewriteResponse(obj []byte, keep func(string) bool) []byte {
	return rewriteMembers(obj, "result", '{', func(result []byte) []byte {
		return rewriteMembers(result, "tools", '[', func(tools []byte) []byte {
			return filterTools(tools, keep)
		})
	})
}

// rewriteMembers applies f to every member named name whose value opens
// with open. Names match in any case, as Go's encoding/json matches struct
// fields; duplicates are all rewritten, as parsers differ on which counts.
func rewriteMembers(obj []byte, name string, open byte, f func([]byte) []byte) []byte {
	var edits []edit
	for key, s := range members(obj) {
		if keyIs(key, name) && obj[s.start] == open {
			if out := f(obj[s.start:s.end]); out != nil {
				edits = append(edits, edit{s, out})
			}
		}
	}
	return splice(obj, edits)
}

func filterTools(tools []byte, keep func(string) bool) []byte {
	out := append(make([]byte, 0, len(tools)), '[')
	dropped := false
	for s := range elements(tools) {
		if tool := tools[s.start:s.end]; toolKept(tool, keep) {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(out, tool...)
		} else {
			dropped = true
		}
	}
	if !dropped {
		return nil
	}
	return append(out, ']')
}

// toolKept keeps an object with at least one "name" member (in any case)
// where every such member is a string that keep allows.
func toolKept(tool []byte, keep func(string) bool) bool {
	if tool[0] != '{' {
		return false
	}
	named := false
	for key, s := range members(tool) {
		if !keyIs(key, "name") {
			continue
		}
		name, ok := stringValue(tool[s.start:s.end])
		if !ok || !keep(name) {
			return false
		}
		named = true
	}
	return named
}

type span struct{ start, end int }

type edit struct {
	span
	with []byte
}

func splice(doc []byte, edits []edit) []byte {
	if len(edits) == 0 {
		return nil
	}
	out := make([]byte, 0, len(doc))
	at := 0
	for _, e := range edits {
		out = append(append(out, doc[at:e.start]...), e.with...)
		at = e.end
	}
	return append(out, doc[at:]...)
}

// The scanners below walk JSON that json.Valid accepted, without
// allocating; on anything else they stop early, never fail.

// members yields each member of an object: its key as written (quotes
// included) and the span of its value.
func members(obj []byte) iter.Seq2[[]byte, span] {
	return func(yield func([]byte, span) bool) {
		i := skipSpace(obj, 1)
		for i < len(obj) && obj[i] == '"' {
			k := stringEnd(obj, i)
			start := skipSpace(obj, skipSpace(obj, k)+1) // past the colon
			end := valueEnd(obj, start)
			if end == start || !yield(obj[i:k], span{start, end}) {
				return
			}
			i = nextItem(obj, end)
		}
	}
}

// elements yields the span of each element of an array.
func elements(arr []byte) iter.Seq[span] {
	return func(yield func(span) bool) {
		i := skipSpace(arr, 1)
		for i < len(arr) && arr[i] != ']' {
			end := valueEnd(arr, i)
			if end == i || !yield(span{i, end}) {
				return
			}
			i = nextItem(arr, end)
		}
	}
}

// nextItem skips the space and comma after a value.
func nextItem(b []byte, i int) int {
	if i = skipSpace(b, i); i < len(b) && b[i] == ',' {
		i = skipSpace(b, i+1)
	}
	return i
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns where the value that starts at b[i] ends.
func valueEnd(b []byte, i int) int {
	if i >= len(b) {
		return len(b)
	}
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		for depth := 0; i < len(b); {
			switch b[i] {
			case '"':
				i = stringEnd(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return len(b)
	}
	for i < len(b) && !endsLiteral(b[i]) {
		i++ // a number, true, false or null
	}
	return i
}

func endsLiteral(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// stringEnd returns where the string that starts at b[i] ends: after the
// first quote that an even run of backslashes precedes.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		q, escapes := i+j, 0
		for k := q - 1; k >= i && b[k] == '\\'; k-- {
			escapes++
		}
		if escapes%2 == 0 {
			return q + 1
		}
		i = q + 1
	}
	return len(b)
}

// keyIs compares a member's key with name in any case.
func keyIs(key []byte, name string) bool {
	if len(key) >= 2 && bytes.IndexByte(key, '\\') < 0 {
		return bytes.EqualFold(key[1:len(key)-1], []byte(name))
	}
	s, ok := stringValue(key)
	return ok && strings.EqualFold(s, name)
}

// stringValue decodes a JSON string; invalid UTF-8 becomes U+FFFD, as
// clients decode it.
func stringValue(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	if raw := v[1 : len(v)-1]; bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	var s string
	return s, json.Unmarshal(v, &s) == nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
