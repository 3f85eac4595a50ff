// Command ajwt is the Agentic JWT toolbox: the authorization server
// (serve), the demonstration (demo), agent checksums and keys, secrets
// and audit verification.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line; it is main without the process, for tests.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "ajwt: %v\n", oneLine(err))
		return exitCode(err)
	}
	return 0
}

// env carries the streams to every subcommand.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	e := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:           "ajwt",
		Short:         "Agentic JWT: identity, intent and proof of possession for AI agents",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		e.versionCmd(), e.checksumCmd(), e.keysCmd(), e.serveCmd(), e.initCmd(),
		e.hashSecretCmd(), e.auditCmd(), e.proxyCmd(), e.authzCmd(), e.policyCmd(),
		e.clientCmd(), e.agentCmd(), e.runCmd(),
	)
	root.AddCommand(e.extraCmds()...)
	return root
}

// exitError carries a specific exit status.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func exitCode(err error) int {
	if ee, ok := err.(*exitError); ok {
		return ee.code
	}
	return 1
}

// oneLine keeps a command's failure to one line on stderr (§11).
func oneLine(err error) string {
	s := err.Error()
	for i, r := range s {
		if r == '\n' {
			return s[:i]
		}
	}
	return s
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
