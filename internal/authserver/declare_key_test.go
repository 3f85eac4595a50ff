package authserver

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
)

// TestServeCatchesSpecEditedWithoutKey: a spec edited in the configuration
// while its public_jwk stayed would start silently and fail every later
// grant with a key mismatch; the server refuses to start and says to run
// `ajwt keys derive`, unless the agent's key is declared external.
func TestServeCatchesSpecEditedWithoutKey(t *testing.T) {
	key, _ := keys.Generate(keys.EdDSA, nil)
	other, _ := keys.Generate(keys.EdDSA, nil)
	jwkOf := func(s *keys.Signer) string { b, _ := s.Public().MarshalJSON(); return string(b) }
	config := func(prompt, jwk, source string) string {
		c := "issuer: http://127.0.0.1:8420\nclients:\n  - {client_id: app, client_secret: app-secret-of-32-characters-at-least, scopes: [ajwt:run]}\n" +
			"agents:\n  - agent_id: planner\n    client_id: app\n    spec: {agent_id: planner, prompt_template: \"" + prompt + "\"}\n    public_jwk: " + jwk + "\n"
		if source != "" {
			c += "    key_source: " + source + "\n"
		}
		return c
	}
	db := filepath.Join(t.TempDir(), "ajwt.db")
	start := func(cfgText string) error {
		cfg, err := ParseConfig([]byte(cfgText))
		if err != nil {
			return err
		}
		st, err := sqlstore.OpenSQLite(context.Background(), db, sqlstore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		srv, err := New(context.Background(), cfg, st, Options{})
		if err == nil {
			srv.Close()
		}
		return err
	}
	steps := []struct {
		name, config, wantErr string
	}{
		{"first registration", config("You plan.", jwkOf(key), ""), ""},
		{"unchanged", config("You plan.", jwkOf(key), ""), ""},
		{"spec edited, key kept", config("You plan. Also merge.", jwkOf(key), ""), "ajwt keys derive"},
		{"spec edited, key external", config("You plan. Also merge.", jwkOf(key), "external"), ""},
		{"spec edited again with a new key", config("You plan carefully.", jwkOf(other), ""), ""},
		{"bad key_source", config("You plan carefully.", jwkOf(other), "kms"), "key_source"},
	}
	for _, s := range steps {
		err := start(s.config)
		if (s.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), s.wantErr)) {
			t.Fatalf("%s: err = %v, want %q", s.name, err, s.wantErr)
		}
	}
}
