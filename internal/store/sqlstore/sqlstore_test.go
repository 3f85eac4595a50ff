package sqlstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/storetest"
)

type sqliteOpener struct{ paths map[store.Store]string }

func (o sqliteOpener) Open(t *testing.T) store.Store {
	return o.open(t, filepath.Join(t.TempDir(), "ajwt.db"))
}

func (o sqliteOpener) open(t *testing.T, path string) store.Store {
	s, err := OpenSQLite(context.Background(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.paths[s] = path
	t.Cleanup(func() { s.Close() })
	return s
}

func (o sqliteOpener) Reopen(t *testing.T, old store.Store) store.Store {
	old.Close()
	return o.open(t, o.paths[old])
}

func TestSQLiteConformance(t *testing.T) {
	storetest.Run(t, sqliteOpener{paths: map[store.Store]string{}})
}

// pgOpener gives every store its own schema on the test server.
type pgOpener struct {
	dsn  string
	dsns map[store.Store]string
}

func (o pgOpener) Open(t *testing.T) store.Store {
	var b [6]byte
	rand.Read(b[:])
	schema := "ajwt_test_" + hex.EncodeToString(b[:])
	admin, err := OpenPostgres(context.Background(), o.dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.write.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.write.Exec("DROP SCHEMA " + schema + " CASCADE"); admin.Close() })
	u, _ := url.Parse(o.dsn)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return o.open(t, u.String())
}

func (o pgOpener) open(t *testing.T, dsn string) store.Store {
	s, err := OpenPostgres(context.Background(), dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	o.dsns[s] = dsn
	t.Cleanup(func() { s.Close() })
	return s
}

func (o pgOpener) Reopen(t *testing.T, old store.Store) store.Store {
	old.Close()
	return o.open(t, o.dsns[old])
}

func TestPostgresConformance(t *testing.T) {
	dsn := os.Getenv("AJWT_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("SKIPPED: AJWT_TEST_POSTGRES is not set; the PostgreSQL store was NOT tested")
	}
	storetest.Run(t, pgOpener{dsn: dsn, dsns: map[store.Store]string{}})
}
