package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// tx implements store.Tx.
type tx struct {
	db       *DB
	r        runner
	writable bool
	audited  bool // appended to the audit outbox: wake the chainer after commit
	// wroteAgent: the SQLite writer invalidates the agent cache after the
	// commit (set even if the write then fails: invalidating is harmless).
	wroteAgent bool
}

var errReadOnly = errors.New("sqlstore: write in a read-only transaction")

func (t *tx) exec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.r.exec(ctx, q, args...)
}

func (t *tx) query(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.r.query(ctx, q, args...)
}

// scanOne scans a single-row query, mapping no rows to store.ErrNotFound.
func (t *tx) scanOne(ctx context.Context, q string, args []any, dest ...any) error {
	row, err := t.r.queryRow(ctx, q, args...)
	if err != nil {
		return err
	}
	err = row.Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

func ns(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNS(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

func jsonText(v any) string {
	b, _ := json.Marshal(v) // slices and maps of strings only
	return string(b)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

const agentCols = "agent_id, client_id, registration_id, version, checksum, jkt, public_jwk, spec, scopes, audiences, may_delegate_to, workflow_required, revoked, revoked_at, updated_at"

// Agent serves View reads on SQLite from the agent cache; the writer
// always reads the database (it may see its own uncommitted writes).
func (t *tx) Agent(ctx context.Context, id string) (*store.Agent, error) {
	cache := t.db.agents
	if cache == nil || t.writable {
		return t.readAgent(ctx, id, "")
	}
	a, g := cache.get(id)
	if a != nil {
		return a, nil
	}
	a, err := t.readAgent(ctx, id, "")
	if err == nil {
		cache.put(id, g, a)
	}
	return a, err
}

// AgentForShare never uses the cache: the writer reads the database, where
// SQLite's single writer has serialised every earlier commit, and
// PostgreSQL's FOR SHARE makes a concurrent PutAgent wait for this
// transaction (a committed change is read, not an older row version).
func (t *tx) AgentForShare(ctx context.Context, id string) (*store.Agent, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.readAgent(ctx, id, t.db.d.forShare)
}

func (t *tx) AgentForUpdate(ctx context.Context, id string) (*store.Agent, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.readAgent(ctx, id, t.db.d.forUpdate)
}

func (t *tx) readAgent(ctx context.Context, id, lock string) (*store.Agent, error) {
	row, err := t.r.queryRow(ctx, "SELECT "+agentCols+" FROM agents WHERE agent_id = ?"+lock, id)
	if err != nil {
		return nil, err
	}
	a, err := scanAgent(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return a, err
}

// Agents reads the database, never the agent cache: a listing is rare and
// must show every agent as stored.
func (t *tx) Agents(ctx context.Context, limit int) ([]*store.Agent, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := t.query(ctx, "SELECT "+agentCols+" FROM agents ORDER BY agent_id LIMIT ?", limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Agent
	for rows.Next() {
		a, err := scanAgent(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rows.Err()
}

type scanner interface{ Scan(dest ...any) error }

func scanAgent(row scanner) (*store.Agent, error) {
	var a store.Agent
	var jwk, spec, scopes, auds, may string
	var wreq, revoked int
	var revokedAt, updatedAt int64
	err := row.Scan(&a.AgentID, &a.ClientID, &a.RegistrationID, &a.Version, &a.Checksum, &a.JKT, &jwk, &spec, &scopes, &auds, &may, &wreq, &revoked, &revokedAt, &updatedAt)
	if err != nil {
		return nil, err
	}
	a.PublicJWK, a.Spec = json.RawMessage(jwk), json.RawMessage(spec)
	a.WorkflowRequired, a.Revoked = wreq == 1, revoked == 1
	a.RevokedAt, a.UpdatedAt = fromNS(revokedAt), fromNS(updatedAt)
	err = errors.Join(json.Unmarshal([]byte(scopes), &a.Scopes), json.Unmarshal([]byte(auds), &a.Audiences), json.Unmarshal([]byte(may), &a.MayDelegateTo))
	return &a, err
}

func (t *tx) PutAgent(ctx context.Context, a *store.Agent) error {
	t.wroteAgent = true
	_, err := t.exec(ctx, "INSERT INTO agents ("+agentCols+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) "+
		"ON CONFLICT (agent_id) DO UPDATE SET client_id = excluded.client_id, registration_id = excluded.registration_id, "+
		"version = excluded.version, checksum = excluded.checksum, jkt = excluded.jkt, public_jwk = excluded.public_jwk, "+
		"spec = excluded.spec, scopes = excluded.scopes, audiences = excluded.audiences, may_delegate_to = excluded.may_delegate_to, "+
		"workflow_required = excluded.workflow_required, revoked = excluded.revoked, revoked_at = excluded.revoked_at, updated_at = excluded.updated_at",
		a.AgentID, a.ClientID, a.RegistrationID, a.Version, a.Checksum, a.JKT, string(a.PublicJWK), string(a.Spec),
		jsonText(nonNil(a.Scopes)), jsonText(nonNil(a.Audiences)), jsonText(nonNil(a.MayDelegateTo)),
		boolInt(a.WorkflowRequired), boolInt(a.Revoked), ns(a.RevokedAt), ns(a.UpdatedAt))
	return err
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (t *tx) Workflow(ctx context.Context, id string, version int) (*store.Workflow, error) {
	q, args := "SELECT workflow_id, version, definition, created_at FROM workflows WHERE workflow_id = ? ORDER BY version DESC LIMIT 1", []any{id}
	if version > 0 {
		q, args = "SELECT workflow_id, version, definition, created_at FROM workflows WHERE workflow_id = ? AND version = ?", []any{id, version}
	}
	var w store.Workflow
	var def string
	var created int64
	if err := t.scanOne(ctx, q, args, &w.WorkflowID, &w.Version, &def, &created); err != nil {
		return nil, err
	}
	w.Definition, w.CreatedAt = json.RawMessage(def), fromNS(created)
	return &w, nil
}

// PutWorkflow inserts without a prior read, so that two nodes registering
// the same version at once get one success and one ErrConflict (not a
// unique-violation error that also aborts a PostgreSQL transaction).
func (t *tx) PutWorkflow(ctx context.Context, w *store.Workflow) error {
	res, err := t.exec(ctx, "INSERT INTO workflows (workflow_id, version, definition, created_at) VALUES (?,?,?,?) "+
		"ON CONFLICT (workflow_id, version) DO NOTHING", w.WorkflowID, w.Version, string(w.Definition), ns(w.CreatedAt))
	return inserted(res, err, "workflow %s version %d", w.WorkflowID, w.Version)
}

// inserted maps an INSERT … ON CONFLICT DO NOTHING that inserted nothing
// to store.ErrConflict.
func inserted(res sql.Result, err error, what string, args ...any) error {
	if err != nil {
		return fmt.Errorf("sqlstore: "+what+": %w", append(args, err)...)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("sqlstore: "+what+": %w", append(args, store.ErrConflict)...)
	}
	return nil
}

const runCols = "run_id, client_id, workflow_id, workflow_version, status, initiated_by, execution_context, steps, created_at"

func (t *tx) CreateRun(ctx context.Context, r *store.Run) error {
	res, err := t.exec(ctx, "INSERT INTO runs ("+runCols+") VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT (run_id) DO NOTHING",
		r.RunID, r.ClientID, r.WorkflowID, r.WorkflowVersion, r.Status, r.InitiatedBy, jsonText(r.ExecutionContext), stepsJSON(r.Steps), ns(r.CreatedAt))
	return inserted(res, err, "run %s", r.RunID)
}

func (t *tx) Run(ctx context.Context, id string) (*store.Run, error) {
	return t.readRun(ctx, id, "")
}

// RunForUpdate is refused in View: a lock there would be meaningless (and
// PostgreSQL rejects FOR UPDATE in a read-only transaction anyway).
func (t *tx) RunForUpdate(ctx context.Context, id string) (*store.Run, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.readRun(ctx, id, t.db.d.forUpdate)
}

func (t *tx) readRun(ctx context.Context, id, lock string) (*store.Run, error) {
	row, err := t.r.queryRow(ctx, "SELECT "+runCols+" FROM runs WHERE run_id = ?"+lock, id)
	if err != nil {
		return nil, err
	}
	r, err := scanRun(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return r, err
}

func (t *tx) Runs(ctx context.Context, f store.RunFilter) ([]*store.Run, error) {
	if f.Limit <= 0 {
		return nil, nil
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"workflow_id", f.WorkflowID}, {"status", f.Status}, {"initiated_by", f.InitiatedBy}} {
		if c.v != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.v)
		}
	}
	if !f.CreatedSince.IsZero() {
		where, args = append(where, "created_at >= ?"), append(args, ns(f.CreatedSince))
	}
	if !f.BeforeTime.IsZero() {
		where = append(where, "(created_at < ? OR (created_at = ? AND run_id < ?))")
		args = append(args, ns(f.BeforeTime), ns(f.BeforeTime), f.BeforeID)
	}
	q := "SELECT " + runCols + " FROM runs"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := t.query(ctx, q+" ORDER BY created_at DESC, run_id DESC LIMIT ?", append(args, f.Limit)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func scanRun(row scanner) (*store.Run, error) {
	var r store.Run
	var ectx, steps string
	var created int64
	err := row.Scan(&r.RunID, &r.ClientID, &r.WorkflowID, &r.WorkflowVersion, &r.Status, &r.InitiatedBy, &ectx, &steps, &created)
	if err != nil {
		return nil, err
	}
	r.CreatedAt = fromNS(created)
	if err := json.Unmarshal([]byte(ectx), &r.ExecutionContext); err != nil {
		return nil, err
	}
	r.Steps, err = parseSteps(steps)
	return &r, err
}

func (t *tx) SaveRun(ctx context.Context, r *store.Run) error {
	res, err := t.exec(ctx, "UPDATE runs SET status = ?, steps = ? WHERE run_id = ?", r.Status, stepsJSON(r.Steps), r.RunID)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return store.ErrNotFound
	}
	return nil
}

type stepRecord struct {
	ID          string   `json:"id"`
	State       string   `json:"state"`
	Holder      string   `json:"holder,omitempty"`
	Chain       []string `json:"chain,omitempty"`
	Parent      string   `json:"parent,omitempty"`
	CompletedBy string   `json:"completed_by,omitempty"`
	CompletedAt int64    `json:"completed_at,omitempty"`
	Seq         int      `json:"seq,omitempty"`
	ApprovedVia string   `json:"approved_via,omitempty"`

	ChainVersions []int  `json:"chain_versions,omitempty"`
	Result        string `json:"result_sha256,omitempty"`
}

func stepsJSON(steps []store.Step) string {
	recs := make([]stepRecord, len(steps))
	for i, s := range steps {
		recs[i] = stepRecord{s.ID, s.State, s.Holder, s.Chain, s.Parent, s.CompletedBy, ns(s.CompletedAt), s.Seq, s.ApprovedVia, s.ChainVersions, s.Result}
	}
	return jsonText(recs)
}

func parseSteps(text string) ([]store.Step, error) {
	var recs []stepRecord
	if err := json.Unmarshal([]byte(text), &recs); err != nil {
		return nil, err
	}
	steps := make([]store.Step, len(recs))
	for i, r := range recs {
		steps[i] = store.Step{ID: r.ID, State: r.State, Holder: r.Holder, Chain: r.Chain, Parent: r.Parent, CompletedBy: r.CompletedBy, CompletedAt: fromNS(r.CompletedAt), Seq: r.Seq, ApprovedVia: r.ApprovedVia, ChainVersions: r.ChainVersions, Result: r.Result}
	}
	return steps, nil
}

const tokenCols = "jti, kind, client_id, agent_id, version, run_id, step_id, parent_jti, jkt, scope, audience, chain, issued_at, expires_at, revoked, revoked_at"

// PutToken inserts a token record; a second record with the same JTI is
// ErrConflict.
func (t *tx) PutToken(ctx context.Context, k *store.Token) error {
	res, err := t.exec(ctx, "INSERT INTO tokens ("+tokenCols+") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT (jti) DO NOTHING",
		k.JTI, k.Kind, k.ClientID, k.AgentID, k.Version, k.RunID, k.StepID, k.ParentJTI, k.JKT, k.Scope, k.Audience,
		jsonText(nonNil(k.Chain)), ns(k.IssuedAt), ns(k.ExpiresAt), boolInt(k.Revoked), ns(k.RevokedAt))
	return inserted(res, err, "token %s", k.JTI)
}

func scanToken(sc interface{ Scan(...any) error }) (*store.Token, error) {
	var k store.Token
	var chain string
	var issued, expires, revokedAt int64
	var revoked int
	if err := sc.Scan(&k.JTI, &k.Kind, &k.ClientID, &k.AgentID, &k.Version, &k.RunID, &k.StepID, &k.ParentJTI, &k.JKT, &k.Scope,
		&k.Audience, &chain, &issued, &expires, &revoked, &revokedAt); err != nil {
		return nil, err
	}
	k.IssuedAt, k.ExpiresAt, k.RevokedAt, k.Revoked = fromNS(issued), fromNS(expires), fromNS(revokedAt), revoked == 1
	return &k, json.Unmarshal([]byte(chain), &k.Chain)
}

func (t *tx) Token(ctx context.Context, jti string) (*store.Token, error) {
	return t.readToken(ctx, jti, "")
}

func (t *tx) TokenForShare(ctx context.Context, jti string) (*store.Token, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.readToken(ctx, jti, t.db.d.forShare)
}

func (t *tx) TokenForUpdate(ctx context.Context, jti string) (*store.Token, error) {
	if !t.writable {
		return nil, errReadOnly
	}
	return t.readToken(ctx, jti, t.db.d.forUpdate)
}

func (t *tx) readToken(ctx context.Context, jti, lock string) (*store.Token, error) {
	row, err := t.r.queryRow(ctx, "SELECT "+tokenCols+" FROM tokens WHERE jti = ?"+lock, jti)
	if err != nil {
		return nil, err
	}
	k, err := scanToken(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, store.ErrNotFound
	}
	return k, err
}

func (t *tx) Tokens(ctx context.Context, f store.TokenFilter) ([]*store.Token, error) {
	var where []string
	var args []any
	for _, c := range []struct{ col, val string }{{"agent_id", f.AgentID}, {"run_id", f.RunID}, {"parent_jti", f.ParentJTI}, {"client_id", f.ClientID}} {
		if c.val != "" {
			where, args = append(where, c.col+" = ?"), append(args, c.val)
		}
	}
	if f.ChainAgent != "" {
		where, args = append(where, `chain LIKE ? ESCAPE '\'`), append(args, "%"+escapeLike(jsonText(f.ChainAgent))+"%")
	}
	if f.Delegated {
		// Literally the condition of the tokens_delegated partial index
		// (migration 005), which the databases use only when they see it.
		where = append(where, delegatedChain)
	}
	if f.Active {
		where, args = append(where, "revoked = 0 AND expires_at > ?"), append(args, ns(f.Now))
	}
	q := "SELECT " + tokenCols + " FROM tokens"
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY issued_at, jti"
	if f.Limit > 0 { // a parameter, so that the writer's statement cache stays small
		q += " LIMIT ?"
		args = append(args, f.Limit)
	}
	rows, err := t.query(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Token
	for rows.Next() {
		k, err := scanToken(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// delegatedChain holds for a chain of two agents or more: its JSON array
// has a comma between elements (an agent id has none).
const delegatedChain = "chain LIKE '%,%'"

// escapeLike quotes LIKE's wildcards. The pattern is a JSON string with
// its quotes, so it matches a whole element of the chain's JSON array and
// never part of another id.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(s)
}

func (t *tx) RevokeTokens(ctx context.Context, jtis []string, at time.Time) error {
	for _, j := range jtis {
		if _, err := t.exec(ctx, "UPDATE tokens SET revoked = 1, revoked_at = ? WHERE jti = ? AND revoked = 0", ns(at), j); err != nil {
			return err
		}
	}
	return nil
}

// UseOnce is one upsert: insert the identifier, or take over its row only
// if the recorded use has expired; one row changed means fresh. Both
// databases make the upsert atomic, so of concurrent callers exactly one
// sees a change. Every purgeEvery-th call also deletes expired rows.
func (t *tx) UseOnce(ctx context.Context, id string, exp time.Time) (bool, error) {
	if !t.writable {
		return false, errReadOnly
	}
	now := ns(t.db.now())
	if t.db.uses.Add(1)%purgeEvery == 0 {
		if _, err := t.exec(ctx, "DELETE FROM used_ids WHERE expires <= ?", now); err != nil {
			return false, err
		}
	}
	res, err := t.exec(ctx, "INSERT INTO used_ids (id, expires) VALUES (?, ?) "+
		"ON CONFLICT (id) DO UPDATE SET expires = excluded.expires WHERE used_ids.expires <= ?", id, ns(exp), now)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// purgeEvery spaces out purges of expired single-use identifiers.
const purgeEvery = 256

func (t *tx) AddRevocation(ctx context.Context, r *store.Revocation) error {
	if !t.writable {
		return errReadOnly
	}
	if err := t.lockHead(ctx); err != nil {
		return err
	}
	return t.scanOne(ctx, "INSERT INTO revocations (type, id, at, expires, version) VALUES (?,?,?,?,?) RETURNING seq",
		[]any{r.Type, r.ID, ns(r.At), ns(r.Expires), r.Version}, &r.Seq)
}

// lockHead serialises writers of the revocation feed across nodes, so that
// its sequence numbers appear in commit order and a feed cursor never skips
// an entry that commits late. (The audit chain uses the same row, but only
// its chainer takes it: see chain.go.)
func (t *tx) lockHead(ctx context.Context) error {
	if t.db.d.singleWriter {
		return nil // writers are already serialised
	}
	_, _, err := t.readHead(ctx, t.db.d.forUpdate)
	return err
}

// Revocations returns nothing for limit <= 0 ("at most limit"; SQLite
// would read a negative LIMIT as none, PostgreSQL reject it).
func (t *tx) Revocations(ctx context.Context, after int64, now time.Time, limit int) ([]*store.Revocation, error) {
	if limit <= 0 {
		return nil, nil
	}
	first, err := t.firstLive(ctx, now)
	if err != nil || first == 0 {
		return nil, err
	}
	after = max(after, first-1)
	rows, err := t.query(ctx, "SELECT seq, type, id, at, expires, version FROM revocations WHERE seq > ? AND expires > ? ORDER BY seq LIMIT ?", after, ns(now), limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.Revocation
	for rows.Next() {
		var r store.Revocation
		var at, exp int64
		if err := rows.Scan(&r.Seq, &r.Type, &r.ID, &at, &exp, &r.Version); err != nil {
			return nil, err
		}
		r.At, r.Expires = fromNS(at), fromNS(exp)
		out = append(out, &r)
	}
	return out, rows.Err()
}

// firstLive is the lowest sequence number of an entry not expired at now
// (0: none). It reads the revocations_expires index over the live entries
// only, so that a read from an old cursor (or none) starts there instead
// of walking every expired entry in sequence order: expiry is not
// monotonic in sequence (a token's entry lasts until the token's exp), so
// no cheaper bound is exact.
func (t *tx) firstLive(ctx context.Context, now time.Time) (int64, error) {
	var first sql.NullInt64
	// +seq: a plain MIN(seq) would be read as "the first row in sequence
	// order that is live", walking the expired ones through the primary key.
	if err := t.scanOne(ctx, "SELECT MIN(+seq) FROM revocations WHERE expires > ?", []any{ns(now)}, &first); err != nil {
		return 0, err
	}
	return first.Int64, nil
}

func (t *tx) RevocationHead(ctx context.Context) (int64, error) {
	var seq int64
	err := t.scanOne(ctx, "SELECT COALESCE(MAX(seq), 0) FROM revocations", nil, &seq)
	return seq, err
}

// purges delete at most limit expired rows of a table each: bounded, so
// that one batch never holds the SQLite writer (or PostgreSQL row locks)
// for long, through the expiry indexes (migrations 002, 004, 005). A
// token record stays while its run is active: a delegation in the run
// reads the delegator's earlier tokens, expired or not.
var purges = []string{
	"DELETE FROM revocations WHERE seq IN (SELECT seq FROM revocations WHERE expires <= ? LIMIT ?)",
	"DELETE FROM used_ids WHERE id IN (SELECT id FROM used_ids WHERE expires <= ? LIMIT ?)",
	"DELETE FROM tokens WHERE jti IN (SELECT k.jti FROM tokens k WHERE k.expires_at <= ? AND (k.run_id = '' OR NOT EXISTS " +
		"(SELECT 1 FROM runs r WHERE r.run_id = k.run_id AND r.status = 'active')) LIMIT ?)",
}

func (t *tx) PurgeExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	total := 0
	for _, q := range purges {
		res, err := t.exec(ctx, q, ns(before), limit)
		if err != nil {
			return total, err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, err
		}
		total += int(n)
	}
	return total, nil
}

func (t *tx) SigningKeys(ctx context.Context) ([]*store.SigningKey, error) {
	rows, err := t.query(ctx, "SELECT kid, alg, private_pem, created_at, retired_at FROM signing_keys ORDER BY created_at, kid")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*store.SigningKey
	for rows.Next() {
		var k store.SigningKey
		var created, retired int64
		if err := rows.Scan(&k.KeyID, &k.Alg, &k.PrivatePEM, &created, &retired); err != nil {
			return nil, err
		}
		k.CreatedAt, k.RetiredAt = fromNS(created), fromNS(retired)
		out = append(out, &k)
	}
	return out, rows.Err()
}

func (t *tx) PutSigningKey(ctx context.Context, k *store.SigningKey) error {
	pem := k.PrivatePEM
	if pem == nil {
		pem = []byte{} // NOT NULL column; nil would bind as NULL
	}
	_, err := t.exec(ctx, "INSERT INTO signing_keys (kid, alg, private_pem, created_at, retired_at) VALUES (?,?,?,?,?) "+
		"ON CONFLICT (kid) DO UPDATE SET alg = excluded.alg, private_pem = excluded.private_pem, created_at = excluded.created_at, retired_at = excluded.retired_at",
		k.KeyID, k.Alg, pem, ns(k.CreatedAt), ns(k.RetiredAt))
	return err
}
