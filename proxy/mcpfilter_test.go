package proxy

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

// A tools/list answer to request 1 and what remains of it for a caller
// allowed list_files and read_file.
const (
	toolsAnswer   = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"list_files","inputSchema":{"type":"object"}},{"name":"merge_pull_request","description":"merges"},{"name":"read_file"}],"nextCursor":"c2"}}`
	toolsFiltered = `{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"list_files","inputSchema":{"type":"object"}},{"name":"read_file"}],"nextCursor":"c2"}}`
	progress      = `{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":1}}`
	logMessage    = `{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"x"}}`
)

func keepOnly(names ...string) func(string) bool {
	return func(name string) bool {
		for _, n := range names {
			if n == name {
				return true
			}
		}
		return false
	}
}

var readerKeep = keepOnly("list_files", "read_file")

func response(status int, header http.Header, body io.Reader) *http.Response {
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(body), ContentLength: -1}
}

func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestFilterToolsListJSON(t *testing.T) {
	jsonType := header("Content-Type", "application/json")
	for _, tc := range []struct {
		name   string
		status int // 200 if zero
		header http.Header
		body   string
		want   string // body if empty
		err    error
	}{
		{name: "filtered", body: toolsAnswer, want: toolsFiltered},
		{name: "other members keep bytes and order",
			body: `{ "result" : { "nextCursor":"x", "tools" : [ {"name":"read_file",  "x": 1.0e0 }, {"name":"merge_pull_request"} ] , "_meta":{"a":[1, 2]} }, "id" : 1, "jsonrpc":"2.0" }`,
			want: `{ "result" : { "nextCursor":"x", "tools" : [{"name":"read_file",  "x": 1.0e0 }] , "_meta":{"a":[1, 2]} }, "id" : 1, "jsonrpc":"2.0" }`},
		{name: "all kept: untouched", body: `{"id":1,"result":{"tools":[ {"name":"read_file"} ]}}`},
		{name: "any id is filtered (no other request waits on this stream)",
			body: `{"id":"0x1","result":{"tools":[{"name":"merge_pull_request"}]}}`,
			want: `{"id":"0x1","result":{"tools":[]}}`},
		{name: "no id", body: `{"result":{"tools":[{"name":"merge_pull_request"}]}}`, want: `{"result":{"tools":[]}}`},
		{name: "not JSON", body: `<html>tools</html>`},
		{name: "empty", body: ``},
		{name: "JSON that is no response", body: `"tools"`},
		{name: "error response", body: `{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"x"}}`},
		{name: "tools not an array", body: `{"id":1,"result":{"tools":{"name":"merge_pull_request"}}}`},
		{name: "broken JSON", body: `{"id":1,"result":{"tools":[`, err: errToolsListMalformed},
		{name: "trailing data", body: toolsAnswer + `x`, err: errToolsListMalformed},
		{name: "NaN a lenient parser takes", body: `{"id":1,"result":{"tools":[]},"x":NaN}`, err: errToolsListMalformed},
		{name: "batch: every answer filtered", body: `[` + progress + `,{"id":2,"result":{"tools":[{"name":"x"}]}}]`,
			want: `[` + progress + `,{"id":2,"result":{"tools":[]}}]`},
		{name: "batch with the answer", body: `[` + progress + `,` + toolsAnswer + `]`, want: `[` + progress + `,` + toolsFiltered + `]`},
		{name: "tools without a string name dropped",
			body: `{"id":1,"result":{"tools":[{"description":"x"},{"name":5},{"name":null},"read_file",{"name":"read_file"}]}}`,
			want: `{"id":1,"result":{"tools":[{"name":"read_file"}]}}`},
		{name: "names in any case, all must be allowed",
			body: `{"id":1,"result":{"tools":[{"name":"read_file","Name":"merge_pull_request"},{"NAME":"read_file"}]}}`,
			want: `{"id":1,"result":{"tools":[{"NAME":"read_file"}]}}`},
		{name: "duplicate and case-folded members all filtered",
			body: `{"ID":1,"result":{"tools":[{"name":"x"}]},"Result":{"Tools":[{"name":"y"}],"tools":[{"name":"z"}]}}`,
			want: `{"ID":1,"result":{"tools":[]},"Result":{"Tools":[],"tools":[]}}`},
		{name: "escaped member names",
			body: `{"\u0069d":1,"r\u0065sult":{"tool\u0073":[{"n\u0061me":"read_file"},{"name":"x"}]}}`,
			want: `{"\u0069d":1,"r\u0065sult":{"tool\u0073":[{"n\u0061me":"read_file"}]}}`},
		{name: "BOM kept", body: utf8BOM + toolsAnswer, want: utf8BOM + toolsFiltered},
		{name: "media type in any case with parameters", header: header("Content-Type", "Application/JSON; charset=utf-8"), body: toolsAnswer, want: toolsFiltered},
		{name: "not 2xx", status: http.StatusInternalServerError, body: toolsAnswer},
		{name: "HTML", header: header("Content-Type", "text/html"), body: toolsAnswer},
		{name: "no type", header: http.Header{}, body: toolsAnswer},
		{name: "JSON and event stream", header: header("Content-Type", "application/json", "Content-Type", "text/event-stream"), body: toolsAnswer, err: errToolsListType},
		{name: "gzip", header: header("Content-Type", "application/json", "Content-Encoding", "gzip"), body: toolsAnswer, err: errToolsListEncoded},
		{name: "identity", header: header("Content-Type", "application/json", "Content-Encoding", "identity"), body: toolsAnswer, want: toolsFiltered},
		{name: "over the limit", body: `{"id":1,"x":"` + strings.Repeat("a", maxToolsListJSON) + `"}`, err: errToolsListTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, h, want := or200(tc.status), tc.header, cmp.Or(tc.want, tc.body)
			if h == nil {
				h = jsonType.Clone()
			}
			h.Set("Content-Length", strconv.Itoa(len(tc.body)))
			resp := response(status, h, strings.NewReader(tc.body))
			resp.ContentLength = int64(len(tc.body))
			err := filterToolsList(resp, readerKeep)
			if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err != nil {
				return
			}
			got, err := io.ReadAll(resp.Body)
			if err != nil || string(got) != want {
				t.Fatalf("body = %s (%v)\nwant   %s", got, err, want)
			}
			if resp.ContentLength != int64(len(want)) || h.Get("Content-Length") != strconv.Itoa(len(want)) {
				t.Errorf("length %d, header %q; body has %d bytes", resp.ContentLength, h.Get("Content-Length"), len(want))
			}
		})
	}
}

