package bench

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/telemetry"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/proxy"
	"github.com/ajwt/ajwt/token"
)

// Names of the enforcement and proxy series, for looking results up.
const (
	NameBareVerify = "bare: token verify + proof verify (go-jose)"
	NameEd25519    = "bare: one Ed25519 signature verify (the proof's)"
	NameMiddleware = "middleware: full decision per request"
	NameDirect     = "upstream called directly"
	NameViaProxy   = "through ajwt proxy (token + DPoP + policy)"

	NameMiddlewareMCP = "middleware: full decision per MCP tools/call"
	NameMCPDirect     = "MCP tools/call, server called directly"
	NameMCPViaProxy   = "MCP tools/call through ajwt proxy"
)

const (
	benchIssuer   = "https://idp.example"
	benchResource = "https://api.example"
	benchURL      = "http://api.example/repos/acme/web/contents/go.mod"
	benchMCPURL   = "http://api.example/mcp"
	readFileCall  = `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"read_file","arguments":{"repo":"acme/web","path":"go.mod"}}}`
)

// fixture is a signed intent token and its agent key, as an enforcer sees them.
type fixture struct {
	agent *keys.Signer
	ks    *token.StaticKeys
	jwks  jose.JSONWebKeySet // the issuer's public keys
	tok   string
	pol   *policy.Policy
}

func newFixture() (*fixture, error) { return newFixtureAt(benchIssuer) }

