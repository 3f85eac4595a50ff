package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/internal/idptest"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/specfile"
)

const config = `
issuer: ISSUER
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: patch-app, client_secret: app-secret, scopes: [ajwt:run, repo:read], audiences: [https://forge.example, https://osv.example]}
`

// TestQuickstart sets up what `ajwt init` writes (files and registrations)
// and runs the quickstart against a real IdP.
func TestQuickstart(t *testing.T) {
	idp := idptest.Start(t, config)
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "agents"), 0o755)
	master := strings.Repeat("5a", 32)
	os.WriteFile(filepath.Join(dir, "shim-master.key"), []byte(master+"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "client-secrets.env"), []byte("AJWT_PATCH_APP_SECRET=app-secret\n"), 0o600)
	admin := adminToken(t, idp.URL)
	for _, id := range []string{"supervisor", "classifier", "planner", "patcher"} {
		data, _ := os.ReadFile("../vuln-patch/agents/" + id + ".yaml")
		os.WriteFile(filepath.Join(dir, "agents", id+".yaml"), data, 0o644)
		spec, err := specfile.Parse(id+".yaml", data)
		if err != nil {
			t.Fatal(err)
		}
		sum, _ := agentspec.Sum(spec)
		mk, _ := keys.ParseMasterSecret([]byte(master))
		priv, _ := keys.DeriveAgentKey(mk, id, string(sum))
		s, _ := keys.NewSigner(priv, keys.EdDSA, "")
		put(t, idp.URL+"/v1/agents/"+id, admin, map[string]any{"client_id": "patch-app", "spec": spec, "public_jwk": s.Public(),
			"scopes": []string{"repo:read", "repo:write", "osv:query"}, "audiences": []string{"https://forge.example", "https://osv.example"}})
	}
	var wf map[string]any
	data, _ := os.ReadFile("../vuln-patch/workflow.yaml")
	yaml.Unmarshal(data, &wf)
	delete(wf, "workflow_id")
	put(t, idp.URL+"/v1/workflows/vuln-patch", admin, wf)

	var out strings.Builder
	if err := quickstart(context.Background(), dir, idp.URL, &out); err != nil {
		t.Fatalf("quickstart: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "classify  completed") || !strings.Contains(out.String(), "plan      ready") {
		t.Fatalf("output:\n%s", out.String())
	}
}

func adminToken(t *testing.T, base string) string {
	req, _ := http.NewRequest(http.MethodPost, base+"/token", strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", "admin-secret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	return tok.AccessToken
}

func put(t *testing.T, u, token string, body any) {
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPut, u, strings.NewReader(string(b)))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode/100 != 2 {
		raw, _ := io.ReadAll(res.Body)
		t.Fatalf("PUT %s: %d %s", u, res.StatusCode, raw)
	}
}
