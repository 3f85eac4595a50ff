package authserver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
)

// auditPageOf reads GET /v1/audit with query q as admin.
func (h *harness) auditPageOf(q string) *response {
	h.t.Helper()
	return h.jsonReq(http.MethodGet, "/v1/audit?"+q, h.bearer("admin"), nil, nil)
}

func entriesOf(res *response) []map[string]any {
	list, _ := res.body["entries"].([]any)
	out := make([]map[string]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)
	}
	return out
}

func TestAuditQueryParameters(t *testing.T) {
	h := approvalFixture(t)
	h.readyForApproval("user:alice")
	tests := []struct {
		name   string
		query  string
		status int
		say    string // in error_description
		check  func(t *testing.T, entries []map[string]any, next any)
	}{
		{"unknown parameter", "run=x", 400, `"run"`, nil},
		{"misspelt filter", "agent=planner", 400, `"agent"`, nil},
		{"repeated", "event=grant&event=grant", 400, "repeated", nil},
		{"limit zero", "limit=0", 400, "limit", nil},
		{"limit too large", "limit=1001", 400, "limit", nil},
		{"limit not a number", "limit=ten", 400, "limit", nil},
		{"after negative", "after=-1", 400, "after", nil},
		{"filter too long", "event=" + strings.Repeat("x", 300), 400, "event", nil},
		{"agent filter", "agent_id=planner", 200, "", func(t *testing.T, es []map[string]any, _ any) {
			if len(es) < 2 {
				t.Fatalf("%d entries of planner, want its registration and grant at least", len(es))
			}
			for _, e := range es {
				if e["agent_id"] != "planner" {
					t.Fatalf("entry of %v in agent_id=planner", e["agent_id"])
				}
			}
		}},
		{"event filter", "event=grant", 200, "", func(t *testing.T, es []map[string]any, _ any) {
			if len(es) == 0 {
				t.Fatal("no grant entries")
			}
			for _, e := range es {
				if e["event"] != "grant" {
					t.Fatalf("event %v in event=grant", e["event"])
				}
			}
		}},
		{"limit pages", "limit=2", 200, "", func(t *testing.T, es []map[string]any, next any) {
			if len(es) != 2 || next != es[1]["seq"] {
				t.Fatalf("%d entries, next %v; want 2 and the second's seq", len(es), next)
			}
		}},
		{"after continues", "after=2&limit=1", 200, "", func(t *testing.T, es []map[string]any, _ any) {
			if len(es) != 1 || es[0]["seq"] != float64(3) {
				t.Fatalf("after=2: %v", es)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := h.auditPageOf(tt.query)
			if res.status != tt.status || !strings.Contains(res.str("error_description"), tt.say) {
				t.Fatalf("%d %s, want %d mentioning %s", res.status, res.raw, tt.status, tt.say)
			}
			if tt.status != 200 {
				wantError(t, res, tt.status, "invalid_request")
				return
			}
			tt.check(t, entriesOf(res), res.body["next"])
		})
	}
}

// TestAuditEntriesCarryWhatTheHashCovers: from an entry on the wire alone
// (time_ns included) its hash can be recomputed, and time is time_ns in
// seconds.
func TestAuditEntriesCarryWhatTheHashCovers(t *testing.T) {
	h := approvalFixture(t)
	h.readyForApproval("user:alice")
	// Numbers as written: time_ns does not fit a float64's 53 bits.
	var page struct{ Entries []map[string]any }
	dec := json.NewDecoder(bytes.NewReader(h.auditPageOf("").raw))
	dec.UseNumber()
	if err := dec.Decode(&page); err != nil || len(page.Entries) == 0 {
		t.Fatalf("no entries: %v", err)
	}
	for _, e := range page.Entries {
		ns, _ := e["time_ns"].(json.Number).Int64()
		seq, _ := e["seq"].(json.Number).Int64()
		sec, _ := e["time"].(json.Number).Int64()
		got := &store.AuditEntry{Seq: seq, Time: time.Unix(0, ns), Event: e["event"].(string),
			ClientID: e["client_id"].(string), AgentID: e["agent_id"].(string), RunID: e["run_id"].(string), Step: e["step"].(string),
			Outcome: e["outcome"].(string), Detail: e["detail"].(string), Prev: e["prev"].(string)}
		if store.HashAudit(got) != e["hash"] {
			t.Fatalf("entry %v: hash does not recompute from the wire fields", e["seq"])
		}
		if sec != time.Unix(0, ns).Unix() {
			t.Fatalf("entry %v: time %v is not time_ns %d in seconds", e["seq"], e["time"], ns)
		}
	}
}

func TestListAgents(t *testing.T) {
	h := approvalFixture(t)
	res := h.jsonReq(http.MethodGet, "/v1/agents", h.bearer("admin"), nil, nil)
	list, _ := res.body["agents"].([]any)
	if res.status != 200 || len(list) != 2 || res.body["truncated"] != false {
		t.Fatalf("%d %s", res.status, res.raw)
	}
	first := list[0].(map[string]any)
	for _, k := range []string{"agent_id", "client_id", "version", "agent_checksum", "jkt", "revoked", "updated_at"} {
		if _, ok := first[k]; !ok {
			t.Fatalf("no %s in %v", k, first)
		}
	}
	if _, ok := first["spec"]; ok || first["agent_id"] != "outsider" {
		t.Fatalf("first agent %v: want outsider (by id) and no spec", first)
	}
	if res := h.jsonReq(http.MethodGet, "/v1/agents?limit=1", h.bearer("admin"), nil, nil); res.body["truncated"] != true {
		t.Fatalf("limit=1 of 2: %s", res.raw)
	}
	wantError(t, h.jsonReq(http.MethodGet, "/v1/agents?client_id=app", h.bearer("admin"), nil, nil), 400, "invalid_request")
	wantError(t, h.jsonReq(http.MethodGet, "/v1/agents", h.bearer("app"), nil, nil), 403, "insufficient_scope")
}

func runIDs(res *response) []string {
	list, _ := res.body["runs"].([]any)
	out := make([]string, len(list))
	for i, r := range list {
		out[i] = r.(map[string]any)["run_id"].(string)
	}
	return out
}

func TestListRunsSeesWhatGetRunShows(t *testing.T) {
	h := approvalFixture(t)
	var app []string // newest first
	for range 3 {
		app = append([]string{h.startRun("app", "wf", nil)}, app...)
		h.clock.Advance(time.Millisecond)
	}
	other := h.startRun("other-app", "solo", nil)
	tests := []struct {
		client string
		want   []string
	}{
		{"admin", append([]string{other}, app...)},
		{"app", app},
		{"other-app", []string{other}},
		{"approver", app},
		{"foreign-approver", []string{other}},
		{"idle-approver", nil},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			res := h.jsonReq(http.MethodGet, "/v1/runs", h.bearerOf(tt.client), nil, nil)
			if got := runIDs(res); res.status != 200 || strings.Join(got, ",") != strings.Join(tt.want, ",") || res.body["next"] != nil {
				t.Fatalf("%d %s; want runs %v", res.status, res.raw, tt.want)
			}
		})
	}
}

