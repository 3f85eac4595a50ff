package main

import (
	"encoding/json"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/dpop"
)

// opsIdP is a running `ajwt serve` set up by `ajwt init`, with flags for
// the everyday commands.
type opsIdP struct {
	*server
	dir     string
	sec     map[string]string
	secrets string // client-secrets.env of init
}

func startOpsIdP(t *testing.T) *opsIdP {
	t.Helper()
	dir := t.TempDir()
	addr := freeAddr(t)
	if out, errOut, code := ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	return &opsIdP{server: startServer(t, dir, addr), dir: dir, sec: readSecrets(t, dir), secrets: filepath.Join(dir, "client-secrets.env")}
}

// as is the command line args with the connection flags for client,
// before "--" if args has one (run ids may start with "-").
func (o *opsIdP) as(client string, args ...string) []string {
	flags := []string{"--issuer", o.base, "--client-id", client, "--client-secret-file", o.secrets}
	i := slices.Index(args, "--")
	if i < 0 {
		return append(args, flags...)
	}
	return slices.Concat(args[:i], flags, args[i:])
}

// completeStep grants step to agent and completes it with the agent's key.
func (o *opsIdP) completeStep(agent, run, step string) {
	o.t.Helper()
	key, sum := agentKey(o.t, o.dir, agent)
	tok := o.grantStep(key, sum, agent, run, step, o.sec)
	path := "/v1/runs/" + run + "/steps/" + step + "/complete"
	proof, _ := dpop.NewProof(key, http.MethodPost, o.base+path, dpop.ProofOptions{AccessToken: tok})
	if code, body := o.call(http.MethodPost, path, "DPoP "+tok, nil, http.Header{"Dpop": {proof}}); code != 200 {
		o.t.Fatalf("complete %s: %d %v", step, code, body)
	}
}

// runAtApproval starts a vuln-patch run (initiated by user:alice) and
// completes the steps before its approval.
func (o *opsIdP) runAtApproval() string {
	o.t.Helper()
	run := o.startRun(o.sec)
	o.completeStep("classifier", run, "classify")
	o.completeStep("planner", run, "plan")
	o.completeStep("planner", run, "assess")
	return run
}

type cliCase struct {
	name   string
	stdin  string
	args   []string
	code   int
	stdout string // regexp
	stderr string // substring
}

func (c cliCase) run(t *testing.T) string {
	t.Helper()
	out, errOut, code := ajwt(t, c.stdin, c.args...)
	if code != c.code || !regexp.MustCompile(c.stdout).MatchString(out) || !strings.Contains(errOut, c.stderr) {
		t.Fatalf("exit %d\nstdout %s\nstderr %s\nwant %d, %q, %q", code, out, errOut, c.code, c.stdout, c.stderr)
	}
	return out
}

func TestRunCommands(t *testing.T) {
	o := startOpsIdP(t)
	approved, denied, revoked := o.runAtApproval(), o.runAtApproval(), o.startRun(o.sec)
	tests := []cliCase{
		{"list", "", o.as("admin", "run", "list"), 0, revoked, ""},
		{"list as the run's client", "", o.as("patch-app", "run", "list", "--status", "active"), 0, approved, ""},
		{"list a bad status", "", o.as("admin", "run", "list", "--status", "paused"), 1, "", "400 invalid_request"},
		{"show", "", o.as("admin", "run", "show", "--", approved), 0, `approve\s+ready`, ""},
		{"self-approval", "", o.as("approver", "run", "approve", "--approver", "alice", "--", approved, "approve"), 1, "", "self_approval"},
		{"approve", "", o.as("approver", "run", "approve", "--approver", "bob", "--comment", "fine", "--", approved, "approve"), 0, "approver:bob", ""},
		{"admin cannot approve", "", o.as("admin", "run", "deny", "--approver", "bob", "--", denied, "approve"), 1, "", "403 insufficient_scope"},
		{"deny", "", o.as("approver", "run", "deny", "--approver", "bob", "--comment", "no", "--", denied, "approve"), 0, "revoked", ""},
		{"revoke", "", o.as("admin", "run", "revoke", "--", revoked), 0, "revoked", ""},
		{"no approver", "", o.as("approver", "run", "approve", "--", approved, "approve"), 1, "", "approver"},
		{"unknown run", "", o.as("admin", "run", "show", "--", "nope"), 1, "", "404 not_found"},
		{"a run id like a flag", "", o.as("admin", "run", "show", "-b5Lcje0G4amUtboG0rGkw"), 1, "", `goes after "--"`},
		{"no secret", "", []string{"run", "list", "--issuer", o.base}, 1, "", "AJWT_CLIENT_SECRET"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
	var list struct {
		Runs []runInfo `json:"runs"`
	}
	out := cliCase{"json", "", o.as("admin", "run", "list", "--json"), 0, "", ""}.run(t)
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Runs) != 3 || list.Runs[0].RunID != revoked || list.Runs[0].Status != "revoked" {
		t.Fatalf("run list --json: %v %s", err, out)
	}
}

// TestOpsEnvironment: without flags, the commands take the IdP and the
// client from AJWT_ISSUER, AJWT_CLIENT_ID and AJWT_CLIENT_SECRET.
func TestOpsEnvironment(t *testing.T) {
	o := startOpsIdP(t)
	run := o.startRun(o.sec)
	t.Setenv("AJWT_ISSUER", o.base)
	t.Setenv("AJWT_CLIENT_SECRET", o.sec["AJWT_PATCH_APP_SECRET"])
	cliCase{"wrong client", "", []string{"run", "list"}, 1, "", "401 invalid_client"}.run(t)
	t.Setenv("AJWT_CLIENT_ID", "patch-app")
	cliCase{"from the environment", "", []string{"run", "show", "--", run}, 0, run, ""}.run(t)
}

func TestAgentCommands(t *testing.T) {
	o := startOpsIdP(t)
	tests := []cliCase{
		{"list", "", o.as("admin", "agent", "list"), 0, "planner", ""},
		{"list as a run client", "", o.as("patch-app", "agent", "list"), 1, "", "403 insufficient_scope"},
		{"show", "", o.as("admin", "agent", "show", "planner"), 0, "checksum", ""},
		{"show unknown", "", o.as("admin", "agent", "show", "ghost"), 1, "", "404 not_found"},
		{"revoke without an answer", "", o.as("admin", "agent", "revoke", "classifier"), 1, "", "permanent"},
		{"revoke answered no", "y\n", o.as("admin", "agent", "revoke", "classifier"), 1, "", "not confirmed"},
		{"still registered", "", o.as("admin", "agent", "show", "classifier"), 0, `revoked\s+no`, ""},
		{"revoke confirmed", "classifier\n", o.as("admin", "agent", "revoke", "classifier"), 0, "revoked agent classifier", ""},
		{"revoke --yes", "", o.as("admin", "agent", "revoke", "planner", "--yes"), 0, "revoked agent planner", ""},
		{"listed revoked", "", o.as("admin", "agent", "list"), 0, `classifier .* yes 20`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t) })
	}
	var list struct {
		Agents []agentItem `json:"agents"`
	}
	out := cliCase{"json", "", o.as("admin", "agent", "list", "--json"), 0, "", ""}.run(t)
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list.Agents) < 3 || strings.Contains(out, "spec") {
		t.Fatalf("agent list --json: %v %s", err, out)
	}
}
