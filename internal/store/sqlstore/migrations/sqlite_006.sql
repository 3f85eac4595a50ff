-- Secrets every node of a deployment must share, created by the first
-- node that needs one (e.g. the key DPoP nonces are derived from).
CREATE TABLE shared_secrets (name TEXT PRIMARY KEY, value BLOB NOT NULL, created_at INTEGER NOT NULL)
