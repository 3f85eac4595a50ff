-- UseOnce purges expired identifiers every few hundred calls, and without
-- an index that DELETE scans the whole table.
CREATE INDEX used_ids_expires ON used_ids(expires);
