package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/storetest"
)

// sqliteOpener gives every store its own file under t.TempDir().
type sqliteOpener struct {
	opts  Options
	mu    sync.Mutex
	paths map[store.Store]string
}

func (o *sqliteOpener) Open(t *testing.T) store.Store {
	return o.open(t, filepath.Join(t.TempDir(), "ajwt.db"))
}

func (o *sqliteOpener) open(t *testing.T, path string) store.Store {
	s, err := OpenSQLite(t.Context(), path, o.opts)
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	o.paths[s] = path
	o.mu.Unlock()
	t.Cleanup(func() { s.Close() })
	return s
}

func (o *sqliteOpener) Reopen(t *testing.T, old store.Store) store.Store {
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	path := o.paths[old]
	o.mu.Unlock()
	return o.open(t, path)
}

func TestSQLiteConformance(t *testing.T) {
	for _, sync := range []string{"FULL", "NORMAL"} {
		t.Run(sync, func(t *testing.T) {
			storetest.Run(t, &sqliteOpener{opts: Options{Synchronous: sync}, paths: map[store.Store]string{}})
		})
	}
}

// pgOpener gives every store its own schema on the test server, dropped
// when the test ends, so parallel runs do not collide.
type pgOpener struct {
	dsn  string
	mu   sync.Mutex
	dsns map[store.Store]string
}

func (o *pgOpener) Open(t *testing.T) store.Store {
	return o.open(t, freshSchema(t, o.dsn))
}

// freshSchema creates a schema dropped when tb ends and returns dsn with
// its search_path set to it.
func freshSchema(tb testing.TB, dsn string) string {
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	var b [8]byte
	rand.Read(b[:])
	schema := "ajwt_store_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(tb.Context(), "CREATE SCHEMA "+schema); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		// Concurrent DROP SCHEMA … CASCADE can deadlock on the shared
		// catalog (40P01); the aborted one is safe to run again.
		var err error
		for range 5 {
			if _, err = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE"); err == nil || !strings.Contains(err.Error(), "40P01") {
				break
			}
		}
		if err != nil {
			tb.Errorf("drop %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func (o *pgOpener) open(t *testing.T, dsn string) store.Store {
	s, err := OpenPostgres(t.Context(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	o.dsns[s] = dsn
	o.mu.Unlock()
	t.Cleanup(func() { s.Close() }) // registered after the schema drop, so it runs before it
	return s
}

func (o *pgOpener) Reopen(t *testing.T, old store.Store) store.Store {
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	o.mu.Lock()
	dsn := o.dsns[old]
	o.mu.Unlock()
	return o.open(t, dsn)
}

// postgresDSN returns $AJWT_TEST_POSTGRES or skips the test, loudly.
func postgresDSN(t *testing.T) string {
	dsn := os.Getenv("AJWT_TEST_POSTGRES")
	if dsn == "" {
		// On stderr too: go test hides t.Log of a skipped test without -v.
		const msg = "*** sqlstore: PostgreSQL store NOT TESTED: set AJWT_TEST_POSTGRES=postgres://user@host:5432/db?sslmode=disable ***"
		fmt.Fprintln(os.Stderr, msg)
		t.Skip(msg)
	}
	return dsn
}

func TestPostgresConformance(t *testing.T) {
	storetest.Run(t, &pgOpener{dsn: postgresDSN(t), dsns: map[store.Store]string{}})
}
