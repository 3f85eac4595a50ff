package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/discovery"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/protocol"
)

// Config says how to reach the IdP.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string
	HTTPClient   *http.Client     // default: 10 s timeout
	Now          func() time.Time // default: time.Now
	// TraceContext, if set, adds the caller's trace context to every
	// request the client sends to the IdP (token requests, runs,
	// completions), as Transport.TraceContext does to API calls: a run's
	// spans at the IdP then hang off the caller's trace, linked to the
	// run's own.
	TraceContext func(ctx context.Context, h http.Header)
}

// Client talks to one IdP for one OAuth client. It is safe for concurrent
// use.
type Client struct {
	cfg  Config
	hc   *http.Client
	meta *discovery.Metadata

	mu         sync.Mutex
	nonce      string // last DPoP-Nonce from the IdP
	appToken   string
	appExpires time.Time
}

// New discovers the IdP's metadata (RFC 8414).
func New(ctx context.Context, cfg Config) (*Client, error) {
	if cfg.Issuer == "" || cfg.ClientID == "" || cfg.ClientSecret == "" {
		return nil, errors.New("client: Issuer, ClientID and ClientSecret are required")
	}
	c := &Client{cfg: cfg, hc: cfg.HTTPClient}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 10 * time.Second}
	}
	if cfg.TraceContext != nil {
		traced := *c.hc // the caller's client stays as it was
		traced.Transport = &traceTransport{inject: cfg.TraceContext, base: c.hc.Transport}
		c.hc = &traced
	}
	if c.cfg.Now == nil {
		c.cfg.Now = time.Now
	}
	var err error
	if c.meta, err = discovery.Fetch(ctx, c.hc, cfg.Issuer); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	return c, nil
}

// RetrieveError is an error answer of the IdP, like oauth2.RetrieveError:
// the OAuth error code, description and reason, and the HTTP status.
// errors.Is matches protocol sentinels by code and reason.
type RetrieveError struct {
	StatusCode int
	Err        *protocol.Error
	Extra      map[string]any // e.g. missing_steps
}

func (e *RetrieveError) Error() string {
	return fmt.Sprintf("client: IdP answered %d: %v", e.StatusCode, e.Err)
}

func (e *RetrieveError) Unwrap() error { return e.Err }

// Code is the OAuth error code.
func (e *RetrieveError) Code() string { return e.Err.Code }

func retrieveError(res *http.Response, body []byte) error {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	str := func(k string) string { s, _ := m[k].(string); return s }
	pe := &protocol.Error{Code: str("error"), Description: str("error_description"), Reason: str("reason"), Status: res.StatusCode}
	if pe.Code == "" {
		pe.Code = protocol.CodeServerError
		pe.Description = http.StatusText(res.StatusCode)
	}
	return &RetrieveError{StatusCode: res.StatusCode, Err: pe, Extra: m}
}

const maxResponse = 1 << 20

// do sends req and decodes a JSON answer into out (when non-nil); any
// non-2xx answer is a *RetrieveError.
func (c *Client) do(req *http.Request, out any) (*http.Response, error) {
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("client: %s %s: %w", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return res, err
	}
	c.rememberNonce(res)
	if res.StatusCode/100 != 2 {
		return res, retrieveError(res, body)
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return res, fmt.Errorf("client: decoding %s: %w", req.URL.Path, err)
		}
	}
	return res, nil
}

func (c *Client) getJSON(ctx context.Context, u, auth string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	_, err = c.do(req, out)
	return err
}

func (c *Client) rememberNonce(res *http.Response) {
	if n := res.Header.Get("DPoP-Nonce"); n != "" {
		c.mu.Lock()
		c.nonce = n
		c.mu.Unlock()
	}
}

func (c *Client) currentNonce() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nonce
}

// postForm posts to the token endpoint with client_secret_basic.
func (c *Client) postForm(ctx context.Context, form url.Values, dpopProof string, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.meta.TokenEndpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(c.cfg.ClientSecret))
	if dpopProof != "" {
		req.Header.Set("DPoP", dpopProof)
	}
	_, err = c.do(req, out)
	return err
}

