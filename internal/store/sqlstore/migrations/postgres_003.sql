-- Audit outbox: a writing transaction appends its audit entries here
-- without touching audit_head, so writers on different runs no longer
-- serialise on the one chain-head row through their commit. FlushAudit (one
-- node at a time, under the audit_head lock) moves committed entries into
-- the chained audit table in batches.
CREATE TABLE audit_pending (
  id BIGSERIAL PRIMARY KEY, time BIGINT NOT NULL, event TEXT NOT NULL, client_id TEXT NOT NULL, agent_id TEXT NOT NULL,
  run_id TEXT NOT NULL, step TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL);
