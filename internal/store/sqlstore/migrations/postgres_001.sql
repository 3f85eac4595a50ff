CREATE TABLE agents (
  agent_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, registration_id TEXT NOT NULL, version BIGINT NOT NULL,
  checksum TEXT NOT NULL, jkt TEXT NOT NULL, public_jwk TEXT NOT NULL, spec TEXT NOT NULL,
  scopes TEXT NOT NULL, audiences TEXT NOT NULL, may_delegate_to TEXT NOT NULL,
  workflow_required BIGINT NOT NULL, revoked BIGINT NOT NULL, revoked_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
CREATE TABLE workflows (
  workflow_id TEXT NOT NULL, version BIGINT NOT NULL, definition TEXT NOT NULL, created_at BIGINT NOT NULL,
  PRIMARY KEY (workflow_id, version));
CREATE TABLE runs (
  run_id TEXT PRIMARY KEY, client_id TEXT NOT NULL, workflow_id TEXT NOT NULL, workflow_version BIGINT NOT NULL,
  status TEXT NOT NULL, initiated_by TEXT NOT NULL, execution_context TEXT NOT NULL, steps TEXT NOT NULL, created_at BIGINT NOT NULL);
CREATE TABLE tokens (
  jti TEXT PRIMARY KEY, kind TEXT NOT NULL, client_id TEXT NOT NULL, agent_id TEXT NOT NULL, version BIGINT NOT NULL,
  run_id TEXT NOT NULL, step_id TEXT NOT NULL, parent_jti TEXT NOT NULL, jkt TEXT NOT NULL, scope TEXT NOT NULL,
  audience TEXT NOT NULL, chain TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
  revoked BIGINT NOT NULL, revoked_at BIGINT NOT NULL);
CREATE INDEX tokens_agent ON tokens(agent_id);
CREATE INDEX tokens_run ON tokens(run_id);
CREATE INDEX tokens_parent ON tokens(parent_jti);
CREATE TABLE used_ids (id TEXT PRIMARY KEY, expires BIGINT NOT NULL);
CREATE TABLE revocations (
  seq BIGSERIAL PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL, at BIGINT NOT NULL, expires BIGINT NOT NULL);
CREATE TABLE audit (
  seq BIGINT PRIMARY KEY, time BIGINT NOT NULL, event TEXT NOT NULL, client_id TEXT NOT NULL, agent_id TEXT NOT NULL,
  run_id TEXT NOT NULL, step TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL, prev TEXT NOT NULL, hash TEXT NOT NULL);
CREATE INDEX audit_run ON audit(run_id, seq);
CREATE TABLE audit_head (id BIGINT PRIMARY KEY CHECK (id = 1), seq BIGINT NOT NULL, hash TEXT NOT NULL);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, 'sha256:0000000000000000000000000000000000000000000000000000000000000000');
CREATE TABLE signing_keys (kid TEXT PRIMARY KEY, alg TEXT NOT NULL, private_pem BYTEA NOT NULL, created_at BIGINT NOT NULL, retired_at BIGINT NOT NULL);
