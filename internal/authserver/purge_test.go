package authserver

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// TestPurgeAtStart: the server purges expired feed entries (and token
// records) from the start, over several bounded batches, and keeps what
// is live.
func TestPurgeAtStart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ajwt.db")
	st, err := sqlstore.OpenSQLite(context.Background(), path, sqlstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	const expired = 3*purgeBatch + 7
	err = st.Update(context.Background(), func(tx store.Tx) error {
		for i := range expired + 1 {
			exp := now.Add(-time.Hour)
			if i == expired {
				exp = now.Add(time.Hour)
			}
			if err := tx.AddRevocation(context.Background(), &store.Revocation{Type: store.RevokedToken, ID: fmt.Sprint("t", i), At: now, Expires: exp}); err != nil {
				return err
			}
			if err := tx.PutToken(context.Background(), &store.Token{JTI: fmt.Sprint("t", i), Kind: store.TokenLegacy, ClientID: "app",
				IssuedAt: now.Add(-2 * time.Hour), ExpiresAt: exp}); err != nil {
				return err
			}
		}
		return nil
	})
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessAt(t, path, testConfig)
	all := func() (revs []*store.Revocation) { // every row, expired or not
		if err := h.st.View(context.Background(), func(tx store.Tx) (err error) {
			revs, err = tx.Revocations(context.Background(), 0, time.Unix(0, 1), 10*expired)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return revs
	}
	waitFor(t, "the expired feed entries to be purged", func() bool { return len(all()) == 1 })
	if left := all(); left[0].ID != fmt.Sprint("t", expired) {
		t.Fatalf("the purge kept %v, not the live entry", left[0])
	}
	err = h.st.View(context.Background(), func(tx store.Tx) error {
		if _, err := tx.Token(context.Background(), "t0"); err == nil {
			return fmt.Errorf("an expired token record outside any run was kept")
		}
		_, err := tx.Token(context.Background(), fmt.Sprint("t", expired))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
