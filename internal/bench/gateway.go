package bench

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ajwt/ajwt/internal/authz"
	"github.com/ajwt/ajwt/middleware"
)

// Names of the gateway series.
const (
	NameNginxDirect    = "gateway: nginx → upstream"
	NameNginxAuthz     = "gateway: nginx + auth_request → ajwt authz (token + DPoP + policy)"
	NameGatewayProxy   = "gateway: ajwt proxy, same requests"
	NameAuthzDecision  = "authz: auth-request decision per request"
	NameAuthzGRPCCheck = "authz: gRPC Check, loopback"
)

// GatewayConcurrency is what the gateway series compare at.
var GatewayConcurrency = []int{1, 8, 64}

// GatewaySeries compares an API behind nginx alone, behind nginx asking
// `ajwt authz` (auth_request, DPoP on every request) and behind `ajwt
// proxy`, at concurrency 1, 8 and 64; and the authorizer's decision
// endpoint alone — the auth-request handler on one goroutine, to set
// beside the middleware's decision, and the gRPC Check over loopback.
// Without nginx the series are skipped (nil, no error) and progress
// says why. nginx runs as one process; the authorizer, the proxy and the
// upstream share this process with the clients.
func GatewaySeries(cfg Config) ([]Series, func(), error) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		cfg.Progress("gateway series skipped: nginx is not installed (scripts/gateway-test.sh installs it)")
		return nil, func() {}, nil
	}
	f, err := newFixture()
	if err != nil {
		return nil, nil, err
	}
	return withStops(func(stops *[]func()) ([]Series, error) { return f.gatewaySeries(cfg, nginx, stops) })
}

