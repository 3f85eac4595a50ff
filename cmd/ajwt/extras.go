//go:build !ajwt_server

package main

import "github.com/spf13/cobra"

// extraCmds are the commands an operator's server build leaves out
// (`go build -tags ajwt_server`): the demonstration and the benchmark
// link a forge, an advisory service, the MCP SDK and load generators
// that `serve` and `proxy` never run.
func (e *env) extraCmds() []*cobra.Command {
	return []*cobra.Command{e.demoCmd(), e.benchCmd(), e.benchBaselineCmd()}
}
