package main

import (
	"context"
	"errors"
	"fmt"
	"github.com/ajwt/ajwt/internal/console"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/redisx"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/middleware"
)

// storeFlags select the store and the key-encryption key, shared by every
// command that opens the server's data.
type storeFlags struct {
	dataDir, dsn, kekFile, redisURL, sync string
	logger                                *slog.Logger // for the store's background work (nil: discarded)
}

func (f *storeFlags) register(cmd *cobra.Command, withRedis bool) {
	cmd.Flags().StringVar(&f.dataDir, "data", "ajwt-data", "data directory (embedded SQLite database)")
	cmd.Flags().StringVar(&f.dsn, "store", "", "postgres://… to use PostgreSQL instead of the embedded SQLite (multi-node)")
	cmd.Flags().StringVar(&f.sync, "sqlite-sync", "FULL", "SQLite synchronous: FULL (survives power loss) or NORMAL (survives process crashes; faster)")
	cmd.Flags().StringVar(&f.kekFile, "kek-file", "", "file with the 32-byte key-encryption key for signing keys and agent specs (or env AJWT_KEK)")
	if withRedis {
		cmd.Flags().StringVar(&f.redisURL, "redis", "", "redis://… shared replay cache and revocation fan-out (multi-node)")
	}
}

func (f *storeFlags) open(ctx context.Context, create bool) (store.Store, error) {
	if strings.HasPrefix(f.dsn, "postgres://") || strings.HasPrefix(f.dsn, "postgresql://") {
		return sqlstore.OpenPostgres(ctx, f.dsn, sqlstore.Options{Logger: f.logger})
	}
	if f.dsn != "" {
		return nil, fmt.Errorf("--store: want a postgres:// URL (SQLite is chosen with --data)")
	}
	return openStore(ctx, f.dataDir, create, sqlstore.Options{Synchronous: f.sync, Logger: f.logger})
}

// cipher reads the key-encryption key from --kek-file or AJWT_KEK (64 hex
// digits or 32 raw bytes); none means keys and specs are stored in clear.
func (f *storeFlags) cipher() (authserver.KeyCipher, error) {
	var text []byte
	switch {
	case f.kekFile != "":
		data, err := os.ReadFile(f.kekFile)
		if err != nil {
			return nil, err
		}
		text = data
	case os.Getenv("AJWT_KEK") != "":
		text = []byte(os.Getenv("AJWT_KEK"))
	default:
		return nil, nil
	}
	kek, err := keys.ParseMasterSecret(text)
	if err != nil {
		return nil, fmt.Errorf("key-encryption key: %w", err)
	}
	return authserver.NewAESGCM(kek)
}

func (e *env) serveCmd() *cobra.Command {
	var configPath, addr, cpuProfile string
	var quiet, withConsole bool
	var maxConns int
	var sf storeFlags
	var logLevel string
	var tf tracingFlags
	cmd := &cobra.Command{
		Use:   "serve --config FILE --data DIR [--addr HOST:PORT]",
		Short: "Run the authorization server (IdP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := authserver.LoadConfig(configPath)
			if err != nil {
				return err
			}
			stop, err := startCPUProfile(cpuProfile)
			if err != nil {
				return err
			}
			defer stop()
			if maxConns <= 0 {
				maxConns = defaultMaxConns()
			}
			if quiet {
				logLevel = "warn"
			}
			return e.serve(cmd.Context(), cfg, &sf, serveSettings{addr: addr, logLevel: logLevel, maxConns: maxConns, console: withConsole, tracing: tf})
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "ajwt.yaml", "configuration file")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8420", "listen address")
	cmd.Flags().BoolVar(&quiet, "quiet", false, "log warnings and errors only (no request log); same as --log-level warn")
	cmd.Flags().StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	tf.register(cmd.Flags())
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a pprof CPU profile to FILE until shutdown (SIGTERM)")
	cmd.Flags().IntVar(&maxConns, "max-conns", 0, "most client connections open at once, feed long polls included (default: 3/4 of the open-file limit, at most 16384)")
	cmd.Flags().BoolVar(&withConsole, "console", true, "serve the operators' web console under /console (it needs operators in the configuration to log in)")
	sf.register(cmd, true)
	return cmd
}

// startCPUProfile profiles the whole process until the returned stop runs;
// path "" profiles nothing.
func startCPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// serveSettings are the flags of `ajwt serve` beyond the store's.
type serveSettings struct {
	addr     string
	logLevel string
	maxConns int
	console  bool
	tracing  tracingFlags
}

