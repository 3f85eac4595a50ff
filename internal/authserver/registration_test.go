package authserver

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
)

func TestAgentRegistrationVersions(t *testing.T) {
	h := newHarness(t)
	key, _ := keys.Generate(keys.EdDSA, nil)
	spec := &agentspec.Spec{AgentID: "bot", PromptTemplate: "Hello.", Tools: []agentspec.Tool{}}
	body := func() map[string]any {
		return map[string]any{"client_id": "app", "spec": spec, "public_jwk": key.Public(), "scopes": []string{"repo:read"}}
	}
	admin := h.bearer("admin")
	put := func(b map[string]any) *response { return h.jsonReq(http.MethodPut, "/v1/agents/bot", admin, b, nil) }

	first := put(body())
	if first.status != 201 || first.body["version"] != float64(1) {
		t.Fatalf("first: %d %s", first.status, first.raw)
	}
	sum, _ := agentspec.Sum(spec)
	if first.str("agent_checksum") != string(sum) || first.str("jkt") != key.Thumbprint() {
		t.Fatalf("server checksum/jkt %s", first.raw)
	}
	if same := put(body()); same.status != 200 || same.body["version"] != float64(1) {
		t.Fatalf("identical: %d %s", same.status, same.raw)
	}
	spec.PromptTemplate = "Hello, changed."
	changed := put(body())
	if changed.status != 200 || changed.body["version"] != float64(2) || changed.str("registration_id") != first.str("registration_id") {
		t.Fatalf("changed: %d %s", changed.status, changed.raw)
	}
	b := body()
	b["agent_checksum"] = "sha256:" + strings.Repeat("0", 64)
	wantError(t, put(b), 400, "agent_checksum_mismatch")

	t.Run("metadata to the owner, spec only to admins", func(t *testing.T) {
		res := h.jsonReq(http.MethodGet, "/v1/agents/bot", h.bearer("app"), nil, nil)
		if res.status != 200 || res.str("client_id") != "app" || res.body["spec"] != nil {
			t.Fatalf("owner view: %d %s", res.status, res.raw)
		}
		wantError(t, h.jsonReq(http.MethodGet, "/v1/agents/bot?include=spec", h.bearer("app"), nil, nil), 403, "insufficient_scope")
		wantError(t, h.jsonReq(http.MethodGet, "/v1/agents/bot", h.bearer("other-app"), nil, nil), 404, "not_found")
		res = h.jsonReq(http.MethodGet, "/v1/agents/bot?include=spec", admin, nil, nil)
		if spec, _ := res.body["spec"].(map[string]any); spec["prompt_template"] != "Hello, changed." {
			t.Fatalf("admin view: %s", res.raw)
		}
	})
}

func TestRegistrationValidation(t *testing.T) {
	h := newHarness(t)
	admin := h.bearer("admin")
	key, _ := keys.Generate(keys.EdDSA, nil)
	priv, _ := keys.Generate(keys.ES256, nil)
	good := map[string]any{"agent_id": "x", "prompt_template": "Hi {{who}}.", "substitutions": map[string]any{"who": map[string]any{"pattern": "^[a-z]+$", "max_length": 10}}}
	tests := []struct {
		name string
		path string
		body any
		code string
	}{
		{"unknown client", "/v1/agents/x", map[string]any{"client_id": "nobody", "spec": good, "public_jwk": key.Public()}, "invalid_request"},
		{"spec id differs", "/v1/agents/y", map[string]any{"client_id": "app", "spec": good, "public_jwk": key.Public()}, "invalid_request"},
		{"unknown spec member", "/v1/agents/x", map[string]any{"client_id": "app", "spec": map[string]any{"agent_id": "x", "prompt_template": "a", "model": "gpt"}, "public_jwk": key.Public()}, "invalid_request"},
		{"undeclared placeholder", "/v1/agents/x", map[string]any{"client_id": "app", "spec": map[string]any{"agent_id": "x", "prompt_template": "Hi {{who}}"}, "public_jwk": key.Public()}, "invalid_request"},
		{"private key as public_jwk", "/v1/agents/x", map[string]any{"client_id": "app", "spec": good, "public_jwk": privateJWK(t, priv)}, "invalid_request"},
		{"symmetric key", "/v1/agents/x", map[string]any{"client_id": "app", "spec": good, "public_jwk": map[string]string{"kty": "oct", "k": "AAAA"}}, "invalid_request"},
		{"bad agent id", "/v1/agents/Bad_Id", map[string]any{"client_id": "app", "spec": good, "public_jwk": key.Public()}, "invalid_request"},
		{"unknown body member", "/v1/agents/x", map[string]any{"client_id": "app", "spec": good, "public_jwk": key.Public(), "admin": true}, "invalid_request"},
		{"workflow: unknown agent", "/v1/workflows/w", map[string]any{"steps": []map[string]any{{"id": "a", "agent": "ghost"}}}, "invalid_workflow"},
		{"workflow: cycle", "/v1/workflows/w", map[string]any{"steps": []map[string]any{{"id": "a", "kind": "approval", "depends_on": []string{"b"}}, {"id": "b", "kind": "approval", "depends_on": []string{"a"}}}}, "invalid_workflow"},
		{"workflow: unknown depends_on", "/v1/workflows/w", map[string]any{"steps": []map[string]any{{"id": "a", "kind": "approval", "depends_on": []string{"zz"}}}}, "invalid_workflow"},
		{"workflow: duplicate step", "/v1/workflows/w", map[string]any{"steps": []map[string]any{{"id": "a", "kind": "approval"}, {"id": "a", "kind": "approval"}}}, "invalid_workflow"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantError(t, h.jsonReq(http.MethodPut, tt.path, admin, tt.body, nil), 400, tt.code)
		})
	}
	t.Run("scope outside the ceiling", func(t *testing.T) {
		h.registerAgent("reader", "app", []string{"repo:read"}, nil)
		res := h.jsonReq(http.MethodPut, "/v1/workflows/w", admin, map[string]any{"steps": []map[string]any{{"id": "a", "agent": "reader", "scopes": []string{"repo:write"}}}}, nil)
		wantError(t, res, 400, "invalid_workflow")
	})
	t.Run("non-admin cannot register", func(t *testing.T) {
		res := h.jsonReq(http.MethodPut, "/v1/agents/x", h.bearer("app"), map[string]any{"client_id": "app", "spec": good, "public_jwk": key.Public()}, nil)
		wantError(t, res, 403, "insufficient_scope")
	})
	t.Run("no token", func(t *testing.T) {
		wantError(t, h.jsonReq(http.MethodPut, "/v1/agents/x", "", map[string]any{}, nil), 401, "invalid_token")
	})
}

