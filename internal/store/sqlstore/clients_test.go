package sqlstore

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// TestMigrationSeedsServedClients: a database upgraded to migration 007
// knows as served every client of its stored tokens, agents and runs, so
// that a client removed from the configuration together with the upgrade
// is noticed at that start.
func TestMigrationSeedsServedClients(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	db, err := OpenSQLite(t.Context(), path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, now := t.Context(), time.Now()
	err = db.Update(ctx, func(tx store.Tx) error {
		return errors.Join(
			tx.PutToken(ctx, &store.Token{JTI: "t1", Kind: store.TokenLegacy, ClientID: "legacy-app", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}),
			tx.PutToken(ctx, &store.Token{JTI: "t2", Kind: store.TokenLegacy, ClientID: "legacy-app", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}),
			tx.PutAgent(ctx, &store.Agent{AgentID: "a", ClientID: "agent-owner", PublicJWK: []byte("{}"), Spec: []byte("{}")}),
			tx.CreateRun(ctx, &store.Run{RunID: "r", ClientID: "run-owner", Status: store.RunActive}))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	execSQLite(t, path, "DROP TABLE clients", "DROP INDEX runs_created", "DROP INDEX audit_agent", "DELETE FROM schema_version WHERE version > 6")
	if db, err = OpenSQLite(t.Context(), path, Options{}); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var ids []string
	err = db.View(ctx, func(tx store.Tx) error {
		all, err := tx.Clients(ctx)
		for _, c := range all {
			if c.Removed || !c.RevokedAt.IsZero() {
				return fmt.Errorf("seeded %+v", c)
			}
			ids = append(ids, c.ClientID)
		}
		return err
	})
	if err != nil || fmt.Sprint(ids) != "[agent-owner legacy-app run-owner]" {
		t.Fatalf("served clients after the upgrade: %v %v", ids, err)
	}
}
