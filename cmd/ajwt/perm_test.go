//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestServeDataFilesPrivate: `ajwt serve` on a data directory that
// already exists, open to others, keeps its files (the database with the
// signing keys, its -wal and -shm, serve.lock) at 0600, and tightens, and
// says so, files an earlier version or an operator left more open.
func TestServeDataFilesPrivate(t *testing.T) {
	defer syscall.Umask(syscall.Umask(0o022)) // inherited by the server process
	dir := t.TempDir()
	addr := freeAddr(t)
	if out, errOut, code := ajwt(t, "", "init", "--dir", dir, "--issuer", "http://"+addr); code != 0 {
		t.Fatalf("init: %s %s", out, errOut)
	}
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	files := []string{"ajwt.db", "ajwt.db-wal", "ajwt.db-shm", "serve.lock"}

	s := startServer(t, dir, addr)
	wantMode(t, data, files, 0o600)
	s.stop(syscall.SIGTERM)

	for _, f := range []string{"ajwt.db", "serve.lock"} {
		if err := os.Chmod(filepath.Join(data, f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s = startServer(t, dir, addr)
	wantMode(t, data, files, 0o600)
	s.stop(syscall.SIGTERM)
	log, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
	if !strings.Contains(string(log), "ajwt.db") || !strings.Contains(string(log), "0600") {
		t.Fatalf("the server did not say it tightened ajwt.db:\n%s", log)
	}
}

func wantMode(t *testing.T, dir string, names []string, want os.FileMode) {
	t.Helper()
	for _, n := range names {
		fi, err := os.Stat(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want %v", n, fi.Mode().Perm(), want)
		}
	}
}
