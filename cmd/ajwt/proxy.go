package main

import (
	"context"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/redisx"
	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/proxy"
)

// proxyFlags are the settings of `ajwt proxy` beyond the policy.
type proxyFlags struct {
	addr, redisURL string
	idle           time.Duration // proxy.ServerTimeouts.Idle and proxy.Options.IdleTimeout
	futureSkew     time.Duration // middleware.WithRestartGuard
}

func (e *env) proxyCmd() *cobra.Command {
	var policyPath, upstream, issuer string
	var f proxyFlags
	cmd := &cobra.Command{
		Use:   "proxy --policy FILE --upstream URL --addr HOST:PORT",
		Short: "Run the enforcing reverse proxy in front of an unmodified API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			rules, err := loadRules(policyPath, issuer)
			if err != nil {
				return err
			}
			up, err := url.Parse(upstream)
			if err != nil || up.Scheme == "" || up.Host == "" {
				return fmt.Errorf("--upstream: want an absolute URL, got %q", upstream)
			}
			return e.runProxy(cmd.Context(), rules, up, f)
		},
	}
	cmd.Flags().StringVar(&policyPath, "policy", "", "policy file (YAML)")
	cmd.Flags().StringVar(&upstream, "upstream", "", "URL of the API to protect")
	cmd.Flags().StringVar(&f.addr, "addr", "127.0.0.1:9000", "listen address")
	cmd.Flags().StringVar(&issuer, "issuer", "", "IdP issuer URL (overrides the policy's issuer)")
	cmd.Flags().StringVar(&f.redisURL, "redis", "", "redis://… shared replay cache and revocation fan-out (several proxies)")
	cmd.Flags().DurationVar(&f.idle, "idle-timeout", proxy.DefaultIdleTimeout,
		"cut a request or response, from the client or the upstream, that moves no byte for this long (no limit on its total duration)")
	cmd.Flags().DurationVar(&f.futureSkew, "dpop-future-skew", middleware.DefaultFutureSkew,
		"how far ahead of this clock a DPoP proof's iat may be; after the replay cache starts (a restart, Redis losing its data), proofs without its nonce are refused for this long")
	_ = cmd.MarkFlagRequired("policy")
	_ = cmd.MarkFlagRequired("upstream")
	return cmd
}

func loadRules(path, issuer string) (*policy.Policy, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	rules, err := policyfile.ParseRules(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if issuer != "" {
		rules.Issuer = issuer
	}
	p, err := policy.Compile(*rules)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return p, nil
}

func (e *env) runProxy(ctx context.Context, pol *policy.Policy, up *url.URL, f proxyFlags) error {
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	reg := prometheus.NewRegistry()
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ajwt_proxy_decisions_total",
		Help: "Requests by decision, reason and MCP tool (only tools the policy names)."}, []string{"decision", "reason", "tool"})
	reg.MustRegister(decisions)
	opts := []middleware.Option{middleware.WithLogger(logger), middleware.WithResultHook(accessLog(logger, decisions, pol)),
		middleware.WithRestartGuard(f.futureSkew)}
	var rdb *redis.Client
	if f.redisURL != "" {
		var err error
		if rdb, err = redisx.Open(ctx, f.redisURL); err != nil {
			return err
		}
		defer rdb.Close()
		opts = append(opts, middleware.WithReplayCache(redisx.NewReplayCache(rdb, "ajwt:proxy-replay:")))
	}
	enf, err := middleware.New(ctx, pol, opts...)
	if err != nil {
		return err
	}
	defer enf.Close()
	if rev := enf.Revocations(); rev != nil {
		reg.MustRegister(feedMetrics(rev)...)
		if rdb != nil {
			stop := redisx.Subscribe(ctx, rdb, rev, logger)
			defer stop()
		}
	}
	h, err := proxy.New(up, enf, proxy.Options{Logger: logger, IdleTimeout: f.idle})
	if err != nil {
		return err
	}
	// Listening only once proofs made now pass: right after a start the
	// replay cache cannot vouch for proofs made before it, and clients
	// that cannot answer a DPoP-Nonce challenge would be refused.
	if err := enf.WaitReplayWindow(ctx); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	logger.Info("ajwt proxy serving", "addr", ln.Addr().String(), "upstream", up.String(), "issuer", pol.Issuer())
	hs := proxy.NewServer(proxyRoutes(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), h), proxy.ServerTimeouts{Idle: f.idle})
	return runServer(ctx, ln, hs, logger)
}

