// Command mcp serves the demo's forge as an MCP server (Streamable HTTP at
// /mcp), the upstream `ajwt proxy` guards in README.md:
//
//	go run ./examples/mcp --addr 127.0.0.1:9100
//
// The example reuses the demo's forge (internal/demo, same module): the
// tools are the forge's REST API, so the two doors share one state and one
// event log. The server itself checks nothing; the proxy in front does.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ajwt/ajwt/internal/demo"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9100", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "mcp:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, addr string) error {
	forge, err := demo.NewForge()
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle("/mcp", forge.MCPHandler())
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	log.Printf("forge MCP server on http://%s/mcp", ln.Addr())
	return serve(ctx, ln, mux)
}

// serve runs until ctx ends, then stops accepting and shuts down. Clients
// hold a GET event stream open for the whole session; it never goes idle and
// would hold Shutdown for its whole timeout, so shutting down cancels every
// request's context. A tool call is an in-memory forge change made under the
// forge's lock: cancelling it never leaves one half done.
func serve(ctx context.Context, ln net.Listener, h http.Handler) error {
	streams, endStreams := context.WithCancel(context.Background())
	defer endStreams()
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		// No WriteTimeout: it would cut the long-lived event streams.
		BaseContext: func(net.Listener) context.Context { return streams },
	}
	hs.RegisterOnShutdown(endStreams)
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
