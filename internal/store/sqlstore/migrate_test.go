package sqlstore

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

func execSQLite(t *testing.T, path string, stmts ...string) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrations(t *testing.T) {
	files, _ := fs.Glob(migrations, "migrations/sqlite_*.sql")
	pg, _ := fs.Glob(migrations, "migrations/postgres_*.sql")
	if len(files) == 0 || len(pg) != len(files) {
		t.Fatalf("dialects have %d and %d migrations", len(files), len(pg))
	}
	latest := len(files)
	tests := []struct {
		name    string
		prepare []string // run on a database at the latest version before reopening it
		want    string   // error substring; "" for success
	}{
		{"reopen at latest", nil, ""},
		{"upgrade from 1", []string{"DROP TABLE clients", "DROP TABLE shared_secrets", "DROP INDEX used_ids_expires", "DROP INDEX tokens_expires", "DROP INDEX revocations_expires", "DROP INDEX tokens_delegated", "DROP INDEX runs_created", "DROP INDEX audit_agent", "ALTER TABLE revocations DROP COLUMN version",
			"DELETE FROM schema_version WHERE version > 1"}, ""},
		{"newer than the program", []string{"INSERT INTO schema_version (version) VALUES (999)"}, "newer than this program"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.db")
			db, err := OpenSQLite(t.Context(), path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			execSQLite(t, path, tt.prepare...)
			db, err = OpenSQLite(t.Context(), path, Options{})
			if tt.want != "" {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("open: %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var v, idx int
			err = db.read.QueryRow("SELECT (SELECT MAX(version) FROM schema_version), "+
				"(SELECT COUNT(*) FROM sqlite_master WHERE name IN ('used_ids_expires', 'tokens_expires', 'revocations_expires', 'tokens_delegated', 'runs_created', 'audit_agent'))").Scan(&v, &idx)
			db.Close()
			if err != nil || v != latest || idx != 6 {
				t.Fatalf("schema version %d, indexes %d (%v), want %d and 6", v, idx, err, latest)
			}
		})
	}
}

func TestOpenSQLiteRejects(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		path string
		opts Options
	}{
		{"memory", ":memory:", Options{}},
		{"empty path", "", Options{}},
		{"uri", "file:x.db", Options{}},
		{"dsn injection", filepath.Join(dir, "x.db?_pragma=synchronous(OFF)"), Options{}},
		{"synchronous OFF", filepath.Join(dir, "x.db"), Options{Synchronous: "OFF"}},
		{"missing directory", filepath.Join(dir, "no", "such", "x.db"), Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if db, err := OpenSQLite(t.Context(), tt.path, tt.opts); err == nil {
				db.Close()
				t.Fatal("opened")
			}
		})
	}
}
