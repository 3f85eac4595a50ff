package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/pflag"

	"github.com/ajwt/ajwt/internal/redisx"
	"github.com/ajwt/ajwt/internal/telemetry"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
)

// What `ajwt proxy` and `ajwt authz` share: the enforcer with its replay
// cache and revocation feed, logs, metrics and the admin listener.

// enforcerFlags are the settings both enforcing commands take.
type enforcerFlags struct {
	redisURL   string
	futureSkew time.Duration // middleware.WithRestartGuard
	adminAddr  string
	logLevel   string
	maxConns   int // 0: defaultMaxConns()
}

// listenerCap is --max-conns, or its default.
func (f *enforcerFlags) listenerCap() int {
	if f.maxConns > 0 {
		return f.maxConns
	}
	return defaultMaxConns()
}

func (f *enforcerFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.redisURL, "redis", "", "redis://… replay cache, one_time store and revocation fan-out shared with the other proxies and authorizers")
	fl.DurationVar(&f.futureSkew, "dpop-future-skew", middleware.DefaultFutureSkew,
		"how far ahead of this clock a DPoP proof's iat may be; after the replay cache starts (a restart, Redis losing its data), proofs without its nonce are refused for this long")
	fl.StringVar(&f.adminAddr, "admin-addr", "", "listen address of /metrics, /healthz and /readyz (none when empty; never on the protected port)")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.IntVar(&f.maxConns, "max-conns", 0, "most client connections open at once; more wait in the kernel's backlog (default: 3/4 of the open-file limit, at most 16384)")
}

// enforcerGCPercent is the GC target of the enforcing commands when GOGC
// is not set. Their live heap is small (caches of verified tokens, keys
// and proof ids: a few MB), so Go's default of 100 collects every few
// MB of garbage, which at thousands of requests a second was a tenth of
// the proxy's CPU; 400 cut the proxy's CPU per request by 4–20 % in
// `ajwt bench` at about 20 MB more resident memory.
const enforcerGCPercent = 400

// tuneGC applies enforcerGCPercent unless GOGC says otherwise; restore
// puts the previous setting back (commands run in-process in tests).
func tuneGC() (restore func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	prev := debug.SetGCPercent(enforcerGCPercent)
	return func() { debug.SetGCPercent(prev) }
}

// newLogger writes JSON lines at the level named (--log-level).
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// enforcerKit is an enforcer with what it runs on; close stops it all.
type enforcerKit struct {
	enf   *middleware.Enforcer
	reg   *prometheus.Registry
	log   *slog.Logger
	close func()
}

// newEnforcerKit builds the enforcer of an enforcing command: restart
// guard, the Redis replay cache (one key space for proxies and
// authorizers, so that they are one enforcer for replays and one_time
// tokens) and revocation fan-out, and the feed's health as metrics named
// ajwt_<name>_….
func newEnforcerKit(ctx context.Context, pol *policy.Policy, f enforcerFlags, name string, log *slog.Logger, opts ...middleware.Option) (*enforcerKit, error) {
	k := &enforcerKit{reg: prometheus.NewRegistry(), log: log}
	var closers []func()
	k.close = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	opts = append(opts, middleware.WithLogger(log), middleware.WithRestartGuard(f.futureSkew))
	var rdb *redis.Client
	if f.redisURL != "" {
		var err error
		if rdb, err = redisx.Open(ctx, f.redisURL); err != nil {
			return nil, err
		}
		closers = append(closers, func() { rdb.Close() })
		opts = append(opts, middleware.WithReplayCache(redisx.NewReplayCache(rdb, "ajwt:proxy-replay:")))
	}
	enf, err := middleware.New(ctx, pol, opts...)
	if err != nil {
		k.close()
		return nil, err
	}
	k.enf = enf
	closers = append(closers, enf.Close)
	if ks := enf.KeySet(); ks != nil {
		k.reg.MustRegister(keySetMetrics(name, ks)...)
	}
	if rev := enf.Revocations(); rev != nil {
		k.reg.MustRegister(feedMetrics(name, rev)...)
		if rdb != nil {
			closers = append(closers, redisx.Subscribe(ctx, rdb, rev, log))
		}
	}
	return k, nil
}

