// Package demo is the vulnerability-patching demonstration: a forge and an
// advisory service on loopback, four agents driven by deterministic code,
// the vuln-patch workflow, and scripted attacks run once against legacy
// OAuth (one client_credentials token, APIs check signature and scope) and
// once against ajwt (IdP + proxy + policy).
package demo

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	vulnpatch "github.com/ajwt/ajwt/examples/vuln-patch"
	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/console"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/internal/telemetry"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/proxy"
	"github.com/ajwt/ajwt/specfile"
)

// Modes.
const (
	Legacy = "legacy"
	AJWT   = "ajwt"
)

// Resource identifiers of the two APIs.
const (
	ForgeResource = "https://forge.example"
	OSVResource   = "https://osv.example"
)

// Secrets of the demo's clients (generated per run in a real deployment).
const (
	appSecret      = "demo-app-secret"
	approverSecret = "demo-approver-secret"
	adminSecret    = "demo-admin-secret"
	evilSecret     = "demo-evil-secret"
)

// Env is one mode's world: IdP, APIs, (in ajwt mode) proxies, and the app
// with its agents.
type Env struct {
	Mode     string
	Forge    *Forge
	IdPURL   string
	ForgeURL string // what agents call: the proxy (ajwt) or the API itself (legacy)
	OSVURL   string
	enf      []*middleware.Enforcer
	master   []byte
	specs    map[string]*agentspec.Spec
	app      *client.Client
	approver *client.Client
	agents   map[string]*client.Agent
	hc       *http.Client
	closers  []func()

	setup Setup
	// OperatorPassword is the console password of the demo's operator
	// (made up per run) when Setup named no operators.
	OperatorPassword string
	// WaitingRun is the run RunKeep left at its approval step.
	WaitingRun string
}

// Setup changes the demo's world for tests and `ajwt demo --console`.
type Setup struct {
	// Operators of the console; nil: one operator "operator" with every
	// role and a fresh password (Env.OperatorPassword).
	Operators []authserver.OperatorConfig
	// Tracing and Logger go to the IdP and the proxies (default: off and
	// discarded); WrapAPIs, if set, wraps the forge and the advisory
	// service behind the proxies (to see what reaches them).
	Tracing  *telemetry.Tracing
	Logger   *slog.Logger
	WrapAPIs func(http.Handler) http.Handler
}

// demoOperator is the operator a newcomer logs in as.
const demoOperator = "operator"

// Close stops everything the environment started.
func (e *Env) Close() {
	for i := len(e.closers) - 1; i >= 0; i-- {
		e.closers[i]()
	}
}

// Start builds an environment for mode in dir (the IdP's data).
func Start(ctx context.Context, mode, dir string) (*Env, error) {
	return StartWith(ctx, mode, dir, Setup{})
}

// StartWith is Start with a setup.
func StartWith(ctx context.Context, mode, dir string, setup Setup) (*Env, error) {
	e := &Env{Mode: mode, master: []byte("demo shim master secret: 32+ bytes, never leaves the app"),
		specs: map[string]*agentspec.Spec{}, agents: map[string]*client.Agent{}, hc: &http.Client{Timeout: 10 * time.Second}, setup: setup}
	if err := e.start(ctx, dir); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Env) start(ctx context.Context, dir string) error {
	if err := e.loadSpecs(); err != nil {
		return err
	}
	if err := e.startIdP(ctx, dir); err != nil {
		return err
	}
	forge, err := NewForge()
	if err != nil {
		return err
	}
	adv, err := NewAdvisory()
	if err != nil {
		return err
	}
	e.Forge = forge
	if e.Mode == Legacy {
		return e.startLegacyAPIs(forge.withMCP(), adv.Handler())
	}
	return e.startProxies(ctx, forge.withMCP(), adv.Handler())
}

// withMCP serves the forge's REST API and, at /mcp, the same forge as an
// MCP server: one resource, two doors, one policy.
func (f *Forge) withMCP() http.Handler {
	rest, tools := f.Handler(), f.MCPHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == MCPPath {
			tools.ServeHTTP(w, r)
			return
		}
		rest.ServeHTTP(w, r)
	})
}

func (e *Env) loadSpecs() (err error) {
	e.specs, err = Specs()
	return err
}

// Specs are the demo's agents, as examples/vuln-patch ships them.
func Specs() (map[string]*agentspec.Spec, error) {
	specs := map[string]*agentspec.Spec{}
	for _, id := range vulnpatch.AgentIDs() {
		data, err := fs.ReadFile(vulnpatch.Files, "agents/"+id+".yaml")
		if err != nil {
			return nil, err
		}
		if specs[id], err = specfile.Parse(id+".yaml", data); err != nil {
			return nil, err
		}
	}
	return specs, nil
}

