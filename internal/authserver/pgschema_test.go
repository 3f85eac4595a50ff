package authserver

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// storeKinds are the stores a multi-node property is checked on: SQLite
// always, PostgreSQL when AJWT_TEST_POSTGRES names one (each open is a
// separate connection pool on one schema, as separate nodes are).
func storeKinds(t *testing.T) map[string]func(t *testing.T) func(now func() time.Time) store.Store {
	kinds := map[string]func(t *testing.T) func(now func() time.Time) store.Store{
		"sqlite": func(t *testing.T) func(now func() time.Time) store.Store {
			path := t.TempDir() + "/ajwt.db"
			return func(now func() time.Time) store.Store {
				st, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.Options{Synchronous: "NORMAL", Now: now})
				if err != nil {
					t.Fatal(err)
				}
				return st
			}
		},
	}
	dsn := os.Getenv("AJWT_TEST_POSTGRES")
	if dsn == "" {
		t.Log("*** AJWT_TEST_POSTGRES not set: the PostgreSQL case did NOT run ***")
		return kinds
	}
	kinds["postgres"] = func(t *testing.T) func(now func() time.Time) store.Store {
		schema := freshPGSchema(t, dsn)
		return func(now func() time.Time) store.Store {
			st, err := sqlstore.OpenPostgres(context.Background(), schema, sqlstore.Options{Now: now})
			if err != nil {
				t.Fatal(err)
			}
			return st
		}
	}
	return kinds
}

// freshPGSchema creates a schema dropped when the test ends and returns
// dsn with its search_path set to it.
func freshPGSchema(t *testing.T, dsn string) string {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := "ajwt_as_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// Concurrent DROP SCHEMA … CASCADE of other tests' schemas can
		// deadlock on the shared catalog; PostgreSQL then aborts one of
		// them, which is safe to run again.
		var err error
		for range 5 {
			if _, err = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err == nil || !strings.Contains(err.Error(), "40P01") {
				break
			}
		}
		if err != nil {
			t.Errorf("drop %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// otherNode starts a second server of h's deployment: on h's store object
// for SQLite (one process per database file), on a store of its own over
// the same schema for PostgreSQL.
func otherNode(t *testing.T, h *harness, kind string, open func(now func() time.Time) store.Store) *Server {
	t.Helper()
	st := h.st
	if kind != "sqlite" {
		st = open(h.clock.Now)
		t.Cleanup(func() { st.Close() })
	}
	srv, err := New(context.Background(), h.srv.cfg, st, Options{Now: h.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}
