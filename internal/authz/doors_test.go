package authz_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"

	"github.com/ajwt/ajwt/internal/authz"
)

// outcome is what a client (or, for an allowed request, the upstream)
// learns of one request through one door.
type outcome struct {
	status        int
	error, reason string
	challenges    []string // WWW-Authenticate, the door's base URL written BASE
	nonce         bool
	header        http.Header // the door's answer (the client's, for the proxy)
	identity      map[string]string
	grpcCode      codes.Code
}

// door is one way a request reaches the enforcer: the proxy, or a
// gateway asking the authorizer through one of its four doors.
type door struct {
	name string
	base string // the URL a client addresses
	send func(t *testing.T, method, uri string, hdr http.Header) outcome
}

func (w *world) doors() []door {
	return []door{
		{"proxy", w.prx, w.viaProxy},
		{authz.DoorForwardAuth, gatewayBase, w.viaForwardAuth},
		{authz.DoorAuthRequest, gatewayBase, w.viaAuthRequest},
		{authz.DoorExtAuthz, gatewayBase, w.viaExtAuthz},
		{authz.DoorGRPC, gatewayBase, w.viaGRPC},
	}
}

func (w *world) viaProxy(t *testing.T, method, uri string, hdr http.Header) outcome {
	o := readOutcome(t, call(t, method, w.prx, uri, hdr, ""), w.prx)
	if o.status == http.StatusOK {
		o.identity = identityOf(w.upstreamSaw())
	}
	return o
}

// viaForwardAuth is Traefik's and Caddy's request: the client's headers
// and the original request in X-Forwarded-*.
func (w *world) viaForwardAuth(t *testing.T, method, uri string, hdr http.Header) outcome {
	h := cloneHeader(hdr)
	h.Set("X-Forwarded-Method", method)
	h.Set("X-Forwarded-Proto", "http")
	h.Set("X-Forwarded-Host", "gw.example:8080")
	h.Set("X-Forwarded-Uri", uri)
	return gatewayOutcome(t, call(t, http.MethodGet, w.authz, authz.PathForwardAuth, h, ""))
}

// viaAuthRequest is nginx's: X-Original-Method and X-Original-URL.
func (w *world) viaAuthRequest(t *testing.T, method, uri string, hdr http.Header) outcome {
	h := cloneHeader(hdr)
	h.Set("X-Original-Method", method)
	h.Set("X-Original-URL", gatewayBase+uri)
	return gatewayOutcome(t, call(t, http.MethodGet, w.authz, authz.PathAuthRequest, h, ""))
}

// viaExtAuthz is Envoy's HTTP ext_authz: the original method, the prefix
// and the original path, the original Host.
func (w *world) viaExtAuthz(t *testing.T, method, uri string, hdr http.Header) outcome {
	h := cloneHeader(hdr)
	h.Set("X-Forwarded-Proto", "http")
	return gatewayOutcome(t, call(t, method, w.authz, authz.PathExtAuthz+uri, h, "gw.example:8080"))
}

// viaGRPC sends a CheckRequest as Envoy fills it: the http attributes,
// and every header with its name in lower case, pseudo-headers included
// (several values of one name joined with ",").
func (w *world) viaGRPC(t *testing.T, method, uri string, hdr http.Header) outcome {
	res, err := w.check.Check(context.Background(), envoyCheck(method, "http", "gw.example:8080", uri, hdr))
	if err != nil {
		t.Fatal(err)
	}
	return grpcOutcome(t, res)
}

func envoyCheck(method, scheme, host, uri string, hdr http.Header) *authv3.CheckRequest {
	headers := map[string]string{":authority": host, ":method": method, ":path": uri, "x-forwarded-proto": scheme,
		"user-agent": "test", "x-request-id": "0f6c3c1e-5b49-4b7e-9a51-2b0e1c7d3a11"}
	for k, v := range hdr {
		headers[strings.ToLower(k)] = strings.Join(v, ",")
	}
	return &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
		Http: &authv3.AttributeContext_HttpRequest{Id: "1", Method: method, Scheme: scheme, Host: host, Path: uri,
			Headers: headers, Protocol: "HTTP/1.1"}}}}
}