func or200(status int) int {
	if status == 0 {
		return http.StatusOK
	}
	return status
}

// A declared length over the limit is refused before any byte is read.
func TestFilterToolsListJSONDeclaredTooLarge(t *testing.T) {
	resp := response(200, header("Content-Type", "application/json"), iotest.ErrReader(errors.New("read")))
	resp.ContentLength = maxToolsListJSON + 1
	if err := filterToolsList(resp, readerKeep); !errors.Is(err, errToolsListTooLarge) {
		t.Fatalf("err = %v", err)
	}
}

// sseEvent is one event: each line ended by eol, then the empty line.
func sseEvent(eol string, lines ...string) string {
	return strings.Join(lines, eol) + eol + eol
}

func TestFilterToolsListSSE(t *testing.T) {
	big := strings.Repeat("a", maxSSEEvent)
	for _, tc := range []struct {
		name, in, want string // want: in if empty
		err            error
	}{
		{name: "response between notifications",
			in:   sseEvent("\n", "event: message", "data: "+progress) + sseEvent("\n", "event: message", "data: "+toolsAnswer) + sseEvent("\n", "data: "+logMessage),
			want: sseEvent("\n", "event: message", "data: "+progress) + sseEvent("\n", "event: message", "data: "+toolsFiltered) + sseEvent("\n", "data: "+logMessage)},
		{name: "CRLF",
			in:   sseEvent("\r\n", "data: "+progress) + sseEvent("\r\n", "id: 1", "data: "+toolsAnswer),
			want: sseEvent("\r\n", "data: "+progress) + sseEvent("\r\n", "id: 1", "data: "+toolsFiltered)},
		{name: "CR",
			in:   sseEvent("\r", "data: "+progress) + sseEvent("\r", "data: "+toolsAnswer),
			want: sseEvent("\r", "data: "+progress) + sseEvent("\r", "data: "+toolsFiltered)},
		{name: "CR data line before an LF empty line",
			in:   "data: " + toolsAnswer + "\rid: 5\n\n",
			want: "id: 5\ndata: " + toolsFiltered + "\r\n\n"},
		{name: "mixed line ends, the data line's kept",
			in:   "data: " + toolsAnswer + "\r\n\r",
			want: "data: " + toolsFiltered + "\r\n\r"},
		{name: "multi-line data",
			in:   "data: {\"jsonrpc\":\"2.0\",\ndata:\"id\":1,\"result\":{\"tools\":[{\"name\":\"merge_pull_request\"},\ndata:  {\"name\":\"read_file\"}]}}\n\n",
			want: "data: {\"jsonrpc\":\"2.0\", \"id\":1,\"result\":{\"tools\":[{\"name\":\"read_file\"}]}}\n\n"},
		{name: "data the Go SDK trims to JSON",
			in:   "data: {\"id\":1,\ndata: \v\"result\":{\"tools\":[{\"name\":\"merge_pull_request\"}]}}\n\n",
			want: "data: {\"id\":1, \"result\":{\"tools\":[]}}\n\n"},
		{name: "other lines kept, in order, before the data",
			in:   ": hello\nevent: message\nid: 7\ndata: " + toolsAnswer + "\nretry: 100\n: bye\n\n",
			want: ": hello\nevent: message\nid: 7\nretry: 100\n: bye\ndata: " + toolsFiltered + "\n\n"},
		{name: "data without space, data line without colon",
			in:   "data:" + toolsAnswer + "\ndata\n\n",
			want: "data: " + toolsFiltered + "\n\n"},
		{name: "not data fields", in: "database: " + toolsAnswer + "\nDATA: " + toolsAnswer + "\n\n"},
		{name: "batch", in: sseEvent("\n", "data: ["+progress+","+toolsAnswer+"]"), want: sseEvent("\n", "data: ["+progress+","+toolsFiltered+"]")},
		{name: "data that is no JSON", in: sseEvent("\n", "data: hello") + sseEvent("\n", "data: 42") + sseEvent("\n", "data:")},
		{name: "any id", in: sseEvent("\n", `data: {"id":2,"result":{"tools":[{"name":"x"}]}}`), want: sseEvent("\n", `data: {"id":2,"result":{"tools":[]}}`)},
		{name: "BOM", in: utf8BOM + sseEvent("\n", "data: "+toolsAnswer), want: utf8BOM + sseEvent("\n", "data: "+toolsFiltered)},
		{name: "only a BOM's start", in: "\xEF\xBB"},
		{name: "empty", in: ""},
		{name: "blank lines and comments only", in: "\n\r\n: x\r\r\n:\n"},
		{name: "EOF after an event's data", in: "event: message\ndata: " + progress + "\n"},
		{name: "EOF in the middle of a line", in: "data: " + progress[:20]},
		{name: "EOF after broken JSON", in: "data: " + toolsAnswer[:40] + "\n"},
		{name: "EOF after the response, without its empty line (the Go SDK dispatches it)",
			in: "data: " + toolsAnswer + "\nid: 3", want: "data: " + toolsFiltered + "\nid: 3"},
		{name: "EOF in the response's last line", in: "data: " + toolsAnswer, want: "data: " + toolsFiltered},
		{name: "JSON-looking data that does not parse",
			in:   sseEvent("\n", "data: "+progress) + sseEvent("\n", `data: {"id":1,"result":{"tools":[]}`),
			want: sseEvent("\n", "data: "+progress), err: errToolsListMalformed},
		{name: "event over the limit",
			in:   sseEvent("\n", "data: "+progress) + sseEvent("\n", "data: "+big),
			want: sseEvent("\n", "data: "+progress), err: errSSEEventTooLarge},
		{name: "line over the limit", in: ": " + big + big + "\n", want: "", err: errSSEEventTooLarge},
	} {
		want := tc.want
		if want == "" && tc.err == nil {
			want = tc.in
		}
		t.Run(tc.name, func(t *testing.T) {
			for _, split := range splits(tc.in) {
				got, err := readSSE(split.r, readerKeep)
				if !errors.Is(err, tc.err) || (err == nil) != (tc.err == nil) {
					t.Fatalf("%s: err = %v, want %v", split.name, err, tc.err)
				}
				if got != want {
					t.Fatalf("%s:\ngot  %q\nwant %q", split.name, got, want)
				}
			}
		})
	}
}

