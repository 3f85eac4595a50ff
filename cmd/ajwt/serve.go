package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

func (e *env) serveCmd() *cobra.Command {
	var configPath, dataDir, addr string
	cmd := &cobra.Command{
		Use:   "serve --config FILE --data DIR [--addr HOST:PORT]",
		Short: "Run the authorization server (IdP)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := authserver.LoadConfig(configPath)
			if err != nil {
				return err
			}
			return e.serve(cmd.Context(), cfg, dataDir, addr)
		},
	}
	cmd.Flags().StringVar(&configPath, "config", "ajwt.yaml", "configuration file")
	cmd.Flags().StringVar(&dataDir, "data", "ajwt-data", "data directory (SQLite database)")
	cmd.Flags().StringVar(&addr, "addr", "127.0.0.1:8420", "listen address")
	return cmd
}

func (e *env) serve(ctx context.Context, cfg *authserver.Config, dataDir, addr string) error {
	logger := slog.New(slog.NewJSONHandler(e.stderr, nil))
	st, err := openStore(ctx, dataDir, true)
	if err != nil {
		return err
	}
	defer st.Close()
	srv, err := authserver.New(ctx, cfg, st, authserver.Options{Logger: logger})
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	logger.Info("ajwt serving", "addr", ln.Addr().String(), "issuer", cfg.Issuer, "data", dataDir)
	return serveHTTP(ctx, ln, srv.Handler(), logger)
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
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
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
// directory.
func openStore(ctx context.Context, dataDir string, create bool) (store.Store, error) {
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
	return sqlstore.OpenSQLite(ctx, path, sqlstore.Options{})
}
