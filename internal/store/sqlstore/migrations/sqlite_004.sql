-- A re-registration's feed entry carries the version it replaces: the
-- agent's tokens up to that version are revoked (0: the agent itself).
ALTER TABLE revocations ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
-- Revoking an agent looks for the live tokens whose delegation chain names
-- it. They are among the unexpired ones, which this index finds without
-- reading the whole token history.
CREATE INDEX tokens_expires ON tokens(expires_at)
