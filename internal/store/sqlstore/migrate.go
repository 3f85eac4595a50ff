package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"strings"
)

//go:embed migrations/*.sql
var migrations embed.FS

// migrate applies the embedded migrations of the dialect in one
// transaction, recording the version reached.
func migrate(ctx context.Context, conn *sql.Conn, d dialect) error {
	if _, err := conn.ExecContext(ctx, d.beginMigration); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	err := applyMigrations(ctx, conn, d)
	if err != nil {
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}

func applyMigrations(ctx context.Context, conn *sql.Conn, d dialect) error {
	if d.lockMigration != "" {
		if _, err := conn.ExecContext(ctx, d.lockMigration); err != nil {
			return fmt.Errorf("sqlstore: migration lock: %w", err)
		}
	}
	if _, err := conn.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	var current int
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_version").Scan(&current); err != nil {
		return fmt.Errorf("sqlstore: migrate: schema version: %w", err)
	}
	if _, err := migrations.ReadFile(migrationFile(d, current)); current > 0 && err != nil {
		return fmt.Errorf("sqlstore: migrate: database schema version %d is newer than this program's", current)
	}
	for v := current + 1; ; v++ {
		body, err := migrations.ReadFile(migrationFile(d, v))
		if err != nil {
			return nil // no more migrations
		}
		// Split at every ";": migration files hold none inside literals,
		// bodies or comments.
		for _, stmt := range strings.Split(string(body), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("sqlstore: migration %d: %w", v, err)
			}
		}
		if _, err := conn.ExecContext(ctx, d.rebind("INSERT INTO schema_version (version) VALUES (?)"), v); err != nil {
			return err
		}
	}
}

func migrationFile(d dialect, v int) string {
	return fmt.Sprintf("migrations/%s_%03d.sql", d.name, v)
}
