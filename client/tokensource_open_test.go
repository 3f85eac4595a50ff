package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/keys"
)

// ownSource is a TokenSource written outside the SDK: a fixed token and
// key, counting how often the Transport invalidates it.
type ownSource struct {
	tok         *client.Token
	invalidated atomic.Int32
	err         error
}

func (s *ownSource) Token(context.Context) (*client.Token, error) { return s.tok, s.err }
func (s *ownSource) Invalidate(t *client.Token) {
	if t == s.tok {
		s.invalidated.Add(1)
	}
}

// TestTransportTakesAnyTokenSource: a token from a source someone else
// wrote is sent with a proof by its ProofKey, and an expired answer makes
// the Transport invalidate it through the optional Invalidator.
func TestTransportTakesAnyTokenSource(t *testing.T) {
	key, _ := keys.Generate(keys.ES256, nil)
	src := &ownSource{tok: &client.Token{AccessToken: "opaque-token", ProofKey: key}}
	verifier, _ := dpop.NewVerifier(dpop.NewMemoryReplayCache(100, nil))
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, err := verifier.Verify(r.Context(), dpop.Request{Proof: r.Header.Get("DPoP"), Method: r.Method, URL: "http://" + r.Host + r.URL.Path,
			AccessToken: "opaque-token", JKT: key.Thumbprint()})
		if err != nil || r.Header.Get("Authorization") != "DPoP opaque-token" {
			t.Errorf("request %d: proof %v, authorization %q", calls.Load(), err, r.Header.Get("Authorization"))
		}
		if calls.Add(1) == 1 {
			rw.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="expired"`)
			rw.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer srv.Close()
	res, err := (&http.Client{Transport: &client.Transport{Source: src}}).Get(srv.URL + "/notes")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 || calls.Load() != 2 || src.invalidated.Load() != 1 {
		t.Fatalf("status %d, %d calls, %d invalidations; want 200, 2, 1", res.StatusCode, calls.Load(), src.invalidated.Load())
	}
}

// closeCounter is a request body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed atomic.Int32
}

func (c *closeCounter) Close() error { c.closed.Add(1); return nil }

type failingBase struct{}

func (failingBase) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		r.Body.Close() // as http.Transport does
	}
	return nil, errors.New("network down")
}

// TestTransportClosesBodies: the request body is closed exactly once on
// every path of RoundTrip, successful or not, with and without GetBody,
// as http.RoundTripper requires.
func TestTransportClosesBodies(t *testing.T) {
	key, _ := keys.Generate(keys.ES256, nil)
	ok := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer ok.Close()
	tests := []struct {
		name    string
		src     *ownSource
		base    http.RoundTripper
		wantErr bool
	}{
		{"success", &ownSource{tok: &client.Token{AccessToken: "t", ProofKey: key}}, nil, false},
		{"source fails", &ownSource{err: errors.New("idp down")}, nil, true},
		{"token without proof key", &ownSource{tok: &client.Token{AccessToken: "t"}}, nil, true},
		{"base transport fails", &ownSource{tok: &client.Token{AccessToken: "t", ProofKey: key}}, failingBase{}, true},
	}
	for _, tt := range tests {
		for _, getBody := range []bool{false, true} {
			body := &closeCounter{Reader: strings.NewReader("payload")}
			req, _ := http.NewRequest(http.MethodPost, ok.URL+"/x", body)
			if getBody {
				req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(strings.NewReader("payload")), nil }
			}
			res, err := (&client.Transport{Source: tt.src, Base: tt.base}).RoundTrip(req)
			if (err != nil) != tt.wantErr {
				t.Fatalf("%s: err = %v", tt.name, err)
			}
			if res != nil {
				res.Body.Close()
			}
			if n := body.closed.Load(); n != 1 {
				t.Errorf("%s (GetBody %v): body closed %d times, want 1", tt.name, getBody, n)
			}
		}
	}
}

// TestTransportDropsSpentToken: a one-time route's token_used refusal is
// returned as is (the call is not repeated), and the spent token is
// invalidated so that the next call gets a fresh one.
func TestTransportDropsSpentToken(t *testing.T) {
	key, _ := keys.Generate(keys.ES256, nil)
	src := &ownSource{tok: &client.Token{AccessToken: "spent", ProofKey: key}}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		rw.Header().Set("WWW-Authenticate", `DPoP error="invalid_token", error_description="token_used", algs="ES256 Ed25519 EdDSA RS256"`)
		rw.WriteHeader(http.StatusUnauthorized)
	}))
	defer srv.Close()
	res, err := (&http.Client{Transport: &client.Transport{Source: src}}).Post(srv.URL+"/merge", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || calls.Load() != 1 || src.invalidated.Load() != 1 {
		t.Fatalf("status %d, %d calls, %d invalidations; want 401, 1, 1", res.StatusCode, calls.Load(), src.invalidated.Load())
	}
}

// countingTransport counts the grants (POST /token) a client makes.
type countingTransport struct{ grants atomic.Int32 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/token") && r.Header.Get("DPoP") != "" {
		c.grants.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

// TestCompleteReusesTheStepToken: an agent that worked with a token for a
// resource completes its step with that token, not a second grant.
func TestCompleteReusesTheStepToken(t *testing.T) {
	w := newWorld(t, idptest.Config)
	ctx := context.Background()
	counter := &countingTransport{}
	c, err := client.New(ctx, client.Config{Issuer: w.idp.URL, ClientID: "app", ClientSecret: "app-secret", HTTPClient: &http.Client{Transport: counter}})
	if err != nil {
		t.Fatal(err)
	}
	planner, _ := c.Agent(spec("planner"), client.DerivedKey(master))
	run, err := c.StartRun(ctx, "wf", "user:alice", map[string]string{"repo": "acme/web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := planner.TokenSource(run.ID, "plan", client.WithResource("https://forge.example")).Token(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := planner.Complete(ctx, run.ID, "plan"); err != nil {
		t.Fatal(err)
	}
	if n := counter.grants.Load(); n != 1 {
		t.Fatalf("%d agent grants, want 1 (Complete reuses the step's token)", n)
	}
}