// feedMetrics show whether revocations still arrive: an enforcer that
// cannot read the feed keeps accepting tokens revoked since.
func feedMetrics(name string, rev *middleware.Revocations) []prometheus.Collector {
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ajwt_" + name + "_revocation_feed_last_sync_seconds",
		Help: "Seconds since the revocation feed was last read successfully (+Inf before the first read)."}, func() float64 {
		last := rev.Health().LastSync
		if last.IsZero() {
			return math.Inf(1)
		}
		return time.Since(last).Seconds()
	})
	failures := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ajwt_" + name + "_revocation_feed_failures",
		Help: "Consecutive failed reads of the revocation feed (0 while it answers)."}, func() float64 {
		return float64(rev.Health().Failures)
	})
	return []prometheus.Collector{age, failures}
}

// keySetMetrics show the JWKS cache: an enforcer that cannot refresh the
// issuer's keys refuses tokens signed with a new one.
func keySetMetrics(name string, ks *middleware.RemoteKeySet) []prometheus.Collector {
	keys := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ajwt_" + name + "_jwks_keys",
		Help: "Keys of the issuer's JWKS held in the cache."}, func() float64 { return float64(ks.Health().Keys) })
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ajwt_" + name + "_jwks_last_success_seconds",
		Help: "Seconds since the JWKS was last fetched successfully (+Inf before the first fetch)."}, func() float64 {
		last := ks.Health().LastSuccess
		if last.IsZero() {
			return math.Inf(1)
		}
		return time.Since(last).Seconds()
	})
	failures := prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "ajwt_" + name + "_jwks_fetch_failures_total",
		Help: "JWKS fetches that failed (the cached keys stay in use)."}, func() float64 { return float64(ks.Health().Failures) })
	return []prometheus.Collector{keys, age, failures}
}

// adminRoutes: metrics and health, on a listener of their own, so that
// they neither hide the protected API's own /metrics nor are public
// through it.
func adminRoutes(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("GET /readyz", ok)
	mux.HandleFunc("GET /healthz", ok)
	return mux
}

// adminServer serves adminRoutes on ln.
func adminServer(ln net.Listener, reg *prometheus.Registry, log *slog.Logger) func(context.Context) error {
	hs := &http.Server{Handler: adminRoutes(reg), ReadHeaderTimeout: 5 * time.Second, MaxHeaderBytes: 8 << 10}
	return func(ctx context.Context) error { return runServer(ctx, ln, hs, log) }
}

// tracingFlags turn on OpenTelemetry for serve and proxy; the OTEL_*
// environment does too.
type tracingFlags struct{ endpoint, protocol string }

func (t *tracingFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&t.endpoint, "otlp-endpoint", "", "send traces to this OTLP collector URL (or set OTEL_EXPORTER_OTLP_ENDPOINT); off by default")
	fl.StringVar(&t.protocol, "otlp-protocol", "", "http/protobuf (default) or grpc (or OTEL_EXPORTER_OTLP_PROTOCOL)")
}

func (t tracingFlags) setup(ctx context.Context, service string) (*telemetry.Tracing, error) {
	return telemetry.Setup(ctx, telemetry.Config{Endpoint: t.endpoint, Protocol: strings.TrimSpace(t.protocol), ServiceName: service})
}

// flushTraces sends the spans still buffered, waiting at most 5 s for a
// collector that does not answer.
func flushTraces(ctx context.Context, t *telemetry.Tracing) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = t.Shutdown(ctx)
}

// chainHooks calls each result hook in order.
func chainHooks(hooks ...func(*http.Request, *middleware.Verified, error)) func(*http.Request, *middleware.Verified, error) {
	return func(r *http.Request, v *middleware.Verified, err error) {
		for _, h := range hooks {
			h(r, v, err)
		}
	}
}
