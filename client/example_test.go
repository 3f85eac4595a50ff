package client_test

import (
	"context"
	"fmt"
	"io/fs"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	vulnpatch "github.com/ajwt/ajwt/examples/vuln-patch"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

// Example runs the first step of the vuln-patch workflow against a real
// IdP in this process: the classifier proves it is the registered agent,
// gets an intent token for its step of a run, and calls an API with it,
// a fresh DPoP proof per request. (examples/quickstart does the same
// against `ajwt serve`.)
func Example() {
	ctx := context.Background()
	master := []byte("example shim master secret, 32+ bytes, never leaves the app")
	issuer, stop := exampleIdP(master)
	defer stop()

	c, err := client.New(ctx, client.Config{Issuer: issuer, ClientID: "patch-app", ClientSecret: "example-app-secret"})
	if err != nil {
		log.Fatal(err)
	}
	spec := exampleSpec("classifier")
	classifier, _ := c.Agent(spec, client.DerivedKey(master))
	if err := classifier.VerifyRegistration(ctx); err != nil {
		log.Fatal(err) // the running agent is not the registered one
	}
	run, err := c.StartRun(ctx, "vuln-patch", "user:alice", map[string]string{"repo": "acme/web"})
	if err != nil {
		log.Fatal(err)
	}
	forge := &http.Client{Transport: &client.Transport{Source: classifier.TokenSource(run.ID, "classify", client.WithResource("https://forge.example"))}}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println("API got", strings.Fields(r.Header.Get("Authorization"))[0], "token and a proof:", r.Header.Get("DPoP") != "")
	}))
	defer api.Close()
	res, err := forge.Get(api.URL + "/repos/acme/web/tree")
	if err != nil {
		log.Fatal(err)
	}
	res.Body.Close()
	done, err := classifier.Complete(ctx, run.ID, "classify")
	if err != nil {
		log.Fatal(err)
	}
	step, _ := done.Step("classify")
	fmt.Println("classify:", step.State, "by", step.CompletedBy)
	// Output:
	// API got DPoP token and a proof: true
	// classify: completed by classifier
}

func exampleSpec(id string) *agentspec.Spec {
	data, err := fs.ReadFile(vulnpatch.Files, "agents/"+id+".yaml")
	if err != nil {
		log.Fatal(err)
	}
	spec, err := specfile.Parse(id+".yaml", data)
	if err != nil {
		log.Fatal(err)
	}
	return spec
}

// exampleIdP runs an IdP that knows the app, the four vuln-patch agents
// with the keys the shim derives from master, and the workflow.
func exampleIdP(master []byte) (issuer string, stop func()) {
	var b strings.Builder
	b.WriteString("issuer: ISSUER\nclients:\n")
	b.WriteString("  - {client_id: patch-app, client_secret: example-app-secret, scopes: [ajwt:run, repo:read, repo:write, osv:query]}\n")
	b.WriteString("agents:\n")
	for _, id := range vulnpatch.AgentIDs() {
		spec := exampleSpec(id)
		sum, _ := agentspec.Sum(spec)
		priv, _ := keys.DeriveAgentKey(master, id, string(sum))
		signer, _ := keys.NewSigner(priv, keys.EdDSA, "")
		jwk, _ := signer.Public().MarshalJSON()
		js, _ := spec.MarshalJSON()
		fmt.Fprintf(&b, "  - agent_id: %s\n    client_id: patch-app\n    spec: %s\n    public_jwk: %s\n    scopes: [repo:read, repo:write, osv:query]\n    audiences: [https://forge.example, https://osv.example]\n", id, js, jwk)
		if id == "supervisor" {
			b.WriteString("    may_delegate_to: [patcher]\n")
		}
	}
	wf, err := vulnpatch.WorkflowsConfig()
	if err != nil {
		log.Fatal(err)
	}
	b.WriteString(wf)
	idp, stop, err := idptest.Run(b.String())
	if err != nil {
		log.Fatal(err)
	}
	return idp.URL, stop
}