func TestListRunsPagesAndFilters(t *testing.T) {
	h := approvalFixture(t)
	var app []string
	for range 3 {
		app = append([]string{h.startRun("app", "wf", nil)}, app...)
		h.clock.Advance(time.Millisecond)
	}
	h.jsonReq(http.MethodPost, "/v1/runs/"+app[0]+"/revoke", h.bearer("app"), nil, nil)
	list := func(q string) *response { return h.jsonReq(http.MethodGet, "/v1/runs?"+q, h.bearer("app"), nil, nil) }

	first := list("limit=2")
	next, _ := first.body["next"].(string)
	if got := runIDs(first); len(got) != 2 || got[0] != app[0] || next == "" {
		t.Fatalf("first page: %s", first.raw)
	}
	second := list("limit=2&before=" + url.QueryEscape(next))
	if got := runIDs(second); len(got) != 1 || got[0] != app[2] || second.body["next"] != nil {
		t.Fatalf("second page: %s", second.raw)
	}
	if got := runIDs(list("status=revoked")); len(got) != 1 || got[0] != app[0] {
		t.Fatalf("status=revoked: %v", got)
	}
	if got := runIDs(list("workflow_id=solo")); len(got) != 0 {
		t.Fatalf("workflow_id=solo: %v", got)
	}
	for _, q := range []string{"status=paused", "before=yesterday", "limit=501", "client_id=other-app"} {
		wantError(t, list(q), 400, "invalid_request")
	}
	item := list("limit=1").body["runs"].([]any)[0].(map[string]any)
	if item["client_id"] != "app" || item["created_at"] == nil || item["steps"] == nil {
		t.Fatalf("list item %v: want the run view with client_id and created_at", item)
	}
}

