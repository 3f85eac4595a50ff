package authserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/telemetry"
	"github.com/ajwt/ajwt/keys"
)

// Options are the server's injected dependencies; zero values are defaults.
type Options struct {
	Logger      *slog.Logger     // default: discard
	Now         func() time.Time // default: time.Now
	ReplayCache dpop.ReplayCache // default: in-memory, 1M entries
	KeyCipher   KeyCipher        // encrypts signing keys and agent specs at rest; default: none
	// OnRevoke is told about revocations after they are committed (e.g. to
	// publish them on Redis); the feed serves them regardless.
	OnRevoke func([]*store.Revocation)
	// Tracing records a span per request, in the run's trace for requests
	// about a run; default: off.
	Tracing *telemetry.Tracing
}

// Server is the authorization server. Create it with New; it is safe for
// concurrent use.
type Server struct {
	cfg      *Config
	store    store.Store
	log      *slog.Logger
	now      func() time.Time
	clients  map[string]*client
	secrets  *secretChecker
	keyring  *keyring
	verifier *ownTokens // our own tokens, any audience; callers check aud
	proofs   *dpop.Verifier
	joseAlgs []jose.SignatureAlgorithm
	limiter  *failureLimiter
	requests *requestLimiter
	runQuota *failureLimiter // runs created per client
	metrics  *metrics
	feed     *feedNotifier
	nonces   *nonces // nil unless dpop_require_nonce
	cipher   KeyCipher
	onRevoke func([]*store.Revocation)
	handler  http.Handler
	wfCache  sync.Map // "id@version" → *WorkflowDef

	tracing   *telemetry.Tracing
	operators map[string]*Operator // by username
	logins    *failureLimiter      // failed console logins per username and per address
	chain     chainWatch           // the audit chain as verified so far

	closeOnce sync.Once
	stop      chan struct{}
}

