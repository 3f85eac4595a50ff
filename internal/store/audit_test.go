package store_test

import (
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// chain builds an intact log of n entries.
func chain(n int) []*store.AuditEntry {
	var out []*store.AuditEntry
	prev := store.AuditGenesis
	for i := range n {
		e := &store.AuditEntry{Seq: int64(i + 1), Time: time.Unix(1_800_000_000, int64(i)), Event: "grant", ClientID: "app",
			AgentID: "planner", RunID: "r1", Step: "plan", Outcome: "issued", Prev: prev}
		e.Hash = store.HashAudit(e)
		prev = e.Hash
		out = append(out, e)
	}
	return out
}

func TestVerifyAuditChain(t *testing.T) {
	tests := []struct {
		name   string
		tamper func([]*store.AuditEntry) []*store.AuditEntry
		bad    int64
	}{
		{"intact", func(l []*store.AuditEntry) []*store.AuditEntry { return l }, 0},
		{"empty", func([]*store.AuditEntry) []*store.AuditEntry { return nil }, 0},
		{"edited field", func(l []*store.AuditEntry) []*store.AuditEntry { l[2].Outcome = "refused"; return l }, 3},
		{"edited time", func(l []*store.AuditEntry) []*store.AuditEntry { l[1].Time = l[1].Time.Add(1); return l }, 2},
		{"rehashed edit", func(l []*store.AuditEntry) []*store.AuditEntry {
			l[1].Detail = "x"
			l[1].Hash = store.HashAudit(l[1])
			return l
		}, 3},
		{"removed middle", func(l []*store.AuditEntry) []*store.AuditEntry { return append(l[:1], l[2:]...) }, 3},
		{"removed first", func(l []*store.AuditEntry) []*store.AuditEntry { return l[1:] }, 2},
		{"swapped", func(l []*store.AuditEntry) []*store.AuditEntry { l[1], l[2] = l[2], l[1]; return l }, 3},
		{"renumbered", func(l []*store.AuditEntry) []*store.AuditEntry { l[3].Seq = 9; return l }, 9},
		{"wrong genesis", func(l []*store.AuditEntry) []*store.AuditEntry {
			l[0].Prev = "sha256:" + l[0].Prev[len("sha256:"):][:63] + "1"
			l[0].Hash = store.HashAudit(l[0])
			return l
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad, why := store.VerifyAuditChain(tt.tamper(chain(5)))
			if bad != tt.bad || (bad != 0) != (why != "") {
				t.Fatalf("VerifyAuditChain = %d %q, want %d", bad, why, tt.bad)
			}
		})
	}
}

// TestHashAuditFields: every field is covered by the hash, including the
// time to the nanosecond, and the hash has the sha256:<hex> form.
func TestHashAuditFields(t *testing.T) {
	base := chain(1)[0]
	h := store.HashAudit(base)
	if len(h) != len("sha256:")+64 || h[:7] != "sha256:" {
		t.Fatalf("hash %q", h)
	}
	edits := map[string]func(e *store.AuditEntry){
		"seq": func(e *store.AuditEntry) { e.Seq++ }, "time": func(e *store.AuditEntry) { e.Time = e.Time.Add(1) },
		"event": func(e *store.AuditEntry) { e.Event += "x" }, "client": func(e *store.AuditEntry) { e.ClientID += "x" },
		"agent": func(e *store.AuditEntry) { e.AgentID += "x" }, "run": func(e *store.AuditEntry) { e.RunID += "x" },
		"step": func(e *store.AuditEntry) { e.Step += "x" }, "outcome": func(e *store.AuditEntry) { e.Outcome += "x" },
		"detail": func(e *store.AuditEntry) { e.Detail += "x" }, "prev": func(e *store.AuditEntry) { e.Prev += "x" },
		// Field boundaries are unambiguous: moving a character between
		// neighbouring fields changes the hash.
		"boundary": func(e *store.AuditEntry) { e.Event, e.ClientID = "gran", "tapp" },
	}
	for name, edit := range edits {
		e := *base
		edit(&e)
		if store.HashAudit(&e) == h {
			t.Errorf("%s: edit not covered by the hash", name)
		}
	}
	if e := *base; store.HashAudit(&e) != h {
		t.Error("hash is not deterministic")
	}
}
