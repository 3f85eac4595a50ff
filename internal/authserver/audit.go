package authserver

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/ajwt/ajwt/internal/store"
)

// Pages of GET /v1/audit: limit entries (default auditPage, at most
// maxAuditPage).
const (
	auditPage    = 200
	maxAuditPage = 1000
)

// handleAudit: GET /v1/audit?run_id=&agent_id=&event=&after=&limit=
// (admin), oldest first after the cursor.
func (s *Server) handleAudit(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiCaller(r.Context(), r, "ajwt:admin"); err != nil {
		return err
	}
	f, err := auditFilter(r.URL.Query())
	if err != nil {
		return err
	}
	page := f.Limit
	f.Limit++
	// Read-your-writes: AuditEntries chains the entries still in
	// PostgreSQL's outbox first, so a caller sees the audit of what it
	// just did.
	entries, err := s.AuditEntries(r.Context(), f)
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
		out[i] = viewAudit(e)
	}
	writeJSON(w, http.StatusOK, map[string]any{"entries": out, "next": next})
	return nil
}

func auditFilter(q url.Values) (store.AuditFilter, error) {
	var f store.AuditFilter
	if err := onlyParams(q, "run_id", "agent_id", "event", "after", "limit"); err != nil {
		return f, err
	}
	for _, p := range []struct {
		name string
		to   *string
	}{{"run_id", &f.RunID}, {"agent_id", &f.AgentID}, {"event", &f.Event}} {
		v, err := filterValue(q, p.name)
		if err != nil {
			return f, err
		}
		*p.to = v
	}
	var err error
	if f.After, err = parseAuditCursor(q.Get("after")); err != nil {
		return f, err
	}
	f.Limit, err = parseLimit(q.Get("limit"), auditPage, maxAuditPage)
	return f, err
}

func parseAuditCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, errBadRequest("after: want a sequence number (the next of a previous answer)")
	}
	return n, nil
}

// auditView is an entry on the wire: every field the chain hash covers,
// so that a reader can recompute it. time stays in seconds (§9); time_ns
// is the instant the hash covers.
type auditView struct {
	Seq      int64  `json:"seq"`
	Time     int64  `json:"time"`
	TimeNS   int64  `json:"time_ns"`
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

func viewAudit(e *store.AuditEntry) auditView {
	return auditView{e.Seq, e.Time.Unix(), e.Time.UnixNano(), e.Event, e.ClientID, e.AgentID, e.RunID, e.Step, e.Outcome, e.Detail, e.Prev, e.Hash}
}