// appBearer returns a client_credentials token for the run and registry
// APIs, cached until shortly before it expires.
func (c *Client) appBearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	tok, exp := c.appToken, c.appExpires
	c.mu.Unlock()
	if tok != "" && c.cfg.Now().Before(exp) {
		return "Bearer " + tok, nil
	}
	var res tokenResponse
	if err := c.postForm(ctx, url.Values{"grant_type": {protocol.GrantClientCredentials}}, "", &res); err != nil {
		return "", err
	}
	c.mu.Lock()
	c.appToken, c.appExpires = res.AccessToken, c.cfg.Now().Add(time.Duration(res.ExpiresIn)*time.Second-renewBefore)
	c.mu.Unlock()
	return "Bearer " + res.AccessToken, nil
}

type tokenResponse struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	Scope        string `json:"scope"`
	RunID        string `json:"run_id"`
	WorkflowStep string `json:"workflow_step"`
}

// Run is a workflow run as the IdP reports it.
type Run struct {
	ID               string            `json:"run_id"`
	WorkflowID       string            `json:"workflow_id"`
	WorkflowVersion  int               `json:"workflow_version"`
	Status           string            `json:"status"`
	InitiatedBy      string            `json:"initiated_by"`
	ExecutionContext map[string]string `json:"execution_context"`
	Steps            []RunStep         `json:"steps"`
}

// RunStep is one step's server-side state.
type RunStep struct {
	ID          string `json:"id"`
	State       string `json:"state"`
	CompletedBy string `json:"completed_by,omitempty"`
}

// Step returns the state of step id.
func (r *Run) Step(id string) (RunStep, bool) {
	for _, s := range r.Steps {
		if s.ID == id {
			return s, true
		}
	}
	return RunStep{}, false
}

// StartRun creates a run (§5) on behalf of initiatedBy.
func (c *Client) StartRun(ctx context.Context, workflowID, initiatedBy string, execCtx map[string]string) (*Run, error) {
	body, _ := json.Marshal(map[string]any{"workflow_id": workflowID, "initiated_by": initiatedBy, "execution_context": execCtx})
	var run Run
	return &run, c.appJSON(ctx, http.MethodPost, c.meta.RunEndpoint, body, &run)
}

// GetRun reads a run.
func (c *Client) GetRun(ctx context.Context, runID string) (*Run, error) {
	var run Run
	return &run, c.appJSON(ctx, http.MethodGet, c.meta.RunEndpoint+"/"+url.PathEscape(runID), nil, &run)
}

// RevokeRun stops a run and revokes its tokens.
func (c *Client) RevokeRun(ctx context.Context, runID string) error {
	return c.appJSON(ctx, http.MethodPost, c.meta.RunEndpoint+"/"+url.PathEscape(runID)+"/revoke", nil, nil)
}

func (c *Client) appJSON(ctx context.Context, method, u string, body []byte, out any) error {
	auth, err := c.appBearer(ctx)
	if err != nil {
		return err
	}
	var rd io.Reader
	if body != nil {
		rd = strings.NewReader(string(body))
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", auth)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	_, err = c.do(req, out)
	return err
}

// Agent makes a handle for the agent described by spec. The handle keeps
// the spec pointer: the checksum is recomputed from it for every token
// request, so in-process changes are noticed by the IdP.
func (c *Client) Agent(spec *agentspec.Spec, key AgentKey) (*Agent, error) {
	if spec == nil || key == nil {
		return nil, errors.New("client: spec and key are required")
	}
	if _, err := agentspec.Sum(spec); err != nil {
		return nil, fmt.Errorf("client: agent spec: %w", err)
	}
	return &Agent{c: c, spec: spec, key: key, sources: map[sourceKey]*tokenSource{}}, nil
}

// Approve completes an approval step (§5); the client needs ajwt:approve.
func (c *Client) Approve(ctx context.Context, runID, step, approver, comment string) error {
	body, _ := json.Marshal(map[string]string{"approver": approver, "comment": comment})
	u := c.meta.RunEndpoint + "/" + url.PathEscape(runID) + "/steps/" + url.PathEscape(step) + "/approve"
	return c.appJSON(ctx, http.MethodPost, u, body, nil)
}

// traceTransport adds the caller's trace context to the IdP requests.
type traceTransport struct {
	inject func(context.Context, http.Header)
	base   http.RoundTripper
}

func (t *traceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	if req.Header.Get("Traceparent") != "" {
		return base.RoundTrip(req)
	}
	out := req.Clone(req.Context()) // a RoundTripper must not modify req
	injectTrace(t.inject, out)
	return base.RoundTrip(out)
}