// serve runs h on a loopback port and returns its URL.
func (e *Env) serve(h http.Handler) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	e.closers = append(e.closers, func() { _ = srv.Close() })
	return "http://" + ln.Addr().String(), nil
}

func (e *Env) startIdP(ctx context.Context, dir string) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	e.IdPURL = "http://" + ln.Addr().String()
	cfgText, err := e.idpConfig()
	if err != nil {
		return err
	}
	cfg, err := authserver.ParseConfig([]byte(cfgText))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	st, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "ajwt.db"), sqlstore.Options{Synchronous: "NORMAL"})
	if err != nil {
		return err
	}
	e.closers = append(e.closers, func() { st.Close() })
	srv, err := authserver.New(ctx, cfg, st, authserver.Options{Tracing: e.setup.Tracing, Logger: e.setup.Logger})
	if err != nil {
		return err
	}
	con, err := console.New(srv, console.Options{})
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: console.Mount(con, srv.Handler()), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	e.closers = append(e.closers, func() { _ = hs.Close(); srv.Close() })
	return e.startClients(ctx)
}

func (e *Env) startClients(ctx context.Context) error {
	var err error
	if e.app, err = client.New(ctx, client.Config{Issuer: e.IdPURL, ClientID: "patch-app", ClientSecret: appSecret}); err != nil {
		return err
	}
	if e.approver, err = client.New(ctx, client.Config{Issuer: e.IdPURL, ClientID: "approver", ClientSecret: approverSecret}); err != nil {
		return err
	}
	for id, spec := range e.specs {
		if e.agents[id], err = e.app.Agent(spec, client.DerivedKey(e.master)); err != nil {
			return err
		}
	}
	return nil
}

// idpConfig declares the clients, the agents with the public keys the shim
// derives, and the workflow (GitOps registration).
func (e *Env) idpConfig() (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "issuer: %s\ntoken_ttl: 120s\nfailed_grants_per_minute: 1000\nclients:\n", e.IdPURL)
	fmt.Fprintf(&b, "  - {client_id: patch-app, client_secret: %s, scopes: [ajwt:run, repo:read, repo:write, osv:query]}\n", appSecret)
	fmt.Fprintf(&b, "  - {client_id: approver, client_secret: %s, scopes: [ajwt:approve], approves_for: [patch-app]}\n", approverSecret)
	fmt.Fprintf(&b, "  - {client_id: admin, client_secret: %s, scopes: [ajwt:admin]}\n", adminSecret)
	fmt.Fprintf(&b, "  - {client_id: evil-app, client_secret: %s, scopes: [ajwt:run]}\n", evilSecret)
	agents, err := AgentsConfig(e.specs, e.publicJWK)
	if err != nil {
		return "", err
	}
	b.WriteString(agents)
	ops, err := e.operators()
	if err != nil {
		return "", err
	}
	b.WriteString(ops)
	return b.String(), nil
}

// AgentsConfig is the demo's "agents:" list for specs, each agent with
// the public JWK jwk gives it, followed by the vuln-patch workflow: what
// the demo's IdP registers, and `ajwt bench`'s whole runs too.
func AgentsConfig(specs map[string]*agentspec.Spec, jwk func(id string) (string, error)) (string, error) {
	var b strings.Builder
	b.WriteString("agents:\n")
	scopes := map[string]string{"supervisor": "[]", "classifier": "[repo:read]", "planner": "[repo:read, osv:query]", "patcher": "[repo:read, repo:write]"}
	for _, id := range vulnpatch.AgentIDs() {
		key, err := jwk(id)
		if err != nil {
			return "", err
		}
		spec, err := specs[id].MarshalJSON()
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  - agent_id: %s\n    client_id: patch-app\n    spec: %s\n    public_jwk: %s\n    scopes: %s\n    audiences: [%s, %s]\n",
			id, spec, key, scopes[id], ForgeResource, OSVResource)
		if id == "supervisor" {
			b.WriteString("    may_delegate_to: [patcher]\n")
		}
	}
	wf, err := vulnpatch.WorkflowsConfig()
	if err != nil {
		return "", err
	}
	b.WriteString(wf)
	return b.String(), nil
}

// operators renders the console's operators; without any in the setup,
// one with every role and a password made up now.
func (e *Env) operators() (string, error) {
	ops := e.setup.Operators
	if ops == nil {
		e.OperatorPassword = authserver.GeneratePassword()
		hash, err := authserver.HashSecret(e.OperatorPassword)
		if err != nil {
			return "", err
		}
		ops = []authserver.OperatorConfig{{Username: demoOperator, PasswordHash: hash, Roles: []string{authserver.RoleViewer, authserver.RoleApprover, authserver.RoleAdmin}}}
	}
	var b strings.Builder
	b.WriteString("operators:\n")
	for _, o := range ops {
		fmt.Fprintf(&b, "  - {username: %s, password_hash: %q, roles: [%s]}\n", o.Username, o.PasswordHash, strings.Join(o.Roles, ", "))
	}
	return b.String(), nil
}

