package main

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/client"
	"github.com/ajwt/ajwt/keys"
)

// TestMultiNodeDPoPNonce: two IdP processes on one PostgreSQL behind a
// round-robin balancer, with DPoP nonces required. Every SDK grant gets
// its token, though the nonce it retries with (or remembered) came from
// the other node: all nodes derive it from one key in the store. With a
// key per node, 20 of 20 failed.
func TestMultiNodeDPoPNonce(t *testing.T) {
	pg, _ := requireServices(t)
	dsn := freshSchema(t, pg)
	dir := t.TempDir()
	idps := []*proc{{addr: freeAddr(t)}, {addr: freeAddr(t)}}
	lb, _ := balancer(t, idps)
	lb.Start()
	t.Cleanup(lb.Close)
	cfg := filepath.Join(dir, "ajwt.yaml")
	if err := os.WriteFile(cfg, []byte(strings.ReplaceAll(mnConfig, "ISSUER", lb.URL)+"dpop_require_nonce: true\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range idps {
		name := "idp" + string(rune('a'+i))
		idps[i] = startProcAt(t, dir, name, idps[i].addr, "serve", "--config", cfg, "--store", dsn)
		waitHTTP(t, "http://"+idps[i].addr+"/readyz", dir, name)
	}
	spec := &agentspec.Spec{AgentID: "solo", PromptTemplate: "Agent solo."}
	sum, _ := agentspec.Sum(spec)
	priv, _ := keys.DeriveAgentKey(mnMaster, "solo", string(sum))
	s, _ := keys.NewSigner(priv, keys.EdDSA, "")
	body, _ := json.Marshal(map[string]any{"client_id": "app", "spec": spec, "public_jwk": s.Public(), "scopes": []string{"repo:read"},
		"audiences": []string{"https://forge.example"}, "workflow_required": false})
	callJSON(t, http.MethodPut, lb.URL+"/v1/agents/solo", "Bearer "+mustClientToken(t, lb.URL, "admin", "admin-secret"), string(body))

	ctx := context.Background()
	app, err := client.New(ctx, client.Config{Issuer: lb.URL, ClientID: "app", ClientSecret: "app-secret"})
	if err != nil {
		t.Fatal(err)
	}
	agent, err := app.Agent(spec, client.DerivedKey(mnMaster))
	if err != nil {
		t.Fatal(err)
	}
	failed := 0
	for i := range 20 {
		if _, err := agent.TokenSource("", "", client.WithResource("https://forge.example")).Token(ctx); err != nil {
			failed++
			t.Logf("grant %d: %v", i, err)
		}
	}
	if failed > 0 {
		t.Fatalf("%d of 20 SDK grants failed across two nodes", failed)
	}
}
