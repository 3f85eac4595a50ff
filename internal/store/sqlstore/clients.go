package sqlstore

import (
	"context"
	"database/sql"
	"errors"

	"github.com/ajwt/ajwt/internal/store"
)

// The served clients (migration 007). Few rows, read by primary key on
// every token check of the server: no cache, so that every node sees a
// revocation the moment it commits.

const clientCols = "client_id, first_seen, removed, revoked_at"

func (t *tx) Client(ctx context.Context, id string) (*store.Client, error) {
	return t.readClient(ctx, id, "")
}

func (t *tx) ClientForUpdate(ctx context.Context, id string) (*store.Client, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.readClient(ctx, id, t.db.d.forUpdate)
}

func (t *tx) readClient(ctx context.Context, id, lock string) (*store.Client, error) {
	row, err := t.r.queryRow(ctx, "SELECT "+clientCols+" FROM clients WHERE client_id = ?"+lock, id)
	if err != nil {
		return nil, err
	}
	c, err := scanClient(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return c, err
}

func scanClient(sc interface{ Scan(...any) error }) (*store.Client, error) {
	var c store.Client
	var firstSeen, revokedAt int64
	var removed int
	if err := sc.Scan(&c.ClientID, &firstSeen, &removed, &revokedAt); err != nil {
		return nil, err
	}
	c.FirstSeen, c.Removed, c.RevokedAt = fromNS(firstSeen), removed == 1, fromNS(revokedAt)
	return &c, nil
}

func (t *tx) Clients(ctx context.Context) ([]*store.Client, error) {
	rows, err := t.query(ctx, "SELECT "+clientCols+" FROM clients ORDER BY client_id")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

func (t *tx) PutClient(ctx context.Context, c *store.Client) error {
	_, err := t.exec(ctx, "INSERT INTO clients ("+clientCols+") VALUES (?,?,?,?) "+
		"ON CONFLICT (client_id) DO UPDATE SET first_seen = excluded.first_seen, removed = excluded.removed, revoked_at = excluded.revoked_at",
		c.ClientID, ns(c.FirstSeen), boolInt(c.Removed), ns(c.RevokedAt))
	return err
}