func TestLimits(t *testing.T) {
	h := newHarness(t)
	admin := h.bearer("admin")
	t.Run("registration body over 1 MiB", func(t *testing.T) {
		big := map[string]any{"client_id": "app", "spec": map[string]any{"agent_id": "x", "prompt_template": strings.Repeat("a", 1<<20)}}
		res := h.jsonReq(http.MethodPut, "/v1/agents/x", admin, big, nil)
		if res.status != http.StatusRequestEntityTooLarge || res.str("error") != "invalid_request" {
			t.Fatalf("got %d %s", res.status, res.raw)
		}
	})
	t.Run("run body over 64 KiB", func(t *testing.T) {
		res := h.jsonReq(http.MethodPost, "/v1/runs", h.bearer("app"), map[string]any{"workflow_id": "w", "initiated_by": strings.Repeat("a", 70<<10)}, nil)
		if res.status != http.StatusRequestEntityTooLarge {
			t.Fatalf("got %d %s", res.status, res.raw)
		}
	})
	t.Run("nesting deeper than 32", func(t *testing.T) {
		deep := any("x")
		for range 40 {
			deep = []any{deep}
		}
		res := h.jsonReq(http.MethodPut, "/v1/workflows/w", admin, map[string]any{"steps": deep}, nil)
		wantError(t, res, 400, "invalid_request")
	})
	t.Run("token over 8 KiB", func(t *testing.T) {
		res := h.jsonReq(http.MethodGet, "/v1/runs/x", "Bearer "+strings.Repeat("a", 9<<10), nil, nil)
		wantError(t, res, 401, "invalid_token")
	})
	t.Run("repeated form parameter", func(t *testing.T) {
		req := "grant_type=client_credentials&grant_type=client_credentials"
		r, _ := http.NewRequest(http.MethodPost, h.issuer+"/token", strings.NewReader(req))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.SetBasicAuth("app", "app-secret")
		wantError(t, h.do(r), 400, "invalid_request")
	})
}

func privateJWK(t *testing.T, s *keys.Signer) any {
	t.Helper()
	return map[string]any{"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
		"y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0", "d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}
}

// TestSecretsAtRest: with a key-encryption key, neither the signing key
// nor an agent's prompt appears in the database file.
func TestSecretsAtRest(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "ajwt.db")
	kek, _ := NewAESGCM(bytes.Repeat([]byte{7}, 32))
	h := newHarnessWith(t, dbPath, testConfig, Options{KeyCipher: kek})
	key, _ := keys.Generate(keys.EdDSA, nil)
	secretPrompt := "TOP-SECRET-PROMPT-" + strings.Repeat("x", 20)
	spec := &agentspec.Spec{AgentID: "bot", PromptTemplate: secretPrompt}
	res := h.jsonReq(http.MethodPut, "/v1/agents/bot", h.bearer("admin"), map[string]any{"client_id": "app", "spec": spec, "public_jwk": key.Public()}, nil)
	if res.status != 201 {
		t.Fatalf("register: %d %s", res.status, res.raw)
	}
	got := h.jsonReq(http.MethodGet, "/v1/agents/bot?include=spec", h.bearer("admin"), nil, nil)
	if s, _ := got.body["spec"].(map[string]any); s["prompt_template"] != secretPrompt {
		t.Fatalf("admin cannot read the sealed spec back: %s", got.raw)
	}
	h.st.Close()
	var raw []byte
	for _, suffix := range []string{"", "-wal"} {
		data, _ := os.ReadFile(dbPath + suffix)
		raw = append(raw, data...)
	}
	if bytes.Contains(raw, []byte("TOP-SECRET-PROMPT")) {
		t.Fatal("the prompt is in the database file in clear")
	}
	if bytes.Contains(raw, []byte("BEGIN PRIVATE KEY")) {
		t.Fatal("a signing key is in the database file in clear")
	}
	wrong, _ := NewAESGCM(bytes.Repeat([]byte{8}, 32))
	st, _ := sqlstore.OpenSQLite(t.Context(), dbPath, sqlstore.Options{})
	defer st.Close()
	cfg, _ := ParseConfig([]byte(strings.ReplaceAll(testConfig, "ISSUER", "http://127.0.0.1:1")))
	if _, err := New(t.Context(), cfg, st, Options{KeyCipher: wrong}); err == nil {
		t.Fatal("the server started with the wrong key-encryption key")
	}
}