type split struct {
	name string
	r    io.Reader
}

// splits reads in whole, one byte at a time, and cut in two at every
// offset, for inputs small enough to try them all.
func splits(in string) []split {
	s := []split{{"whole", strings.NewReader(in)}, {"bytewise", iotest.OneByteReader(strings.NewReader(in))}}
	if len(in) > 4096 {
		return s
	}
	for i := 1; i < len(in); i++ {
		s = append(s, split{fmt.Sprintf("cut%d", i), &chunkReader{chunks: []string{in[:i], in[i:]}}})
	}
	return s
}

// chunkReader returns its chunks one Read at a time.
type chunkReader struct{ chunks []string }

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, c.chunks[0])
	if c.chunks[0] = c.chunks[0][n:]; c.chunks[0] == "" {
		c.chunks = c.chunks[1:]
	}
	return n, nil
}

// readSSE filters r as the response body of a tools/list request and
// returns what a client reads, and the error that ended it (nil at EOF).
func readSSE(r io.Reader, keep func(string) bool) (string, error) {
	resp := response(200, header("Content-Type", "text/event-stream", "Content-Length", "9"), r)
	if err := filterToolsList(resp, keep); err != nil {
		return "", err
	}
	if resp.ContentLength != -1 || resp.Header.Get("Content-Length") != "" {
		return "", errors.New("length not cleared")
	}
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	return string(got), err
}

