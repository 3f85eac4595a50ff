// Package vulnpatch ships the example agents and workflow of the
// vulnerability-patching demonstration, so that `ajwt init` and the demo
// use exactly the files a reader sees here.
package vulnpatch

import "embed"

// Files holds agents/*.yaml and workflow.yaml.
//
//go:embed agents/*.yaml workflow.yaml
var Files embed.FS

// AgentIDs lists the example agents in workflow order of first use.
func AgentIDs() []string { return []string{"supervisor", "classifier", "planner", "patcher"} }
