package sqlstore

import (
	"context"
	"errors"
)

// SharedSecret inserts fresh unless name has a value already, then reads
// back whichever is stored. Nodes starting together race on the primary
// key: the losers' inserts do nothing, and on PostgreSQL (READ COMMITTED)
// the read that follows sees the winner's committed row.
func (t *tx) SharedSecret(ctx context.Context, name string, fresh []byte) ([]byte, error) {
	if len(fresh) == 0 {
		return nil, errors.New("sqlstore: empty shared secret")
	}
	if _, err := t.exec(ctx, "INSERT INTO shared_secrets (name, value, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING",
		name, fresh, ns(t.db.now())); err != nil {
		return nil, err
	}
	var value []byte
	err := t.scanOne(ctx, "SELECT value FROM shared_secrets WHERE name = ?", []any{name}, &value)
	return value, err
}