func (e *env) serve(ctx context.Context, cfg *authserver.Config, sf *storeFlags, set serveSettings) error {
	addr, maxConns := set.addr, set.maxConns
	logger, err := newLogger(e.stderr, set.logLevel)
	if err != nil {
		return err
	}
	tracing, err := set.tracing.setup(ctx, "ajwt-idp")
	if err != nil {
		return err
	}
	defer flushTraces(ctx, tracing)
	sf.logger = logger
	if sf.dsn == "" {
		release, err := lockDataDir(sf.dataDir)
		if err != nil {
			return err
		}
		defer release()
	}
	st, err := sf.open(ctx, true)
	if err != nil {
		return err
	}
	defer st.Close()
	opts, closeRedis, err := serverOptions(ctx, sf, logger)
	if err != nil {
		return err
	}
	defer closeRedis()
	opts.Tracing = tracing
	// Feed long polls never hold more than half the connections: the rest
	// stay for /token and the APIs.
	cfg.FeedMaxWaiters = max(min(cfg.FeedMaxWaiters, maxConns/2), 1)
	srv, err := authserver.New(ctx, cfg, st, opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	// At shutdown, parked feed long polls answer at once instead of
	// holding the graceful stop for up to their 30 s.
	defer context.AfterFunc(ctx, func() { srv.Close() })()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("ajwt serving", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "data", sf.dataDir, "postgres", sf.dsn != "", "redis", sf.redisURL != "",
		"max_conns", maxConns, "feed_max_waiters", cfg.FeedMaxWaiters)
	h := srv.Handler()
	if set.console {
		c, err := console.New(srv, console.Options{Logger: logger})
		if err != nil {
			return err
		}
		h = console.Mount(c, h)
		logger.Info("operator console", "url", cfg.Issuer+console.Prefix+"/", "operators", len(cfg.Operators))
	}
	return serveHTTP(ctx, limitListen(ln, maxConns), h, logger)
}

// serverOptions wires the KEK and, with --redis, the shared replay cache
// and revocation fan-out.
func serverOptions(ctx context.Context, sf *storeFlags, logger *slog.Logger) (authserver.Options, func(), error) {
	opts := authserver.Options{Logger: logger}
	var err error
	if opts.KeyCipher, err = sf.cipher(); err != nil {
		return opts, nil, err
	}
	if sf.redisURL == "" {
		return opts, func() {}, nil
	}
	rdb, err := redisx.Open(ctx, sf.redisURL)
	if err != nil {
		return opts, nil, err
	}
	opts.ReplayCache = redisx.NewReplayCache(rdb, "ajwt:idp-replay:")
	opts.OnRevoke = func(revs []*store.Revocation) {
		entries := make([]middleware.FeedEntry, len(revs))
		for i, r := range revs {
			entries[i] = middleware.FeedEntry{Type: r.Type, ID: r.ID, At: r.At.Unix(), Version: r.Version}
		}
		if err := redisx.Publish(context.Background(), rdb, entries); err != nil {
			logger.Warn("revocation fan-out failed; enforcers still get it from the feed", "err", err)
		}
	}
	return opts, func() { rdb.Close() }, nil
}

// serveHTTP serves until ctx ends (SIGINT/SIGTERM), then stops accepting,
// lets in-flight requests finish (so every acknowledged write is
// committed) and returns.
func serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, logger *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second, // slowloris
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      45 * time.Second, // > the 30 s feed long-poll
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	return runServer(ctx, ln, hs, logger)
}

// runServer is serveHTTP for a server with its own settings (the proxy's).
func runServer(ctx context.Context, ln net.Listener, hs *http.Server, logger *slog.Logger) error {
	hs.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelWarn)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 35*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openStore opens (create: and creates) the SQLite database of a data
// directory. The store keeps the database files private (0600) whatever
// the directory's mode, and logs any it had to tighten.
func openStore(ctx context.Context, dataDir string, create bool, opts sqlstore.Options) (store.Store, error) {
	if dataDir == "" {
		return nil, errors.New("--data is required")
	}
	if create {
		if err := os.MkdirAll(dataDir, 0o700); err != nil {
			return nil, err
		}
	}
	path := filepath.Join(dataDir, "ajwt.db")
	if _, err := os.Stat(path); !create && err != nil {
		return nil, fmt.Errorf("no ajwt database in %s: %w", dataDir, err)
	}
	return sqlstore.OpenSQLite(ctx, path, opts)
}
