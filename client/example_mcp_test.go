package client_test

import (
	"context"
	"log"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

// An agent step that reaches its tools through an MCP server behind
// `ajwt proxy`: the official MCP Go SDK uses the shim's Transport as its
// HTTP client, so every message carries the step's intent token and a
// fresh DPoP proof, tools/list shows only the step's tools, and a refused
// call comes back as that call's error (client.MCPRefusal in its data).
// It needs a running IdP and proxy, so it is compiled, not run;
// TestMCPSDKThroughProxy runs the same against real ones.
func ExampleTransport_mcp() {
	ctx := context.Background()
	c, err := client.New(ctx, client.Config{Issuer: "http://127.0.0.1:8420", ClientID: "patch-app", ClientSecret: "…"})
	if err != nil {
		log.Fatal(err)
	}
	master, _ := keys.LoadMasterSecretFile("shim-master.key")
	spec, _ := specfile.Load("agents/classifier.yaml")
	classifier, _ := c.Agent(spec, client.DerivedKey(master))
	run, _ := c.StartRun(ctx, "vuln-patch", "user:alice", map[string]string{"repo": "acme/web"})

	hc := &http.Client{Transport: &client.Transport{
		Source: classifier.TokenSource(run.ID, "classify", client.WithResource("https://forge.example")),
		MCP:    true,
	}}
	session, err := mcp.NewClient(&mcp.Implementation{Name: "classifier", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: "http://127.0.0.1:9000/mcp", HTTPClient: hc}, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer session.Close()
	tools, _ := session.ListTools(ctx, nil) // the classify step's tools only
	for _, t := range tools.Tools {
		log.Println(t.Name)
	}
	_, err = session.CallTool(ctx, &mcp.CallToolParams{Name: "list_files", Arguments: map[string]any{"repo": "acme/web"}})
	if err != nil {
		log.Fatal(err)
	}
}
