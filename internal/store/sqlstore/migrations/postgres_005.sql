-- A feed read starts at the first live revocation entry, found through
-- this index over the live entries only, instead of walking the expired
-- ones in sequence order. The periodic purge deletes through it too.
CREATE INDEX revocations_expires ON revocations(expires, seq);
-- A re-registration looks for the live tokens delegated under the agent
-- or to it. Only delegated tokens (a chain of two agents or more, whose
-- JSON array has a comma) are in this index, so the agent's own tokens,
-- however many, are never read.
CREATE INDEX tokens_delegated ON tokens(expires_at) WHERE chain LIKE '%,%'
