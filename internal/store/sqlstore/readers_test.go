package sqlstore

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

func openReadersTest(t *testing.T) *DB {
	t.Helper()
	s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "ajwt.db"), Options{Synchronous: "NORMAL"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestReadersKeepStatements: Views reuse their readers' statements, and
// a reader's snapshot ends with its View (each View reads what was
// committed before it began).
func TestReadersKeepStatements(t *testing.T) {
	s, ctx := openReadersTest(t), t.Context()
	for i := range 50 {
		if err := s.Update(ctx, func(tx store.Tx) error {
			return tx.PutClient(ctx, &store.Client{ClientID: "app", FirstSeen: time.Unix(int64(i+1), 0)})
		}); err != nil {
			t.Fatal(err)
		}
		var c *store.Client
		if err := s.View(ctx, func(tx store.Tx) (err error) { c, err = tx.Client(ctx, "app"); return err }); err != nil {
			t.Fatal(err)
		}
		if c.FirstSeen.Unix() != int64(i+1) {
			t.Fatalf("view %d read first_seen %d: an older snapshot", i, c.FirstSeen.Unix())
		}
	}
	n := cap(s.readers.free)
	for range n {
		c := <-s.readers.free
		defer func() { s.readers.free <- c }()
		if c.conn != nil && len(c.stmts) > 3 { // BEGIN, the read, ROLLBACK
			t.Errorf("a reader prepared %d statements for one query", len(c.stmts))
		}
	}
}

// TestReadersBounded: more concurrent Views than readers wait for one;
// a View whose context ends while waiting gives up with its error.
func TestReadersBounded(t *testing.T) {
	s, ctx := openReadersTest(t), t.Context()
	n := cap(s.readers.free)
	release, held := make(chan struct{}), make(chan struct{}, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_ = s.View(ctx, func(store.Tx) error { held <- struct{}{}; <-release; return nil })
		})
	}
	for range n {
		<-held
	}
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.View(short, func(store.Tx) error { return nil }); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("view with every reader busy: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.View(ctx, func(tx store.Tx) error { _, err := tx.RevocationHead(ctx); return err }) }()
	close(release)
	wg.Wait()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestReadersClose: closing the store while a View runs lets it finish
// and closes its reader after it; Views after Close fail.
func TestReadersClose(t *testing.T) {
	s, ctx := openReadersTest(t), t.Context()
	inView, release := make(chan struct{}), make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- s.View(ctx, func(tx store.Tx) error {
			close(inView)
			<-release
			_, err := tx.RevocationHead(ctx)
			return err
		})
	}()
	<-inView
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatalf("view running at close: %v", err)
	}
	if err := s.View(ctx, func(store.Tx) error { return nil }); err == nil {
		t.Fatal("view after close succeeded")
	}
	for {
		select {
		case c := <-s.readers.free:
			t.Fatalf("reader back in the pool after close: %+v", c)
		default:
			return
		}
	}
}
