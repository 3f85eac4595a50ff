package proxy

import (
	"context"
	"io"
	"net/http"
	"sync"
	"time"
)

// Default timeouts of the proxy's server and of upstream exchanges.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultIdleTimeout       = 60 * time.Second
	DefaultKeepAlive         = 90 * time.Second
)

// ServerTimeouts are the limits the proxy's server puts on clients; zero
// values are defaults. There is no limit on a whole request or response:
// downloads, uploads and event streams last as long as bytes keep moving.
type ServerTimeouts struct {
	ReadHeader time.Duration // request line and headers (slowloris)
	Idle       time.Duration // longest pause while reading a body or writing a response
	KeepAlive  time.Duration // an idle keep-alive connection
}

// NewServer returns the proxy's HTTP server for h: no whole-request read
// or write timeout (they cut long downloads, slow uploads and event
// streams), but a deadline for the headers and, while a request body is
// read and a response written, a deadline that each read and each write
// moves to Idle from now, so that a client that stops sending or reading
// is cut.
func NewServer(h http.Handler, t ServerTimeouts) *http.Server {
	return &http.Server{
		Handler:           IdleDeadlines(h, or(t.Idle, DefaultIdleTimeout)),
		ReadHeaderTimeout: or(t.ReadHeader, DefaultReadHeaderTimeout),
		IdleTimeout:       or(t.KeepAlive, DefaultKeepAlive),
		MaxHeaderBytes:    32 << 10,
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// IdleDeadlines sets the connection's read deadline while h reads the
// request body and its write deadline while h writes, each moved to idle
// from now at every read and write, through http.ResponseController. The
// read deadline is cleared at the end of the body: the server then reads
// in the background to notice a client that goes away, and a deadline
// there would cancel a long response.
func IdleDeadlines(h http.Handler, idle time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		iw := &idleWriter{ResponseWriter: w, rc: rc, idle: idle}
		iw.extend() // a write deadline left by the previous request must not apply
		if r.Body != nil && r.Body != http.NoBody {
			_ = rc.SetReadDeadline(time.Now().Add(idle))
			r.Body = &idleBody{ReadCloser: r.Body, rc: rc, idle: idle}
		}
		h.ServeHTTP(iw, r)
	})
}

type idleBody struct {
	io.ReadCloser
	rc   *http.ResponseController
	idle time.Duration
	done bool
}

func (b *idleBody) Read(p []byte) (int, error) {
	if !b.done {
		_ = b.rc.SetReadDeadline(time.Now().Add(b.idle))
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// idleWriter moves the write deadline before every write and flush. It
// unwraps to the server's writer, so http.ResponseController (which the
// reverse proxy uses to flush and to switch protocols) reaches it.
type idleWriter struct {
	http.ResponseWriter
	rc   *http.ResponseController
	idle time.Duration
}

func (w *idleWriter) extend() { _ = w.rc.SetWriteDeadline(time.Now().Add(w.idle)) }

func (w *idleWriter) WriteHeader(code int) { w.extend(); w.ResponseWriter.WriteHeader(code) }

func (w *idleWriter) Write(p []byte) (int, error) { w.extend(); return w.ResponseWriter.Write(p) }

func (w *idleWriter) FlushError() error { w.extend(); return w.rc.Flush() }

func (w *idleWriter) Flush() { _ = w.FlushError() }

func (w *idleWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// idleTransport cancels an upstream exchange in which no byte moved for
// idle: neither read from the request body sent up nor from the response
// body coming back. The wait for the response headers is not counted;
// ResponseHeaderTimeout bounds it.
type idleTransport struct {
	base http.RoundTripper
	idle time.Duration
}

func (t *idleTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithCancel(req.Context())
	wd := &watchdog{idle: t.idle, cancel: cancel}
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		wd.kick()
		out.Body = &watchedBody{ReadCloser: req.Body, wd: wd, pauseAtEOF: true}
	}
	res, err := t.base.RoundTrip(out)
	if err != nil {
		wd.stop()
		cancel()
		return nil, err
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The body is the upgraded connection (a WebSocket), which the
		// reverse proxy hijacks and copies outside any HTTP exchange; it
		// ends with the request's context, so ctx must live on.
		wd.stop()
		return res, nil
	}
	wd.kick()
	res.Body = &watchedBody{ReadCloser: res.Body, wd: wd, onClose: cancel}
	return res, nil
}

// watchdog calls cancel when kick has not been called for idle.
type watchdog struct {
	idle   time.Duration
	cancel context.CancelFunc

	mu      sync.Mutex
	t       *time.Timer
	stopped bool
}

func (w *watchdog) kick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
	case w.t == nil:
		w.t = time.AfterFunc(w.idle, w.cancel)
	default:
		w.t.Reset(w.idle)
	}
}

// pause stops the clock until the next kick.
func (w *watchdog) pause() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.t != nil {
		w.t.Stop()
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	if w.t != nil {
		w.t.Stop()
	}
}

type watchedBody struct {
	io.ReadCloser
	wd         *watchdog
	pauseAtEOF bool // the request body: waiting for the response is not idling
	onClose    func()
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	switch {
	case err != nil && b.pauseAtEOF:
		b.wd.pause()
	case n > 0:
		b.wd.kick()
	}
	return n, err
}

func (b *watchedBody) Close() error {
	err := b.ReadCloser.Close()
	if b.onClose != nil {
		b.wd.stop()
		b.onClose()
	}
	return err
}
