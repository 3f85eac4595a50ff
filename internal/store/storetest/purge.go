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

// testPurge: PurgeExpired deletes, at most limit rows of each kind per
// call, the revocation entries, single-use identifiers and token records
// expired at the bound — tokens only outside active runs — and nothing
// else; sequence numbers are never reused after a purge.
func testPurge(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	before := t0
	old, live := before.Add(-time.Minute), before.Add(time.Hour)
	update(t, s, func(tx store.Tx) error {
		done := newRun("done")
		done.Status = store.RunCompleted
		errs := []error{tx.CreateRun(ctx, newRun("going")), tx.CreateRun(ctx, done)}
		for i, exp := range []time.Time{old, before, old, live} {
			errs = append(errs, tx.AddRevocation(ctx, &store.Revocation{Type: store.RevokedToken, ID: fmt.Sprint("r", i), At: old, Expires: exp}))
		}
		for _, k := range []*store.Token{mkToken("gone", "a", "", "", old), mkToken("done", "a", "done", "", before),
			mkToken("going", "a", "going", "", old), mkToken("live", "a", "", "", live)} {
			errs = append(errs, tx.PutToken(ctx, k))
		}
		for _, id := range []string{"u-old", "u-old2", "u-live"} {
			exp := old
			if id == "u-live" {
				exp = live
			}
			_, err := tx.UseOnce(ctx, id, exp)
			errs = append(errs, err)
		}
		return errors.Join(errs...)
	})
	var head int64
	view(t, s, func(tx store.Tx) (err error) { head, err = tx.RevocationHead(ctx); return err })

	// Three revocation entries, two tokens and two identifiers expired
	// at the bound: one of each kind per call with limit 1.
	var counts []int
	for range 10 {
		var n int
		update(t, s, func(tx store.Tx) (err error) { n, err = tx.PurgeExpired(ctx, before, 1); return err })
		counts = append(counts, n)
		if n == 0 {
			break
		}
	}
	if !slices.Equal(counts, []int{3, 3, 1, 0}) {
		t.Fatalf("rows purged per call: %v, want [3 3 1 0]", counts)
	}
	view(t, s, func(tx store.Tx) error { return checkPurged(ctx, tx, head) })
	update(t, s, func(tx store.Tx) error {
		r := &store.Revocation{Type: store.RevokedRun, ID: "after", At: live, Expires: live}
		if err := tx.AddRevocation(ctx, r); err != nil || r.Seq <= head {
			return fmt.Errorf("entry after a purge: seq %d, newest before %d (%v)", r.Seq, head, err)
		}
		if fresh, err := tx.UseOnce(ctx, "u-live", live); err != nil || fresh {
			return fmt.Errorf("a live single-use identifier was purged (fresh %v, %v)", fresh, err)
		}
		return nil
	})
}

func checkPurged(ctx context.Context, tx store.Tx, head int64) error {
	revs, err := tx.Revocations(ctx, 0, t0.Add(-time.Hour), 10)
	if err != nil || len(revs) != 1 || revs[0].ID != "r3" {
		return fmt.Errorf("revocations left: %v %v, want r3 only", revs, err)
	}
	if h, err := tx.RevocationHead(ctx); err != nil || h != head {
		return fmt.Errorf("newest seq after the purge %d (%v), want %d (the live entry is the newest)", h, err, head)
	}
	for jti, want := range map[string]bool{"gone": false, "done": false, "going": true, "live": true} {
		_, err := tx.Token(ctx, jti)
		if got := err == nil; got != want || (err != nil && !errors.Is(err, store.ErrNotFound)) {
			return fmt.Errorf("token %s kept %v (%v), want %v", jti, got, err, want)
		}
	}
	return nil
}

// testRevocationHead: the newest sequence number, 0 for an empty feed.
func testRevocationHead(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	view(t, s, func(tx store.Tx) error {
		if h, err := tx.RevocationHead(ctx); err != nil || h != 0 {
			return fmt.Errorf("empty feed: head %d %v", h, err)
		}
		return nil
	})
	var last int64
	update(t, s, func(tx store.Tx) error {
		for i := range 3 {
			r := &store.Revocation{Type: store.RevokedRun, ID: fmt.Sprint("r", i), At: t0, Expires: t0} // expired: still counted
			if err := tx.AddRevocation(ctx, r); err != nil {
				return err
			}
			last = r.Seq
		}
		return nil
	})
	view(t, s, func(tx store.Tx) error {
		if h, err := tx.RevocationHead(ctx); err != nil || h != last {
			return fmt.Errorf("head %d %v, want %d", h, err, last)
		}
		return nil
	})
}

// testDelegatedTokens: Delegated selects tokens of a chain of two agents
// or more, alone or with the other filters.
func testDelegatedTokens(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	later := t0.Add(time.Hour)
	chains := map[string][]string{"own": {"a"}, "under": {"a", "b"}, "to": {"c", "a"}, "other": {"c"}, "deep": {"c", "d", "e"}}
	update(t, s, func(tx store.Tx) error {
		for jti, chain := range chains {
			k := mkToken(jti, chain[len(chain)-1], "", "", later)
			k.Chain = chain
			if err := tx.PutToken(ctx, k); err != nil {
				return err
			}
		}
		return tx.PutToken(ctx, mkToken("expired", "b", "", "", t0.Add(-time.Hour)))
	})
	view(t, s, func(tx store.Tx) error {
		for _, c := range []struct {
			f    store.TokenFilter
			want []string
		}{
			{store.TokenFilter{Delegated: true}, []string{"deep", "expired", "to", "under"}},
			{store.TokenFilter{Delegated: true, Active: true, Now: t0}, []string{"deep", "to", "under"}},
			{store.TokenFilter{Delegated: true, ChainAgent: "a", Active: true, Now: t0}, []string{"to", "under"}},
			{store.TokenFilter{Delegated: true, ChainAgent: "e"}, []string{"deep"}},
		} {
			got, err := tx.Tokens(ctx, c.f)
			if err != nil {
				return err
			}
			var ids []string
			for _, k := range got {
				ids = append(ids, k.JTI)
			}
			slices.Sort(ids)
			if !slices.Equal(ids, c.want) {
				return fmt.Errorf("%+v: %v, want %v", c.f, ids, c.want)
			}
		}
		return nil
	})
}
