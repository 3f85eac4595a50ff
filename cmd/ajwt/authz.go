package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/ajwt/ajwt/internal/authz"
	"github.com/ajwt/ajwt/internal/clip"
	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/proxy"
)

// authzFlags are the settings of `ajwt authz` beyond the policy.
type authzFlags struct {
	enforcerFlags
	addr, grpcAddr, secretFile string
	idle                       time.Duration
}

func (e *env) authzCmd() *cobra.Command {
	var policyPath, issuer string
	var f authzFlags
	cmd := &cobra.Command{
		Use:   "authz --policy FILE --addr HOST:PORT [--grpc-addr HOST:PORT]",
		Short: "Answer nginx, Caddy, Traefik, Envoy and Istio with the enforcer's decisions (PROTOCOL §13)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pol, err := loadRules(policyPath, issuer)
			if err != nil {
				return err
			}
			if err := refuseMCP(pol, policyPath); err != nil {
				return err
			}
			return e.runAuthz(cmd.Context(), pol, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&policyPath, "policy", "", "policy file (YAML)")
	fl.StringVar(&f.addr, "addr", "127.0.0.1:9001", "listen address of the HTTP doors (/authz/forward-auth, /authz/auth-request, /authz/ext-authz/…)")
	fl.StringVar(&f.grpcAddr, "grpc-addr", "", "listen address of the Envoy gRPC Check service (none when empty)")
	fl.StringVar(&f.secretFile, "gateway-secret-file", "", "file holding the secret gateways send in Ajwt-Gateway-Secret (required to listen beyond loopback)")
	fl.StringVar(&issuer, "issuer", "", "IdP issuer URL (overrides the policy's issuer)")
	fl.DurationVar(&f.idle, "idle-timeout", proxy.DefaultIdleTimeout, "cut a gateway connection that moves no byte for this long")
	f.enforcerFlags.register(fl)
	_ = cmd.MarkFlagRequired("policy")
	return cmd
}

// refuseMCP: MCP enforcement reads and filters bodies, which only the
// proxy sees (§13.2).
func refuseMCP(pol *policy.Policy, path string) error {
	for _, r := range pol.Routes() {
		if r.IsMCP() {
			return fmt.Errorf("%s has mcp routes: MCP enforcement needs ajwt proxy, which reads and filters message bodies; ajwt authz sees none", path)
		}
	}
	return nil
}

// authzTrust loads the gateway secret and refuses, before anything
// starts, listen addresses beyond loopback without one (§13.3).
func authzTrust(f authzFlags) (string, error) {
	var secret string
	if f.secretFile != "" {
		var err error
		if secret, err = authz.LoadSecret(f.secretFile); err != nil {
			return "", err
		}
	}
	for flag, addr := range map[string]string{"--addr": f.addr, "--grpc-addr": f.grpcAddr} {
		if addr == "" {
			continue
		}
		if err := authz.CheckListenAddr(addr, secret != ""); err != nil {
			return "", fmt.Errorf("%s %w", flag, err)
		}
	}
	return secret, nil
}

func (e *env) runAuthz(ctx context.Context, pol *policy.Policy, f authzFlags) error {
	defer tuneGC()()
	secret, err := authzTrust(f)
	if err != nil {
		return err
	}
	logger, err := newLogger(e.stderr, f.logLevel)
	if err != nil {
		return err
	}
	kit, err := newEnforcerKit(ctx, pol, f.enforcerFlags, "authz", logger)
	if err != nil {
		return err
	}
	defer kit.close()
	enf, reg := kit.enf, kit.reg
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "ajwt_authz_decisions_total",
		Help: "Gateway requests by door, decision and reason."}, []string{"door", "decision", "reason"})
	reg.MustRegister(decisions)
	a, err := authz.New(enf, authz.Options{Secret: secret, Observe: authzLog(logger, decisions)})
	if err != nil {
		return err
	}
	// As the proxy: serve only once proofs made now pass.
	if err := enf.WaitReplayWindow(ctx); err != nil {
		return err
	}
	servers, err := authzServers(a, reg, f, secret != "", logger)
	if err != nil {
		return err
	}
	logger.Info("ajwt authz serving", "addr", f.addr, "grpc_addr", f.grpcAddr, "admin_addr", f.adminAddr, "issuer", pol.Issuer(), "gateway_secret", secret != "")
	return serveAll(ctx, servers)
}

