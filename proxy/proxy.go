// Package proxy is the enforcing reverse proxy of PROTOCOL.md §8: it puts
// the middleware in front of an unmodified API, strips credentials and
// spoofable identity headers, and tells the upstream who is calling in
// Ajwt-Agent, Ajwt-Run, Ajwt-Step and Ajwt-Initiated-By.
package proxy

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ajwt/ajwt/middleware"
)

// Options tune the proxy; zero values are defaults.
type Options struct {
	Logger          *slog.Logger
	DialTimeout     time.Duration // default 5 s
	ResponseTimeout time.Duration // upstream response headers, default 30 s
	Transport       http.RoundTripper
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
		Rewrite:       func(pr *httputil.ProxyRequest) { rewrite(pr, upstream) },
		Transport:     transport(opts),
		ErrorHandler:  func(w http.ResponseWriter, r *http.Request, err error) { upstreamError(w, r, err, opts.Logger) },
		FlushInterval: -1, // stream bodies as they come
		BufferPool:    &bufferPool{},
	}
	return enf.Handler(rp), nil
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
)

// rewrite strips the caller's credentials and every incoming Ajwt-* header
// (a client must not be able to claim an identity), then sets ours from the
// verified token.
func rewrite(pr *httputil.ProxyRequest, upstream *url.URL) {
	pr.SetURL(upstream)
	pr.SetXForwarded()
	h := pr.Out.Header
	h.Del("Authorization")
	h.Del("DPoP")
	for name := range h {
		if strings.HasPrefix(http.CanonicalHeaderKey(name), "Ajwt-") {
			h.Del(name)
		}
	}
	v, ok := middleware.FromContext(pr.In.Context())
	if !ok {
		return
	}
	c := v.Claims
	h.Set(HeaderAgent, c.Subject)
	if c.Intent != nil {
		setIf(h, HeaderRun, c.Intent.RunID)
		setIf(h, HeaderStep, c.Intent.WorkflowStep)
		setIf(h, HeaderInitiatedBy, c.Intent.InitiatedBy)
	}
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
	log.Warn("upstream error", "method", r.Method, "path", r.URL.Path, "err", err)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`{"error":"upstream_unavailable","error_description":"the upstream API did not answer"}` + "\n"))
}