// An upstream error ends the stream with that error, after what came
// before it, the cut event filtered.
func TestFilterToolsListSSEUpstreamError(t *testing.T) {
	broken := errors.New("connection reset")
	in := sseEvent("\n", "data: "+progress) + "data: " + toolsAnswer + "\n"
	got, err := readSSE(io.MultiReader(strings.NewReader(in), iotest.ErrReader(broken)), readerKeep)
	if want := sseEvent("\n", "data: "+progress) + "data: " + toolsFiltered + "\n"; got != want || !errors.Is(err, broken) {
		t.Fatalf("got %q, %v\nwant %q, %v", got, err, want, broken)
	}
}

// A long-lived stream flows event by event: each event is readable before
// the upstream writes the next, a comment line before any empty line, and
// an event ended by CR before the upstream says whether an LF follows. A
// filter that waited for more would hang here (go test -timeout).
func TestFilterToolsListSSEStream(t *testing.T) {
	steps := []struct{ write, read string }{
		{": keep-alive\n", ": keep-alive\n"},
		{sseEvent("\n", "data: "+progress), sseEvent("\n", "data: "+progress)},
		{"event: message\nid: 1\n", "event: message\nid: 1\n"},
		{"data: " + toolsAnswer + "\n", ""},
		{"\n", "data: " + toolsFiltered + "\n\n"},
		{"data: " + logMessage + "\r\r", "data: " + logMessage + "\r\r"},
		{"\n", "\n"},
		{"data: " + progress, ""},
		{"\n\n", "data: " + progress + "\n\n"},
	}
	pr, pw := io.Pipe()
	resp := response(200, header("Content-Type", "text/event-stream"), pr)
	if err := filterToolsList(resp, readerKeep); err != nil {
		t.Fatal(err)
	}
	next := make(chan struct{})
	go func() {
		for _, s := range steps {
			if _, err := pw.Write([]byte(s.write)); err != nil {
				return
			}
			if s.read != "" {
				<-next // a write that yields nothing is read while the next one is
			}
		}
		_ = pw.Close()
	}()
	for i, s := range steps {
		if s.read == "" {
			continue
		}
		buf := make([]byte, len(s.read))
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != s.read {
			t.Fatalf("step %d: read %q (%v), want %q", i, buf, err, s.read)
		}
		next <- struct{}{}
	}
	if rest, err := io.ReadAll(resp.Body); err != nil || len(rest) != 0 {
		t.Fatalf("after the stream: %q, %v", rest, err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
}

// Close reaches the upstream body.
func TestFilterToolsListSSEClose(t *testing.T) {
	pr, pw := io.Pipe()
	resp := &http.Response{StatusCode: 200, Header: header("Content-Type", "text/event-stream"), Body: pr}
	if err := filterToolsList(resp, readerKeep); err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if _, err := pw.Write([]byte("x")); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("write after Close: %v", err)
	}
}

// FuzzSSEFilter: any stream, cut anywhere, reads the same as in one piece;
// with every tool allowed, a stream that holds no tool list passes
// unchanged (a list with entries that are not tools loses them);
// filtering twice changes nothing more.
func FuzzSSEFilter(f *testing.F) {
	for _, seed := range []string{
		sseEvent("\n", "data: "+progress) + sseEvent("\n", "id: 2", "data: "+toolsAnswer),
		sseEvent("\r\n", ": c", "data: "+toolsAnswer, "event: x"),
		sseEvent("\r", "data: "+toolsAnswer) + "data: x\r",
		utf8BOM + "data: {\"id\":1,\ndata: \"result\":{\"tools\":[1,{\"name\":\"read_file\"}]}}\n\n",
		"data: [" + toolsAnswer + "]\r\n\r\ndata",
	} {
		f.Add([]byte(seed), []byte{1, 7, 3})
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		whole, wholeErr := readSSE(bytes.NewReader(in), keepAll)
		noList := !bytes.Contains(bytes.ToLower(in), []byte("tools")) && !bytes.Contains(in, []byte(`\u`))
		if wholeErr == nil && noList && whole != string(in) {
			t.Fatalf("keep-all changed the stream:\n%q\n%q", in, whole)
		}
		filtered, err := readSSE(bytes.NewReader(in), readerKeep)
		cut, cutErr := readSSE(&chunkReader{chunks: cutAt(in, cuts)}, readerKeep)
		if cut != filtered || !errors.Is(cutErr, err) {
			t.Fatalf("cut %v: %q (%v)\nwhole: %q (%v)", cuts, cut, cutErr, filtered, err)
		}
		if err != nil {
			return
		}
		again, err := readSSE(strings.NewReader(filtered), readerKeep)
		if err != nil || again != filtered {
			t.Fatalf("filtering twice: %q (%v)\nonce: %q", again, err, filtered)
		}
	})
}

