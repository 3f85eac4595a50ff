package authserver

import (
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// operatorFixture is approvalFixture plus operators: alice (approver),
// vera (viewer), adam (admin), olga (approver for other-app only).
func operatorFixture(t *testing.T) *harness {
	t.Helper()
	hash, err := HashSecret("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	var ops strings.Builder
	ops.WriteString("operators:\n")
	for _, o := range []struct{ name, roles, approves string }{
		{"alice", "[approver]", ""}, {"vera", "[viewer]", ""}, {"adam", "[admin]", ""}, {"olga", "[approver]", "[other-app]"},
	} {
		fmt.Fprintf(&ops, "  - {username: %s, password_hash: %q, roles: %s", o.name, hash, o.roles)
		if o.approves != "" {
			fmt.Fprintf(&ops, ", approves_for: %s", o.approves)
		}
		ops.WriteString("}\n")
	}
	h := newHarnessAt(t, filepath.Join(t.TempDir(), "ajwt.db"), testConfig+approverClients+ops.String())
	h.registerAgent("planner", "app", []string{"repo:read"}, nil)
	h.registerWorkflow("wf", map[string]any{"steps": []map[string]any{
		{"id": "plan", "agent": "planner", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
		{"id": "approve", "kind": "approval", "depends_on": []string{"plan"}},
	}})
	return h
}

func TestOperatorDecisions(t *testing.T) {
	h := operatorFixture(t)
	ctx := t.Context()
	op := func(name string) *Operator { return h.srv.OperatorNamed(name) }
	tests := []struct {
		name      string
		initiator string
		act       func(run string) (*store.Run, error)
		reason    string // "" for success
		status    string // run status afterwards
	}{
		{"approver approves", "user:bob", func(run string) (*store.Run, error) {
			return h.srv.ApproveAsOperator(ctx, op("alice"), run, "approve", "looks right")
		}, "", store.RunCompleted},
		{"self-approval", "user:alice", func(run string) (*store.Run, error) {
			return h.srv.ApproveAsOperator(ctx, op("alice"), run, "approve", "")
		}, reasonSelfApproval, store.RunActive},
		{"viewer cannot approve", "user:bob", func(run string) (*store.Run, error) {
			return h.srv.ApproveAsOperator(ctx, op("vera"), run, "approve", "")
		}, reasonNotApprover, store.RunActive},
		{"approver of another client", "user:bob", func(run string) (*store.Run, error) {
			return h.srv.ApproveAsOperator(ctx, op("olga"), run, "approve", "")
		}, reasonNotApprover, store.RunActive},
		{"deny revokes", "user:bob", func(run string) (*store.Run, error) {
			return h.srv.DenyAsOperator(ctx, op("alice"), run, "approve", "not this week")
		}, "", store.RunRevoked},
		{"viewer cannot deny", "user:bob", func(run string) (*store.Run, error) {
			return h.srv.DenyAsOperator(ctx, op("vera"), run, "approve", "")
		}, reasonNotApprover, store.RunActive},
		{"deny a step that is not an approval", "user:bob", func(run string) (*store.Run, error) {
			return h.srv.DenyAsOperator(ctx, op("alice"), run, "plan", "")
		}, "not_an_approval_step", store.RunActive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run := h.readyForApproval(tt.initiator)
			_, err := tt.act(run)
			_, wire := protocol.Wire(err)
			if (tt.reason == "") != (err == nil) || wire.Reason != tt.reason {
				t.Fatalf("err %v (reason %q), want reason %q", err, wire.Reason, tt.reason)
			}
			story, err := h.srv.RunStory(ctx, run)
			if err != nil {
				t.Fatal(err)
			}
			if story.Run.Status != tt.status {
				t.Fatalf("run %s, want %s", story.Run.Status, tt.status)
			}
			last := story.Audit[len(story.Audit)-1]
			if tt.reason != "" && !strings.Contains(last.Detail, "reason="+tt.reason) {
				t.Fatalf("refusal not audited: %+v", last)
			}
		})
	}
}

func TestOperatorApprovalRecord(t *testing.T) {
	h := operatorFixture(t)
	run := h.readyForApproval("user:bob")
	got, err := h.srv.ApproveAsOperator(t.Context(), h.srv.OperatorNamed("alice"), run, "approve", "ok")
	if err != nil {
		t.Fatal(err)
	}
	st := got.Steps[1]
	if st.CompletedBy != "approver:alice" || st.ApprovedVia != ConsoleApprover {
		t.Fatalf("approval recorded as %q via %q", st.CompletedBy, st.ApprovedVia)
	}
	res := h.jsonReq(http.MethodGet, "/v1/runs/"+run, h.bearer("app"), nil, nil)
	if !strings.Contains(string(res.raw), `"approved_via":"console"`) {
		t.Fatalf("run view: %s", res.raw)
	}
}

func TestWaitingApprovals(t *testing.T) {
	h := operatorFixture(t)
	mine, other := h.readyForApproval("user:bob"), h.readyForApproval("user:alice")
	w, err := h.srv.WaitingApprovals(t.Context(), h.srv.OperatorNamed("alice"))
	if err != nil {
		t.Fatal(err)
	}
	self := map[string]bool{}
	for _, x := range w {
		self[x.Run.RunID] = x.SelfApproval
	}
	if len(w) != 2 || !self[other] || self[mine] {
		t.Fatalf("inbox %+v: want %s (self-approval) and %s", w, other, mine)
	}
	for _, name := range []string{"vera", "olga"} {
		if w, _ := h.srv.WaitingApprovals(t.Context(), h.srv.OperatorNamed(name)); len(w) != 0 {
			t.Fatalf("%s sees %d waiting runs", name, len(w))
		}
	}
}

func TestOperatorLogin(t *testing.T) {
	h := operatorFixture(t)
	ctx := t.Context()
	if op, err := h.srv.LoginOperator(ctx, "alice", "correct horse battery staple", "10.0.0.1"); err != nil || op.Username != "alice" {
		t.Fatalf("login: %v", err)
	}
	for _, try := range []struct{ user, pass string }{{"alice", "wrong"}, {"nobody", "correct horse battery staple"}, {"Bad Name!", "x"}} {
		if _, err := h.srv.LoginOperator(ctx, try.user, try.pass, "10.0.0.2"); !errors.Is(err, ErrLoginFailed) {
			t.Fatalf("%s/%s: %v", try.user, try.pass, err)
		}
	}
	// login_failures_per_minute (10) per address: the 11th failure from
	// one address is refused before the password is checked.
	var err error
	for range 10 {
		_, err = h.srv.LoginOperator(ctx, "vera", "wrong", "10.0.0.3")
	}
	if _, err = h.srv.LoginOperator(ctx, "adam", "correct horse battery staple", "10.0.0.3"); err == nil || errors.Is(err, ErrLoginFailed) {
		t.Fatalf("11th attempt from one address: %v", err)
	}
	entries, err := h.srv.AuditEntries(ctx, store.AuditFilter{Event: "console_login", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]int{}
	for _, e := range entries {
		outcomes[e.Outcome]++
		if strings.Contains(e.Detail, "correct horse") || strings.Contains(e.Detail, "wrong") {
			t.Fatalf("password in the audit log: %s", e.Detail)
		}
	}
	if outcomes["ok"] != 1 || outcomes["refused:wrong_password"] != 13 || outcomes["refused:rate_limited"] != 1 {
		t.Fatalf("login audit %v", outcomes)
	}
}

func TestOperatorConfigErrors(t *testing.T) {
	sha, _ := HashSecret(GenerateSecret())
	argon, _ := HashSecret("a human password")
	tests := []struct{ ops, want string }{
		{fmt.Sprintf("  - {username: Alice, password_hash: %q, roles: [viewer]}", argon), "username"},
		{fmt.Sprintf("  - {username: alice, password_hash: %q, roles: [viewer]}", sha), "argon2id"},
		{fmt.Sprintf("  - {username: alice, password_hash: %q, roles: []}", argon), "roles"},
		{fmt.Sprintf("  - {username: alice, password_hash: %q, roles: [root]}", argon), `"root"`},
		{fmt.Sprintf("  - {username: alice, password_hash: %q, roles: [viewer], approves_for: [ghost]}", argon), "ghost"},
		{fmt.Sprintf("  - {username: alice, password_hash: %q, roles: [viewer]}\n  - {username: alice, password_hash: %q, roles: [viewer]}", argon, argon), "duplicate"},
	}
	for _, tt := range tests {
		_, err := ParseConfig([]byte(strings.ReplaceAll(testConfig, "ISSUER", "http://127.0.0.1:1") + "operators:\n" + tt.ops + "\n"))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want %q", tt.ops, err, tt.want)
		}
	}
}

func TestAuditChainWatch(t *testing.T) {
	h := operatorFixture(t)
	h.readyForApproval("user:bob")
	st, err := h.srv.AuditChain(t.Context())
	if err != nil || !st.Intact() || st.Head == 0 {
		t.Fatalf("chain %+v %v", st, err)
	}
	h.readyForApproval("user:bob")
	again, err := h.srv.AuditChain(t.Context())
	if err != nil || !again.Intact() || again.Head <= st.Head {
		t.Fatalf("chain after more entries %+v %v", again, err)
	}
}
