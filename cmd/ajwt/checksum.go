package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/specfile"
)

func (e *env) checksumCmd() *cobra.Command {
	var canonical, asJSON bool
	cmd := &cobra.Command{
		Use:   "checksum FILE",
		Short: "Print the agent checksum (PROTOCOL.md §2) of a spec file (YAML or JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if canonical && asJSON {
				return fmt.Errorf("--canonical and --json exclude each other")
			}
			spec, err := specfile.Load(args[0])
			if err != nil {
				return err
			}
			canon, err := agentspec.Canonical(spec)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			sum, err := agentspec.Sum(spec)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			switch {
			case canonical:
				_, err = fmt.Fprintf(e.stdout, "%s\n", canon)
			case asJSON:
				err = json.NewEncoder(e.stdout).Encode(map[string]string{
					"agent_id": spec.AgentID, "agent_checksum": string(sum), "canonical": string(canon),
				})
			default:
				_, err = fmt.Fprintln(e.stdout, sum)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&canonical, "canonical", false, "print the canonical JSON (RFC 8785) that is hashed")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print agent_id, agent_checksum and canonical as JSON")
	return cmd
}