func keepAll(string) bool { return true }

// cutAt splits in into chunks whose lengths cycle through cuts.
func cutAt(in, cuts []byte) []string {
	var chunks []string
	for i := 0; len(in) > 0; i++ {
		n := len(in)
		if len(cuts) > 0 {
			n = min(n, int(cuts[i%len(cuts)])+1)
		}
		chunks = append(chunks, string(in[:n]))
		in = in[n:]
	}
	return chunks
}

// FuzzToolsListJSON: the scanners agree with encoding/json, a rewritten
// message is valid JSON, and filtering it again changes nothing.
func FuzzToolsListJSON(f *testing.F) {
	for _, seed := range []string{toolsAnswer, `[` + toolsAnswer + `]`, `{"ID":"1","Result":{"tools":[{"NAME":"read_file"},{}]}}`, ` [ 1 , "a\"]" , { } ] `} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if doc := bytes.TrimSpace(body); json.Valid(doc) && len(doc) > 0 && (doc[0] == '{' || doc[0] == '[') {
			if got, want := scanned(doc), decoded(t, doc); got != want {
				t.Fatalf("scanner: %s\nencoding/json: %s", got, want)
			}
		}
		out, err := rewriteToolsListJSON(body, readerKeep)
		if err != nil || out == nil {
			return
		}
		if !json.Valid(bytes.TrimPrefix(out, []byte(utf8BOM))) {
			t.Fatalf("invalid output %q", out)
		}
		if again, err := rewriteToolsListJSON(out, readerKeep); err != nil || again != nil {
			t.Fatalf("filtering twice: %q (%v)", again, err)
		}
	})
}