// authzServers listens on every address given, refusing a bound address
// beyond loopback without a secret (a host name that resolved so).
func authzServers(a *authz.Authorizer, reg *prometheus.Registry, f authzFlags, secret bool, logger *slog.Logger) ([]func(context.Context) error, error) {
	var lns []net.Listener
	fail := func(err error) ([]func(context.Context) error, error) {
		for _, ln := range lns {
			ln.Close()
		}
		return nil, err
	}
	listen := func(flag, addr string, trusted bool) (net.Listener, error) {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		if err := authz.CheckListener(ln, trusted); err != nil {
			return nil, fmt.Errorf("%s %w", flag, err)
		}
		return ln, nil
	}
	ln, err := listen("--addr", f.addr, secret)
	if err != nil {
		return fail(err)
	}
	hs := proxy.NewServer(a.Handler(), proxy.ServerTimeouts{Idle: f.idle})
	capped := limitListen(ln, f.listenerCap()) // memory stays bounded however many clients come
	servers := []func(context.Context) error{func(ctx context.Context) error { return runServer(ctx, capped, hs, logger) }}
	if f.grpcAddr != "" {
		gln, err := listen("--grpc-addr", f.grpcAddr, secret)
		if err != nil {
			return fail(err)
		}
		gs := authzGRPCServer(f.idle)
		a.RegisterGRPC(gs)
		servers = append(servers, func(ctx context.Context) error { return serveGRPC(ctx, gln, gs) })
	}
	if f.adminAddr != "" {
		// Metrics name no secret and decide nothing: any address will do.
		aln, err := listen("--admin-addr", f.adminAddr, true)
		if err != nil {
			return fail(err)
		}
		servers = append(servers, adminServer(aln, reg, logger))
	}
	return servers, nil
}

// authzGRPCServer bounds what a caller can make the Check service hold:
// message size (Envoy sends the request's headers, at most 60 KiB by
// default), streams per connection, idle connections.
func authzGRPCServer(idle time.Duration) *grpc.Server {
	return grpc.NewServer(
		grpc.MaxRecvMsgSize(256<<10),
		grpc.MaxConcurrentStreams(1024),
		grpc.ConnectionTimeout(5*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: proxy.DefaultKeepAlive, Time: idle, Timeout: 20 * time.Second}),
	)
}

// serveGRPC serves until ctx ends, then lets calls in flight finish.
func serveGRPC(ctx context.Context, ln net.Listener, gs *grpc.Server) error {
	errc := make(chan error, 1)
	go func() { errc <- gs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopped := make(chan struct{})
	go func() { gs.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(35 * time.Second):
		gs.Stop()
	}
	return nil
}

// serveAll runs every server until ctx ends or one fails, which stops the
// others; it returns the first failure.
func serveAll(ctx context.Context, servers []func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, len(servers))
	for _, s := range servers {
		go func() {
			err := s(ctx)
			cancel()
			errc <- err
		}()
	}
	var first error
	for range servers {
		if err := <-errc; err != nil && first == nil && !errors.Is(err, http.ErrServerClosed) {
			first = err
		}
	}
	return first
}

// authzLog records each decision like the proxy's access log, with the
// door — never the token, the proof or the gateway secret. What the
// gateway forwarded is clipped: a client chose it.
func authzLog(log *slog.Logger, decisions *prometheus.CounterVec) func(authz.Decision) {
	return func(d authz.Decision) {
		attrs := []any{"door", d.Door, "method", clip.Text(d.Method, 16)}
		if d.Path != "" {
			attrs = append(attrs, "path", d.Path)
		} else {
			attrs = append(attrs, "raw_uri", clip.Text(d.RawURI, 256))
		}
		if v := d.Verified; v != nil {
			attrs = append(attrs, "client", v.Claims.ClientID)
			if c := v.Claims; c.IsIntent() {
				attrs = append(attrs, "agent", c.Subject, "run", c.Intent.RunID, "step", c.Intent.WorkflowStep)
			}
		}
		if d.Err == nil {
			decisions.WithLabelValues(d.Door, "allow", "").Inc()
			log.Info("allow", attrs...)
			return
		}
		status, wire := protocol.Wire(d.Err)
		decisions.WithLabelValues(d.Door, "deny", wire.Reason).Inc()
		attrs = append(attrs, "error", wire.Error, "reason", wire.Reason)
		if status >= 500 {
			log.Warn("unavailable", append(attrs, "cause", d.Err.Error())...)
			return
		}
		log.Info("deny", attrs...)
	}
}
