package middleware

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// Enforcer checks requests against a policy. Create it with New.
type Enforcer struct {
	policy   *policy.Policy
	tokens   *token.Verifier
	proofs   *dpop.Verifier
	replay   dpop.ReplayCache
	guard    *restartGuard // nil: WithRestartGuard not given
	leeway   time.Duration
	revoked  *Revocations
	keys     *RemoteKeySet
	log      *slog.Logger
	now      func() time.Time
	onResult func(*http.Request, *Verified, error)
	closers  []func()

	metadataOnce sync.Once
	metadataBody []byte // metadataJSON
}

// Verified is what a request proved; FromContext returns it to handlers.
type Verified struct {
	Claims *token.Claims
	Proof  *dpop.Proof // nil for legacy tokens on routes that allow them
	Route  *policy.Route
	Params map[string]string
	Path   string // the canonical path (§8) the decision was made for
	// MCP is the JSON-RPC message of a POST on an mcp route (§12.2); nil
	// elsewhere.
	MCP *policy.MCPMessage

	tools *policy.Route // whose tool rules decide what a tools/list shows
}

// ToolVisible reports whether a tools/list answer to this request may
// show the tool (§12.2 list: filter). On the GET stream of an MCP
// session, which may replay such an answer, the tool rules are those of
// the POST route of the same path.
func (v *Verified) ToolVisible(name string) bool {
	return v.tools != nil && v.tools.ToolVisible(name, subjectOf(v.Claims))
}

type ctxKey struct{}

// decision is what Handler puts in the request's context.
type decision struct {
	verified *Verified
	path     string
	mcp      *policy.MCPMessage // read before the decision, so refusals can name the tool
}

// FromContext returns the verified token of a request the enforcer let
// through (nil, false on public routes).
func FromContext(ctx context.Context) (*Verified, bool) {
	d, ok := ctx.Value(ctxKey{}).(*decision)
	if !ok || d.verified == nil {
		return nil, false
	}
	return d.verified, true
}

// MCPFromContext returns the JSON-RPC message of a POST on an mcp route
// that passed through Handler, refused or not, once it could be read.
func MCPFromContext(ctx context.Context) (*policy.MCPMessage, bool) {
	d, ok := ctx.Value(ctxKey{}).(*decision)
	if !ok || d.mcp == nil {
		return nil, false
	}
	return d.mcp, true
}

// PathFromContext returns the canonical path (§8) of a request that passed
// through Handler, public routes included: the path the policy was
// applied to, and so the only one a proxy may forward. It is false for a
// request refused as non-canonical and one that never passed Handler.
func PathFromContext(ctx context.Context) (string, bool) {
	d, ok := ctx.Value(ctxKey{}).(*decision)
	if !ok || d.path == "" {
		return "", false
	}
	return d.path, true
}

type config struct {
	keySource  token.KeySource
	replay     dpop.ReplayCache
	client     *http.Client
	now        func() time.Time
	leeway     time.Duration
	iatWindow  time.Duration
	log        *slog.Logger
	feed       bool
	feedWait   time.Duration
	revocation *Revocations
	onResult   func(*http.Request, *Verified, error)
	tokenCache int
	guard      *restartGuard
}

// Option configures New.
type Option func(*config) error

// WithKeySource replaces JWKS discovery (e.g. for tests or pinned keys).
func WithKeySource(ks token.KeySource) Option {
	return func(c *config) error { c.keySource = ks; return nil }
}

// WithReplayCache shares a replay cache (e.g. Redis across proxies).
func WithReplayCache(rc dpop.ReplayCache) Option {
	return func(c *config) error { c.replay = rc; return nil }
}

// WithHTTPClient sets the client for metadata, JWKS and revocation-feed
// requests. Its Timeout bounds metadata and JWKS requests only; a feed
// request is a long poll, bounded by the feed wait plus
// DefaultFeedMargin instead.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error { c.client = hc; return nil }
}

// WithClock injects time.
func WithClock(now func() time.Time) Option {
	return func(c *config) error { c.now = now; return nil }
}

// WithLeeway sets the exp/nbf/iat leeway (default 5 s, at most 60 s).
func WithLeeway(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > protocol.MaxLeeway {
			return fmt.Errorf("middleware: leeway %s outside 0–60 s", d)
		}
		c.leeway = d
		return nil
	}
}

