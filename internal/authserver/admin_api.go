package authserver

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/clip"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// The read APIs `ajwt agent` and `ajwt run` need (ajwt additions to §4
// and §5), and the API form of a denial the console already had.

// onlyParams refuses a query parameter the endpoint does not know, or one
// given twice: a misspelt filter must not silently widen the answer.
func onlyParams(q url.Values, known ...string) error {
	for name, values := range q {
		if !slices.Contains(known, name) {
			return errBadRequest("unknown query parameter %q (known: %s)", clip.Text(name, clip.Short), strings.Join(known, ", "))
		}
		if len(values) > 1 {
			return errBadRequest("query parameter %q repeated", name)
		}
	}
	return nil
}

// maxFilterValue bounds a filter value: every identifier it can match is
// shorter.
const maxFilterValue = 256

// filterValue is a filter parameter, refused when longer than any value
// it could match.
func filterValue(q url.Values, name string) (string, error) {
	v := q.Get(name)
	if len(v) > maxFilterValue {
		return "", errBadRequest("%s longer than %d bytes", name, maxFilterValue)
	}
	return v, nil
}

// parseLimit reads limit: absent is def, otherwise 1 to max.
func parseLimit(s string, def, max int) (int, error) {
	if s == "" {
		return def, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > max {
		return 0, errBadRequest("limit: want 1 to %d", max)
	}
	return n, nil
}

// agentListView is an agent in GET /v1/agents: what identifies a
// registration, never its spec.
type agentListView struct {
	AgentID   string `json:"agent_id"`
	ClientID  string `json:"client_id"`
	Version   int    `json:"version"`
	Checksum  string `json:"agent_checksum"`
	JKT       string `json:"jkt"`
	Revoked   bool   `json:"revoked"`
	RevokedAt int64  `json:"revoked_at,omitempty"`
	UpdatedAt int64  `json:"updated_at"`
}

const (
	defaultAgentList = 1000
	maxAgentList     = 1000
)

// handleListAgents: GET /v1/agents?limit= (admin), by agent id.
func (s *Server) handleListAgents(w http.ResponseWriter, r *http.Request) error {
	if _, err := s.apiCaller(r.Context(), r, "ajwt:admin"); err != nil {
		return err
	}
	q := r.URL.Query()
	if err := onlyParams(q, "limit"); err != nil {
		return err
	}
	limit, err := parseLimit(q.Get("limit"), defaultAgentList, maxAgentList)
	if err != nil {
		return err
	}
	agents, err := s.Agents(r.Context(), limit+1)
	if err != nil {
		return err
	}
	more := len(agents) > limit
	agents = agents[:min(len(agents), limit)]
	out := make([]agentListView, len(agents))
	for i, a := range agents {
		out[i] = agentListView{AgentID: a.AgentID, ClientID: a.ClientID, Version: a.Version, Checksum: a.Checksum,
			JKT: a.JKT, Revoked: a.Revoked, UpdatedAt: a.UpdatedAt.Unix()}
		if a.Revoked {
			out[i].RevokedAt = a.RevokedAt.Unix()
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"agents": out, "truncated": more})
	return nil
}

// runListItem is a run in GET /v1/runs: the run view with its owner and
// creation time.
type runListItem struct {
	runView
	ClientID  string `json:"client_id"`
	CreatedAt int64  `json:"created_at"`
}

const (
	defaultRunList = 50
	maxRunList     = 500
	// runScanPage and maxRunScan bound what one listing reads for a
	// caller who sees only some runs: beyond them the answer stops early
	// with a cursor, however few runs it holds.
	runScanPage = 200
	maxRunScan  = 5000
)

// handleListRuns: GET /v1/runs?workflow_id=&status=&initiated_by=&limit=&before=,
// newest first. Admins see every run; others those GET /v1/runs/{id}
// would show them (their own; an approver's, those of its approves_for).
func (s *Server) handleListRuns(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.apiCaller(r.Context(), r, "ajwt:admin", "ajwt:run", "ajwt:approve")
	if err != nil {
		return err
	}
	f, err := runFilter(r.URL.Query())
	if err != nil {
		return err
	}
	runs, next, err := s.visibleRuns(r.Context(), caller, f)
	if err != nil {
		return err
	}
	out := make([]runListItem, len(runs))
	for i, run := range runs {
		out[i] = runListItem{runView: viewRun(run), ClientID: run.ClientID, CreatedAt: run.CreatedAt.Unix()}
	}
	var cursor any
	if next != nil {
		cursor = runCursor(next)
	}
	writeJSON(w, http.StatusOK, map[string]any{"runs": out, "next": cursor})
	return nil
}

func runFilter(q url.Values) (store.RunFilter, error) {
	var f store.RunFilter
	if err := onlyParams(q, "workflow_id", "status", "initiated_by", "limit", "before"); err != nil {
		return f, err
	}
	var err error
	if f.WorkflowID, err = filterValue(q, "workflow_id"); err != nil {
		return f, err
	}
	if f.InitiatedBy, err = filterValue(q, "initiated_by"); err != nil {
		return f, err
	}
	switch f.Status = q.Get("status"); f.Status {
	case "", store.RunActive, store.RunCompleted, store.RunRevoked:
	default:
		return f, errBadRequest("status: want active, completed or revoked")
	}
	if f.Limit, err = parseLimit(q.Get("limit"), defaultRunList, maxRunList); err != nil {
		return f, err
	}
	f.BeforeTime, f.BeforeID, err = parseRunCursor(q.Get("before"))
	return f, err
}

// runCursor continues a listing after run: its creation time in
// nanoseconds and its id (base64url, so never holding the ".").
func runCursor(run *store.Run) string {
	return strconv.FormatInt(run.CreatedAt.UnixNano(), 10) + "." + run.RunID
}

func parseRunCursor(s string) (time.Time, string, error) {
	if s == "" {
		return time.Time{}, "", nil
	}
	nsText, id, ok := strings.Cut(s, ".")
	ns, err := strconv.ParseInt(nsText, 10, 64)
	if !ok || err != nil || ns <= 0 || safeRef(id) == "" {
		return time.Time{}, "", errBadRequest("before: want the next cursor of a previous answer")
	}
	return time.Unix(0, ns), id, nil
}

// visibleRuns reads runs matching f, newest first, keeping those caller
// may read, until f.Limit of them or maxRunScan read. next is the last
// run the answer covers when more may follow (nil at the end).
func (s *Server) visibleRuns(ctx context.Context, caller *token.Claims, f store.RunFilter) (out []*store.Run, next *store.Run, err error) {
	want := f.Limit
	f.Limit = min(runScanPage, want+1)
	if caller.HasScope("ajwt:admin") {
		f.Limit = want + 1 // all visible: one read
	}
	for scanned := 0; ; {
		page, err := s.Runs(ctx, f)
		if err != nil {
			return nil, nil, err
		}
		for _, run := range page {
			if !s.mayReadRun(caller, run) {
				continue
			}
			if len(out) == want {
				return out, out[want-1], nil
			}
			out = append(out, run)
		}
		scanned += len(page)
		if len(page) < f.Limit {
			return out, nil, nil
		}
		last := page[len(page)-1]
		if scanned >= maxRunScan {
			return out, last, nil
		}
		f.BeforeTime, f.BeforeID, f.Limit = last.CreatedAt, last.RunID, runScanPage
	}
}

// decision is the body of approve and deny (§5).
type decision struct {
	Approver string `json:"approver"`
	Comment  string `json:"comment"`
}

func decodeDecision(w http.ResponseWriter, r *http.Request) (*decision, error) {
	var d decision
	if err := decodeJSON(w, r, protocol.MaxRequestBody, &d); err != nil {
		return nil, err
	}
	if humanID(d.Approver) == "" || len(d.Approver) > 256 || len(d.Comment) > 4096 {
		return nil, errBadRequest("approver is required (≤ 256 bytes); comment ≤ 4096 bytes")
	}
	return &d, nil
}

// handleDenyStep: POST /v1/runs/{run_id}/steps/{step_id}/deny, the API
// form of the console's denial. An approver client entitled to approve
// the step's run refuses it instead: the run is revoked with its tokens.
func (s *Server) handleDenyStep(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.apiCaller(r.Context(), r, "ajwt:approve")
	if err != nil {
		return err
	}
	d, err := decodeDecision(w, r)
	if err != nil {
		return err
	}
	run, err := s.denyStep(r.Context(), stepChange{runID: r.PathValue("run_id"), stepID: r.PathValue("step_id"),
		by: "approver:" + d.Approver, via: caller.ClientID, event: "deny_step", clientID: caller.ClientID, comment: d.Comment,
		mayAct: func(run *store.Run) error { return s.mayDeny(caller.ClientID, run) }})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewRun(run))
	return nil
}

// mayDeny is the tenant binding of §5 without the separation of duties:
// refusing one's own run approves nothing.
func (s *Server) mayDeny(approverClient string, run *store.Run) error {
	if !s.approvesFor(approverClient, run.ClientID) {
		e := errForbidden("client %s does not approve runs of this run's client (approves_for)", approverClient)
		e.Reason = reasonNotApprover
		return e
	}
	return nil
}
