package main

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ajwt/ajwt/agentspec"
	vulnpatch "github.com/ajwt/ajwt/examples/vuln-patch"
	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

func (e *env) initCmd() *cobra.Command {
	var dir, issuer string
	cmd := &cobra.Command{
		Use:   "init [--dir DIR]",
		Short: "Write a starter configuration with generated secrets and the example agents and workflow",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.initDir(dir, issuer)
		},
	}
	cmd.Flags().StringVar(&dir, "dir", ".", "directory to write ajwt.yaml, agents/, shim-master.key and client-secrets.env into")
	cmd.Flags().StringVar(&issuer, "issuer", "http://127.0.0.1:8420", "the issuer URL clients will use")
	return cmd
}

type initClient struct {
	id, secret, hash string
	scopes           []string
	audiences        []string
	approvesFor      []string
}

func (e *env) initDir(dir, issuer string) error {
	cfgPath := filepath.Join(dir, "ajwt.yaml")
	if _, err := os.Stat(cfgPath); err == nil {
		return fmt.Errorf("%s exists; refusing to overwrite it", cfgPath)
	}
	if err := os.MkdirAll(filepath.Join(dir, "agents"), 0o755); err != nil {
		return err
	}
	master := make([]byte, 32)
	if _, err := rand.Read(master); err != nil {
		return err
	}
	if err := writeNewFile(filepath.Join(dir, "shim-master.key"), []byte(hex.EncodeToString(master)+"\n"), 0o600); err != nil {
		return err
	}
	agentsYAML, err := writeExampleAgents(dir, master)
	if err != nil {
		return err
	}
	clients, err := initClients()
	if err != nil {
		return err
	}
	workflows, err := vulnpatch.WorkflowsConfig()
	if err != nil {
		return err
	}
	password := authserver.GeneratePassword()
	passwordHash, err := authserver.HashSecret(password)
	if err != nil {
		return err
	}
	config := renderConfig(issuer, clients, agentsYAML, workflows) + renderOperator(passwordHash)
	if _, err := authserver.ParseConfig([]byte(config)); err != nil {
		return fmt.Errorf("internal error: generated config does not parse: %w\n%s", err, config)
	}
	if err := writeNewFile(cfgPath, []byte(config), 0o600); err != nil {
		return err
	}
	if err := writeSecretsEnv(dir, clients); err != nil {
		return err
	}
	e.printInitSummary(dir, clients)
	fmt.Fprintf(e.stdout, "Console: %s/console/ as %s, password %s\n  (shown once and stored only as a hash: keep it now; ajwt hash-secret makes a new hash)\n", issuer, initOperator, password)
	return nil
}

// initOperator is the console operator ajwt init writes.
const initOperator = "admin"

func renderOperator(passwordHash string) string {
	return "# People who use the console (/console): passwords as argon2id hashes from `ajwt hash-secret`.\n" +
		"operators:\n" +
		fmt.Sprintf("  - username: %s\n    password_hash: %q\n    roles: [viewer, approver, admin]\n", initOperator, passwordHash)
}

func initClients() ([]initClient, error) {
	clients := []initClient{
		{id: "admin", scopes: []string{"ajwt:admin"}},
		{id: "patch-app", scopes: []string{"ajwt:run", "repo:read"}, audiences: []string{"https://forge.example", "https://osv.example"}},
		{id: "approver", scopes: []string{"ajwt:approve"}, approvesFor: []string{"patch-app"}},
	}
	for i := range clients {
		clients[i].secret = authserver.GenerateSecret()
		h, err := authserver.HashSecret(clients[i].secret)
		if err != nil {
			return nil, err
		}
		clients[i].hash = h
	}
	return clients, nil
}

