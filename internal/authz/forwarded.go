package authz

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/url"
	"strings"

	"github.com/ajwt/ajwt/protocol"
)

// ReasonMissingForwardedRequest: a gateway's request lacks a field its
// door needs to know the original request, or holds it twice or in two
// forms that disagree (§13.1). The authorizer never falls back to its own
// URL.
const ReasonMissingForwardedRequest = "missing_forwarded_request"

var errMissingForwarded = &protocol.Error{Code: protocol.CodeInvalidRequest, Reason: ReasonMissingForwardedRequest,
	Status: http.StatusBadRequest}

func missing(format string, args ...any) error {
	return errMissingForwarded.WithDescription(format, args...)
}

// Forwarded is the original request as a gateway describes it.
type Forwarded struct {
	Method string
	Scheme string // http or https
	Host   string // host[:port] the client addressed
	URI    string // path and query as the client sent them (origin form)
	// Header holds the client's Authorization and DPoP headers, every
	// value the gateway passed, so that two of either are refused as the
	// proxy refuses them.
	Header http.Header
}

// maxForwardedField bounds the forwarded method, scheme and host; a URI
// is bounded by the server's header limit (or gRPC's message limit).
const maxForwardedField = 1024

// check refuses a description that names no request or two: every field
// present, once, in a form an HTTP server would have accepted.
func (f *Forwarded) check() error {
	switch {
	case !isToken(f.Method):
		return missing("the original method is missing or not an HTTP method")
	case f.Scheme != "http" && f.Scheme != "https":
		return missing("the original scheme is missing or neither http nor https")
	case !validHost(f.Host):
		return missing("the original host is missing or not a host")
	case !strings.HasPrefix(f.URI, "/"):
		return missing("the original path is missing or not an absolute path")
	}
	return nil
}

// request is the synthetic request the enforcer decides on: the original
// method, URL and credentials, as the proxy would have received them. The
// enforcer reads the scheme from TLS, as a server fills it, so https is a
// non-nil (empty) connection state.
func (f *Forwarded) request(ctx context.Context) (*http.Request, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	u, err := url.ParseRequestURI(f.URI)
	if err != nil {
		return nil, protocol.ErrNonCanonicalPath.WithDescription("the original path cannot be parsed")
	}
	r := &http.Request{Method: f.Method, URL: &url.URL{Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Host: f.Host, Header: f.Header, RequestURI: f.URI, Body: http.NoBody}
	if f.Scheme == "https" {
		r.TLS = &tls.ConnectionState{}
	}
	return r.WithContext(ctx), nil
}

// credentials copies the headers the enforcer reads from the gateway's
// view of the client's headers; get returns every value of a name.
func credentials(get func(name string) []string) http.Header {
	h := make(http.Header, 2)
	for _, name := range [...]string{"Authorization", "Dpop"} {
		if v := get(name); len(v) > 0 {
			h[name] = v
		}
	}
	return h
}

// one is the one value of a forwarded field: absent, empty or repeated
// is no answer.
func one(h http.Header, name string) (string, bool) {
	v := h.Values(name)
	if len(v) != 1 {
		return "", false
	}
	s := strings.TrimSpace(v[0])
	return s, s != ""
}

// single is one for a field that cannot hold a comma: a comma list is a
// chain of proxies, each naming another request.
func single(h http.Header, name string) (string, bool) {
	s, ok := one(h, name)
	return s, ok && len(s) <= maxForwardedField && !strings.Contains(s, ",")
}

func isToken(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChar(s[i]) {
			return false
		}
	}
	return true
}

func tokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// validHost accepts what may follow "scheme://" up to the path: a
// registered name, IPv4 or bracketed IPv6 address, and a port; no
// userinfo, path, query or whitespace.
func validHost(s string) bool {
	if s == "" || len(s) > maxForwardedField {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("/\\?#@,\"<>{}|^`", c) >= 0 {
			return false
		}
	}
	return true
}

// splitAbsolute splits an absolute http(s) URL into scheme, host and the
// origin-form rest, by hand: url.Parse would cut a "#" off the path that
// the gateway forwards to the upstream as part of it.
func splitAbsolute(raw string) (scheme, host, uri string, ok bool) {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return "", "", "", false
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", "", false
	}
	return strings.ToLower(scheme), rest[:i], rest[i:], true
}