// proxyRoutes serves /metrics and hands everything else to the proxy as
// it came. Not a ServeMux: that cleans paths and redirects "/a/../b" to
// "/b", where §8 wants the enforcer to refuse it (400 non_canonical_path).
func proxyRoutes(metrics, proxied http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/metrics" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			metrics.ServeHTTP(w, r)
			return
		}
		proxied.ServeHTTP(w, r)
	})
}

// feedMetrics shows whether revocations still arrive: an enforcer that
// cannot read the feed keeps accepting tokens revoked since.
func feedMetrics(rev *middleware.Revocations) []prometheus.Collector {
	age := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ajwt_proxy_revocation_feed_last_sync_seconds",
		Help: "Seconds since the revocation feed was last read successfully (+Inf before the first read)."}, func() float64 {
		last := rev.Health().LastSync
		if last.IsZero() {
			return math.Inf(1)
		}
		return time.Since(last).Seconds()
	})
	failures := prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "ajwt_proxy_revocation_feed_failures",
		Help: "Consecutive failed reads of the revocation feed (0 while it answers)."}, func() float64 {
		return float64(rev.Health().Failures)
	})
	return []prometheus.Collector{age, failures}
}

// accessLog records each decision with the canonical path, agent, run,
// step and MCP tool — never the token or the proof. A path refused as
// non-canonical is logged as raw_path.
func accessLog(log *slog.Logger, decisions *prometheus.CounterVec, pol *policy.Policy) func(*http.Request, *middleware.Verified, error) {
	return func(r *http.Request, v *middleware.Verified, err error) {
		attrs := []any{"method", r.Method}
		if path, ok := middleware.PathFromContext(r.Context()); ok {
			attrs = append(attrs, "path", path)
		} else {
			attrs = append(attrs, "raw_path", r.URL.EscapedPath())
		}
		if v != nil {
			attrs = append(attrs, "client", v.Claims.ClientID)
			if c := v.Claims; c.IsIntent() {
				attrs = append(attrs, "agent", c.Subject, "run", c.Intent.RunID, "step", c.Intent.WorkflowStep)
			}
		}
		attrs, tool := mcpAttrs(r, attrs, pol)
		if err != nil {
			status, wire := protocol.Wire(err)
			decisions.WithLabelValues("deny", wire.Reason, tool).Inc()
			attrs = append(attrs, "error", wire.Error, "reason", wire.Reason)
			if status >= 500 {
				// Not the client's fault: the operator needs the cause
				// (an unreachable Redis), which the client never sees.
				log.Warn("unavailable", append(attrs, "cause", err.Error())...)
				return
			}
			log.Info("deny", attrs...)
			return
		}
		decisions.WithLabelValues("allow", "", tool).Inc()
		log.Info("allow", attrs...)
	}
}

// mcpAttrs adds the JSON-RPC method and tool of an MCP message to the log
// line and returns the tool's metrics label: the tool's name only when
// the policy names it, so callers cannot grow the label set.
func mcpAttrs(r *http.Request, attrs []any, pol *policy.Policy) ([]any, string) {
	m, ok := middleware.MCPFromContext(r.Context())
	if !ok {
		return attrs, ""
	}
	attrs = append(attrs, "mcp_method", clip.Text(m.Method, 64))
	if m.Tool == "" {
		return attrs, ""
	}
	attrs = append(attrs, "tool", clip.Text(m.Tool, 64))
	if pol.HasTool(m.Tool) {
		return attrs, m.Tool
	}
	return attrs, ""
}

func (e *env) policyCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "policy", Short: "Enforcement policies"}
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a policy file; errors name the line",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := policyfile.Load(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "%s: ok, %d routes (%d MCP tools), issuer %s, resource %s\n", args[0], len(p.Routes()), countTools(p), p.Issuer(), p.Resource())
			return nil
		},
	}
	cmd.AddCommand(check)
	return cmd
}

func countTools(p *policy.Policy) int {
	n := 0
	for _, r := range p.Routes() {
		n += len(r.Tools())
	}
	return n
}