// ConsoleURL is where the IdP serves its console.
func (e *Env) ConsoleURL() string { return e.IdPURL + console.Prefix + "/" }

// Operator is the demo operator's username.
func (e *Env) Operator() string { return demoOperator }

func (e *Env) publicJWK(id string) (string, error) {
	s, err := e.agentSigner(id, e.specs[id])
	if err != nil {
		return "", err
	}
	pub := s.Public()
	js, err := pub.MarshalJSON()
	return string(js), err
}

func (e *Env) agentSigner(id string, spec *agentspec.Spec) (*keys.Signer, error) {
	sum, err := agentspec.Sum(spec)
	if err != nil {
		return nil, err
	}
	priv, err := keys.DeriveAgentKey(e.master, id, string(sum))
	if err != nil {
		return nil, err
	}
	return keys.NewSigner(priv, keys.EdDSA, "")
}

func (e *Env) startProxies(ctx context.Context, forge, adv http.Handler) error {
	if wrap := e.setup.WrapAPIs; wrap != nil {
		forge, adv = wrap(forge), wrap(adv)
	}
	forgeUp, err := e.serve(forge)
	if err != nil {
		return err
	}
	advUp, err := e.serve(adv)
	if err != nil {
		return err
	}
	if e.ForgeURL, err = e.proxy(ctx, ForgePolicy, forgeUp); err != nil {
		return err
	}
	e.OSVURL, err = e.proxy(ctx, OSVPolicy, advUp)
	return err
}

func (e *Env) proxy(ctx context.Context, pol, upstream string) (string, error) {
	p, err := policyfile.Parse([]byte(strings.ReplaceAll(pol, "ISSUER", e.IdPURL)))
	if err != nil {
		return "", err
	}
	tracing := e.setup.Tracing
	opts := []middleware.Option{middleware.WithResultHook(tracing.ResultHook)}
	if e.setup.Logger != nil {
		opts = append(opts, middleware.WithLogger(e.setup.Logger))
	}
	enf, err := middleware.New(ctx, p, opts...)
	if err != nil {
		return "", err
	}
	e.enf = append(e.enf, enf)
	e.closers = append(e.closers, enf.Close)
	up, _ := url.Parse(upstream)
	h, err := proxy.New(up, enf, proxy.Options{Logger: e.setup.Logger})
	if err != nil {
		return "", err
	}
	return e.serve(tracing.Enforced(h))
}

// The ajwt mode's policies (PROTOCOL.md §8), with ISSUER for the IdP's
// URL; `ajwt bench`'s whole runs put the same policies in front of its API.
const ForgePolicy = `
issuer: ISSUER
resource: https://forge.example
routes:
  - match: {method: GET, path: "/repos/{owner}/{repo}/tree"}
    scopes: [repo:read]
    workflow: vuln-patch
    context: {repo: "{owner}/{repo}"}
  - match: {method: GET, path: "/repos/{owner}/{repo}/contents/**"}
    scopes: [repo:read]
    workflow: vuln-patch
    context: {repo: "{owner}/{repo}"}
  - match: {method: POST, path: "/repos/{owner}/{repo}/branches"}
    scopes: [repo:write]
    workflow: vuln-patch
    steps: [patch]
    agents: [patcher]
    context: {repo: "{owner}/{repo}"}
  - match: {method: PUT, path: "/repos/{owner}/{repo}/contents/**"}
    scopes: [repo:write]
    workflow: vuln-patch
    steps: [patch]
    agents: [patcher]
    context: {repo: "{owner}/{repo}"}
  - match: {method: POST, path: "/repos/{owner}/{repo}/pulls"}
    scopes: [repo:write]
    workflow: vuln-patch
    steps: [patch]
    agents: [patcher]
    context: {repo: "{owner}/{repo}"}
  - match: {method: PUT, path: "/repos/{owner}/{repo}/pulls/{n}/merge"}
    scopes: [repo:write]
    workflow: vuln-patch
    steps: [patch]
    agents: [patcher]
    context: {repo: "{owner}/{repo}"}
    one_time: true
` + mcpRoutes + `
default: deny
`

const OSVPolicy = `
issuer: ISSUER
resource: https://osv.example
routes:
  - match: {method: POST, path: "/v1/query"}
    scopes: [osv:query]
    workflow: vuln-patch
    steps: [assess]
    agents: [planner]
default: deny
`
