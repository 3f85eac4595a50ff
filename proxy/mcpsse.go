package proxy

import (
	"bytes"
	"io"
	"slices"
	"strings"
)

// sseFilter passes an event stream on, rewriting the event that carries
// the tools/list response. It parses as WHATWG HTML §9.2.6 says: lines end
// in CRLF, LF or CR, one leading BOM is skipped, data lines are joined
// with "\n", an empty line dispatches. It holds at most one event, from
// its first data line to the empty line that ends it; any other line is
// passed on as soon as it is complete, and Read returns whatever is ready
// without waiting for more.
type sseFilter struct {
	src io.ReadCloser

	keep func(string) bool

	in      []byte // upstream bytes not yet split into lines: a partial line between reads
	scanned int    // in[:scanned] holds no line end
	out     []byte // bytes for the caller: out[off:]
	off     int
	event   []byte // the pending event, raw, from its first data line
	data    []byte // its data lines' values, each followed by "\n"
	afterCR bool   // in ended in a CR that ended a line: an LF next is part of its line end
	started bool   // the BOM check is done
	err     error  // sticky: the upstream's EOF or error, or a refusal
}

func (f *sseFilter) Read(p []byte) (int, error) {
	for f.off == len(f.out) {
		if f.err != nil {
			return 0, f.err
		}
		if len(p) == 0 {
			return 0, nil
		}
		f.out, f.off = f.out[:0], 0
		f.fill()
	}
	n := copy(p, f.out[f.off:])
	f.off += n
	return n, nil
}

func (f *sseFilter) Close() error { return f.src.Close() }

// fill reads once from upstream and takes apart what came.
func (f *sseFilter) fill() {
	f.in = slices.Grow(f.in, sseReadSize)
	free := f.in[len(f.in):cap(f.in)]
	n, err := f.src.Read(free)
	n = max(0, min(n, len(free)))
	f.in = f.in[:len(f.in)+n]
	f.scan(err != nil)
	if err != nil && f.err == nil {
		f.finish(err)
	}
}

// scan handles every complete line in f.in and keeps the partial rest.
func (f *sseFilter) scan(atEOF bool) {
	i := f.skipBOM(atEOF)
	if i < 0 {
		return
	}
	for f.err == nil && i < len(f.in) {
		if f.afterCR {
			f.afterCR = false
			if f.in[i] == '\n' {
				f.appendLF()
				i++
				continue
			}
		}
		from := max(i, f.scanned) // a partial line is not searched twice
		j := bytes.IndexAny(f.in[from:], "\r\n")
		if j < 0 {
			break
		}
		j += from
		end := j + 1
		if f.in[j] == '\r' {
			if end == len(f.in) {
				f.afterCR = true // the next read decides between CR and CRLF
			} else if f.in[end] == '\n' {
				end++
			}
		}
		f.line(f.in[i:end], j-i)
		i = end
	}
	if i > 0 {
		f.in = f.in[:copy(f.in, f.in[i:])]
	}
	f.scanned = len(f.in)
	if f.err == nil && len(f.event)+len(f.in) > maxSSEEvent {
		f.err = errSSEEventTooLarge
	}
}

// skipBOM passes a leading BOM on untouched and returns where lines
// start, or -1 while a BOM's first bytes may still be completed.
func (f *sseFilter) skipBOM(atEOF bool) int {
	if f.started {
		return 0
	}
	if len(f.in) < len(utf8BOM) && strings.HasPrefix(utf8BOM, string(f.in)) && !atEOF {
		return -1
	}
	f.started = true
	if !bytes.HasPrefix(f.in, []byte(utf8BOM)) {
		return 0
	}
	f.out = append(f.out, utf8BOM...)
	return len(utf8BOM)
}

