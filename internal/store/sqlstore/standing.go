package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"

	"github.com/ajwt/ajwt/internal/store"
)

// standingQuery reads a token and, by primary key, what it depends on, in
// one statement: the server asks it on every token-authenticated request,
// where separate reads cost a statement (a round trip on PostgreSQL) each.
// The chain subquery looks only at a chain naming an agent besides the
// token's own (a delegated token); the test on the JSON text can only
// skip chains without one.
func standingQuery(d dialect) string {
	return "SELECT t." + strings.ReplaceAll(tokenCols, ", ", ", t.") + ", " +
		"COALESCE(c.revoked_at, 0), " +
		"CASE WHEN a.agent_id IS NULL THEN 0 ELSE 1 END, COALESCE(a.revoked, 0), COALESCE(a.version, 0), " +
		"CASE WHEN t.chain <> '[]' AND t.chain <> '[\"' || t.agent_id || '\"]' AND EXISTS (SELECT 1 FROM " + d.chainAgents +
		" LEFT JOIN agents x ON x.agent_id = e.value WHERE e.value <> t.agent_id AND (x.agent_id IS NULL OR x.revoked <> 0)) THEN 1 ELSE 0 END, " +
		"COALESCE(r.status, '') " +
		"FROM tokens t " +
		"LEFT JOIN clients c ON c.client_id = t.client_id " +
		"LEFT JOIN agents a ON a.agent_id = t.agent_id AND t.agent_id <> '' " +
		"LEFT JOIN runs r ON r.run_id = t.run_id AND t.run_id <> '' " +
		"WHERE t.jti = ?"
}

func (t *tx) TokenStanding(ctx context.Context, jti string) (*store.TokenStanding, error) {
	row, err := t.r.queryRow(ctx, t.db.standingSQL, jti)
	if err != nil {
		return nil, err
	}
	var s store.TokenStanding
	var clientRevokedAt int64
	var agentFound, agentRevoked, chainBroken int
	s.Token, err = scanToken(extraScanner{row, []any{&clientRevokedAt, &agentFound, &agentRevoked, &s.AgentVersion, &chainBroken, &s.RunStatus}})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	s.ClientRevokedAt = fromNS(clientRevokedAt)
	s.AgentFound, s.AgentRevoked, s.ChainBroken = agentFound == 1, agentRevoked != 0, chainBroken == 1
	return &s, nil
}

// extraScanner scans a row whose first columns are a record's: into the
// record's destinations, then into extra.
type extraScanner struct {
	sc    scanner
	extra []any
}

func (e extraScanner) Scan(dest ...any) error {
	return e.sc.Scan(append(dest, e.extra...)...)
}