// writeExampleAgents copies the example specs and returns the config's
// agents section with each agent's derived public key.
func writeExampleAgents(dir string, master []byte) (string, error) {
	scopes := map[string]string{
		"supervisor": "[]", "classifier": "[repo:read]", "planner": "[repo:read, osv:query]", "patcher": "[repo:read, repo:write]",
	}
	var b strings.Builder
	for _, id := range vulnpatch.AgentIDs() {
		data, err := fs.ReadFile(vulnpatch.Files, "agents/"+id+".yaml")
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(dir, "agents", id+".yaml"), data, 0o644); err != nil {
			return "", err
		}
		jwk, err := derivedJWK(id, data, master)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "  - agent_id: %s\n    client_id: patch-app\n    spec_file: agents/%s.yaml\n    public_jwk: %s\n    scopes: %s\n    audiences: [\"https://forge.example\", \"https://osv.example\"]\n",
			id, id, jwk, scopes[id])
		if id == "supervisor" {
			b.WriteString("    may_delegate_to: [patcher]\n")
		}
	}
	return b.String(), nil
}

func derivedJWK(id string, specYAML, master []byte) (string, error) {
	spec, err := specfile.Parse(id+".yaml", specYAML)
	if err != nil {
		return "", err
	}
	sum, err := agentspec.Sum(spec)
	if err != nil {
		return "", err
	}
	priv, err := keys.DeriveAgentKey(master, spec.AgentID, string(sum))
	if err != nil {
		return "", err
	}
	signer, err := keys.NewSigner(priv, keys.EdDSA, "")
	if err != nil {
		return "", err
	}
	jwk, err := json.Marshal(signer.Public())
	return string(jwk), err
}

func renderConfig(issuer string, clients []initClient, agents, workflows string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# ajwt server configuration (PROTOCOL.md §11), written by `ajwt init`.\n")
	fmt.Fprintf(&b, "# Client secrets are stored hashed; the plaintext is in client-secrets.env.\n")
	fmt.Fprintf(&b, "issuer: %s\nsigning_alg: ES256\ntoken_ttl: 300s\nclients:\n", issuer)
	for _, c := range clients {
		fmt.Fprintf(&b, "  - client_id: %s\n    client_secret_hash: %q\n    scopes: [%s]\n", c.id, c.hash, strings.Join(c.scopes, ", "))
		if len(c.audiences) > 0 {
			fmt.Fprintf(&b, "    audiences: [%s]\n", strings.Join(c.audiences, ", "))
		}
		if len(c.approvesFor) > 0 {
			fmt.Fprintf(&b, "    approves_for: [%s]   # whose runs it may approve\n", strings.Join(c.approvesFor, ", "))
		}
	}
	b.WriteString("agents:\n" + agents + workflows)
	return b.String()
}

func writeSecretsEnv(dir string, clients []initClient) error {
	var b strings.Builder
	b.WriteString("# Client secrets for the clients in ajwt.yaml. Keep this file private.\n")
	for _, c := range clients {
		fmt.Fprintf(&b, "%s=%s\n", secretEnvName(c.id), c.secret)
	}
	return writeNewFile(filepath.Join(dir, "client-secrets.env"), []byte(b.String()), 0o600)
}

func (e *env) printInitSummary(dir string, clients []initClient) {
	fmt.Fprintf(e.stdout, "Wrote %s:\n", dir)
	fmt.Fprintf(e.stdout, "  %-20s %s\n", "ajwt.yaml", "server configuration (clients, 4 example agents, workflow vuln-patch)")
	fmt.Fprintf(e.stdout, "  %-20s %s\n", "agents/*.yaml", "example agent specifications")
	fmt.Fprintf(e.stdout, "  %-20s %s\n", "shim-master.key", "master secret the shim derives agent keys from (mode 0600)")
	fmt.Fprintf(e.stdout, "  %-20s %s\n", "client-secrets.env", "client secrets in plaintext (mode 0600)")
	fmt.Fprintf(e.stdout, "\nClients: ")
	for i, c := range clients {
		if i > 0 {
			fmt.Fprint(e.stdout, ", ")
		}
		fmt.Fprint(e.stdout, c.id)
	}
	fmt.Fprintf(e.stdout, "\nNext: ajwt serve --config %s --data %s\n", filepath.Join(dir, "ajwt.yaml"), filepath.Join(dir, "data"))
}
