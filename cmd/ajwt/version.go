package main

import (
	"encoding/json"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version is the release; builds from a checkout report the module version
// too when the toolchain knows it.
const version = "0.1.0-dev"

func (e *env) versionCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := map[string]string{"version": version, "go": runtime.Version(), "protocol": "ajwt/1"}
			if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				info["module"] = bi.Main.Version
			}
			if asJSON {
				return json.NewEncoder(e.stdout).Encode(info)
			}
			_, err := fmt.Fprintf(e.stdout, "ajwt %s (protocol %s, %s)\n", info["version"], info["protocol"], info["go"])
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
