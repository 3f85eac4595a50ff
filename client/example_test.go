package client_test

import (
	"context"
	"log"
	"net/http"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

// Example shows one agent step end to end (it needs a running IdP, so it is
// compiled, not run; examples/quickstart runs it for real).
func Example() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Issuer: "http://127.0.0.1:8420", ClientID: "patch-app", ClientSecret: "…"})
	if err != nil {
		log.Fatal(err)
	}
	master, _ := keys.LoadMasterSecretFile("shim-master.key")
	spec, _ := specfile.Load("agents/patcher.yaml")
	patcher, _ := c.Agent(spec, client.DerivedKey(master))
	if err := patcher.VerifyRegistration(ctx); err != nil {
		log.Fatal(err) // the running agent is not the registered one
	}
	run, _ := c.StartRun(ctx, "vuln-patch", "user:alice", map[string]string{"repo": "acme/web"})
	supervisorSpec, _ := specfile.Load("agents/supervisor.yaml")
	supervisor, _ := c.Agent(supervisorSpec, client.DerivedKey(master))
	ts := patcher.TokenSource(run.ID, "patch", client.WithResource("https://forge.example"),
		client.WithDelegation(func() (string, error) { return supervisor.Delegate("patcher", run.ID, "patch") }))
	forge := &http.Client{Transport: &client.Transport{Source: ts}}
	res, err := forge.Get("https://forge.example/repos/acme/web")
	if err == nil {
		res.Body.Close()
	}
	_, _ = patcher.Complete(ctx, run.ID, "patch")
}
