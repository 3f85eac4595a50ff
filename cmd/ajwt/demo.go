//go:build !ajwt_server

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/internal/demo"
	"github.com/ajwt/ajwt/internal/telemetry"
)

func (e *env) demoCmd() *cobra.Command {
	var asJSON, withConsole bool
	var htmlPath string
	cmd := &cobra.Command{
		Use:   "demo [--json] [--html FILE]",
		Short: "Run the vulnerability-patching workflow and 25 attacks, legacy OAuth vs ajwt",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "ajwt-demo-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			progress := e.stdout
			if asJSON {
				progress = e.stderr
			}
			say := func(format string, args ...any) { fmt.Fprintf(progress, format+"\n", args...) }
			// OTEL_* in the environment sends the demo's traces to a
			// collector: each run of the ajwt world is one trace.
			tracing, err := telemetry.Setup(cmd.Context(), telemetry.Config{ServiceName: "ajwt-demo"})
			if err != nil {
				return err
			}
			defer flushTraces(cmd.Context(), tracing)
			rep, world, err := demo.RunKeep(cmd.Context(), dir, say, demo.Setup{Tracing: tracing})
			if world != nil {
				defer world.Close()
			}
			if err != nil {
				return err
			}
			if err := e.writeReport(rep, asJSON, htmlPath); err != nil {
				return err
			}
			if !rep.OK() {
				return &exitError{code: 3, err: fmt.Errorf("an attack succeeded against ajwt or the legitimate workflow failed")}
			}
			if withConsole {
				return e.keepConsole(cmd.Context(), world, say)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON (progress goes to stderr)")
	cmd.Flags().StringVar(&htmlPath, "html", "", "also write a self-contained HTML report to FILE")
	cmd.Flags().BoolVar(&withConsole, "console", false, "afterwards, keep the IdP running with its operator console and one run waiting for approval (Ctrl-C stops)")
	return cmd
}

func (e *env) writeReport(rep *demo.Report, asJSON bool, htmlPath string) error {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintln(e.stdout)
		rep.WriteTable(e.stdout)
	}
	if htmlPath == "" {
		return nil
	}
	f, err := os.Create(htmlPath)
	if err != nil {
		return err
	}
	if err := rep.WriteHTML(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	_, err = io.WriteString(e.stderr, "HTML report written to "+htmlPath+"\n")
	return err
}

// keepConsole serves the console of the demo's IdP, with the run RunKeep
// left waiting for approval, until the command is interrupted.
func (e *env) keepConsole(ctx context.Context, world *demo.Env, say func(string, ...any)) error {
	say("")
	say("Operator console: %s", world.ConsoleURL())
	say("  username: %s", world.Operator())
	say("  password: %s   (made up for this demo; it ends with it)", world.OperatorPassword)
	say("Run %s (started for user:carol) is waiting for approval: approve it in the console and its patch step becomes ready.", world.WaitingRun)
	say("Press Ctrl-C to stop.")
	<-ctx.Done()
	return nil
}