// New builds a server on st, applies the configuration's declarative
// registrations and loads (or creates) the signing keys.
func New(ctx context.Context, cfg *Config, st store.Store, opts Options) (*Server, error) {
	s := &Server{cfg: cfg, store: st, log: opts.Logger, now: opts.Now, stop: make(chan struct{}), cipher: opts.KeyCipher, onRevoke: opts.OnRevoke, tracing: opts.Tracing}
	if s.tracing == nil {
		s.tracing = telemetry.Off()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.setup(ctx, opts); err != nil {
		return nil, err
	}
	if err := s.syncServedClients(ctx); err != nil {
		return nil, err
	}
	if err := s.applyDeclarations(ctx); err != nil {
		return nil, err
	}
	s.handler = s.routes()
	go s.keyring.refreshLoop(s.stop, cfg.KeyRefresh)
	go s.purgeLoop()
	go s.checkpointLoop()
	return s, nil
}

func (s *Server) setup(ctx context.Context, opts Options) error {
	var err error
	s.joseAlgs, err = keys.JOSEAlgs(keys.ProofAlgs()) // the assertions agents and clients sign
	if err != nil {
		return err
	}
	if err := s.loadClients(); err != nil {
		return err
	}
	if err := s.loadOperators(); err != nil {
		return err
	}
	s.secrets = newSecretChecker(5*time.Minute, s.now)
	s.keyring, err = newKeyring(ctx, s.store, keyringConfig{
		alg: keys.Alg(s.cfg.SigningAlg), issuer: s.cfg.Issuer, ttl: s.cfg.TokenTTL, now: s.now, cipher: opts.KeyCipher,
	})
	if err != nil {
		return err
	}
	s.verifier, err = newOwnTokens(s.cfg.Issuer, s.keyring, s.now)
	if err != nil {
		return err
	}
	cache := opts.ReplayCache
	if cache == nil {
		cache = dpop.NewMemoryReplayCache(1<<20, s.now)
	}
	proofOpts := []dpop.Option{dpop.WithClock(s.now), dpop.WithIATWindow(s.cfg.DPoPIATWindow)}
	if s.cfg.RequireNonce {
		if s.nonces, err = loadNonces(ctx, s.store, opts.KeyCipher, s.now); err != nil {
			return err
		}
		proofOpts = append(proofOpts, dpop.WithNonce(s.nonces))
	}
	s.proofs, err = dpop.NewVerifier(cache, proofOpts...)
	if err != nil {
		return err
	}
	s.limiter = newFailureLimiter(s.cfg.FailureLimit, s.now)
	s.requests = newRequestLimiter(s.cfg.RequestLimit, s.now)
	s.runQuota = newFailureLimiter(s.cfg.RunsPerMinute, s.now)
	s.metrics = newMetrics()
	if b, ok := s.store.(auditBacklogger); ok {
		s.metrics.watchAuditBacklog(b, s.now)
	}
	s.feed = newFeedNotifier(s.onRevoke)
	return nil
}

func (s *Server) loadClients() error {
	s.clients = make(map[string]*client, len(s.cfg.Clients))
	for _, cc := range s.cfg.Clients {
		c, err := newClient(cc)
		if err != nil {
			return fmt.Errorf("authserver: %w", err)
		}
		s.clients[c.id] = c
	}
	return nil
}

// Handler returns the HTTP handler of every endpoint.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops background work. It does not close the store.
func (s *Server) Close() error {
	s.closeOnce.Do(func() { close(s.stop) })
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	handle := func(pattern string, h func(http.ResponseWriter, *http.Request) error) {
		mux.Handle(pattern, s.instrument(pattern, h))
	}
	handle("GET /.well-known/oauth-authorization-server", s.handleMetadata)
	handle("GET /jwks.json", s.handleJWKS)
	handle("POST /token", s.handleToken)
	handle("POST /introspect", s.handleIntrospect)
	handle("POST /revoke", s.handleRevoke)
	handle("PUT /v1/agents/{agent_id}", s.handlePutAgent)
	handle("GET /v1/agents", s.handleListAgents)
	handle("GET /v1/agents/{agent_id}", s.handleGetAgent)
	handle("POST /v1/agents/{agent_id}/revoke", s.handleRevokeAgent)
	handle("POST /v1/clients/{client_id}/revoke", s.handleRevokeClient)
	handle("PUT /v1/workflows/{workflow_id}", s.handlePutWorkflow)
	handle("GET /v1/workflows/{workflow_id}", s.handleGetWorkflow)
	handle("POST /v1/runs", s.handleCreateRun)
	handle("GET /v1/runs", s.handleListRuns)
	handle("GET /v1/runs/{run_id}", s.handleGetRun)
	handle("POST /v1/runs/{run_id}/steps/{step_id}/complete", s.handleCompleteStep)
	handle("POST /v1/runs/{run_id}/steps/{step_id}/approve", s.handleApproveStep)
	handle("POST /v1/runs/{run_id}/steps/{step_id}/deny", s.handleDenyStep)
	handle("POST /v1/runs/{run_id}/revoke", s.handleRevokeRun)
	handle("GET /v1/revocations", s.handleRevocations)
	handle("GET /v1/audit", s.handleAudit)
	handle("GET /v1/audit/checkpoint", s.handleAuditCheckpoint)
	handle("GET /healthz", s.handleHealth)
	handle("GET /readyz", s.handleReady)
	mux.Handle("GET /metrics", s.metrics.handler())
	mux.Handle("/", s.instrument("other", func(http.ResponseWriter, *http.Request) error {
		return newErr("not_found", http.StatusNotFound, "no such endpoint")
	}))
	return mux
}

// instrument turns a handler's error into the protocol's JSON error body
// and records latency and outcome.
func (s *Server) instrument(route string, h func(http.ResponseWriter, *http.Request) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		if s.nonces != nil {
			w.Header().Set("DPoP-Nonce", s.nonces.New())
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer s.recoverPanic(rec, r)
		info := &reqInfo{}
		r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
		err := h(rec, r)
		if err != nil {
			s.writeHandlerError(rec, r, err)
		}
		elapsed := time.Since(start)
		s.metrics.observe(route, elapsed)
		span := s.traceRequest(r, route, info, start, rec.status, err)
		// Never the query, headers or body: they may hold tokens or secrets.
		s.log.LogAttrs(r.Context(), slog.LevelInfo, "request", append([]slog.Attr{slog.String("method", r.Method), slog.String("route", route),
			slog.Int("status", rec.status), slog.Duration("duration", elapsed)}, info.logAttrs(span)...)...)
	})
}

// recoverPanic turns a bug into a logged server_error in the protocol's
// format instead of a dropped connection.
func (s *Server) recoverPanic(w http.ResponseWriter, r *http.Request) {
	if v := recover(); v != nil {
		s.log.ErrorContext(r.Context(), "panic in handler", "path", r.URL.Path, "panic", fmt.Sprint(v))
		writeError(w, errors.New("panic"), nil)
	}
}

// statusRecorder remembers the status a handler wrote, for the access log.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Flush keeps long-polling responses streamable through the recorder.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// writeHandlerError answers a handler's error. An error that is not a
// protocol error is a dependency's (the store, Redis: our code builds
// protocol errors for everything the caller did), so the caller gets 503
// temporarily_unavailable with Retry-After and may retry; the cause is
// logged, never sent. Only a panic is a 500.
func (s *Server) writeHandlerError(w http.ResponseWriter, r *http.Request, err error) {
	var extra *stepError
	if errors.As(err, &extra) {
		writeError(w, err, extra.extra())
		return
	}
	if isInternal(err) {
		err = unavailable(err)
	}
	if cause := unavailableCause(err); cause != nil {
		s.log.ErrorContext(r.Context(), "request failed", "path", r.URL.Path, "err", cause)
	}
	writeError(w, err, nil)
}

func (s *Server) handleHealth(w http.ResponseWriter, _ *http.Request) error {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	return nil
}

func (s *Server) handleReady(w http.ResponseWriter, r *http.Request) error {
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		_, _, err := tx.AuditHead(r.Context())
		return err
	})
	if err != nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "store unavailable"})
		return nil
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	return nil
}
