//go:build ajwt_server

package main

import "github.com/spf13/cobra"

// extraCmds: none in the server build (see extras.go).
func (e *env) extraCmds() []*cobra.Command { return nil }
