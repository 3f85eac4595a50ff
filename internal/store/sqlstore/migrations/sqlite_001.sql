CREATE TABLE agents (
  agent_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, registration_id TEXT NOT NULL, version INTEGER NOT NULL,
  checksum TEXT NOT NULL, jkt TEXT NOT NULL, public_jwk TEXT NOT NULL, spec TEXT NOT NULL,
  scopes TEXT NOT NULL, audiences TEXT NOT NULL, may_delegate_to TEXT NOT NULL,
  workflow_required INTEGER NOT NULL, revoked INTEGER NOT NULL, revoked_at INTEGER NOT NULL, updated_at INTEGER NOT NULL);
CREATE TABLE workflows (
  workflow_id TEXT NOT NULL, version INTEGER NOT NULL, definition TEXT NOT NULL, created_at INTEGER NOT NULL,
  PRIMARY KEY (workflow_id, version));
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, workflow_id TEXT NOT NULL, workflow_version INTEGER NOT NULL,
  status TEXT NOT NULL, initiated_by TEXT NOT NULL, execution_context TEXT NOT NULL, steps TEXT NOT NULL, created_at INTEGER NOT NULL);
CREATE TABLE tokens (
  jti TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL, agent_id TEXT NOT NULL, version INTEGER NOT NULL,
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, parent_jti TEXT NOT NULL, jkt TEXT NOT NULL, scope TEXT NOT NULL,
  audience TEXT NOT NULL, chain TEXT NOT NULL, issued_at INTEGER NOT NULL, expires_at INTEGER NOT NULL,
  revoked INTEGER NOT NULL, revoked_at INTEGER NOT NULL);
CREATE INDEX tokens_agent ON tokens(agent_id);
CREATE INDEX tokens_run ON tokens(run_id);
CREATE INDEX tokens_parent ON tokens(parent_jti);
CREATE TABLE used_ids (id TEXT PRIMARY KEY, expires INTEGER NOT NULL);
CREATE TABLE revocations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, type TEXT NOT NULL, id TEXT NOT NULL, at INTEGER NOT NULL, expires INTEGER NOT NULL);
CREATE TABLE audit (
  seq INTEGER PRIMARY KEY, time INTEGER NOT NULL, event TEXT NOT NULL, client_id TEXT NOT NULL, agent_id TEXT NOT NULL,
  run_id TEXT NOT NULL, step TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_run ON audit(run_id, seq);
CREATE TABLE audit_head (id INTEGER PRIMARY KEY CHECK (id = 1), seq INTEGER NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, 'sha256:0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_pem BLOB NOT NULL, created_at INTEGER NOT NULL, retired_at INTEGER NOT NULL);
