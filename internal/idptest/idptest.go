// Package idptest runs a real ajwt authorization server on loopback for
// tests of the shim, the enforcer and the demo: no mocks of our own server.
package idptest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
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
	idp, stop, err := Run(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return idp
}

// Run is Start for code without a testing.TB (runnable examples): stop
// ends the server and removes its data.
func Run(config string) (idp *IdP, stop func(), err error) {
	dir, err := os.MkdirTemp("", "ajwt-idptest-")
	if err != nil {
		return nil, nil, err
	}
	cleanups := []func(){func() { _ = os.RemoveAll(dir) }}
	stop = func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, func() { _ = ln.Close() })
	url := "http://" + ln.Addr().String()
	cfg, err := authserver.ParseConfig([]byte(strings.ReplaceAll(config, "ISSUER", url)))
	if err != nil {
		return nil, nil, err
	}
	st, err := sqlstore.OpenSQLite(context.Background(), filepath.Join(dir, "idp.db"), sqlstore.Options{Synchronous: "NORMAL"})
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, func() { st.Close() })
	srv, err := authserver.New(context.Background(), cfg, st, authserver.Options{})
	if err != nil {
		return nil, nil, err
	}
	cleanups = append(cleanups, func() { _ = srv.Close() })
	ts := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv.Handler()}}
	ts.Start()
	cleanups = append(cleanups, ts.Close)
	return &IdP{URL: url, Server: srv}, stop, nil
}
