// Package vulnpatch ships the example agents and workflow of the
// vulnerability-patching demonstration, so that `ajwt init` and the demo
// use exactly the files a reader sees here.
package vulnpatch

import (
	"embed"
	"strings"
)

// Files holds agents/*.yaml and workflow.yaml.
//
//go:embed agents/*.yaml workflow.yaml
var Files embed.FS

// AgentIDs lists the example agents in workflow order of first use.
func AgentIDs() []string { return []string{"supervisor", "classifier", "planner", "patcher"} }

// WorkflowsConfig is workflow.yaml as the "workflows:" list of a server
// configuration (§11), comments left out: what `ajwt init`, the demo and
// the examples declare.
func WorkflowsConfig() (string, error) {
	wf, err := Files.ReadFile("workflow.yaml")
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("workflows:\n")
	for _, line := range strings.Split(strings.TrimSpace(string(wf)), "\n") {
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "workflow_id"):
			b.WriteString("  - " + line + "\n")
		default:
			b.WriteString("    " + line + "\n")
		}
	}
	return b.String(), nil
}
