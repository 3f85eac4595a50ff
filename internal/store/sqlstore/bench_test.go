package sqlstore

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// grantTx is the store work of one agent_checksum grant (PROTOCOL.md §6.2):
// read the agent, lock the run, move the step, record the token, audit.
func grantTx(ctx context.Context, s store.Store, jti string) error {
	return s.Update(ctx, func(tx store.Tx) error {
		a, err := tx.Agent(ctx, "planner")
		if err != nil {
			return err
		}
		run, err := tx.RunForUpdate(ctx, "run-1")
		if err != nil {
			return err
		}
		now := time.Now()
		run.Steps[0].State, run.Steps[0].Holder, run.Steps[0].Chain = store.StepInProgress, a.AgentID, []string{a.AgentID}
		if err := tx.SaveRun(ctx, run); err != nil {
			return err
		}
		if err := tx.PutToken(ctx, &store.Token{JTI: jti, Kind: store.TokenIntent, ClientID: a.ClientID, AgentID: a.AgentID,
			Version: a.Version, RunID: run.RunID, StepID: "plan", JKT: a.JKT, Scope: "repo:read osv:query",
			Audience: "https://forge.example", Chain: []string{a.AgentID}, IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: now, Event: "token_issued", ClientID: a.ClientID, AgentID: a.AgentID,
			RunID: run.RunID, Step: "plan", Outcome: "issued"})
	})
}

func seedGrant(b testing.TB, s store.Store) {
	err := s.Update(b.Context(), func(tx store.Tx) error {
		a := &store.Agent{AgentID: "planner", ClientID: "app", RegistrationID: "reg", Version: 1, Checksum: "sha256:00", JKT: "jkt",
			PublicJWK: json.RawMessage(`{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`),
			Spec:      json.RawMessage(`{}`), Scopes: []string{"repo:read", "osv:query"}, Audiences: []string{"https://forge.example"},
			WorkflowRequired: true, UpdatedAt: time.Now()}
		run := &store.Run{RunID: "run-1", ClientID: "app", WorkflowID: "triage", WorkflowVersion: 1, Status: store.RunActive,
			InitiatedBy: "user:alice", ExecutionContext: map[string]string{"repo": "acme/web", "branch": "main"}, CreatedAt: time.Now(),
			Steps: []store.Step{{ID: "plan", State: store.StepReady}, {ID: "approve", State: store.StepPending}, {ID: "patch", State: store.StepPending}}}
		if err := tx.PutAgent(b.Context(), a); err != nil {
			return err
		}
		return tx.CreateRun(b.Context(), run)
	})
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkGrantTx measures grant transactions per second. "serial" is
// one request at a time; "parallel" is 16×GOMAXPROCS concurrent requests,
// as on a busy server, which SQLite serialises on its single writer.
func BenchmarkGrantTx(b *testing.B) { benchStores(b, []string{"FULL", "NORMAL"}, benchGrant) }

// benchStores runs bench on a fresh SQLite store per synchronous setting
// and, with AJWT_TEST_POSTGRES, on a fresh PostgreSQL schema.
func benchStores(b *testing.B, syncs []string, bench func(*testing.B, store.Store)) {
	for _, sync := range syncs {
		b.Run("sqlite-"+sync, func(b *testing.B) {
			s, err := OpenSQLite(b.Context(), filepath.Join(b.TempDir(), "bench.db"), Options{Synchronous: sync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			bench(b, s)
		})
	}
	if dsn := os.Getenv("AJWT_TEST_POSTGRES"); dsn != "" {
		b.Run("postgres", func(b *testing.B) {
			s, err := OpenPostgres(b.Context(), freshSchema(b, dsn), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			bench(b, s)
		})
	}
}

func benchGrant(b *testing.B, s store.Store) {
	seedGrant(b, s)
	var n atomic.Int64
	next := func() string { return "jti-" + strconv.FormatInt(n.Add(1), 10) }
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := grantTx(b.Context(), s, next()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := grantTx(context.Background(), s, next()); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tx/s")
	})
}
