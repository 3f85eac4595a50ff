package sqlstore

import (
	"context"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// BenchmarkTokenCheck is the store work of the IdP's check of a token on
// its APIs: "standing" is the one-statement read, "separate" the reads
// of token, client, agent and run it replaced.
func BenchmarkTokenCheck(b *testing.B) { benchStores(b, []string{"NORMAL"}, benchTokenCheck) }

func benchTokenCheck(b *testing.B, s store.Store) {
	seedGrant(b, s)
	if err := grantTx(b.Context(), s, "jti-1"); err != nil {
		b.Fatal(err)
	}
	if err := s.Update(b.Context(), func(tx store.Tx) error {
		return tx.PutClient(b.Context(), &store.Client{ClientID: "app", FirstSeen: time.Now()})
	}); err != nil {
		b.Fatal(err)
	}
	reads := map[string]func(ctx context.Context, tx store.Tx) error{
		"standing": func(ctx context.Context, tx store.Tx) error { _, err := tx.TokenStanding(ctx, "jti-1"); return err },
		"separate": func(ctx context.Context, tx store.Tx) error {
			k, err := tx.Token(ctx, "jti-1")
			if err != nil {
				return err
			}
			if _, err := tx.Client(ctx, k.ClientID); err != nil {
				return err
			}
			if _, err := tx.Agent(ctx, k.AgentID); err != nil {
				return err
			}
			_, err = tx.Run(ctx, k.RunID)
			return err
		},
	}
	for _, name := range []string{"standing", "separate"} {
		read := reads[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					if err := s.View(ctx, func(tx store.Tx) error { return read(ctx, tx) }); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
