package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

func readAudit(t *testing.T, s store.Store) []*store.AuditEntry {
	t.Helper()
	if err := s.FlushAudit(t.Context()); err != nil {
		t.Fatalf("flush audit: %v", err)
	}
	var all []*store.AuditEntry
	view(t, s, func(tx store.Tx) (err error) {
		all, err = tx.Audit(t.Context(), store.AuditFilter{Limit: 100_000})
		return err
	})
	return all
}

// verifyAudit checks that the whole log is one intact chain ending at the
// recorded head, with n entries.
func verifyAudit(t *testing.T, s store.Store, n int) []*store.AuditEntry {
	t.Helper()
	all := readAudit(t, s)
	if len(all) != n {
		t.Fatalf("audit has %d entries, want %d", len(all), n)
	}
	if seq, why := store.VerifyAuditChain(all); seq != 0 {
		t.Fatalf("chain broken at %d: %s", seq, why)
	}
	view(t, s, func(tx store.Tx) error {
		seq, hash, err := tx.AuditHead(t.Context())
		want := store.AuditGenesis
		if n > 0 {
			want = all[n-1].Hash
		}
		if err != nil || seq != int64(n) || hash != want {
			return fmt.Errorf("head (%d, %s) %v, want (%d, %s)", seq, hash, err, n, want)
		}
		return nil
	})
	return all
}

// testAudit appends from 20 goroutines at once: the result is still one
// chain with no gap or fork.
func testAudit(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	verifyAudit(t, s, 0)
	concurrently(t, 20, func(i int) error {
		return s.Update(ctx, func(tx store.Tx) error {
			e := &store.AuditEntry{Time: time.Now(), Event: []string{"grant", "grant", "complete_step"}[i%3], ClientID: "app", AgentID: []string{"planner", "patcher"}[i%2], RunID: fmt.Sprint("r", i%2),
				Step: "plan", Outcome: "issued", Detail: fmt.Sprint("n=", i)}
			if err := tx.AppendAudit(ctx, e); err != nil {
				return err
			}
			// Chained at once (SQLite) or later (PostgreSQL's outbox), but
			// never half: a Seq always comes with its hash.
			if (e.Seq == 0) != (e.Hash == "") || (e.Seq != 0 && e.Hash != store.HashAudit(e)) {
				return fmt.Errorf("append left %+v", e)
			}
			return nil
		})
	})
	all := verifyAudit(t, s, 20)
	view(t, s, func(tx store.Tx) error {
		return checkAuditFilters(ctx, tx, all)
	})
	checkTamperDetected(t, all)
}

func checkTamperDetected(t *testing.T, all []*store.AuditEntry) {
	edit := *all[4]
	edit.Outcome = "refused"
	cases := []struct {
		name    string
		entries []*store.AuditEntry
	}{
		{"edited", append(append(append([]*store.AuditEntry{}, all[:4]...), &edit), all[5:]...)},
		{"removed", append(append([]*store.AuditEntry{}, all[:4]...), all[5:]...)},
		{"swapped", append(append([]*store.AuditEntry{}, all[:3]...), append([]*store.AuditEntry{all[4], all[3]}, all[5:]...)...)},
	}
	for _, c := range cases {
		if seq, _ := store.VerifyAuditChain(c.entries); seq == 0 {
			t.Errorf("%s entry not detected", c.name)
		}
	}
}

// testAuditTimes: times come back with the exact nanoseconds HashAudit
// used, including the zero time and a time in another zone.
func testAuditTimes(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	times := []time.Time{t0, {}, time.Now(), t0.In(time.FixedZone("x", 5*3600+1800)), time.Unix(0, 1)}
	update(t, s, func(tx store.Tx) error {
		for _, tm := range times {
			if err := tx.AppendAudit(ctx, &store.AuditEntry{Time: tm, Event: "tick"}); err != nil {
				return err
			}
		}
		return nil
	})
	all := verifyAudit(t, s, len(times))
	for i, tm := range times {
		if all[i].Time.UnixNano() != tm.UnixNano() {
			t.Errorf("entry %d: time %d, want %d", i+1, all[i].Time.UnixNano(), tm.UnixNano())
		}
	}
}