func TestDenyStepAPI(t *testing.T) {
	tests := []struct {
		name      string
		client    string
		initiator string
		step      string
		body      map[string]string
		status    int
		code      string
		reason    string
		after     string // run status afterwards
	}{
		{"approver denies", "approver", "user:alice", "approve", map[string]string{"approver": "user:bob", "comment": "not now"}, 200, "", "", store.RunRevoked},
		{"the initiator may deny", "approver", "user:alice", "approve", map[string]string{"approver": "alice"}, 200, "", "", store.RunRevoked},
		{"another tenant's approver", "foreign-approver", "user:alice", "approve", map[string]string{"approver": "user:bob"}, 403, "access_denied", reasonNotApprover, store.RunActive},
		{"approver of nobody", "idle-approver", "user:alice", "approve", map[string]string{"approver": "user:bob"}, 403, "access_denied", reasonNotApprover, store.RunActive},
		{"not an approval step", "approver", "user:alice", "plan", map[string]string{"approver": "user:bob"}, 403, "workflow_step_unauthorized", "not_an_approval_step", store.RunActive},
		{"no approver", "approver", "user:alice", "approve", map[string]string{"comment": "x"}, 400, "invalid_request", "", store.RunActive},
		{"a run client", "app", "user:alice", "approve", map[string]string{"approver": "user:bob"}, 403, "insufficient_scope", "", store.RunActive},
	}
	h := approvalFixture(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := h.readyForApproval(tt.initiator)
			res := h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/steps/"+tt.step+"/deny", h.bearerOf(tt.client), tt.body, nil)
			if tt.code == "" && (res.status != 200 || res.str("status") != store.RunRevoked) {
				t.Fatalf("%d %s", res.status, res.raw)
			}
			if tt.code != "" {
				wantReason(t, res, tt.status, tt.code, tt.reason)
			}
			got := h.jsonReq(http.MethodGet, "/v1/runs/"+run, h.bearer("admin"), nil, nil)
			if got.str("status") != tt.after {
				t.Fatalf("run %s afterwards, want %s", got.str("status"), tt.after)
			}
		})
	}
}

// TestDenyStepAudited: a denial is in the run's audit story with who
// denied through which client, and a refused one is too.
func TestDenyStepAudited(t *testing.T) {
	h := approvalFixture(t)
	run := h.readyForApproval("user:alice")
	h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/steps/approve/deny", h.bearerOf("foreign-approver"), map[string]string{"approver": "mallory"}, nil)
	h.jsonReq(http.MethodPost, "/v1/runs/"+run+"/steps/approve/deny", h.bearerOf("approver"), map[string]string{"approver": "bob", "comment": "no"}, nil)
	var refused, revoked bool
	for _, e := range entriesOf(h.auditPageOf("run_id=" + run)) {
		d := e["detail"].(string)
		refused = refused || e["event"] == "deny_step" && e["outcome"] == "refused:access_denied" && strings.Contains(d, "by=approver:mallory")
		revoked = revoked || e["event"] == "revoke_run" && strings.Contains(d, "by=approver:bob") && strings.Contains(d, "via=approver") && strings.Contains(d, "denied_step=approve")
	}
	if !refused || !revoked {
		t.Fatalf("refused denial audited %v, denial audited %v", refused, revoked)
	}
}
