package bench

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/proxy"
	"github.com/ajwt/ajwt/token"
)

const (
	benchIssuer   = "https://idp.example"
	benchResource = "https://api.example"
	benchURL      = "http://api.example/repos/acme/web/contents/go.mod"
)

// fixture is a signed intent token and its agent key, as an enforcer sees them.
type fixture struct {
	agent *keys.Signer
	ks    *token.StaticKeys
	tok   string
	pol   *policy.Policy
}

func newFixture() (*fixture, error) {
	issuerKey, err := keys.Generate(keys.ES256, nil)
	if err != nil {
		return nil, err
	}
	agent, err := keys.Generate(keys.EdDSA, nil)
	if err != nil {
		return nil, err
	}
	iss, _ := token.NewIssuer(benchIssuer, issuerKey)
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
	ks, err := token.NewStaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{issuerKey.Public()}})
	if err != nil {
		return nil, err
	}
	pol, err := policy.Compile(policy.Rules{Issuer: benchIssuer, Resource: benchResource, Routes: []policy.Rule{
		{Match: policy.MatchRule{Method: "GET", Path: "/repos/{owner}/{repo}/contents/**"}, Scopes: []string{"repo:read"},
			Workflow: "vuln-patch", Steps: []string{"plan"}, Agents: []string{"planner"}, Context: map[string]string{"repo": "{owner}/{repo}"}},
	}})
	return &fixture{agent: agent, ks: ks, tok: tok, pol: pol}, err
}

func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func (f *fixture) proofs(n int, uri string) ([]string, error) {
	out := make([]string, n)
	for i := range out {
		var err error
		if out[i], err = dpop.NewProof(f.agent, http.MethodGet, uri, dpop.ProofOptions{AccessToken: f.tok}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Enforce compares the middleware's decision per request with the work it
// cannot avoid: one token verification and one proof verification.
func Enforce(cfg Config) ([]Result, error) {
	f, err := newFixture()
	if err != nil {
		return nil, err
	}
	proofs, err := f.proofs(cfg.Ops, benchURL)
	if err != nil {
		return nil, err
	}
	ctx := context.Background()
	verifier, _ := token.NewVerifier(benchIssuer, benchResource, f.ks)
	pv, _ := dpop.NewVerifier(dpop.NewMemoryReplayCache(cfg.Ops*2, nil))
	cfg.Progress("enforcement: bare token + proof verification")
	bare := load("bare: token verify + proof verify (go-jose)", cfg.Ops, 1, func(i int) error {
		c, err := verifier.Verify(ctx, f.tok)
		if err != nil {
			return err
		}
		_, err = pv.Verify(ctx, dpop.Request{Proof: proofs[i], Method: http.MethodGet, URL: benchURL, AccessToken: f.tok, JKT: c.Cnf.JKT})
		return err
	})
	proofs, err = f.proofs(cfg.Ops, benchURL)
	if err != nil {
		return nil, err
	}
	enf, err := middleware.New(ctx, f.pol, middleware.WithKeySource(f.ks), middleware.WithoutRevocationFeed())
	if err != nil {
		return nil, err
	}
	// Requests are built before the timer, like the proofs: building them is
	// the harness's work, not the enforcer's.
	reqs := make([]*http.Request, cfg.Ops)
	for i := range reqs {
		reqs[i] = httptest.NewRequest(http.MethodGet, benchURL, nil)
		reqs[i].Header.Set("Authorization", "DPoP "+f.tok)
		reqs[i].Header.Set("DPoP", proofs[i])
	}
	cfg.Progress("enforcement: middleware Check")
	mw := load("middleware: full decision per request", cfg.Ops, 1, func(i int) error {
		_, err := enf.Check(reqs[i])
		return err
	})
	bare.Note, mw.Note = "one goroutine; latency = CPU per request", "token, revocation state, DPoP, policy; one goroutine"
	return []Result{bare, mw}, nil
}

// Proxy compares calling an upstream through `ajwt proxy` with calling it
// directly (both in this process, over loopback).
func Proxy(cfg Config) ([]Result, error) {
	f, err := newFixture()
	if err != nil {
		return nil, err
	}
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"content":"module x"}`)) }))
	defer upstream.Close()
	enf, err := middleware.New(context.Background(), f.pol, middleware.WithKeySource(f.ks), middleware.WithoutRevocationFeed())
	if err != nil {
		return nil, err
	}
	up, _ := url.Parse(upstream.URL)
	h, err := proxy.New(up, enf, proxy.Options{})
	if err != nil {
		return nil, err
	}
	prx := httptest.NewServer(h)
	defer prx.Close()
	hc := newHTTP(cfg.Concurrency)
	path := "/repos/acme/web/contents/go.mod"
	// At concurrency 1 latency is the proxy's own cost; at the configured
	// concurrency the 2 cores are saturated and latency is mostly queueing.
	var out []Result
	for _, conc := range slices.Compact([]int{1, cfg.Concurrency}) {
		cfg.Progress("proxy: direct upstream calls, concurrency %d", conc)
		direct := load("upstream called directly", cfg.Ops, conc, func(int) error {
			return expectOK(hc.Get(upstream.URL + path))
		})
		proofs, err := f.proofs(cfg.Ops, prx.URL+path)
		if err != nil {
			return nil, err
		}
		cfg.Progress("proxy: through ajwt proxy, concurrency %d", conc)
		via := load("through ajwt proxy (token + DPoP + policy)", cfg.Ops, conc, func(i int) error {
			req, _ := http.NewRequest(http.MethodGet, prx.URL+path, nil)
			req.Header.Set("Authorization", "DPoP "+f.tok)
			req.Header.Set("DPoP", proofs[i])
			return expectOK(hc.Do(req))
		})
		via.Note = "proofs pre-generated; client, proxy and upstream share this process"
		out = append(out, direct, via)
	}
	return out, nil
}
