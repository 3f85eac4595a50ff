-- The operator console lists runs newest first (with filters) and an
-- agent's or event's audit entries.
CREATE INDEX runs_created ON runs(created_at, run_id);
CREATE INDEX audit_agent ON audit(agent_id, seq)
