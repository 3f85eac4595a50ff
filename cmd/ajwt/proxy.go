package main

import (
	"context"
	"fmt"
	"github.com/ajwt/ajwt/internal/clip"
	"github.com/ajwt/ajwt/internal/telemetry"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/policy/policyfile"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/proxy"
)

// proxyFlags are the settings of `ajwt proxy` beyond the policy.
type proxyFlags struct {
	enforcerFlags
	tracing tracingFlags
	addr    string
	idle    time.Duration // proxy.ServerTimeouts.Idle and proxy.Options.IdleTimeout
	sample  float64       // share of allowed requests in the access log
}

func (e *env) proxyCmd() *cobra.Command {
	var policyPath, upstream, issuer, cpuProfile string
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
			if f.sample < 0 || f.sample > 1 {
				return fmt.Errorf("--access-log-sample %v: want 0 to 1", f.sample)
			}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			return e.runProxy(cmd.Context(), rules, up, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&policyPath, "policy", "", "policy file (YAML)")
	fl.StringVar(&upstream, "upstream", "", "URL of the API to protect")
	fl.StringVar(&f.addr, "addr", "127.0.0.1:9000", "listen address")
	fl.StringVar(&issuer, "issuer", "", "IdP issuer URL (overrides the policy's issuer)")
	fl.DurationVar(&f.idle, "idle-timeout", proxy.DefaultIdleTimeout,
		"cut a request or response, from the client or the upstream, that moves no byte for this long (no limit on its total duration)")
	fl.Float64Var(&f.sample, "access-log-sample", 1, "share of allowed requests written to the access log (0 to 1); refusals are always written")
	fl.StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile to FILE until shutdown (SIGTERM)")
	f.enforcerFlags.register(fl)
	f.tracing.register(fl)
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
	defer tuneGC()()
	logger, err := newLogger(e.stderr, f.logLevel)
	if err != nil {
		return err
	}
	tracing, err := f.tracing.setup(ctx, "ajwt-proxy")
	if err != nil {
		return err
	}
	defer flushTraces(ctx, tracing)
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ajwt_proxy_decisions_total",
		Help: "Requests by decision, reason and MCP tool (only tools the policy names)."}, []string{"decision", "reason", "tool"})
	kit, err := newEnforcerKit(ctx, pol, f.enforcerFlags, "proxy", logger,
		middleware.WithResultHook(chainHooks(tracing.ResultHook, accessLog(logger, decisions, pol, f.sample))))
	if err != nil {
		return err
	}
	defer kit.close()
	kit.reg.MustRegister(decisions)
	h, err := proxy.New(up, kit.enf, proxy.Options{Logger: logger, IdleTimeout: f.idle})
	if err != nil {
		return err
	}
	// Listening only once proofs made now pass: right after a start the
	// replay cache cannot vouch for proofs made before it, and clients
	// that cannot answer a DPoP-Nonce challenge would be refused.
	if err := kit.enf.WaitReplayWindow(ctx); err != nil {
		return err
	}
	servers, err := proxyServers(tracing.Enforced(h), kit, f)
	if err != nil {
		return err
	}
	logger.Info("ajwt proxy serving", "addr", f.addr, "admin_addr", f.adminAddr, "upstream", up.String(), "issuer", pol.Issuer(), "tracing", tracing.On())
	return serveAll(ctx, servers)
}

// proxyServers listens on --addr and, if given, --admin-addr. The proxy's
// own port serves only the proxied API: a ServeMux would clean paths and
// redirect "/a/../b" to "/b", where §8 wants the enforcer to refuse it
// (400 non_canonical_path).
func proxyServers(h http.Handler, kit *enforcerKit, f proxyFlags) ([]func(context.Context) error, error) {
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, err
	}
	hs := proxy.NewServer(h, proxy.ServerTimeouts{Idle: f.idle})
	capped := limitListen(ln, f.listenerCap()) // memory stays bounded however many clients come
	servers := []func(context.Context) error{func(ctx context.Context) error { return runServer(ctx, capped, hs, kit.log) }}
	if f.adminAddr != "" {
		aln, err := net.Listen("tcp", f.adminAddr)
		if err != nil {
			ln.Close()
			return nil, err
		}
		servers = append(servers, adminServer(aln, kit.reg, kit.log))
	}
	return servers, nil
}

// accessLog records each decision with the canonical path, agent, run,
// step and MCP tool — never the token or the proof. A path refused as
// non-canonical is logged as raw_path. Attributes are typed (LogAttrs):
// key/value pairs as ...any would box every string on every request.
func accessLog(log *slog.Logger, decisions *prometheus.CounterVec, pol *policy.Policy, sample float64) func(*http.Request, *middleware.Verified, error) {
	return func(r *http.Request, v *middleware.Verified, err error) {
		if err == nil && sample < 1 && rand.Float64() >= sample {
			decisions.WithLabelValues("allow", "", toolLabel(r, pol)).Inc()
			return
		}
		attrs := make([]slog.Attr, 0, 12)
		attrs = append(attrs, slog.String("method", r.Method))
		if traceID, spanID := telemetry.SpanIDs(r); traceID != "" {
			attrs = append(attrs, slog.String("trace_id", traceID), slog.String("span_id", spanID))
		}
		if path, ok := middleware.PathFromContext(r.Context()); ok {
			attrs = append(attrs, slog.String("path", path))
		} else {
			attrs = append(attrs, slog.String("raw_path", r.URL.EscapedPath()))
		}
		if v != nil {
			attrs = append(attrs, slog.String("client", v.Claims.ClientID))
			if c := v.Claims; c.IsIntent() {
				attrs = append(attrs, slog.String("agent", c.Subject), slog.String("run", c.Intent.RunID), slog.String("step", c.Intent.WorkflowStep))
			}
		}
		attrs, tool := mcpAttrs(r, attrs, pol)
		ctx := r.Context()
		if err != nil {
			status, wire := protocol.Wire(err)
			decisions.WithLabelValues("deny", wire.Reason, tool).Inc()
			attrs = append(attrs, slog.String("error", wire.Error), slog.String("reason", wire.Reason))
			if status >= 500 {
				// Not the client's fault: the operator needs the cause
				// (an unreachable Redis), which the client never sees.
				log.LogAttrs(ctx, slog.LevelWarn, "unavailable", append(attrs, slog.String("cause", err.Error()))...)
				return
			}
			log.LogAttrs(ctx, slog.LevelInfo, "deny", attrs...)
			return
		}
		decisions.WithLabelValues("allow", "", tool).Inc()
		log.LogAttrs(ctx, slog.LevelInfo, "allow", attrs...)
	}
}

// mcpAttrs adds the JSON-RPC method and tool of an MCP message to the log
// line and returns the tool's metrics label: the tool's name only when
// the policy names it, so callers cannot grow the label set.
func mcpAttrs(r *http.Request, attrs []slog.Attr, pol *policy.Policy) ([]slog.Attr, string) {
	m, ok := middleware.MCPFromContext(r.Context())
	if !ok {
		return attrs, ""
	}
	attrs = append(attrs, slog.String("mcp_method", clip.Text(m.Method, 64)))
	if m.Tool == "" {
		return attrs, ""
	}
	attrs = append(attrs, slog.String("tool", clip.Text(m.Tool, 64)))
	if pol.HasTool(m.Tool) {
		return attrs, m.Tool
	}
	return attrs, ""
}

// toolLabel is mcpAttrs' metrics label alone, for requests not logged.
func toolLabel(r *http.Request, pol *policy.Policy) string {
	_, tool := mcpAttrs(r, nil, pol)
	return tool
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
