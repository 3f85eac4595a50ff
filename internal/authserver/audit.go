package authserver

import (
	"net/http"

	"github.com/ajwt/ajwt/internal/store"
)

func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiCaller(r.Context(), r, "ajwt:admin"); err != nil {
		return err
	}
	q := r.URL.Query()
	after, err := parseCursor(q.Get("after"))
	if err != nil {
		return err
	}
	const page = 200
	// Read-your-writes: entries still in PostgreSQL's outbox join the chain
	// first, so a caller sees the audit of what it just did.
	if err := s.store.FlushAudit(r.Context()); err != nil {
		return err
	}
	var entries []*store.AuditEntry
	err = s.store.View(r.Context(), func(tx store.Tx) (err error) {
		entries, err = tx.Audit(r.Context(), store.AuditFilter{RunID: q.Get("run_id"), After: after, Limit: page + 1})
		return err
	})
	if err != nil {
		return err
	}
	var next any
	if len(entries) > page {
		entries = entries[:page]
		next = entries[page-1].Seq
	}
	out := make([]auditView, len(entries))
	for i, e := range entries {
		out[i] = auditView{e.Seq, e.Time.Unix(), e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail, e.Prev, e.Hash}
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next": next})
	return nil
}

type auditView struct {
	Seq      int64  `json:"seq"`
	Time     int64  `json:"time"`
	Event    string `json:"event"`
	ClientID string `json:"client_id"`
	AgentID  string `json:"agent_id"`
	RunID    string `json:"run_id"`
	Step     string `json:"step"`
	Outcome  string `json:"outcome"`
	Detail   string `json:"detail"`
	Prev     string `json:"prev"`
	Hash     string `json:"hash"`
}
