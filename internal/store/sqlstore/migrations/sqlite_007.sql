-- The clients the server has served (PROTOCOL.md §9): a client that
-- leaves the configuration is noticed at the next start, and revoked_at
-- refuses the tokens a revoked client obtained up to it. Seeded with the
-- clients of the records already stored, so that one removed together
-- with this upgrade is noticed too.
CREATE TABLE clients (client_id TEXT PRIMARY KEY, first_seen INTEGER NOT NULL, removed INTEGER NOT NULL, revoked_at INTEGER NOT NULL);
INSERT INTO clients (client_id, first_seen, removed, revoked_at)
  SELECT client_id, 0, 0, 0 FROM (SELECT client_id FROM tokens UNION SELECT client_id FROM agents UNION SELECT client_id FROM runs) AS served
  WHERE client_id <> ''
