package authz_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/ajwt/ajwt/internal/authz"
)

// TestMissingForwardedRequest: a door that cannot tell which request it
// is asked about — a field absent, repeated, a comma list, in another
// form, or two forms that disagree — refuses with 400 (nginx's door:
// 403) missing_forwarded_request, never deciding on its own URL.
func TestMissingForwardedRequest(t *testing.T) {
	w := newWorld(t, authz.Options{})
	fwd := func(drop string, set map[string][]string) http.Header {
		h := http.Header{"X-Forwarded-Method": {"GET"}, "X-Forwarded-Proto": {"http"}, "X-Forwarded-Host": {"gw.example"}, "X-Forwarded-Uri": {"/health"}}
		h.Del(drop)
		for k, v := range set {
			h[k] = v
		}
		return h
	}
	orig := func(drop string, set map[string][]string) http.Header {
		h := http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"http://gw.example/health"}}
		h.Del(drop)
		for k, v := range set {
			h[k] = v
		}
		return h
	}
	httpCases := []struct {
		name, path string
		hdr        http.Header
		host       string
	}{
		{"forward-auth without a method", authz.PathForwardAuth, fwd("X-Forwarded-Method", nil), ""},
		{"forward-auth without a proto", authz.PathForwardAuth, fwd("X-Forwarded-Proto", nil), ""},
		{"forward-auth without a host", authz.PathForwardAuth, fwd("X-Forwarded-Host", nil), ""},
		{"forward-auth without a URI", authz.PathForwardAuth, fwd("X-Forwarded-Uri", nil), ""},
		{"forward-auth with two hosts", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Host": {"gw.example", "evil.example"}}), ""},
		{"forward-auth with a host list", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Host": {"gw.example, evil.example"}}), ""},
		{"forward-auth with two methods", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Method": {"GET", "DELETE"}}), ""},
		{"forward-auth with a proto list", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Proto": {"https,http"}}), ""},
		{"forward-auth with another scheme", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Proto": {"ftp"}}), ""},
		{"forward-auth with a relative URI", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Uri": {"health"}}), ""},
		{"forward-auth with an absolute URI", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Uri": {"http://evil.example/health"}}), ""},
		{"forward-auth with a host holding a path", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Host": {"gw.example/x"}}), ""},
		{"forward-auth with userinfo", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Host": {"a@gw.example"}}), ""},
		{"forward-auth with a method that is no token", authz.PathForwardAuth, fwd("", map[string][]string{"X-Forwarded-Method": {"GE T"}}), ""},
		{"auth-request without a method", authz.PathAuthRequest, orig("X-Original-Method", nil), ""},
		{"auth-request without a URL", authz.PathAuthRequest, orig("X-Original-Url", nil), ""},
		{"auth-request with a relative URL", authz.PathAuthRequest, orig("", map[string][]string{"X-Original-Url": {"/health"}}), ""},
		{"auth-request with no path", authz.PathAuthRequest, orig("", map[string][]string{"X-Original-Url": {"http://gw.example"}}), ""},
		{"auth-request with no host", authz.PathAuthRequest, orig("", map[string][]string{"X-Original-Url": {"http:///health"}}), ""},
		{"auth-request with two URLs", authz.PathAuthRequest, orig("", map[string][]string{"X-Original-Url": {"http://gw.example/health", "http://gw.example/x"}}), ""},
		{"auth-request with another scheme", authz.PathAuthRequest, orig("", map[string][]string{"X-Original-Url": {"gopher://gw.example/health"}}), ""},
		{"ext-authz without X-Forwarded-Proto", authz.PathExtAuthz + "/health", http.Header{}, "gw.example"},
		{"ext-authz with two protos", authz.PathExtAuthz + "/health", http.Header{"X-Forwarded-Proto": {"http", "https"}}, "gw.example"},
	}
	for _, tt := range httpCases {
		t.Run(tt.name, func(t *testing.T) {
			o := gatewayOutcome(t, call(t, http.MethodGet, w.authz, tt.path, tt.hdr, tt.host))
			status := map[bool]int{true: 403, false: 400}[tt.path == authz.PathAuthRequest]
			expectMissing(t, o, status)
		})
	}
	grpcCases := []struct {
		name string
		req  *authv3.CheckRequest
	}{
		{"empty CheckRequest", &authv3.CheckRequest{}},
		{"no host", envoyCheck("GET", "http", "", "/health", nil)},
		{"no path", envoyCheck("GET", "http", "gw.example", "", nil)},
		{"no method", envoyCheck("", "http", "gw.example", "/health", nil)},
		{"no scheme", envoyCheck("GET", "", "gw.example", "/health", nil)},
		{":path disagrees", envoyCheck("GET", "http", "gw.example", "/health", http.Header{":path": {"/repos/acme/web/secrets"}})},
		{":authority disagrees", envoyCheck("GET", "http", "gw.example", "/health", http.Header{":authority": {"evil.example"}})},
		{":method disagrees", envoyCheck("GET", "http", "gw.example", "/health", http.Header{":method": {"DELETE"}})},
	}
	for _, tt := range grpcCases {
		t.Run("grpc "+tt.name, func(t *testing.T) {
			res, err := w.check.Check(context.Background(), tt.req)
			if err != nil {
				t.Fatal(err)
			}
			expectMissing(t, grpcOutcome(t, res), 400)
		})
	}
}

func expectMissing(t *testing.T, o outcome, status int) {
	t.Helper()
	if o.status != status || o.error != "invalid_request" || o.reason != authz.ReasonMissingForwardedRequest || len(o.challenges) != 0 {
		t.Fatalf("%d %s/%s %v, want %d invalid_request/missing_forwarded_request", o.status, o.error, o.reason, o.challenges, status)
	}
	if o.header.Get("Cache-Control") != "no-store" || o.header.Get(authz.HeaderReason) != authz.ReasonMissingForwardedRequest {
		t.Fatalf("headers %v", o.header)
	}
}

// TestUnparseablePath: a forwarded path no server would parse is refused
// as §8 refuses paths it will not route. On Envoy's HTTP door the path is
// on the request line, which Go's server itself refuses (a plain 400, a
// refusal all the same).
func TestUnparseablePath(t *testing.T) {
	w := newWorld(t, authz.Options{})
	for _, d := range w.doors()[1:] {
		if d.name == authz.DoorExtAuthz {
			res := call(t, http.MethodGet, w.authz, authz.PathExtAuthz+"/repos/acme/web/%zz", http.Header{"X-Forwarded-Proto": {"http"}}, "gw.example")
			res.Body.Close()
			if res.StatusCode != 400 {
				t.Fatalf("ext-authz: %d", res.StatusCode)
			}
			continue
		}
		o := d.send(t, http.MethodGet, "/repos/acme/web/%zz", nil)
		status := map[bool]int{true: 403, false: 400}[d.name == authz.DoorAuthRequest]
		if o.status != status || o.reason != "non_canonical_path" {
			t.Fatalf("%s: %d %s", d.name, o.status, o.reason)
		}
	}
}

const secret = "a gateway secret of more than thirty-two characters"

// TestGatewaySecret: with a secret, a request without it, with another,
// or with two values gets 401 gateway_unauthenticated, no DPoP
// challenge and no decision; gRPC takes it from the call's metadata only,
// never from the forwarded headers a client chose.
func TestGatewaySecret(t *testing.T) {
	var mu sync.Mutex
	var decided []authz.Decision
	w := newWorld(t, authz.Options{Secret: secret, Observe: func(d authz.Decision) { mu.Lock(); decided = append(decided, d); mu.Unlock() }})
	public := http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {"http://gw.example/health"}}
	for name, values := range map[string][]string{"none": nil, "wrong": {"x" + secret}, "prefix": {secret[:32]}, "two": {secret, secret}} {
		t.Run("http "+name, func(t *testing.T) {
			h := public.Clone()
			h[authz.HeaderGatewaySecret] = values
			expectGatewayRefusal(t, gatewayOutcome(t, call(t, http.MethodGet, w.authz, authz.PathAuthRequest, h, "")))
		})
	}
	for name, md := range map[string]metadata.MD{"none": nil, "wrong": metadata.Pairs("ajwt-gateway-secret", "x"+secret)} {
		t.Run("grpc "+name, func(t *testing.T) {
			req := envoyCheck("GET", "http", "gw.example", "/health", http.Header{"Ajwt-Gateway-Secret": {secret}})
			res, err := w.check.Check(metadata.NewOutgoingContext(context.Background(), md), req)
			if err != nil {
				t.Fatal(err)
			}
			o := grpcOutcome(t, res)
			expectGatewayRefusal(t, o)
			if o.grpcCode != codes.Unauthenticated {
				t.Fatalf("gRPC %v", o.grpcCode)
			}
		})
	}
	mu.Lock()
	if len(decided) != 0 {
		t.Fatalf("decided without the secret: %+v", decided)
	}
	mu.Unlock()
	t.Run("with the secret", func(t *testing.T) {
		h := public.Clone()
		h.Set(authz.HeaderGatewaySecret, secret)
		if o := gatewayOutcome(t, call(t, http.MethodGet, w.authz, authz.PathAuthRequest, h, "")); o.status != 200 {
			t.Fatalf("%d %s", o.status, o.reason)
		}
		ctx := metadata.NewOutgoingContext(context.Background(), metadata.Pairs("ajwt-gateway-secret", secret))
		res, err := w.check.Check(ctx, envoyCheck("GET", "http", "gw.example", "/health", nil))
		if err != nil || res.GetOkResponse() == nil {
			t.Fatalf("%v %v", res, err)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(decided) != 2 || decided[0].Door != authz.DoorAuthRequest || decided[0].Path != "/health" || decided[1].Door != authz.DoorGRPC {
			t.Fatalf("decisions %+v", decided)
		}
	})
}

func expectGatewayRefusal(t *testing.T, o outcome) {
	t.Helper()
	if o.status != 401 || o.error != "unauthorized" || o.reason != authz.ReasonGatewayUnauthenticated || len(o.challenges) != 0 ||
		o.header.Get("Cache-Control") != "no-store" || o.header.Get(authz.HeaderReason) != authz.ReasonGatewayUnauthenticated {
		t.Fatalf("%d %s/%s challenges %v headers %v", o.status, o.error, o.reason, o.challenges, o.header)
	}
}

// TestOtherPaths: the decision port serves the three doors only.
func TestOtherPaths(t *testing.T) {
	w := newWorld(t, authz.Options{})
	for _, p := range []string{"/", "/metrics", "/authz/ext-authz", "/authz/ext-authzx/health", "/authz/forward-auth/x", "/authz/auth-request/../forward-auth"} {
		res := call(t, http.MethodGet, w.authz, p, http.Header{"X-Forwarded-Proto": {"http"}}, "gw.example")
		res.Body.Close()
		if res.StatusCode != 404 || res.Header.Get("Cache-Control") != "no-store" {
			t.Fatalf("%s: %d %v", p, res.StatusCode, res.Header)
		}
	}
}

// TestHTTPSOrigin: the scheme the gateway names is the one the proof's
// htu must carry.
func TestHTTPSOrigin(t *testing.T) {
	w := newWorld(t, authz.Options{})
	f := w.fixtures(t)
	for _, tt := range []struct {
		htu    string
		status int
	}{{"https://gw.example" + read, 200}, {"http://gw.example" + read, 401}} {
		h := authHeader("DPoP", f.planTok, mkProof(t, f.planner, http.MethodGet, tt.htu, f.planTok))
		h.Set("X-Original-Method", "GET")
		h.Set("X-Original-Url", "https://gw.example"+read)
		if o := gatewayOutcome(t, call(t, http.MethodGet, w.authz, authz.PathAuthRequest, h, "")); o.status != tt.status {
			t.Fatalf("htu %s: %d %s", tt.htu, o.status, o.reason)
		}
		res, _ := w.check.Check(context.Background(), envoyCheck("GET", "https", "gw.example", read,
			authHeader("DPoP", f.planTok, mkProof(t, f.planner, http.MethodGet, tt.htu, f.planTok))))
		if o := grpcOutcome(t, res); o.status != tt.status {
			t.Fatalf("gRPC, htu %s: %d %s", tt.htu, o.status, o.reason)
		}
	}
}
