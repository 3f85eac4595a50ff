package authserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/ajwt/ajwt/internal/store/sqlstore"
	"github.com/ajwt/ajwt/keys"
)

// TestClientAssertionRules: §1 (RFC 7521 §4.2, RFC 7523, RFC 8725) — aud is
// the issuer, as a string or an array holding only it; typ, when present,
// is JWT or client-authentication+jwt; a client_id form parameter names
// the assertion's client. Anything else is 401 invalid_client.
func TestClientAssertionRules(t *testing.T) {
	ck, _ := keys.Generate(keys.ES256, nil)
	pub, _ := json.Marshal(ck.Public())
	h := newHarnessAt(t, t.TempDir()+"/db", testConfig+"  - client_id: jwt-app\n    scopes: [repo:read]\n    jwks: {keys: ["+string(pub)+"]}\n")
	type mut func(header, claims map[string]any, form url.Values)
	typ := func(v string) mut { return func(h, _ map[string]any, _ url.Values) { h["typ"] = v } }
	aud := func(v any) mut { return func(_, c map[string]any, _ url.Values) { c["aud"] = v } }
	clientID := func(v string) mut { return func(_, _ map[string]any, f url.Values) { f.Set("client_id", v) } }
	tests := []struct {
		name   string
		change mut
		status int
	}{
		{"aud the issuer", nil, 200},
		{"aud an array of the issuer", aud([]string{h.issuer}), 200},
		{"aud the token endpoint", aud(h.issuer + "/token"), 401},
		{"aud an array of the token endpoint", aud([]string{h.issuer + "/token"}), 401},
		{"aud an array containing the issuer", aud([]string{h.issuer, "https://forge.example"}), 401},
		{"aud the issuer and the token endpoint", aud([]string{h.issuer, h.issuer + "/token"}), 401},
		{"aud the issuer with a trailing slash", aud(h.issuer + "/"), 401},
		{"typ JWT", typ("JWT"), 200},
		{"typ client-authentication+jwt", typ("client-authentication+jwt"), 200},
		{"typ application/client-authentication+jwt", typ("application/client-authentication+jwt"), 200},
		{"typ dpop+jwt", typ("dpop+jwt"), 401},
		{"typ at+jwt", typ("at+jwt"), 401},
		{"typ delegation+jwt", typ("delegation+jwt"), 401},
		{"typ empty", typ(""), 401},
		{"client_id the same client", clientID("jwt-app"), 200},
		{"client_id another client", clientID("app"), 401},
		{"client_id an unknown client", clientID("ghost"), 401},
		{"iss is not sub", func(_, c map[string]any, _ url.Values) { c["sub"] = "app" }, 401},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := h.clock.Now()
			header := map[string]any{"alg": "ES256", "kid": ck.KeyID()}
			claims := map[string]any{"iss": "jwt-app", "sub": "jwt-app", "aud": h.issuer, "jti": "rules-" + string(rune('a'+i)),
				"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
			form := url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {assertionTypeJWTBearer}}
			if tt.change != nil {
				tt.change(header, claims, form)
			}
			form.Set("client_assertion", signJWS(t, ck, header, claims))
			res := h.form("/token", "", "", form, nil)
			if res.status != tt.status {
				t.Fatalf("got %d %s, want %d", res.status, res.raw, tt.status)
			}
			if tt.status == 401 && res.str("error") != "invalid_client" {
				t.Fatalf("error %q, want invalid_client", res.str("error"))
			}
		})
	}
}

// TestClientJWKSCheckedAtStart: §1 — a client's jwks holds signature keys
// only (no private members, use absent or sig, RSA ≥ 2048 bits, an alg
// that fits the key); anything else stops the server at start with one
// line naming the client.
func TestClientJWKSCheckedAtStart(t *testing.T) {
	ec, _ := keys.Generate(keys.ES256, nil)
	ed, _ := keys.Generate(keys.EdDSA, nil)
	rsa1024, _ := rsa.GenerateKey(rand.Reader, 1024)
	rsa2048, _ := rsa.GenerateKey(rand.Reader, 2048)
	jwk := func(key any, set map[string]any) string {
		raw, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: "k1"})
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		for k, v := range set {
			if v == nil {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		out, _ := json.Marshal(m)
		return string(out)
	}
	ecPub := ec.Public().Key
	tests := []struct {
		name string
		keys string // the members of jwks.keys
		ok   bool
	}{
		{"P-256 public key", jwk(ecPub, nil), true},
		{"P-256 key with use sig and alg ES256", jwk(ecPub, map[string]any{"use": "sig", "alg": "ES256"}), true},
		{"Ed25519 key named Ed25519", jwk(ed.Public().Key, map[string]any{"alg": "Ed25519"}), true},
		{"RSA 2048", jwk(&rsa2048.PublicKey, nil), true},
		{"P-256 private key", jwk(ec.CryptoSigner(), nil), false},
		{"Ed25519 private key", jwk(ed.CryptoSigner(), nil), false},
		{"public key with a stray d member", jwk(ecPub, map[string]any{"d": base64.RawURLEncoding.EncodeToString(make([]byte, 32))}), false},
		{"use enc", jwk(ecPub, map[string]any{"use": "enc"}), false},
		{"RSA 1024", jwk(&rsa1024.PublicKey, nil), false},
		{"alg RS256 on a P-256 key", jwk(ecPub, map[string]any{"alg": "RS256"}), false},
		{"alg HS256", jwk(ecPub, map[string]any{"alg": "HS256"}), false},
		{"symmetric key", `{"kty":"oct","kid":"k1","k":"` + base64.RawURLEncoding.EncodeToString(make([]byte, 32)) + `"}`, false},
		{"second key bad", jwk(ecPub, nil) + "," + jwk(&rsa1024.PublicKey, map[string]any{"kid": "k2"}), false},
		{"no keys", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := strings.ReplaceAll(testConfig, "ISSUER", "http://127.0.0.1:1") +
				"  - client_id: jwt-app\n    scopes: [repo:read]\n    jwks: {keys: [" + tt.keys + "]}\n"
			err := startServer(t, cfg)
			if tt.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the server started")
			}
			if msg := err.Error(); !strings.Contains(msg, "jwt-app") || strings.Contains(msg, "\n") {
				t.Fatalf("reason %q: want one line naming the client", msg)
			}
			t.Log(err)
		})
	}
}

// startServer does what `ajwt serve` does with a configuration: parse it
// and start a server on a fresh store.
func startServer(t *testing.T, config string) error {
	t.Helper()
	cfg, err := ParseConfig([]byte(config))
	if err != nil {
		return err
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "ajwt.db"), sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := New(context.Background(), cfg, st, Options{})
	if err != nil {
		return err
	}
	return srv.Close()
}