func grpcOutcome(t *testing.T, res *authv3.CheckResponse) outcome {
	t.Helper()
	o := outcome{grpcCode: codes.Code(res.GetStatus().GetCode()), header: http.Header{}}
	if ok := res.GetOkResponse(); ok != nil {
		o.status, o.identity = http.StatusOK, map[string]string{}
		for _, hv := range ok.GetHeaders() {
			o.identity[http.CanonicalHeaderKey(hv.GetHeader().GetKey())] = hv.GetHeader().GetValue()
		}
		for _, name := range authz.IdentityHeaders() {
			if _, set := o.identity[name]; !set {
				o.identity[name] = ""
				if !slices.Contains(ok.GetHeadersToRemove(), strings.ToLower(name)) {
					t.Fatalf("%s neither set nor removed: %v", name, ok)
				}
			}
		}
		if !slices.Contains(ok.GetHeadersToRemove(), "authorization") || !slices.Contains(ok.GetHeadersToRemove(), "dpop") {
			t.Fatalf("credentials not removed: %v", ok.GetHeadersToRemove())
		}
		return o
	}
	denied := res.GetDeniedResponse()
	if denied == nil {
		t.Fatalf("neither OK nor denied: %v", res)
	}
	o.status = int(denied.GetStatus().GetCode())
	for _, hv := range denied.GetHeaders() {
		o.header.Add(hv.GetHeader().GetKey(), hv.GetHeader().GetValue())
	}
	o.readHeaders(gatewayBase)
	o.readBody(t, []byte(denied.GetBody()))
	want := codes.PermissionDenied
	if o.status == http.StatusUnauthorized {
		want = codes.Unauthenticated
	}
	if o.grpcCode != want {
		t.Fatalf("gRPC status %v for HTTP %d", o.grpcCode, o.status)
	}
	return o
}

func readOutcome(t *testing.T, res *http.Response, base string) outcome {
	t.Helper()
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	o := outcome{status: res.StatusCode, header: res.Header}
	o.readHeaders(base)
	if o.status != http.StatusOK {
		o.readBody(t, raw)
	}
	return o
}

// gatewayOutcome reads an HTTP door's answer: an allowed one has an empty
// body and all five identity headers.
func gatewayOutcome(t *testing.T, res *http.Response) outcome {
	t.Helper()
	o := readOutcome(t, res, gatewayBase)
	if o.status == http.StatusOK {
		o.identity = map[string]string{}
		for _, name := range authz.IdentityHeaders() {
			v, present := res.Header[name]
			if !present || len(v) != 1 {
				t.Fatalf("allowed answer without exactly one %s: %v", name, res.Header)
			}
			o.identity[name] = v[0]
		}
	}
	return o
}

func (o *outcome) readHeaders(base string) {
	for _, c := range o.header.Values("WWW-Authenticate") {
		o.challenges = append(o.challenges, strings.ReplaceAll(c, base, "BASE"))
	}
	o.nonce = o.header.Get("DPoP-Nonce") != ""
}

func (o *outcome) readBody(t *testing.T, raw []byte) {
	t.Helper()
	var wire struct{ Error, Reason string }
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatalf("refusal %d without a JSON body: %q", o.status, raw)
	}
	o.error, o.reason = wire.Error, wire.Reason
}

// identityOf is the five headers as the upstream saw them ("" absent).
func identityOf(h http.Header) map[string]string {
	out := map[string]string{}
	for _, name := range authz.IdentityHeaders() {
		out[name] = h.Get(name)
	}
	return out
}

// authHeader is a request's credentials.
func authHeader(scheme, tok, proof string) http.Header {
	h := http.Header{}
	if tok != "" {
		h.Set("Authorization", scheme+" "+tok)
	}
	if proof != "" {
		h.Set("DPoP", proof)
	}
	return h
}

func hostOf(base string) string { u, _ := url.Parse(base); return u.Host }

func cloneHeader(h http.Header) http.Header {
	if h == nil {
		return http.Header{}
	}
	return h.Clone()
}