// newFixtureAt is a fixture whose token names issuer.
func newFixtureAt(issuer string) (*fixture, error) {
	issuerKey, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		return nil, err
	}
	agent, err := keys.Generate(keys.EdDSA, nil)
	if err != nil {
		return nil, err
	}
	iss, _ := token.NewIssuer(issuer, issuerKey)
	now := time.Now()
	chain := []string{"planner"}
	tok, err := iss.Mint(&token.Claims{Subject: "planner", Audience: token.Audience{benchResource}, ClientID: "app",
		IssuedAt: now.Unix(), ExpiresAt: now.Add(time.Hour).Unix(), ID: randomID(), Scope: "repo:read",
		Cnf:        &token.Confirmation{JKT: agent.Thumbprint()},
		AgentProof: &token.AgentProof{AgentChecksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000", RegistrationID: "r", Version: 1},
		Intent: &token.Intent{WorkflowID: "vuln-patch", WorkflowVersion: 1, RunID: "run", WorkflowStep: "plan", ExecutedBy: "planner",
			InitiatedBy: "user:alice", DelegationChain: chain, DelegationChainHash: token.ChainHash(chain),
			StepSequenceHash: token.StepSequenceHash(nil, "plan"), CompletedSteps: []string{}, ExecutionContext: map[string]string{"repo": "acme/web"}}})
	if err != nil {
		return nil, err
	}
	jwks := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}}
	ks, err := token.NewStaticKeys(jwks)
	if err != nil {
		return nil, err
	}
	pol, err := policy.Compile(policy.Rules{Issuer: issuer, Resource: benchResource, Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/contents/**"}, Scopes: []string{"repo:read"},
			Workflow: "vuln-patch", Steps: []string{"plan"}, Agents: []string{"planner"}, Context: map[string]string{"repo": "{owner}/{repo}"}},
		// The same rule for the MCP door: read_file's repo argument plays
		// the path's {owner}/{repo}.
		{Match: policy.MatchRule{Method: "POST", Path: "/mcp"}, Workflow: "vuln-patch", MCP: &policy.MCPRule{Tools: []policy.ToolRule{
			{Name: "read_file", Scopes: []string{"repo:read"}, Steps: []string{"plan"}, Agents: []string{"planner"},
				Context: map[string]string{"repo": "{args.repo}"}}}}},
	}})
	return &fixture{agent: agent, ks: ks, jwks: jwks, tok: tok, pol: pol}, err
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// proofsInto fills out with fresh proofs for GET uri.
func (f *fixture) proofsInto(out []string, uri string) error {
	return f.proofsFor(out, http.MethodGet, uri)
}

// proofsFor fills out with fresh proofs for method and uri.
func (f *fixture) proofsFor(out []string, method, uri string) (err error) {
	for i := range out {
		if out[i], err = dpop.NewProof(f.agent, method, uri, dpop.ProofOptions{AccessToken: f.tok}); err != nil {
			return err
		}
	}
	return nil
}

// EnforceSeries compares the middleware's decision per request with the
// work it would do without its token cache: one token verification and
// one proof verification. Both run in this process on one goroutine, so
// latency is CPU per request; proofs and requests are built untimed.
func EnforceSeries(cfg Config) ([]Series, error) {
	f, err := newFixture()
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	verifier, _ := token.NewVerifier(benchIssuer, benchResource, f.ks)
	pv, _ := dpop.NewVerifier(dpop.NewMemoryReplayCache(cfg.Ops*4, nil))
	bareProofs := make([]string, cfg.Ops)
	enf, err := middleware.New(ctx, f.pol, middleware.WithKeySource(f.ks), middleware.WithoutRevocationFeed())
	if err != nil {
		return nil, err
	}
	reqs := make([]*http.Request, cfg.Ops)
	mcpReqs := make([]*http.Request, cfg.Ops)
	pub, msg := f.agent.CryptoSigner().Public().(ed25519.PublicKey), []byte(benchURL)
	sig, _ := f.agent.CryptoSigner().Sign(nil, msg, crypto.Hash(0))
	return []Series{
		{Name: NameEd25519, Concurrency: 1, Note: "the floor of any request with a proof: crypto/ed25519.Verify; one goroutine",
			Op: func(int) error {
				if !ed25519.Verify(pub, msg, sig) {
					return errors.New("bench: signature does not verify")
				}
				return nil
			}},
		{Name: NameBareVerify, Concurrency: 1, Note: "one goroutine; latency = CPU per request",
			Prepare: func(from, to int) error { return f.proofsInto(bareProofs[from:to], benchURL) },
			Op: func(i int) error {
				c, err := verifier.Verify(ctx, f.tok)
				if err != nil {
					return err
				}
				_, err = pv.Verify(ctx, dpop.Request{Proof: bareProofs[i], Method: http.MethodGet, URL: benchURL, AccessToken: f.tok, JKT: c.Cnf.JKT})
				return err
			}},
		{Name: NameMiddleware, Concurrency: 1, Note: "token (cached after the first use), revocation state, DPoP, policy; one goroutine",
			Prepare: func(from, to int) error {
				proofs := make([]string, to-from)
				if err := f.proofsInto(proofs, benchURL); err != nil {
					return err
				}
				for i := from; i < to; i++ {
					reqs[i] = httptest.NewRequest(http.MethodGet, benchURL, nil)
					reqs[i].Header.Set("Authorization", "DPoP "+f.tok)
					reqs[i].Header.Set("DPoP", proofs[i-from])
				}
				return nil
			},
			Op: func(i int) error { _, err := enf.Check(reqs[i]); return err }},
		{Name: NameMiddlewareMCP, Concurrency: 1, Note: "the same decision for an MCP tools/call: body read, JSON-RPC parsed, tool rule; one goroutine",
			Prepare: func(from, to int) error {
				proofs := make([]string, to-from)
				if err := f.proofsFor(proofs, http.MethodPost, benchMCPURL); err != nil {
					return err
				}
				for i := from; i < to; i++ {
					mcpReqs[i] = httptest.NewRequest(http.MethodPost, benchMCPURL, strings.NewReader(readFileCall))
					mcpReqs[i].Header.Set("Authorization", "DPoP "+f.tok)
					mcpReqs[i].Header.Set("DPoP", proofs[i-from])
				}
				return nil
			},
			Op: func(i int) error { _, err := enf.Check(mcpReqs[i]); return err }},
	}, nil
}

// ProxySeries compares calling an upstream through `ajwt proxy` with
// calling it directly (both in this process, over loopback), at
// concurrency 1, where latency is the proxy's own cost, and at the
// configured concurrency, where the 2 cores are saturated and latency is
// mostly queueing.
func ProxySeries(cfg Config) ([]Series, func(), error) {
	f, err := newFixture()
	if err != nil {
		return nil, nil, err
	}
	upstream, prx, stop, err := f.behindProxy(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"content":"module x"}`)) }))
	if err != nil {
		return nil, nil, err
	}
	hc := newHTTP(cfg.Concurrency)
	var ss []Series
	for _, conc := range slices.Compact([]int{1, cfg.Concurrency}) {
		ss = append(ss,
			Series{Name: NameDirect, Concurrency: conc,
				Op: func(int) error { return expectOK(hc.Get(upstream.URL + benchPath)) }},
			f.getThrough(prx.URL, hc, NameViaProxy, conc, cfg.Ops))
	}
	return ss, stop, nil
}

const benchPath = "/repos/acme/web/contents/go.mod"

// getThrough is a GET of benchPath through the proxy at prxURL with the
// fixture's token and a fresh proof per request.
func (f *fixture) getThrough(prxURL string, hc *http.Client, name string, conc, ops int) Series {
	proofs := make([]string, ops)
	return Series{Name: name, Concurrency: conc,
		Note:    "proofs made untimed; client, proxy and upstream share this process",
		Prepare: func(from, to int) error { return f.proofsInto(proofs[from:to], prxURL+benchPath) },
		Op: func(i int) error {
			req, _ := http.NewRequest(http.MethodGet, prxURL+benchPath, nil)
			req.Header.Set("Authorization", "DPoP "+f.tok)
			req.Header.Set("DPoP", proofs[i])
			return expectOK(hc.Do(req))
		}}
}

// behindProxy serves api on loopback, directly and through `ajwt proxy`
// with the fixture's policy and keys; stop ends both.
func (f *fixture) behindProxy(api http.Handler, opts ...middleware.Option) (upstream, prx *httptest.Server, stop func(), err error) {
	return f.behindTracedProxy(api, nil, opts...)
}

// behindTracedProxy is behindProxy with the proxy's requests traced as
// `ajwt proxy` traces them (tracing nil: no tracing code at all).
func (f *fixture) behindTracedProxy(api http.Handler, tracing *telemetry.Tracing, opts ...middleware.Option) (upstream, prx *httptest.Server, stop func(), err error) {
	upstream = httptest.NewServer(api)
	opts = append(opts, middleware.WithKeySource(f.ks), middleware.WithoutRevocationFeed())
	if tracing != nil {
		opts = append(opts, middleware.WithResultHook(tracing.ResultHook))
	}
	enf, err := middleware.New(context.Background(), f.pol, opts...)
	if err != nil {
		upstream.Close()
		return nil, nil, nil, err
	}
	up, _ := url.Parse(upstream.URL)
	h, err := proxy.New(up, enf, proxy.Options{})
	if err != nil {
		upstream.Close()
		return nil, nil, nil, err
	}
	if tracing != nil {
		h = tracing.Enforced(h)
	}
	prx = httptest.NewServer(h)
	return upstream, prx, func() { prx.Close(); upstream.Close() }, nil
}
