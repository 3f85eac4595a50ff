// Package proxy is the enforcing reverse proxy of PROTOCOL.md §8: it puts
// the middleware in front of an unmodified API, forwards the canonical path
// the policy was applied to (never the raw one), strips credentials,
// spoofable identity headers and method or URL overrides, and tells the
// upstream who is calling in Ajwt-Agent, Ajwt-Run, Ajwt-Step,
// Ajwt-Initiated-By and Ajwt-Client.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/ajwt/ajwt/middleware"
)

// Options tune the proxy; zero values are defaults.
type Options struct {
	Logger          *slog.Logger
	DialTimeout     time.Duration // default 5 s
	ResponseTimeout time.Duration // upstream response headers, default 30 s
	// IdleTimeout cuts an upstream exchange in which no byte of the
	// request body went up and no byte of the response came back for
	// this long (default DefaultIdleTimeout); a transfer that keeps
	// moving has no time limit.
	IdleTimeout time.Duration
	Transport   http.RoundTripper
}

// New returns a handler that enforces with enf and forwards to upstream.
func New(upstream *url.URL, enf *middleware.Enforcer, opts Options) (http.Handler, error) {
	if upstream == nil || upstream.Scheme == "" || upstream.Host == "" {
		return nil, errors.New("proxy: upstream must be an absolute URL")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	rp := &httputil.ReverseProxy{
		Rewrite:        func(pr *httputil.ProxyRequest) { rewrite(pr, upstream) },
		ModifyResponse: filterResponse,
		Transport:      &idleTransport{base: transport(opts), idle: or(opts.IdleTimeout, DefaultIdleTimeout)},
		ErrorHandler:   func(w http.ResponseWriter, r *http.Request, err error) { upstreamError(w, r, err, opts.Logger) },
		// 0: a body of known length goes out with its headers in one write.
		// Streams (no Content-Length, text/event-stream) are still flushed
		// at every write: ReverseProxy does that for them whatever this says.
		FlushInterval: 0,
		BufferPool:    &bufferPool{},
	}
	return enf.Handler(canonicalOnly(rp)), nil
}

// canonicalOnly forwards only requests whose canonical path the enforcer
// determined. Behind enf.Handler every forwarded request has one; the
// check makes sure the raw path can never be the fallback.
func canonicalOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := middleware.PathFromContext(r.Context()); !ok {
			http.Error(w, "request did not pass the enforcer", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// bufferPool reuses the body-copy buffers: without one, ReverseProxy
// allocates 32 KiB per request, most of the proxy's garbage.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if buf, ok := b.p.Get().(*[]byte); ok {
		return *buf
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(buf []byte) { b.p.Put(&buf) }

func transport(opts Options) http.RoundTripper {
	if opts.Transport != nil {
		return opts.Transport
	}
	dial := opts.DialTimeout
	if dial == 0 {
		dial = 5 * time.Second
	}
	resp := opts.ResponseTimeout
	if resp == 0 {
		resp = 30 * time.Second
	}
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
		ResponseHeaderTimeout: resp,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

// Headers the proxy sets for the upstream.
const (
	HeaderAgent       = "Ajwt-Agent"
	HeaderRun         = "Ajwt-Run"
	HeaderStep        = "Ajwt-Step"
	HeaderInitiatedBy = "Ajwt-Initiated-By"
	HeaderClient      = "Ajwt-Client"
	HeaderTool        = "Ajwt-Tool" // the tool of an MCP tools/call (§12.2)
)

// rewrite forwards the canonical path, strips the caller's credentials and
// the headers a client could claim an identity or another request with,
// then sets ours from the verified token.
func rewrite(pr *httputil.ProxyRequest, upstream *url.URL) {
	path, _ := middleware.PathFromContext(pr.In.Context()) // canonicalOnly made sure
	setPath(pr.Out.URL, path)
	pr.SetURL(upstream)
	pr.SetXForwarded()
	h := pr.Out.Header
	for name := range h {
		if dropHeader(name) {
			delete(h, name)
		}
	}
	v, ok := middleware.FromContext(pr.In.Context())
	if !ok {
		return
	}
	rewriteMCP(pr.Out, v)
	c := v.Claims
	setIf(h, HeaderClient, c.ClientID)
	if !c.IsIntent() {
		return // a client id is no agent id: a legacy token names no agent
	}
	setIf(h, HeaderAgent, c.Subject)
	setIf(h, HeaderRun, c.Intent.RunID)
	setIf(h, HeaderStep, c.Intent.WorkflowStep)
	setIf(h, HeaderInitiatedBy, c.Intent.InitiatedBy)
}

// setPath makes u's path the canonical one: RawPath is what goes on the
// wire, Path its decoding (a canonical path always decodes).
func setPath(u *url.URL, canonical string) {
	decoded, err := url.PathUnescape(canonical)
	if err != nil {
		decoded, canonical = "/", "/"
	}
	u.Path, u.RawPath = decoded, canonical
}

// dropHeader reports whether an incoming header must not reach the
// upstream: credentials (Authorization, DPoP), anything named like the
// headers the proxy sets (Ajwt-*), and headers that make common frameworks
// serve another method (X-HTTP-Method-Override, X-HTTP-Method,
// X-Method-Override) or another path (X-Original-URL, X-Rewrite-URL) than
// the one the policy decided on. Names are compared as CGI, WSGI and Rack
// read them: in any case, with "_" the same as "-".
func dropHeader(name string) bool {
	if len(name) >= 5 && headerEq(name[:5], "ajwt-") {
		return true
	}
	for _, d := range [...]string{"authorization", "dpop", "x-http-method-override", "x-http-method", "x-method-override", "x-original-url", "x-rewrite-url"} {
		if headerEq(name, d) {
			return true
		}
	}
	return false
}

// headerEq compares a header name with a lowercase, "-"-separated one.
func headerEq(name, want string) bool {
	if len(name) != len(want) {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

func setIf(h http.Header, k, v string) {
	if v != "" {
		h.Set(k, v)
	}
}

func upstreamError(w http.ResponseWriter, r *http.Request, err error, log *slog.Logger) {
	status := http.StatusBadGateway
	if errors.Is(err, context.DeadlineExceeded) {
		status = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) {
		return // the client went away
	}
	path, _ := middleware.PathFromContext(r.Context())
	log.Warn("upstream error", "method", r.Method, "path", path, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"upstream_unavailable","error_description":"the upstream API did not answer"}` + "\n"))
}