// WithLogger logs decisions (never tokens).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error { c.log = l; return nil }
}

// WithoutRevocationFeed disables the feed (tests; a deployment that accepts
// revocation only at token expiry).
func WithoutRevocationFeed() Option {
	return func(c *config) error { c.feed = false; return nil }
}

// WithRevocationFeedWait sets the long-poll wait the enforcer asks of the
// revocation feed: whole seconds from 1 to 30 (§9); default
// DefaultFeedWait.
func WithRevocationFeedWait(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Second || d > 30*time.Second || d%time.Second != 0 {
			return fmt.Errorf("middleware: feed wait %s is not a whole number of seconds from 1 to 30", d)
		}
		c.feedWait = d
		return nil
	}
}

// WithRevocations uses an existing revocation tracker (shared between
// enforcers, or fed from Redis).
func WithRevocations(r *Revocations) Option {
	return func(c *config) error { c.revocation = r; return nil }
}

// DefaultTokenCache is how many verified tokens an enforcer remembers.
const DefaultTokenCache = 4096

// WithTokenCache sets how many verified tokens are remembered by their
// exact bytes (token.WithCache: time and key checks still run on every
// request, and revocation, DPoP and policy are never cached); 0 disables
// it. Default DefaultTokenCache.
func WithTokenCache(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return fmt.Errorf("middleware: token cache size %d < 0", n)
		}
		c.tokenCache = n
		return nil
	}
}

// WithResultHook observes every decision (access logs, metrics).
func WithResultHook(f func(r *http.Request, v *Verified, err error)) Option {
	return func(c *config) error { c.onResult = f; return nil }
}

