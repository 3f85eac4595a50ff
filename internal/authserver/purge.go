package authserver

import (
	"context"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// Purges run at start and then every purgeEvery, in transactions of at
// most purgeBatch rows of each kind.
const (
	purgeEvery = time.Minute
	purgeBatch = 500
)

// purgeLoop deletes what has expired from the store until the server
// stops: feed entries (which otherwise slow every feed read down), token
// records and single-use identifiers.
func (s *Server) purgeLoop() {
	t := time.NewTicker(purgeEvery)
	defer t.Stop()
	for {
		if _, err := s.purgeExpired(context.Background()); err != nil {
			s.log.Warn("purge of expired records failed; retrying in a minute", "err", err)
		}
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
	}
}

// purgeExpired deletes, batch by batch, what expired more than the
// maximum leeway ago (a node whose clock runs behind still refuses such a
// token by its exp).
func (s *Server) purgeExpired(ctx context.Context) (int, error) {
	total := 0
	for {
		select {
		case <-s.stop:
			return total, nil
		default:
		}
		var n int
		err := s.store.Update(ctx, func(tx store.Tx) (err error) {
			n, err = tx.PurgeExpired(ctx, s.now().Add(-protocol.MaxLeeway), purgeBatch)
			return err
		})
		if err != nil || n == 0 {
			return total, err
		}
		total += n
	}
}
