package console

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store"
)

const pageSize = 50

func (c *Console) inbox(w http.ResponseWriter, r *http.Request, v *viewer) error {
	waiting, err := c.srv.WaitingApprovals(r.Context(), v.op)
	if err != nil {
		return err
	}
	items := make([]inboxItem, 0, len(waiting))
	for _, wt := range waiting {
		story, err := c.srv.RunOverview(r.Context(), wt.Run.RunID)
		if err != nil {
			return err
		}
		items = append(items, inboxItem{Waiting: wt, Steps: stepRows(story, nil)})
	}
	c.render(w, r, http.StatusOK, "inbox", v, map[string]any{"Items": items, "Flash": flash(r)})
	return nil
}

type inboxItem struct {
	authserver.Waiting
	Steps []stepRow
}

// runFilter reads the runs page's filters; age is a duration (e.g. 24h).
func runFilter(q url.Values, now time.Time) (store.RunFilter, error) {
	f := store.RunFilter{WorkflowID: q.Get("workflow"), Status: q.Get("status"), InitiatedBy: q.Get("initiator"), Limit: pageSize + 1}
	if age := q.Get("age"); age != "" {
		d, err := time.ParseDuration(age)
		if err != nil || d <= 0 {
			return f, badRequest("age: want a duration such as 1h or 168h")
		}
		f.CreatedSince = now.Add(-d)
	}
	if before := q.Get("before"); before != "" {
		ts, id, ok := strings.Cut(before, "_")
		n, err := strconv.ParseInt(ts, 10, 64)
		if !ok || err != nil {
			return f, badRequest("before: not a page cursor")
		}
		f.BeforeTime, f.BeforeID = time.Unix(0, n), id
	}
	switch f.Status {
	case "", store.RunActive, store.RunCompleted, store.RunRevoked:
	default:
		return f, badRequest("status: want active, completed or revoked")
	}
	return f, nil
}

func (c *Console) runs(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := r.URL.Query()
	f, err := runFilter(q, c.now())
	if err != nil {
		return err
	}
	runs, err := c.srv.Runs(r.Context(), f)
	if err != nil {
		return err
	}
	var next string
	if len(runs) > pageSize {
		runs = runs[:pageSize]
		last := runs[pageSize-1]
		nq := url.Values{}
		for k, vs := range q {
			nq[k] = vs
		}
		nq.Set("before", strconv.FormatInt(last.CreatedAt.UnixNano(), 10)+"_"+last.RunID)
		next = "/console/runs?" + nq.Encode()
	}
	c.render(w, r, http.StatusOK, "runs", v, map[string]any{"Runs": runs, "Next": next,
		"Filter": map[string]string{"workflow": q.Get("workflow"), "status": q.Get("status"), "initiator": q.Get("initiator"), "age": q.Get("age")}})
	return nil
}

func (c *Console) run(w http.ResponseWriter, r *http.Request, v *viewer) error {
	story, err := c.srv.RunStory(r.Context(), r.PathValue("run"))
	if err != nil {
		return err
	}
	chain, err := c.srv.AuditChain(r.Context())
	if err != nil {
		return err
	}
	waiting := c.srv.WaitingIn(v.op, story)
	c.render(w, r, http.StatusOK, "run", v, map[string]any{
		"Run": story.Run, "Steps": stepRows(story, story.Tokens), "DAG": layoutDAG(story),
		"Tokens": story.Tokens, "Audit": auditRows(story.Audit, chain), "Chain": chain, "Waiting": waiting, "Flash": flash(r),
	})
	return nil
}

func (c *Console) approve(w http.ResponseWriter, r *http.Request, v *viewer) error {
	run, step := r.PathValue("run"), r.PathValue("step")
	if _, err := c.srv.ApproveAsOperator(r.Context(), v.op, run, step, r.PostForm.Get("comment")); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/runs/"+url.PathEscape(run)+"?flash=approved", http.StatusSeeOther)
	return nil
}

func (c *Console) deny(w http.ResponseWriter, r *http.Request, v *viewer) error {
	run, step := r.PathValue("run"), r.PathValue("step")
	if _, err := c.srv.DenyAsOperator(r.Context(), v.op, run, step, r.PostForm.Get("comment")); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/runs/"+url.PathEscape(run)+"?flash=denied", http.StatusSeeOther)
	return nil
}

const maxAgentsListed = 1000

func (c *Console) agents(w http.ResponseWriter, r *http.Request, v *viewer) error {
	agents, err := c.srv.Agents(r.Context(), maxAgentsListed)
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "agents", v, map[string]any{"Agents": agents, "Capped": len(agents) == maxAgentsListed})
	return nil
}

func (c *Console) agent(w http.ResponseWriter, r *http.Request, v *viewer) error {
	a, history, err := c.srv.AgentStory(r.Context(), r.PathValue("agent"))
	if err != nil {
		return err
	}
	chain, err := c.srv.AuditChain(r.Context())
	if err != nil {
		return err
	}
	c.render(w, r, http.StatusOK, "agent", v, map[string]any{"Agent": a, "History": auditRows(history, chain), "Flash": flash(r)})
	return nil
}

func (c *Console) revokeAgent(w http.ResponseWriter, r *http.Request, v *viewer) error {
	id := r.PathValue("agent")
	if r.PostForm.Get("confirm") != id {
		return badRequest("type the agent id to confirm: revocation is permanent")
	}
	if err := c.srv.RevokeAgentAsOperator(r.Context(), v.op, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/console/agents/"+url.PathEscape(id)+"?flash=revoked", http.StatusSeeOther)
	return nil
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, v *viewer) error {
	q := r.URL.Query()
	f := store.AuditFilter{RunID: q.Get("run"), AgentID: q.Get("agent"), Event: q.Get("event"), Newest: true, Limit: pageSize + 1}
	if b := q.Get("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			return badRequest("before: not a page cursor")
		}
		f.Before = n
	}
	entries, err := c.srv.AuditEntries(r.Context(), f)
	if err != nil {
		return err
	}
	chain, err := c.srv.AuditChain(r.Context())
	if err != nil {
		return err
	}
	var next string
	if len(entries) > pageSize {
		entries = entries[:pageSize]
		nq := url.Values{"run": {f.RunID}, "agent": {f.AgentID}, "event": {f.Event}, "before": {strconv.FormatInt(entries[pageSize-1].Seq, 10)}}
		next = "/console/audit?" + nq.Encode()
	}
	c.render(w, r, http.StatusOK, "audit", v, map[string]any{"Entries": auditRows(entries, chain), "Chain": chain, "Next": next,
		"Filter": map[string]string{"run": f.RunID, "agent": f.AgentID, "event": f.Event}})
	return nil
}

// flash is the outcome of the action that redirected here, from a fixed
// list: the query cannot put text of its own on the page.
func flash(r *http.Request) string {
	switch f := r.URL.Query().Get("flash"); f {
	case "approved":
		return "Approved. The next steps are ready."
	case "denied":
		return "Denied. The run is revoked with its tokens."
	case "revoked":
		return "Agent revoked. Its tokens are revoked, and it cannot obtain new ones."
	}
	return ""
}
