package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// TestClientRevokeCommand runs `ajwt client revoke` against a real
// `ajwt serve`: it revokes with the admin's secret (alone in a file, or
// the client-secrets.env of init), prints one line or JSON, and reports
// the IdP's refusals on one line with a non-zero status.
func TestClientRevokeCommand(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	if out, errOut, code := ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	sec := readSecrets(t, dir)
	s := startServer(t, dir, addr)
	adminFile := filepath.Join(dir, "admin.secret")
	appFile := filepath.Join(dir, "app.secret")
	for f, v := range map[string]string{adminFile: sec["AJWT_ADMIN_SECRET"] + "\n", appFile: sec["AJWT_PATCH_APP_SECRET"]} {
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	earlier := s.clientToken("patch-app", sec["AJWT_PATCH_APP_SECRET"])
	revoke := func(extra ...string) []string {
		return append([]string{"client", "revoke", "--issuer", s.base}, extra...)
	}
	tests := []struct {
		name    string
		args    []string
		code    int
		stdout  string // regexp; "" for none
		stderr  string // substring
		jsonOut bool
	}{
		// Refusals first: patch-app is the caller of one, and once revoked its
		// tokens of the same second would be refused as revoked.
		{"unknown client", revoke("ghost", "--admin-secret-file", adminFile), 1, "", "404 not_found", false},
		{"not an admin", revoke("approver", "--admin-client", "patch-app", "--admin-secret-file", appFile), 1, "", "403 insufficient_scope", false},
		{"wrong secret", revoke("approver", "--admin-secret-file", appFile), 1, "", "401 invalid_client", false},
		{"no secret file", revoke("approver"), 1, "", "admin-secret-file", false},
		{"no client id", revoke("--admin-secret-file", adminFile), 1, "", "accepts 1 arg", false},
		{"readable", revoke("patch-app", "--admin-secret-file", adminFile), 0, `^revoked client patch-app at \d{4}-\d\d-\d\dT\S+ \(unix \d+\)[^\n]*\n$`, "", false},
		{"json", revoke("approver", "--admin-secret-file", adminFile, "--json"), 0, `"client_id": "approver"`, "", true},
		{"secrets file of init", revoke("patch-app", "--admin-secret-file", filepath.Join(dir, "client-secrets.env")), 0, `^revoked client patch-app `, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := ajwt(t, "", tt.args...)
			if code != tt.code || !strings.Contains(errOut, tt.stderr) || strings.Count(errOut, "\n") > 1 {
				t.Fatalf("exit %d, stderr %q; want %d and %q on one line", code, errOut, tt.code, tt.stderr)
			}
			if tt.stdout == "" {
				if out != "" {
					t.Fatalf("stdout %q", out)
				}
				return
			}
			if !regexp.MustCompile(tt.stdout).MatchString(out) {
				t.Fatalf("stdout %q, want %s", out, tt.stdout)
			}
			if tt.jsonOut {
				var res struct {
					ClientID  string `json:"client_id"`
					RevokedAt int64  `json:"revoked_at"`
				}
				if err := json.Unmarshal([]byte(out), &res); err != nil || res.RevokedAt == 0 {
					t.Fatalf("--json: %q %v", out, err)
				}
			}
		})
	}
	if introspect(t, s.base, sec["AJWT_PATCH_APP_SECRET"], earlier) {
		t.Fatal("a token obtained before the revocation is still active")
	}
}

// TestServeRevokesRemovedClient: `ajwt serve` started without a client
// it served before publishes one client entry for it, and only once.
func TestServeRevokesRemovedClient(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	if out, errOut, code := ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	startServer(t, dir, addr).stop(syscall.SIGTERM)
	removeApprover(t, filepath.Join(dir, "ajwt.yaml"))
	for i := range 2 {
		s := startServer(t, dir, addr)
		code, feed := s.call(http.MethodGet, "/v1/revocations", "", nil, nil)
		var clients []any
		for _, e := range feed["revoked"].([]any) {
			if m := e.(map[string]any); m["type"] == "client" {
				clients = append(clients, m)
			}
		}
		if code != 200 || len(clients) != 1 || clients[0].(map[string]any)["id"] != "approver" {
			t.Fatalf("start %d without approver: feed %d %v, want one client entry for approver", i+1, code, feed)
		}
		s.stop(syscall.SIGTERM)
	}
}

// removeApprover deletes the approver client from a configuration
// written by init (its entry under clients: up to the next one).
func removeApprover(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?ms)^  - client_id: approver\n.*?(^  - |^\S)`)
	out := re.ReplaceAllString(string(data), "$1")
	if out == string(data) {
		t.Fatalf("no approver client in %s", data)
	}
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}