// line handles one line: raw with its line end, which starts at n.
func (f *sseFilter) line(raw []byte, n int) {
	value, isData := dataValue(raw[:n])
	switch {
	case len(f.event) == 0 && !isData:
		f.out = append(f.out, raw...) // outside an event: a comment, another field, an empty line
	case n == 0:
		f.event = append(f.event, raw...)
		f.dispatch(false)
	default:
		f.event = append(f.event, raw...)
		if isData {
			// The Go SDK trims each value; where the JSON is valid the
			// trimmed bytes are whitespace, where it is not, the Go SDK
			// may parse what the WHATWG reading cannot.
			f.data = append(append(f.data, bytes.TrimSpace(value)...), '\n')
		}
		if len(f.event) > maxSSEEvent {
			f.err = errSSEEventTooLarge
		}
	}
}

// appendLF adds the LF of a CRLF split between reads to its line.
func (f *sseFilter) appendLF() {
	if len(f.event) > 0 {
		f.event = append(f.event, '\n')
	} else {
		f.out = append(f.out, '\n')
	}
}

// dispatch passes the pending event on, rewritten if it carries the list.
// cut is an event the stream's end cut: only the Go SDK reads it, with a
// parser no looser than ours, so JSON that does not parse passes with it.
func (f *sseFilter) dispatch(cut bool) {
	msg, err := rewriteMessage(bytes.TrimSuffix(f.data, []byte("\n")), f.keep)
	switch {
	case err != nil && !cut:
		f.err = err
	case msg == nil:
		f.out = append(f.out, f.event...)
	default:
		f.out = appendRewritten(f.out, f.event, msg)
	}
	f.event, f.data = f.event[:0], f.data[:0]
}

// finish ends the stream at the upstream's EOF or error. WHATWG clients
// drop an event that no empty line ended, but the Go SDK dispatches it,
// last line without line end included; so that event is filtered too,
// then passed on, still without its empty line.
func (f *sseFilter) finish(err error) {
	if len(f.in) > 0 {
		f.line(f.in, len(f.in))
		f.in = f.in[:0]
	}
	if f.err == nil && len(f.event) > 0 {
		f.dispatch(true)
	}
	if f.err == nil {
		f.err = err
	}
}

// appendRewritten appends event with its data lines replaced by one
// data line holding msg: the other lines (event:, id:, retry:, comments)
// keep their bytes and order, the new line follows them, just before the
// empty line, and ends as the first data line ended.
func appendRewritten(dst, event, msg []byte) []byte {
	var eol []byte
	sawData := false
	for rest := event; len(rest) > 0; {
		raw, n := cutLine(rest)
		rest = rest[len(raw):]
		if _, isData := dataValue(raw[:n]); isData {
			if !sawData {
				eol, sawData = raw[n:], true
			}
			continue
		}
		if n == 0 || n == len(raw) {
			// The empty line that ends the event, or a last line the stream's end cut.
			return append(appendDataLine(dst, msg, eol, raw), raw...)
		}
		dst = append(dst, raw...)
	}
	return appendDataLine(dst, msg, eol, nil) // the stream ended after data
}

// appendDataLine writes msg as one data line, then eol. A CR or LF in
// valid JSON is whitespace outside strings, so a space takes its place. A
// CR before an LF would read as one line end: that CR becomes CRLF.
func appendDataLine(dst, msg, eol, next []byte) []byte {
	dst = append(dst, "data: "...)
	start := len(dst)
	dst = append(dst, msg...)
	for i := start; i < len(dst); i++ {
		if dst[i] == '\n' || dst[i] == '\r' {
			dst[i] = ' '
		}
	}
	if string(eol) == "\r" && len(next) > 0 && next[0] == '\n' {
		return append(dst, "\r\n"...)
	}
	return append(dst, eol...)
}

// cutLine returns b's first line with its line end, which starts at n.
func cutLine(b []byte) ([]byte, int) {
	j := bytes.IndexAny(b, "\r\n")
	if j < 0 {
		return b, len(b)
	}
	end := j + 1
	if b[j] == '\r' && end < len(b) && b[end] == '\n' {
		end++
	}
	return b[:end], j
}

// dataValue reads a data line: "data", or "data:" and the value after
// one optional space.
func dataValue(line []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(line, []byte("data"))
	switch {
	case !ok:
		return nil, false
	case len(rest) == 0:
		return nil, true
	case rest[0] != ':':
		return nil, false // "database:" is another field
	}
	return bytes.TrimPrefix(rest[1:], []byte(" ")), true
}
