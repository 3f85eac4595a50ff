package store

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// AuditGenesis is the Prev of the first audit entry.
const AuditGenesis = "sha256:0000000000000000000000000000000000000000000000000000000000000000"

// HashAudit computes an entry's chain hash: SHA-256 over Prev and the
// entry's fields in a fixed JSON form, so that editing, removing or
// reordering any entry breaks every later hash.
func HashAudit(e *AuditEntry) string {
	body, _ := json.Marshal([]string{ // strings only: Marshal cannot fail
		strconv.FormatInt(e.Seq, 10),
		strconv.FormatInt(e.Time.UnixNano(), 10),
		e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail,
		e.Prev,
	})
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// VerifyAuditChain checks a complete audit log, oldest first, and returns
// the sequence number of the first bad entry (0 when the chain is intact).
func VerifyAuditChain(entries []*AuditEntry) (int64, string) {
	prev := AuditGenesis
	for i, e := range entries {
		switch {
		case e.Seq != int64(i+1):
			return e.Seq, "sequence gap or reordering"
		case e.Prev != prev:
			return e.Seq, "prev does not match the previous entry's hash"
		case HashAudit(e) != e.Hash:
			return e.Seq, "hash does not match the entry's content"
		}
		prev = e.Hash
	}
	return 0, ""
}