// testAuditFailedNeighbours: transactions that append and then fail (or
// panic) run among ones that succeed, as group commit batches them; the
// chain holds exactly the successful entries, gap-free.
func testAuditFailedNeighbours(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	errBoom := errors.New("boom")
	concurrently(t, 60, func(i int) error {
		err := func() (err error) {
			defer func() {
				if p := recover(); p != nil {
					err = errBoom
				}
			}()
			return s.Update(ctx, func(tx store.Tx) error {
				if err := tx.AppendAudit(ctx, &store.AuditEntry{Time: time.Now(), Event: "grant", Detail: fmt.Sprint(i)}); err != nil {
					return err
				}
				switch i % 3 {
				case 1:
					return errBoom
				case 2:
					panic("boom")
				}
				return nil
			})
		}()
		if (i%3 == 0) != (err == nil) || (err != nil && !errors.Is(err, errBoom)) {
			return fmt.Errorf("transaction %d: %v", i, err)
		}
		return nil
	})
	for _, e := range verifyAudit(t, s, 20) {
		var n int
		if _, err := fmt.Sscan(e.Detail, &n); err != nil || n%3 != 0 {
			t.Errorf("entry of failed transaction %q chained", e.Detail)
		}
	}
}

// checkAuditFilters compares each filter's answer with the same filter
// applied to the whole log by hand.
func checkAuditFilters(ctx context.Context, tx store.Tx, all []*store.AuditEntry) error {
	cases := []struct {
		f    store.AuditFilter
		keep func(*store.AuditEntry) bool
	}{
		{store.AuditFilter{RunID: "r1", Limit: 1000}, func(e *store.AuditEntry) bool { return e.RunID == "r1" }},
		{store.AuditFilter{RunID: "r1", After: 10, Limit: 1000}, func(e *store.AuditEntry) bool { return e.RunID == "r1" && e.Seq > 10 }},
		{store.AuditFilter{After: 5, Limit: 3}, func(e *store.AuditEntry) bool { return e.Seq > 5 && e.Seq <= 8 }},
		{store.AuditFilter{Limit: 0}, func(*store.AuditEntry) bool { return false }},
		{store.AuditFilter{AgentID: "patcher", Event: "grant", Limit: 1000}, func(e *store.AuditEntry) bool { return e.AgentID == "patcher" && e.Event == "grant" }},
		{store.AuditFilter{Event: "complete_step", Limit: 1000}, func(e *store.AuditEntry) bool { return e.Event == "complete_step" }},
	}
	for _, c := range cases {
		got, err := tx.Audit(ctx, c.f)
		if err != nil {
			return err
		}
		if want := seqsOf(all, c.keep); !slices.Equal(seqsOf(got, nil), want) {
			return fmt.Errorf("audit %+v: got %v, want %v", c.f, seqsOf(got, nil), want)
		}
	}
	newest, err := tx.Audit(ctx, store.AuditFilter{Newest: true, Limit: 3})
	if err != nil {
		return err
	}
	older, err := tx.Audit(ctx, store.AuditFilter{Newest: true, Before: 18, AgentID: "planner", Limit: 2})
	if err != nil {
		return err
	}
	if !slices.Equal(seqsOf(newest, nil), []int64{20, 19, 18}) || len(older) != 2 || older[0].Seq >= 18 || older[0].Seq <= older[1].Seq || older[0].AgentID != "planner" {
		return fmt.Errorf("newest first: %v, then %v", seqsOf(newest, nil), seqsOf(older, nil))
	}
	return nil
}

func seqsOf(entries []*store.AuditEntry, keep func(*store.AuditEntry) bool) []int64 {
	out := []int64{}
	for _, e := range entries {
		if keep == nil || keep(e) {
			out = append(out, e.Seq)
		}
	}
	return out
}