// scanned lists the members or elements members and elements find in
// doc, an object or array, as "key=value" lines.
func scanned(doc []byte) string {
	var b strings.Builder
	if doc[0] == '{' {
		for key, s := range members(doc) {
			fmt.Fprintf(&b, "%s=%s\n", key, doc[s.start:s.end])
		}
	} else {
		for s := range elements(doc) {
			fmt.Fprintf(&b, "=%s\n", doc[s.start:s.end])
		}
	}
	return b.String()
}

// decoded is scanned done by encoding/json.
func decoded(t *testing.T, doc []byte) string {
	var b strings.Builder
	dec := json.NewDecoder(bytes.NewReader(doc))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		key := ""
		if doc[0] == '{' {
			start := dec.InputOffset()
			if _, err := dec.Token(); err != nil {
				t.Fatal(err)
			}
			key = strings.TrimLeft(string(doc[start:dec.InputOffset()]), " \t\r\n,")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s\n", key, raw)
	}
	return b.String()
}

// toolsListOf is a tools/list answer with n tools named tool0…, as a
// server describes them.
func toolsListOf(n int) string {
	tools := make([]string, n)
	for i := range tools {
		tools[i] = fmt.Sprintf(`{"name":"tool%d","description":"Does thing %d to a repository.","inputSchema":{"type":"object","properties":{"repo":{"type":"string"},"path":{"type":"string"}},"required":["repo"]}}`, i, i)
	}
	return `{"jsonrpc":"2.0","id":1,"result":{"tools":[` + strings.Join(tools, ",") + `]}}`
}

func evenTools(name string) bool {
	n, _ := strconv.Atoi(strings.TrimPrefix(name, "tool"))
	return n%2 == 0
}

func BenchmarkFilterToolsListJSON(b *testing.B) {
	body := []byte(toolsListOf(50))
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		resp := response(200, header("Content-Type", "application/json"), bytes.NewReader(body))
		resp.ContentLength = int64(len(body))
		if err := filterToolsList(resp, evenTools); err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
	}
}

// BenchmarkFilterToolsListSSE: twenty notifications, then the answer.
func BenchmarkFilterToolsListSSE(b *testing.B) {
	var stream strings.Builder
	for range 20 {
		stream.WriteString(sseEvent("\n", "event: message", "data: "+progress))
	}
	stream.WriteString(sseEvent("\n", "event: message", "data: "+toolsListOf(50)))
	in := []byte(stream.String())
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		resp := response(200, header("Content-Type", "text/event-stream"), bytes.NewReader(in))
		if err := filterToolsList(resp, evenTools); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, resp.Body); err != nil {
			b.Fatal(err)
		}
	}
}
