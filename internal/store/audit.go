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
	v := NewAuditChainVerifier()
	v.Add(entries)
	return v.Result()
}

// AuditChainVerifier checks an audit log handed to it oldest first, a page
// at a time, keeping only the last hash: verifying a log of any length
// takes the memory of one page.
type AuditChainVerifier struct {
	checked int64
	prev    string
	badSeq  int64
	problem string
}

// NewAuditChainVerifier starts at the genesis of the chain.
func NewAuditChainVerifier() *AuditChainVerifier {
	return &AuditChainVerifier{prev: AuditGenesis}
}

// Add checks entries as the continuation of those added before. Once the
// chain is broken it checks nothing more.
func (v *AuditChainVerifier) Add(entries []*AuditEntry) {
	for _, e := range entries {
		if v.problem != "" {
			return
		}
		switch {
		case e.Seq != v.checked+1:
			v.badSeq, v.problem = e.Seq, "sequence gap or reordering"
		case e.Prev != v.prev:
			v.badSeq, v.problem = e.Seq, "prev does not match the previous entry's hash"
		case HashAudit(e) != e.Hash:
			v.badSeq, v.problem = e.Seq, "hash does not match the entry's content"
		default:
			v.checked, v.prev = e.Seq, e.Hash
		}
	}
}

// Result is the sequence number of the first bad entry and what is wrong
// with it (0 and "" while the chain is intact).
func (v *AuditChainVerifier) Result() (int64, string) { return v.badSeq, v.problem }
