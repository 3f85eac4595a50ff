package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/keys"
)

// Token is an access token bound to an agent's key.
type Token struct {
	AccessToken string
	Scope       string
	Expiry      time.Time
	RunID       string
	Step        string
	// ProofKey signs the DPoP proofs sent with the token: the key whose
	// thumbprint is the token's cnf.jkt.
	ProofKey *keys.Signer

	sum agentspec.Checksum // the checksum the grant showed (the SDK's own sources)
}

// TokenSource returns tokens, like oauth2.TokenSource. Any implementation
// works with Transport, as long as its tokens carry their ProofKey.
type TokenSource interface {
	Token(ctx context.Context) (*Token, error)
}

// Invalidator is a TokenSource that can drop a cached token. Transport
// calls Invalidate with a token the server refused as expired before it
// asks the source for a fresh one; a source without it is asked again
// as is.
type Invalidator interface {
	Invalidate(*Token)
}

// renewBefore: a token is renewed this long before it expires, so that a
// request never leaves with a token that expires in flight.
const renewBefore = 30 * time.Second

type sourceKey struct{ run, step, resource, scope string }

type sourceOptions struct {
	resource   string
	scopes     []string
	delegation func() (string, error)
}

// Option configures a token source.
type Option func(*sourceOptions)

// WithResource sets the RFC 8707 resource (the token's audience).
func WithResource(r string) Option { return func(o *sourceOptions) { o.resource = r } }

// WithScopes narrows the scope.
func WithScopes(s ...string) Option { return func(o *sourceOptions) { o.scopes = s } }

// WithDelegation supplies a fresh delegation assertion for each grant
// (assertions are single-use), e.g. func() (string, error) { return
// supervisor.Delegate("patcher", runID, "patch") }.
func WithDelegation(f func() (string, error)) Option {
	return func(o *sourceOptions) { o.delegation = f }
}

// TokenSource returns the agent's token source for one step of one run
// (runID "" for agents registered without workflow_required). Sources are
// cached per (run, step, resource, scope): a token is never reused across
// steps or runs.
func (a *Agent) TokenSource(runID, step string, opts ...Option) TokenSource {
	var o sourceOptions
	for _, f := range opts {
		f(&o)
	}
	return a.source(runID, step, o)
}

func (a *Agent) source(runID, step string, o sourceOptions) *tokenSource {
	k := sourceKey{run: runID, step: step, resource: o.resource, scope: strings.Join(o.scopes, " ")}
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.sources[k]; ok {
		if o.delegation != nil {
			s.opts.delegation = o.delegation
		}
		return s
	}
	s := &tokenSource{agent: a, key: k, opts: o}
	a.sources[k] = s
	return s
}

type tokenSource struct {
	agent *Agent
	key   sourceKey
	opts  sourceOptions

	mu  sync.Mutex
	tok *Token
}

func (s *tokenSource) Token(ctx context.Context) (*Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.agent.c.cfg.Now()
	if s.tok != nil && now.Before(s.tok.Expiry.Add(-renewBefore)) && s.stillOurs() {
		return s.tok, nil
	}
	tok, err := s.fetch(ctx)
	if err != nil {
		return nil, err
	}
	s.tok = tok
	return tok, nil
}

// live reports whether the source holds a token good beyond renewBefore.
func (s *tokenSource) live(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tok != nil && now.Before(s.tok.Expiry.Add(-renewBefore))
}

// stillOurs drops a cached token when the spec changed in memory, so that
// the next grant shows the IdP the new checksum. The checksum decides, not
// the key: a key held elsewhere (SignerKey) stays the same when the prompt
// changes.
func (s *tokenSource) stillOurs() bool {
	sum, signer, err := s.agent.identity()
	return err == nil && sum == s.tok.sum && signer.Thumbprint() == s.tok.ProofKey.Thumbprint()
}

// Invalidate drops t if it is the cached token (Invalidator).
func (s *tokenSource) Invalidate(t *Token) {
	s.mu.Lock()
	if s.tok == t {
		s.tok = nil
	}
	s.mu.Unlock()
}

func (s *tokenSource) fetch(ctx context.Context) (*Token, error) {
	form := url.Values{}
	if s.key.run != "" {
		form.Set("run_id", s.key.run)
		form.Set("workflow_step", s.key.step)
	}
	if s.key.resource != "" {
		form.Set("resource", s.key.resource)
	}
	if s.key.scope != "" {
		form.Set("scope", s.key.scope)
	}
	if s.opts.delegation != nil {
		as, err := s.opts.delegation()
		if err != nil {
			return nil, fmt.Errorf("client: delegation assertion: %w", err)
		}
		form.Set("delegation_assertion", as)
	}
	res, sum, signer, err := s.agent.grant(ctx, form)
	if err != nil {
		return nil, err
	}
	return s.agent.toToken(res, sum, signer), nil
}

func (a *Agent) toToken(res *tokenResponse, sum agentspec.Checksum, s *keys.Signer) *Token {
	return &Token{AccessToken: res.AccessToken, Scope: res.Scope, RunID: res.RunID, Step: res.WorkflowStep,
		Expiry: a.c.cfg.Now().Add(time.Duration(res.ExpiresIn) * time.Second), ProofKey: s, sum: sum}
}

// decodeResponse reads a JSON answer; non-2xx is a *RetrieveError.
func decodeResponse(res *http.Response, out any) (*http.Response, error) {
	body, err := io.ReadAll(io.LimitReader(res.Body, maxResponse))
	if err != nil {
		return res, err
	}
	if res.StatusCode/100 != 2 {
		return res, retrieveError(res, body)
	}
	return res, json.Unmarshal(body, out)
}
