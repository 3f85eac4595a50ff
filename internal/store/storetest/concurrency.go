package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// concurrently runs fn(i) on n goroutines and reports their errors.
func concurrently(t *testing.T, n int, fn func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = fn(i) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// testStepCompletesOnce is PROTOCOL.md §5 "concurrent requests MUST NOT
// complete a step twice": of 50 concurrent read-check-write transactions
// exactly one sees the step ready.
func testStepCompletesOnce(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	update(t, s, func(tx store.Tx) error { return tx.CreateRun(ctx, newRun("race")) })
	var wins atomic.Int32
	concurrently(t, 50, func(i int) error {
		var won bool // of the attempt that committed: Update may run fn again after a failure
		err := s.Update(ctx, func(tx store.Tx) error {
			won = false
			r, err := tx.RunForUpdate(ctx, "race")
			if err != nil || r.Steps[0].State != store.StepReady {
				return err
			}
			r.Steps[0].State, r.Steps[0].CompletedBy, r.Steps[0].Seq = store.StepCompleted, fmt.Sprint("agent", i), 1
			won = true
			return tx.SaveRun(ctx, r)
		})
		if err == nil && won {
			wins.Add(1)
		}
		return err
	})
	if wins.Load() != 1 {
		t.Fatalf("%d transactions completed the step, want 1", wins.Load())
	}
}

func testUseOnce(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	use := func(id string, exp time.Time) bool {
		t.Helper()
		var fresh bool
		update(t, s, func(tx store.Tx) (err error) { fresh, err = tx.UseOnce(ctx, id, exp); return err })
		return fresh
	}
	future, past := time.Now().Add(time.Hour), time.Now().Add(-time.Second)
	steps := []struct {
		name string
		id   string
		exp  time.Time
		want bool
	}{
		{"fresh", "a", future, true},
		{"used", "a", future, false},
		{"used again", "a", future.Add(time.Hour), false},
		{"another id", "b", future, true},
		{"recorded already expired", "old", past, true},
		{"expired use is fresh again", "old", future, true},
		{"then used", "old", future, false},
	}
	for _, st := range steps {
		if got := use(st.id, st.exp); got != st.want {
			t.Fatalf("%s: UseOnce(%q) = %v, want %v", st.name, st.id, got, st.want)
		}
	}
	var fresh atomic.Int32
	concurrently(t, 50, func(int) error {
		var ok bool
		err := s.Update(ctx, func(tx store.Tx) (err error) { ok, err = tx.UseOnce(ctx, "race", future); return err })
		if err == nil && ok {
			fresh.Add(1)
		}
		return err
	})
	if fresh.Load() != 1 {
		t.Fatalf("%d fresh uses of one id, want 1", fresh.Load())
	}
}

func testRevocations(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	now := time.Now()
	update(t, s, func(tx store.Tx) error {
		for i, exp := range []time.Time{now.Add(time.Hour), now.Add(-time.Hour), now.Add(time.Hour), now} {
			r := &store.Revocation{Type: store.RevokedToken, ID: fmt.Sprint("t", i), At: now, Expires: exp}
			if err := tx.AddRevocation(ctx, r); err != nil {
				return err
			}
			if r.Seq == 0 {
				return errors.New("no seq assigned")
			}
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		all, err := tx.Revocations(ctx, 0, now, 100)
		if err != nil || len(all) != 2 || all[0].ID != "t0" || all[1].ID != "t2" || all[0].Seq >= all[1].Seq {
			return fmt.Errorf("feed (expired and expiring-now entries must be left out) %v %v", all, err)
		}
		if all[0].Type != store.RevokedToken || !all[0].At.Equal(now) || !all[0].Expires.Equal(now.Add(time.Hour)) {
			return fmt.Errorf("entry %+v", all[0])
		}
		cases := []struct {
			name         string
			after        int64
			limit, count int
		}{
			{"after the first", all[0].Seq, 100, 1}, {"after the last", all[1].Seq, 100, 0},
			{"limit", 0, 1, 1}, {"zero limit", 0, 0, 0},
		}
		for _, c := range cases {
			got, err := tx.Revocations(ctx, c.after, now, c.limit)
			if err != nil || len(got) != c.count {
				return fmt.Errorf("%s: %v %v", c.name, got, err)
			}
		}
		return nil
	})
}

// testConcurrentRevocations: entries added concurrently get distinct,
// increasing sequence numbers, and a reader that follows the cursor sees
// every one of them.
func testConcurrentRevocations(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	exp := time.Now().Add(time.Hour)
	concurrently(t, 20, func(i int) error {
		return s.Update(ctx, func(tx store.Tx) error {
			return tx.AddRevocation(ctx, &store.Revocation{Type: store.RevokedRun, ID: fmt.Sprint("r", i), At: time.Now(), Expires: exp})
		})
	})
	var seen []string
	var cursor int64
	for range 20 {
		var page []*store.Revocation
		view(t, s, func(tx store.Tx) (err error) { page, err = tx.Revocations(ctx, cursor, time.Now(), 3); return err })
		if len(page) == 0 {
			break
		}
		for _, r := range page {
			if r.Seq <= cursor {
				t.Fatalf("seq %d after cursor %d", r.Seq, cursor)
			}
			cursor = r.Seq
			seen = append(seen, r.ID)
		}
	}
	slices.Sort(seen)
	if len(slices.Compact(seen)) != 20 {
		t.Fatalf("feed returned %d distinct entries, want 20: %v", len(seen), seen)
	}
}

// testCancelIsolation: transactions cancelled part-way run alongside
// others. Every Update that returned nil is kept, every one that failed
// left nothing, and a cancellation never fails another caller's
// transaction (as it could where transactions share a commit).
func testCancelIsolation(t *testing.T, o Opener) {
	s := o.Open(t)
	const n = 60
	results := make([]error, n)
	concurrently(t, n, func(i int) error {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		jti := fmt.Sprint("c", i)
		results[i] = s.Update(ctx, func(tx store.Tx) error {
			if err := tx.PutToken(ctx, mkToken(jti, "a", "", "", t0)); err != nil {
				return err
			}
			if i%3 != 0 {
				return nil
			}
			cancel()
			_, err := tx.Tokens(ctx, store.TokenFilter{AgentID: "a"}) // a statement under a cancelled context
			return err
		})
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		var errs []error
		for i, res := range results {
			_, err := tx.Token(t.Context(), fmt.Sprint("c", i))
			if kept := err == nil; kept != (res == nil) {
				errs = append(errs, fmt.Errorf("transaction %d returned %v, but its write kept = %v", i, res, kept))
			}
			if i%3 != 0 && res != nil {
				errs = append(errs, fmt.Errorf("uncancelled transaction %d failed: %w", i, res))
			}
		}
		return errors.Join(errs...)
	})
}
