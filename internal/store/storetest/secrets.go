package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/ajwt/ajwt/internal/store"
)

// testSharedSecret: the first value stored under a name is the one every
// caller gets, racing or later, and after a reopen; names are separate;
// View may not create one.
func testSharedSecret(t *testing.T, o Opener) {
	s, ctx := o.Open(t), t.Context()
	get := func(s store.Store, name, fresh string) []byte {
		t.Helper()
		var got []byte
		update(t, s, func(tx store.Tx) (err error) { got, err = tx.SharedSecret(ctx, name, []byte(fresh)); return err })
		return got
	}
	if err := s.View(ctx, func(tx store.Tx) error { _, err := tx.SharedSecret(ctx, "n", []byte("x")); return err }); err == nil {
		t.Fatal("SharedSecret in View succeeded")
	}
	results := make([][]byte, 20)
	concurrently(t, len(results), func(i int) error {
		return s.Update(ctx, func(tx store.Tx) (err error) {
			results[i], err = tx.SharedSecret(ctx, "nonce", fmt.Appendf(nil, "candidate-%d", i))
			return err
		})
	})
	first := results[0]
	for i, r := range results {
		if !bytes.Equal(r, first) || !bytes.HasPrefix(r, []byte("candidate-")) {
			t.Fatalf("caller %d got %q, caller 0 %q: want one stored candidate", i, r, first)
		}
	}
	if got := get(s, "nonce", "later"); !bytes.Equal(got, first) {
		t.Fatalf("a later caller got %q, want %q", got, first)
	}
	if got := get(s, "other", "mine"); string(got) != "mine" {
		t.Fatalf("another name got %q", got)
	}
	s = o.Reopen(t, s)
	if got := get(s, "nonce", "after-reopen"); !bytes.Equal(got, first) {
		t.Fatalf("after reopen %q, want %q", got, first)
	}
}
