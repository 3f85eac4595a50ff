package authz_test

import (
	"context"
	"encoding/json"
	"github.com/ajwt/ajwt/internal/forgery"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/authz"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/proxy"
)

const idpConfig = `
issuer: ISSUER
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: app, client_secret: app-secret, scopes: [ajwt:run, repo:read, repo:write], audiences: [https://forge.example]}
`

// gatewayBase is the URL clients address through a gateway: the doors
// see it only in the forwarded fields.
const gatewayBase = "http://gw.example:8080"

// world is a real IdP, one enforcer, the proxy in front of an upstream,
// and the authorizer's four doors, all on loopback.
type world struct {
	t      *testing.T
	idp    string
	enf    *middleware.Enforcer
	prx    string // the proxy's URL
	authz  string // the HTTP doors' URL
	check  authv3.AuthorizationClient
	agents map[string]*keys.Signer
	sums   map[string]agentspec.Checksum

	mu       sync.Mutex
	lastSeen http.Header // what the upstream saw last
}

func newWorld(t *testing.T, opts authz.Options) *world {
	t.Helper()
	w := &world{t: t, agents: map[string]*keys.Signer{}, sums: map[string]agentspec.Checksum{}}
	w.idp = idptest.Start(t, idpConfig).URL
	w.register()
	pol, err := policyfile.Parse([]byte(strings.ReplaceAll(forgery.MatrixPolicy, "ISSUER", w.idp)))
	if err != nil {
		t.Fatal(err)
	}
	if w.enf, err = middleware.New(context.Background(), pol); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.enf.Close)
	w.startProxy()
	a, err := authz.New(w.enf, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(srv.Close)
	w.authz = srv.URL
	w.check = startGRPC(t, a)
	return w
}

func (w *world) startProxy() {
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.lastSeen = r.Header.Clone()
		w.mu.Unlock()
	}))
	w.t.Cleanup(upstream.Close)
	up, _ := url.Parse(upstream.URL)
	h, err := proxy.New(up, w.enf, proxy.Options{})
	if err != nil {
		w.t.Fatal(err)
	}
	prx := httptest.NewServer(h)
	w.t.Cleanup(prx.Close)
	w.prx = prx.URL
}

// startGRPC serves the Check service on loopback and returns a client.
func startGRPC(t *testing.T, a *authz.Authorizer) authv3.AuthorizationClient {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	a.RegisterGRPC(gs)
	go gs.Serve(ln)
	t.Cleanup(gs.Stop)
	conn, err := grpc.NewClient(ln.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return authv3.NewAuthorizationClient(conn)
}

func (w *world) upstreamSaw() http.Header {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastSeen
}

// call sends one request; uri goes on the request line exactly as given.
func call(t *testing.T, method, base, uri string, hdr http.Header, host string) *http.Response {
	t.Helper()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	req := &http.Request{Method: method, URL: &url.URL{Scheme: u.Scheme, Host: u.Host, Opaque: uri}, Header: hdr.Clone(), Host: host}
	if req.Header == nil {
		req.Header = http.Header{}
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func (w *world) adminToken() string { return "Bearer " + w.clientToken("admin", "admin-secret", "") }

func (w *world) clientToken(id, secret, resource string) string {
	w.t.Helper()
	v := url.Values{"grant_type": {"client_credentials"}}
	if resource != "" {
		v.Set("resource", resource)
	}
	req, _ := http.NewRequest(http.MethodPost, w.idp+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(id, secret)
	body := w.do(req, http.StatusOK)
	return body["access_token"].(string)
}

func (w *world) do(req *http.Request, want int) map[string]any {
	w.t.Helper()
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if res.StatusCode != want {
		w.t.Fatalf("%s %s: %d %s", req.Method, req.URL, res.StatusCode, raw)
	}
	return out
}

func (w *world) api(method, path, auth, body string, want int) map[string]any {
	w.t.Helper()
	req, _ := http.NewRequest(method, w.idp+path, strings.NewReader(body))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/json")
	return w.do(req, want)
}

func (w *world) register() {
	admin := w.adminToken()
	for _, id := range []string{"planner", "patcher"} {
		spec := &agentspec.Spec{AgentID: id, PromptTemplate: "You are " + id + "."}
		sum, _ := agentspec.Sum(spec)
		key, _ := keys.Generate(keys.EdDSA, nil)
		w.agents[id], w.sums[id] = key, sum
		body, _ := json.Marshal(map[string]any{"client_id": "app", "spec": spec, "public_jwk": key.Public(),
			"scopes": []string{"repo:read", "repo:write"}, "audiences": []string{"https://forge.example"}})
		w.api(http.MethodPut, "/v1/agents/"+id, admin, string(body), http.StatusCreated)
	}
	w.api(http.MethodPut, "/v1/workflows/wf", admin, `{"steps":[{"id":"plan","agent":"planner","scopes":["repo:read"],"audience":"https://forge.example"},
	  {"id":"patch","agent":"patcher","scopes":["repo:read","repo:write"],"audience":"https://forge.example","depends_on":["plan"]}]}`, http.StatusCreated)
}

func (w *world) startRun(repo string) string {
	app := "Bearer " + w.clientToken("app", "app-secret", "")
	body := w.api(http.MethodPost, "/v1/runs", app, `{"workflow_id":"wf","initiated_by":"user:alice","execution_context":{"repo":"`+repo+`"}}`, http.StatusCreated)
	return body["run_id"].(string)
}

func (w *world) grant(id, run, step string) string {
	w.t.Helper()
	proof, _ := dpop.NewProof(w.agents[id], http.MethodPost, w.idp+"/token", dpop.ProofOptions{})
	v := url.Values{"grant_type": {protocol.GrantAgentChecksum}, "agent_id": {id}, "agent_checksum": {string(w.sums[id])}, "run_id": {run}, "workflow_step": {step}}
	req, _ := http.NewRequest(http.MethodPost, w.idp+"/token", strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("DPoP", proof)
	req.SetBasicAuth("app", "app-secret")
	return w.do(req, http.StatusOK)["access_token"].(string)
}

func (w *world) complete(id, run, step, tok string) {
	w.t.Helper()
	path := "/v1/runs/" + run + "/steps/" + step + "/complete"
	proof, _ := dpop.NewProof(w.agents[id], http.MethodPost, w.idp+path, dpop.ProofOptions{AccessToken: tok})
	req, _ := http.NewRequest(http.MethodPost, w.idp+path, nil)
	req.Header.Set("Authorization", "DPoP "+tok)
	req.Header.Set("DPoP", proof)
	w.do(req, http.StatusOK)
}
