package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/internal/store/sqlstore"
)

// A step is completed inside one transaction that locks the run, so two
// concurrent completions cannot both succeed, and the audit entry commits
// with it.
func ExampleOpenSQLite() {
	dir, err := os.MkdirTemp("", "ajwt")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	db, err := sqlstore.OpenSQLite(ctx, filepath.Join(dir, "ajwt.db"), sqlstore.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	run := &store.Run{RunID: "run-1", ClientID: "app", WorkflowID: "triage", WorkflowVersion: 1, Status: store.RunActive,
		Steps: []store.Step{{ID: "plan", State: store.StepReady}}}
	if err := db.Update(ctx, func(tx store.Tx) error { return tx.CreateRun(ctx, run) }); err != nil {
		log.Fatal(err)
	}
	complete := func(tx store.Tx) error {
		r, err := tx.RunForUpdate(ctx, "run-1")
		if err != nil {
			return err
		}
		if r.Steps[0].State != store.StepReady {
			return fmt.Errorf("step is %s", r.Steps[0].State)
		}
		r.Steps[0].State, r.Steps[0].CompletedBy, r.Steps[0].Seq = store.StepCompleted, "planner", 1
		if err := tx.SaveRun(ctx, r); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: time.Now(), Event: "step_completed", RunID: "run-1", Step: "plan"})
	}
	fmt.Println(db.Update(ctx, complete))
	fmt.Println(db.Update(ctx, complete))

	var entries []*store.AuditEntry
	_ = db.View(ctx, func(tx store.Tx) (err error) {
		entries, err = tx.Audit(ctx, store.AuditFilter{RunID: "run-1", Limit: 100})
		return err
	})
	bad, _ := store.VerifyAuditChain(entries)
	fmt.Println(len(entries), "audit entry, first bad:", bad)
	// Output:
	// <nil>
	// step is completed
	// 1 audit entry, first bad: 0
}