func (f *fixture) gatewaySeries(cfg Config, nginx string, stops *[]func()) ([]Series, error) {
	upstream, prx, stopProxy, err := f.behindProxy(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"content":"module x"}`)) }))
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, stopProxy)
	enf, err := middleware.New(context.Background(), f.pol, middleware.WithKeySource(f.ks), middleware.WithoutRevocationFeed())
	if err != nil {
		return nil, err
	}
	a, err := authz.New(enf, authz.Options{})
	if err != nil {
		return nil, err
	}
	authzSrv := httptest.NewServer(a.Handler())
	*stops = append(*stops, authzSrv.Close)
	direct, gated, stopNginx, err := startBenchNginx(cfg.Dir, nginx, strings.TrimPrefix(authzSrv.URL, "http://"), strings.TrimPrefix(upstream.URL, "http://"))
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, stopNginx)
	check, stopGRPC, err := startCheck(a)
	if err != nil {
		return nil, err
	}
	*stops = append(*stops, stopGRPC)
	ss := f.gatewayHTTPSeries(cfg, direct, gated, prx.URL)
	return append(ss, f.decisionSeries(cfg, a.Handler(), check)...), nil
}

// gatewayHTTPSeries: the same GET through nginx alone, nginx + authz and
// the proxy, at each concurrency.
func (f *fixture) gatewayHTTPSeries(cfg Config, direct, gated, prx string) []Series {
	hc := newHTTP(GatewayConcurrency[len(GatewayConcurrency)-1])
	var ss []Series
	for _, conc := range GatewayConcurrency {
		viaAuthz, viaProxy := f.getThrough(gated, hc, NameNginxAuthz, conc, cfg.Ops), f.getThrough(prx, hc, NameGatewayProxy, conc, cfg.Ops)
		viaAuthz.Note = "proofs made untimed; authorizer and upstream in this process"
		viaProxy.Note = "proofs made untimed; proxy and upstream in this process"
		ss = append(ss,
			Series{Name: NameNginxDirect, Concurrency: conc, Note: "nginx, one process, no authorization",
				Op: func(int) error { return expectOK(hc.Get(direct + benchPath)) }},
			viaAuthz, viaProxy)
	}
	return ss
}

// decisionSeries: the auth-request door's whole handler on one goroutine
// (latency = CPU per decision, comparable with NameMiddleware), and the
// gRPC Check over loopback.
func (f *fixture) decisionSeries(cfg Config, h http.Handler, check authv3.AuthorizationClient) []Series {
	const gw = "http://gw.example"
	reqs := make([]*http.Request, cfg.Ops)
	checks := make([]*authv3.CheckRequest, cfg.Ops)
	ss := []Series{{Name: NameAuthzDecision, Concurrency: 1, Note: "handler called directly (no network): headers read, synthetic request, decision, answer; one goroutine",
		Prepare: func(from, to int) error {
			proofs := make([]string, to-from)
			if err := f.proofsInto(proofs, gw+benchPath); err != nil {
				return err
			}
			for i := from; i < to; i++ {
				reqs[i] = httptest.NewRequest(http.MethodGet, authz.PathAuthRequest, nil)
				reqs[i].Header = http.Header{"X-Original-Method": {"GET"}, "X-Original-Url": {gw + benchPath},
					"Authorization": {"DPoP " + f.tok}, "Dpop": {proofs[i-from]}}
			}
			return nil
		},
		Op: func(i int) error {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, reqs[i])
			if w.Code != http.StatusOK {
				return fmt.Errorf("HTTP %d %s", w.Code, w.Body)
			}
			return nil
		}}}
	for _, conc := range []int{1, 8} {
		ss = append(ss, Series{Name: NameAuthzGRPCCheck, Concurrency: conc, Note: "Envoy's CheckRequest; proofs made untimed",
			Prepare: func(from, to int) error {
				proofs := make([]string, to-from)
				if err := f.proofsInto(proofs, gw+benchPath); err != nil {
					return err
				}
				for i := from; i < to; i++ {
					checks[i] = &authv3.CheckRequest{Attributes: &authv3.AttributeContext{Request: &authv3.AttributeContext_Request{
						Http: &authv3.AttributeContext_HttpRequest{Method: "GET", Scheme: "http", Host: "gw.example", Path: benchPath,
							Headers: map[string]string{":authority": "gw.example", ":method": "GET", ":path": benchPath,
								"authorization": "DPoP " + f.tok, "dpop": proofs[i-from]}}}}}
				}
				return nil
			},
			Op: func(i int) error {
				res, err := check.Check(context.Background(), checks[i])
				if err != nil {
					return err
				}
				if res.GetOkResponse() == nil {
					return fmt.Errorf("denied: %s", res.GetStatus().GetMessage())
				}
				return nil
			}})
	}
	return ss
}

// startBenchNginx runs nginx with two servers: one proxying to the
// upstream directly, one asking the authorizer first (the auth_request
// part of examples/gateways/nginx/ajwt.conf).
func startBenchNginx(dir, bin, authzAddr, upstreamAddr string) (direct, gated string, stop func(), err error) {
	dir = filepath.Join(dir, "nginx")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", nil, err
	}
	directAddr, err := freePort()
	if err != nil {
		return "", "", nil, err
	}
	gatedAddr, err := freePort()
	if err != nil {
		return "", "", nil, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(benchNginxConf, dir, authzAddr, upstreamAddr, directAddr, gatedAddr)), 0o600); err != nil {
		return "", "", nil, err
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", conf)
	if err := cmd.Start(); err != nil {
		return "", "", nil, err
	}
	stop = func() { _ = cmd.Process.Kill(); _, _ = cmd.Process.Wait() }
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", gatedAddr); err == nil {
			c.Close()
			return "http://" + directAddr, "http://" + gatedAddr, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			return "", "", nil, fmt.Errorf("bench: nginx did not start: %s", log)
		}
	}
}

const benchNginxConf = `daemon off;
master_process off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log error;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream ajwt_authz { server %[2]s; keepalive 128; }
    upstream ajwt_api { server %[3]s; keepalive 128; }
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {
        listen %[4]s;
        location / { proxy_pass http://ajwt_api; }
    }
    server {
        listen %[5]s;
        large_client_header_buffers 4 16k;
        location / {
            auth_request /_ajwt_authz;
            auth_request_set $ajwt_agent $upstream_http_ajwt_agent;
            auth_request_set $ajwt_run $upstream_http_ajwt_run;
            auth_request_set $ajwt_step $upstream_http_ajwt_step;
            auth_request_set $ajwt_initiated_by $upstream_http_ajwt_initiated_by;
            auth_request_set $ajwt_client $upstream_http_ajwt_client;
            proxy_set_header Ajwt-Agent $ajwt_agent;
            proxy_set_header Ajwt-Run $ajwt_run;
            proxy_set_header Ajwt-Step $ajwt_step;
            proxy_set_header Ajwt-Initiated-By $ajwt_initiated_by;
            proxy_set_header Ajwt-Client $ajwt_client;
            proxy_set_header Authorization "";
            proxy_set_header DPoP "";
            proxy_set_header Connection "";
            proxy_pass http://ajwt_api;
        }
        location = /_ajwt_authz {
            internal;
            proxy_pass http://ajwt_authz/authz/auth-request;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header Connection "";
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
        }
    }
}
`

// startCheck serves the gRPC Check service on loopback and returns a
// client of it.
func startCheck(a *authz.Authorizer) (authv3.AuthorizationClient, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	gs := grpc.NewServer()
	a.RegisterGRPC(gs)
	go func() { _ = gs.Serve(ln) }()
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		gs.Stop()
		return nil, nil, err
	}
	return authv3.NewAuthorizationClient(conn), func() { conn.Close(); gs.Stop() }, nil
}
