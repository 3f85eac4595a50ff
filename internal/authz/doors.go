package authz

import (
	"net/http"
	"strings"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
)

// Door names, as the access log and metrics show them.
const (
	DoorForwardAuth = "forward-auth"
	DoorAuthRequest = "auth-request"
	DoorExtAuthz    = "ext-authz"
	DoorGRPC        = "grpc"
)

// Paths of the HTTP doors (§13.1).
const (
	PathForwardAuth = "/authz/forward-auth"
	PathAuthRequest = "/authz/auth-request"
	PathExtAuthz    = "/authz/ext-authz" // followed by the original path
)

// forwardAuth reads Traefik's forwardAuth and Caddy's forward_auth:
// X-Forwarded-Method, -Proto, -Host and -Uri (path and query).
func forwardAuth(r *http.Request) (*Forwarded, error) {
	method, okM := single(r.Header, "X-Forwarded-Method")
	scheme, okP := single(r.Header, "X-Forwarded-Proto")
	host, okH := single(r.Header, "X-Forwarded-Host")
	uri, okU := one(r.Header, "X-Forwarded-Uri")
	if !okM || !okP || !okH || !okU {
		return nil, missing("forward-auth needs exactly one X-Forwarded-Method, X-Forwarded-Proto, X-Forwarded-Host and X-Forwarded-Uri")
	}
	return &Forwarded{Method: method, Scheme: strings.ToLower(scheme), Host: host, URI: uri, Header: credentials(r.Header.Values)}, nil
}

// authRequest reads nginx's auth_request: X-Original-Method and
// X-Original-URL, the absolute URL $scheme://$http_host$request_uri.
func authRequest(r *http.Request) (*Forwarded, error) {
	method, okM := single(r.Header, "X-Original-Method")
	raw, okU := one(r.Header, "X-Original-URL")
	scheme, host, uri, okA := splitAbsolute(raw)
	if !okM || !okU || !okA {
		return nil, missing("auth-request needs exactly one X-Original-Method and one absolute X-Original-URL")
	}
	return &Forwarded{Method: method, Scheme: scheme, Host: host, URI: uri, Header: credentials(r.Header.Values)}, nil
}

// extAuthz reads Envoy's HTTP ext_authz (path_prefix /authz/ext-authz):
// the request's own method, its path after the prefix, Host and
// X-Forwarded-Proto. The path is taken from the request line as sent:
// the server's parsed URL may hold a decoded form.
func extAuthz(r *http.Request) (*Forwarded, error) {
	uri := strings.TrimPrefix(r.RequestURI, PathExtAuthz)
	scheme, okP := single(r.Header, "X-Forwarded-Proto")
	if !okP || r.Host == "" {
		return nil, missing("ext-authz needs a Host and exactly one X-Forwarded-Proto")
	}
	return &Forwarded{Method: r.Method, Scheme: strings.ToLower(scheme), Host: r.Host, URI: uri, Header: credentials(r.Header.Values)}, nil
}

// fromCheck reads an Envoy CheckRequest: attributes.request.http's
// method, scheme, host, path (with the query) and headers (lower-case
// names; header_map instead when Envoy encodes raw headers). Envoy also
// lists the pseudo-headers; one that names another request than the
// fields is a contradiction.
func fromCheck(req *authv3.CheckRequest) (*Forwarded, error) {
	h := req.GetAttributes().GetRequest().GetHttp()
	headers := checkHeaders(h)
	f := &Forwarded{Method: h.GetMethod(), Scheme: strings.ToLower(h.GetScheme()), Host: h.GetHost(), URI: h.GetPath(),
		Header: credentials(func(name string) []string { return headers[strings.ToLower(name)] })}
	for pseudo, field := range map[string]string{":method": f.Method, ":path": f.URI, ":authority": f.Host, ":scheme": h.GetScheme()} {
		if v, ok := headers[pseudo]; ok && (len(v) != 1 || v[0] != field) {
			return nil, missing("the CheckRequest's %s header and its http attributes name different requests", pseudo)
		}
	}
	if f.Method == "" || f.Scheme == "" || f.Host == "" || f.URI == "" {
		return nil, missing("the CheckRequest needs attributes.request.http method, scheme, host and path")
	}
	return f, nil
}

// checkHeaders are a CheckRequest's headers by lower-case name.
func checkHeaders(h *authv3.AttributeContext_HttpRequest) map[string][]string {
	out := map[string][]string{}
	if hm := h.GetHeaderMap(); hm != nil && len(hm.GetHeaders()) > 0 {
		for _, kv := range hm.GetHeaders() {
			v := kv.GetValue()
			if v == "" {
				v = string(kv.GetRawValue())
			}
			k := strings.ToLower(kv.GetKey())
			out[k] = append(out[k], v)
		}
		return out
	}
	for k, v := range h.GetHeaders() {
		k = strings.ToLower(k)
		out[k] = append(out[k], v)
	}
	return out
}
