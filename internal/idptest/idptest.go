// Package idptest runs a real ajwt authorization server on loopback for
// tests of the shim, the enforcer and the demo: no mocks of our own server.
package idptest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// Config is a server configuration in which ISSUER stands for the URL.
const Config = `
issuer: ISSUER
clients:
  - {client_id: admin, client_secret: admin-secret, scopes: [ajwt:admin]}
  - {client_id: app, client_secret: app-secret, scopes: [ajwt:run, repo:read], audiences: [https://forge.example, https://osv.example]}
  - {client_id: approver, client_secret: approver-secret, scopes: [ajwt:approve], approves_for: [app]}
`

// IdP is a running server.
type IdP struct {
	URL    string
	Server *authserver.Server
}

// Start runs a server with config (ISSUER replaced by its URL) and a
// SQLite store in a temp dir; it stops when the test ends.
func Start(t testing.TB, config string) *IdP {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String()
	cfg, err := authserver.ParseConfig([]byte(strings.ReplaceAll(config, "ISSUER", url)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(t.TempDir(), "idp.db"), sqlstore.Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := authserver.New(context.Background(), cfg, st, authserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	t.Cleanup(func() { ts.Close(); srv.Close(); st.Close() })
	return &IdP{URL: url, Server: srv}
}
