package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"modernc.org/sqlite"

	"github.com/ajwt/ajwt/internal/store"
)

// expiredFeed opens a SQLite store holding n expired revocation entries
// followed by live ones (seq n+1 … n+live), the state a busy IdP reaches
// before its purge catches up.
func expiredFeed(tb testing.TB, n, live int) *DB {
	tb.Helper()
	db, err := OpenSQLite(tb.Context(), filepath.Join(tb.TempDir(), "feed.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	now := time.Now()
	err = db.Update(tb.Context(), func(t store.Tx) error {
		x := t.(*tx)
		if _, err := x.exec(tb.Context(), "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "+
			"INSERT INTO revocations (type, id, at, expires, version) SELECT 'token', 'old-' || i, ?, ?, 0 FROM c",
			n, ns(now.Add(-time.Hour)), ns(now.Add(-time.Minute))); err != nil {
			return err
		}
		for i := range live {
			if err := t.AddRevocation(tb.Context(), &store.Revocation{Type: store.RevokedToken, ID: fmt.Sprint("live-", i),
				At: now, Expires: now.Add(time.Hour)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// pagesRead runs fn in a read transaction on one pinned reader connection
// and returns how many database pages it looked up (page cache hits and
// misses): a scan of the expired rows shows as thousands of pages.
func pagesRead(tb testing.TB, db *DB, fn func(store.Tx) error) int {
	tb.Helper()
	ctx := tb.Context()
	conn, err := db.read.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	counters := func() (n int) {
		err := conn.Raw(func(dc any) error {
			for _, op := range []sqlite.DBStatusOp{sqlite.DBStatusCacheHit, sqlite.DBStatusCacheMiss} {
				c, _, err := dc.(sqlite.DBStatus).Status(op, false)
				if err != nil {
					return err
				}
				n += c
			}
			return nil
		})
		if err != nil {
			tb.Fatal(err)
		}
		return n
	}
	sqlTx, err := conn.BeginTx(ctx, &sql.TxOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	defer func() { _ = sqlTx.Rollback() }()
	before := counters()
	if err := fn(&tx{db: db, r: txRunner{d: db.d, tx: sqlTx}}); err != nil {
		tb.Fatal(err)
	}
	return counters() - before
}

// TestFeedReadSkipsExpiredEntries: a read of the feed from the start
// (no since, or since=0, as every enforcer's first sync is) starts at the
// first live entry instead of walking the expired ones the purge has not
// removed yet.
func TestFeedReadSkipsExpiredEntries(t *testing.T) {
	const expired, live = 200_000, 5
	db := expiredFeed(t, expired, live)
	for _, after := range []int64{0, 10, expired - 1} {
		var got []*store.Revocation
		pages := pagesRead(t, db, func(tx store.Tx) (err error) {
			got, err = tx.Revocations(context.Background(), after, time.Now(), 1000)
			return err
		})
		if len(got) != live || got[0].Seq != expired+1 {
			t.Fatalf("after %d: %d entries from seq %v, want %d from %d", after, len(got), got, live, expired+1)
		}
		// 200,000 rows fill over a thousand pages; the live entries and
		// the index path to them, a handful.
		if pages > 100 {
			t.Errorf("after %d: the read looked at %d pages: it walks the expired entries", after, pages)
		}
	}
}

// BenchmarkFeedReadAfterExpired is a first feed read (since=0) with a
// million expired entries waiting for the purge.
func BenchmarkFeedReadAfterExpired(b *testing.B) {
	db := expiredFeed(b, 1_000_000, 5)
	var pages int
	for b.Loop() {
		pages = pagesRead(b, db, func(tx store.Tx) error {
			_, err := tx.Revocations(context.Background(), 0, time.Now(), 1000)
			return err
		})
	}
	b.ReportMetric(float64(pages), "pages/op")
}