// New builds an enforcer for pol. Unless WithKeySource is given it fetches
// the issuer's metadata for the JWKS and the revocation feed, and starts
// following the feed; Close stops it.
func New(ctx context.Context, pol *policy.Policy, opts ...Option) (*Enforcer, error) {
	if pol == nil {
		return nil, errors.New("middleware: nil policy")
	}
	c := &config{client: &http.Client{Timeout: 10 * time.Second}, now: time.Now, leeway: protocol.DefaultLeeway,
		iatWindow: protocol.DefaultIATSkew, feed: true, tokenCache: DefaultTokenCache}
	for _, o := range opts {
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	e := &Enforcer{policy: pol, log: c.log, now: c.now, onResult: c.onResult, guard: c.guard, leeway: c.leeway}
	if err := e.setup(ctx, c); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *Enforcer) setup(ctx context.Context, c *config) error {
	var meta *Metadata
	if c.keySource == nil || (c.feed && c.revocation == nil) {
		var err error
		if meta, err = FetchMetadata(ctx, c.client, e.policy.Issuer()); err != nil {
			return err
		}
	}
	ks := c.keySource
	if ks == nil {
		e.keys = NewRemoteKeySet(meta.JWKSURI, c.client, c.now)
		ks = e.keys
	}
	var err error
	if e.tokens, err = token.NewVerifier(e.policy.Issuer(), e.policy.Resource(), ks, token.WithLeeway(c.leeway), token.WithClock(c.now), token.WithCache(c.tokenCache)); err != nil {
		return err
	}
	e.replay = c.replay
	if e.replay == nil {
		e.replay = dpop.NewMemoryReplayCache(1<<20, c.now)
	}
	proofOpts := []dpop.Option{dpop.WithClock(c.now), dpop.WithIATWindow(c.iatWindow)}
	if c.guard != nil {
		proofOpts = append(proofOpts, dpop.WithFutureSkew(c.guard.futureSkew), dpop.WithEpochGuard())
	}
	if e.proofs, err = dpop.NewVerifier(e.replay, proofOpts...); err != nil {
		return err
	}
	e.revoked = c.revocation
	if e.revoked == nil && c.feed {
		e.revoked = NewRevocations(meta.RevocationFeed, c.client, c.now, c.log)
		if c.feedWait > 0 {
			e.revoked.Wait = c.feedWait
		}
		stop := e.revoked.Follow(context.WithoutCancel(ctx))
		e.closers = append(e.closers, stop)
	}
	return nil
}

// Close stops background work (the revocation feed).
func (e *Enforcer) Close() {
	for _, f := range e.closers {
		f()
	}
	e.closers = nil
}

// Revocations returns the tracker the enforcer consults (nil without a feed).
func (e *Enforcer) Revocations() *Revocations { return e.revoked }

// KeySet is the issuer's JWKS cache, or nil when WithKeySource replaced it.
func (e *Enforcer) KeySet() *RemoteKeySet { return e.keys }

// Handler wraps next with enforcement. The result hook and next see the
// decision in the request's context (FromContext, PathFromContext).
func (e *Enforcer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path, err := canonicalPath(r)
		if err == nil && e.serveMetadata(w, r, path) {
			return
		}
		d := &decision{path: path}
		if err == nil {
			d.verified, err = e.check(r, d)
		}
		r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, d))
		if e.onResult != nil {
			e.onResult(r, d.verified, err)
		}
		if err != nil {
			e.writeError(w, r, d.path, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Check decides one request, on its canonical path (§8; Verified.Path). A
// nil *Verified with a nil error means a public route.
// On an mcp route it reads a POST's body and puts it back for the handler.
func (e *Enforcer) Check(r *http.Request) (*Verified, error) {
	path, err := canonicalPath(r)
	if err != nil {
		return nil, err
	}
	return e.check(r, &decision{path: path})
}

// CanonicalPath is the path of r in the one form of §8 that Check decides
// on and the proxy forwards, or the 400 non_canonical_path refusal; for
// adapters that log what Check decided on outside Handler.
func CanonicalPath(r *http.Request) (string, error) { return canonicalPath(r) }

// canonicalPath is the request's path in the one form of §8 ("" and a 400
// when it has none): what the policy is applied to and the proxy forwards.
func canonicalPath(r *http.Request) (string, error) {
	path, err := policy.CanonicalPath(requestPath(r.URL))
	if err != nil {
		return "", err
	}
	return path, nil
}

// requestPath is the path as the client sent it. A server sets RawPath to
// exactly that whenever it differs from the default encoding of Path;
// EscapedPath would instead re-encode Path when RawPath holds a byte that
// should have been escaped, and turn a "%2F" into a "/".
func requestPath(u *url.URL) string {
	if u.RawPath != "" {
		if p, err := url.PathUnescape(u.RawPath); err == nil && p == u.Path {
			return u.RawPath
		}
	}
	return u.EscapedPath()
}

func (e *Enforcer) check(r *http.Request, d *decision) (*Verified, error) {
	path := d.path
	route, params, ok := e.policy.Match(r.Method, path)
	if ok && route.Public() {
		return nil, nil
	}
	if !ok && !e.policy.DefaultAllow() {
		return nil, errNoRoute
	}
	claims, scheme, raw, err := e.verifyToken(r)
	if err != nil {
		return nil, err
	}
	var proof *dpop.Checked
	if claims.Cnf != nil {
		if proof, err = e.checkProof(r, claims, scheme, raw, path); err != nil {
			return nil, err
		}
	}
	v := &Verified{Claims: claims, Route: route, Params: params, Path: path}
	oneTime, err := e.authorize(r, v, d)
	if err != nil {
		return nil, err
	}
	return e.use(r.Context(), v, proof, oneTime)
}

// authorize applies the route's rules and, for a POST on an mcp route,
// those of its message (§12.2); oneTime reports that the request spends
// the token.
func (e *Enforcer) authorize(r *http.Request, v *Verified, d *decision) (oneTime bool, err error) {
	if v.Route == nil {
		return false, nil
	}
	s := subjectOf(v.Claims)
	if err := v.Route.Authorize(v.Params, s); err != nil {
		return false, err
	}
	if v.Route.IsMCP() && r.Method != http.MethodPost {
		v.tools, _, _ = e.policy.Match(http.MethodPost, v.Path)
	}
	if !v.Route.IsMCP() || r.Method != http.MethodPost {
		return v.Route.OneTime(), nil
	}
	v.tools = v.Route
	if d.mcp, err = readMCPMessage(r, v.Route.MCPMaxMessageBytes()); err != nil {
		return false, err
	}
	v.MCP = d.mcp
	return v.Route.AuthorizeMCP(v.Params, d.mcp, s)
}

// use spends what the request presented once — the proof's jti, a
// one-time token — only now that the request is allowed: a refused
// request takes no replay-cache entry, so that proofs for routes an agent
// may not use cannot fill the cache. The proof was fully verified
// before the policy ran; only its jti is recorded here.
func (e *Enforcer) use(ctx context.Context, v *Verified, proof *dpop.Checked, oneTime bool) (*Verified, error) {
	if proof != nil {
		p, err := proof.Use(ctx)
		if err != nil {
			return nil, replayCacheErr(err)
		}
		v.Proof = p
	}
	if oneTime {
		if err := e.useOnce(ctx, v.Claims); err != nil {
			return nil, err
		}
	}
	return v, nil
}

var errNoRoute = &protocol.Error{Code: protocol.CodeAccessDenied, Reason: protocol.ReasonNoRoute, Status: http.StatusForbidden, Description: "no route allows this request"}

func (e *Enforcer) verifyToken(r *http.Request) (*token.Claims, string, string, error) {
	scheme, raw, err := protocol.AccessToken(r.Header)
	if err != nil {
		return nil, "", "", err
	}
	claims, err := e.tokens.Verify(r.Context(), raw)
	if err != nil {
		return nil, "", "", err
	}
	if e.revoked != nil {
		if err := e.revoked.Check(claims); err != nil {
			return nil, "", "", err
		}
	}
	return claims, scheme, raw, nil
}

// checkProof requires the DPoP scheme and a proof by the token's key for
// this very request (htm, htu, ath); its jti is recorded later, by use.
func (e *Enforcer) checkProof(r *http.Request, c *token.Claims, scheme, raw, path string) (*dpop.Checked, error) {
	if scheme != protocol.SchemeDPoP {
		return nil, protocol.ErrMissingProof.WithDescription("a DPoP-bound token must be sent with the DPoP scheme and a proof")
	}
	values := r.Header.Values("DPoP")
	if len(values) != 1 {
		return nil, protocol.ErrMissingProof.WithDescription("want exactly one DPoP header")
	}
	return e.proofs.Check(dpop.Request{
		Proof: values[0], Method: r.Method, URL: e.requestURL(r, path), AccessToken: raw, JKT: c.Cnf.JKT,
	})
}

// requestURL is the URL the client addressed: the policy's public_url, or
// scheme and Host of the incoming request, with the canonical path. htu is
// compared after dpop.NormalizeHTU, which maps every spelling of a path
// CanonicalPath accepts to that canonical path: a proof made for the raw
// path the client sent and one made for its canonical form are both
// accepted (they name the same resource, RFC 3986 §6.2.2), and a proof
// for any other path (a trailing "/" more or less included) is not.
func (e *Enforcer) requestURL(r *http.Request, path string) string {
	if e.policy.PublicURL() != "" {
		return e.policy.PublicURL() + path
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// useOnce records a one-time token's jti. With the restart guard, a token
// issued before the replay cache's epoch started (plus the leeway its iat
// is allowed ahead of our clock) may have been used before: it is refused,
// and the agent gets a new one.
func (e *Enforcer) useOnce(ctx context.Context, c *token.Claims) error {
	fresh, epoch, err := e.replay.Use(ctx, dpop.Entry{ID: "one-time-token:" + c.ID, Exp: time.Unix(c.ExpiresAt, 0).Add(protocol.MaxLeeway), Owner: ownerOf(c)})
	if err != nil {
		return replayCacheErr(err)
	}
	if !fresh {
		return protocol.ErrTokenUsed.WithDescription("this route accepts a token once")
	}
	if e.guard != nil && time.Unix(c.IssuedAt, 0).Before(epoch.Start.Add(e.leeway)) {
		return errOneTimeBeforeEpoch
	}
	return nil
}

var errOneTimeBeforeEpoch = &protocol.Error{Code: protocol.CodeInvalidToken, Reason: protocol.ReasonReplayWindowReset, Status: http.StatusUnauthorized,
	Description: "the replay cache restarted after this one-time token was issued, so it may have been used; get a new token"}

// ownerOf is whose share of the replay cache a one-time token counts
// against: its proof key, or its client for a bearer token.
func ownerOf(c *token.Claims) string {
	if c.Cnf != nil {
		return c.Cnf.JKT
	}
	return "client:" + c.ClientID
}

func subjectOf(c *token.Claims) policy.Subject {
	s := policy.Subject{Legacy: !c.IsIntent(), Agent: c.Subject, Scopes: c.Scopes()}
	if c.Intent != nil {
		s.Workflow, s.Step, s.ExecutionContext = c.Intent.WorkflowID, c.Intent.WorkflowStep, c.Intent.ExecutionContext
	}
	return s
}
