//go:build unix

package sqlstore

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/ajwt/ajwt/internal/store"
)

// TestSQLiteFilesPrivate: the database holds signing keys (in clear
// without a KEK), so it and its -wal and -shm files are 0600 whatever the
// data directory's mode and the umask; a more permissive existing file is
// tightened at open, and the store says so.
func TestSQLiteFilesPrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022)) // the usual umask, which left the files world-readable
	dir := filepath.Join(t.TempDir(), "data")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ajwt.db")

	t.Run("new database in an existing open directory", func(t *testing.T) {
		s := openAndWrite(t, path, Options{})
		wantPrivate(t, path, path+"-wal", path+"-shm")
		s.Close()
	})
	t.Run("existing database more permissive", func(t *testing.T) {
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		var log bytes.Buffer
		s := openAndWrite(t, path, Options{Logger: slog.New(slog.NewTextHandler(&log, nil))})
		wantPrivate(t, path, path+"-wal", path+"-shm")
		s.Close()
		if !strings.Contains(log.String(), "ajwt.db") || !strings.Contains(log.String(), "0600") {
			t.Fatalf("no warning about the tightened file: %q", log.String())
		}
	})
}

// openAndWrite opens the store and commits a write, so that the WAL and
// its index exist.
func openAndWrite(t *testing.T, path string, opts Options) *DB {
	t.Helper()
	s, err := OpenSQLite(context.Background(), path, opts)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(context.Background(), func(tx store.Tx) error {
		return tx.AppendAudit(context.Background(), &store.AuditEntry{Event: "test", Outcome: "ok"})
	})
	if err != nil {
		s.Close()
		t.Fatal(err)
	}
	return s
}

func wantPrivate(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
