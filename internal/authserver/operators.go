package authserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// Operator roles (configuration `operators[].roles`). Each grants its own
// actions; every role may look.
const (
	RoleViewer   = "viewer"   // read runs, agents and audit
	RoleApprover = "approver" // approve or deny a run waiting at an approval step
	RoleAdmin    = "admin"    // revoke agents
)

// OperatorConfig is a person who uses the console (§5: approves as its
// username). The password is stored as an argon2id hash (ajwt
// hash-secret); ApprovesFor limits the runs it may approve to those
// clients' (absent: every client's).
type OperatorConfig struct {
	Username     string   `yaml:"username"`
	PasswordHash string   `yaml:"password_hash"`
	Roles        []string `yaml:"roles"`
	ApprovesFor  []string `yaml:"approves_for"`
}

// ConsoleConfig tunes the operator console's sessions and logins.
type ConsoleConfig struct {
	IdleTimeout       time.Duration `yaml:"idle_timeout"`               // default 30m
	MaxSession        time.Duration `yaml:"max_session"`                // default 12h
	LoginFailures     int           `yaml:"login_failures_per_minute"`  // per username and per address; default 10
	ApprovalScanLimit int           `yaml:"approval_inbox_active_runs"` // active runs the inbox scans, newest first; default 1000
}

// ConsoleApprover is the approved_via of an approval made in the console.
const ConsoleApprover = "console"

const usernamePattern = `^[a-z0-9][a-z0-9._-]{0,63}$`

var usernameRE = regexp.MustCompile(usernamePattern)

func (c *Config) consoleDefaults() {
	cc := &c.Console
	if cc.IdleTimeout == 0 {
		cc.IdleTimeout = 30 * time.Minute
	}
	if cc.MaxSession == 0 {
		cc.MaxSession = 12 * time.Hour
	}
	if cc.LoginFailures == 0 {
		cc.LoginFailures = 10
	}
	if cc.ApprovalScanLimit == 0 {
		cc.ApprovalScanLimit = 1000
	}
}

func (c *Config) checkOperators(clients map[string]bool) error {
	cc := c.Console
	if cc.IdleTimeout < time.Minute || cc.MaxSession < cc.IdleTimeout || cc.MaxSession > 7*24*time.Hour {
		return fmt.Errorf("config: console: want 1m ≤ idle_timeout ≤ max_session ≤ 168h, got %s and %s", cc.IdleTimeout, cc.MaxSession)
	}
	if cc.LoginFailures < 1 || cc.ApprovalScanLimit < 1 {
		return errors.New("config: console: login_failures_per_minute and approval_inbox_active_runs: want 1 or more")
	}
	seen := map[string]bool{}
	for i, op := range c.Operators {
		where := fmt.Sprintf("config: operators[%d] (%s)", i, op.Username)
		if !usernameRE.MatchString(op.Username) {
			return fmt.Errorf("config: operators[%d].username %q: want %s", i, op.Username, usernamePattern)
		}
		if seen[op.Username] {
			return fmt.Errorf("%s: duplicate username", where)
		}
		seen[op.Username] = true
		if h, err := parseSecretHash(op.PasswordHash); err != nil || h.kind != "argon2id" {
			return fmt.Errorf("%s.password_hash: want the argon2id hash `ajwt hash-secret` prints for a password", where)
		}
		if len(op.Roles) == 0 {
			return fmt.Errorf("%s.roles: want one or more of viewer, approver, admin", where)
		}
		for _, r := range op.Roles {
			if r != RoleViewer && r != RoleApprover && r != RoleAdmin {
				return fmt.Errorf("%s.roles: %q is not viewer, approver or admin", where, r)
			}
		}
		for _, id := range op.ApprovesFor {
			if !clients[id] {
				return fmt.Errorf("%s.approves_for: %q is not a configured client", where, id)
			}
		}
	}
	return nil
}

// Operator is a configured console user, as the server checked it.
type Operator struct {
	Username    string
	roles       []string
	approvesFor []string // nil: every client
	hash        *secretHash
}

// Can reports whether the operator holds role.
func (o *Operator) Can(role string) bool {
	return o != nil && slices.Contains(o.roles, role)
}

// Roles lists the operator's roles.
func (o *Operator) Roles() []string { return slices.Clone(o.roles) }

func (o *Operator) approves(clientID string) bool {
	return o.Can(RoleApprover) && (o.approvesFor == nil || slices.Contains(o.approvesFor, clientID))
}

func (s *Server) loadOperators() error {
	s.operators = make(map[string]*Operator, len(s.cfg.Operators))
	for _, oc := range s.cfg.Operators {
		h, err := parseSecretHash(oc.PasswordHash)
		if err != nil {
			return err
		}
		s.operators[oc.Username] = &Operator{Username: oc.Username, roles: slices.Clone(oc.Roles), approvesFor: oc.ApprovesFor, hash: h}
	}
	s.logins = newFailureLimiter(s.cfg.Console.LoginFailures, s.now)
	return nil
}

// ConsoleConfig returns the console settings.
func (s *Server) ConsoleConfig() ConsoleConfig { return s.cfg.Console }

// Issuer is the server's issuer URL.
func (s *Server) Issuer() string { return s.cfg.Issuer }

// OperatorNamed returns a configured operator, or nil.
func (s *Server) OperatorNamed(username string) *Operator { return s.operators[username] }

// ErrLoginFailed is a wrong username or password (which one is not said).
var ErrLoginFailed = errors.New("wrong username or password")

// LoginOperator checks an operator's password with argon2id (unknown
// usernames cost the same), limits failures per username and per address,
// and audits every attempt. A rate-limited attempt returns a
// *protocol.Error with status 429.
func (s *Server) LoginOperator(ctx context.Context, username, password, addr string) (*Operator, error) {
	op := s.operators[username]
	name := username
	if !usernameRE.MatchString(name) {
		name = "(invalid)"
	}
	keys := []string{"login-u:" + name, "login-ip:" + addr}
	if err := s.logins.allowKeys(keys...); err != nil {
		s.auditLogin(ctx, name, addr, "refused:rate_limited")
		return nil, err
	}
	var h *secretHash
	if op != nil {
		h = op.hash
	}
	err := s.secrets.check(ctx, "operator:"+name, addr, h, password)
	switch {
	case errors.Is(err, errClient):
		s.logins.failKeys(keys...)
		s.auditLogin(ctx, name, addr, "refused:wrong_password")
		return nil, ErrLoginFailed
	case err != nil:
		s.auditLogin(ctx, name, addr, "refused:busy")
		return nil, err
	}
	s.auditLogin(ctx, name, addr, "ok")
	return op, nil
}

func (s *Server) auditLogin(ctx context.Context, username, addr, outcome string) {
	s.audit(ctx, &store.AuditEntry{Event: "console_login", ClientID: ConsoleApprover, Outcome: outcome,
		Detail: "operator=" + username + " addr=" + strconv.Quote(addr)})
}

// AuditLogout records an operator leaving the console.
func (s *Server) AuditLogout(ctx context.Context, op *Operator, why string) {
	s.audit(ctx, &store.AuditEntry{Event: "console_logout", ClientID: ConsoleApprover, Outcome: "ok", Detail: "operator=" + op.Username + " why=" + why})
}

// ApproveAsOperator approves an approval step for op, with the §5 rules:
// op must approve for the run's client and must not have started the run;
// completed_by is approver:<username>, approved_via "console".
func (s *Server) ApproveAsOperator(ctx context.Context, op *Operator, runID, stepID, comment string) (*store.Run, error) {
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	start := s.now()
	run, err := s.transition(ctx, stepChange{runID: runID, stepID: stepID, by: "approver:" + op.Username, via: ConsoleApprover,
		event: "approve_step", clientID: ConsoleApprover, comment: comment,
		mayAct: func(run *store.Run) error { return s.mayOperatorApprove(op, run) },
		check:  approvalReady(stepID)})
	s.traceAction(ctx, "ajwt.console approve", safeRef(runID), safeRef(stepID), start, err)
	return run, err
}

// DenyAsOperator refuses a run waiting at an approval step: the run is
// revoked with its tokens, and the audit log keeps who denied it and why.
func (s *Server) DenyAsOperator(ctx context.Context, op *Operator, runID, stepID, comment string) (*store.Run, error) {
	if err := checkComment(comment); err != nil {
		return nil, err
	}
	start := s.now()
	run, err := s.denyStep(ctx, stepChange{runID: runID, stepID: stepID, by: "approver:" + op.Username, via: ConsoleApprover,
		event: "deny_step", clientID: ConsoleApprover, comment: comment,
		mayAct: func(run *store.Run) error {
			if !op.approves(run.ClientID) {
				return notApprover(op)
			}
			return nil
		}})
	s.traceAction(ctx, "ajwt.console deny", safeRef(runID), safeRef(stepID), start, err)
	return run, err
}

// denyStep revokes a run waiting at the approval step c.stepID, for a
// denial by an operator (console) or an approver client (API): c.mayAct
// holds the tenant check, the rest is the same for both. A denial is no
// approval, so the one who started the run may deny it.
func (s *Server) denyStep(ctx context.Context, c stepChange) (*store.Run, error) {
	var run *store.Run
	var revoked []*store.Revocation
	err := s.store.Update(ctx, func(tx store.Tx) error {
		var err error
		if run, err = tx.RunForUpdate(ctx, c.runID); errors.Is(err, store.ErrNotFound) {
			return errNotFound("no such run")
		} else if err != nil {
			return err
		}
		if err := s.checkDeny(ctx, tx, c, run); err != nil {
			return err
		}
		revoked, err = s.revokeRun(ctx, tx, run, changeDetail(c)+" via="+c.via+" denied_step="+c.stepID)
		return err
	})
	s.auditRefusedChange(ctx, c, err)
	if err != nil {
		return nil, err
	}
	s.feed.notify(revoked)
	return run, nil
}

// checkDeny: a denial needs what an approval needs of the step.
func (s *Server) checkDeny(ctx context.Context, tx store.Tx, c stepChange, run *store.Run) error {
	c.check = approvalReady(c.stepID)
	_, _, err := s.checkStep(ctx, tx, run, c)
	return err
}

func checkComment(comment string) error {
	if len(comment) > 4096 {
		return errBadRequest("comment longer than 4096 bytes")
	}
	return nil
}

// approvalReady is the state an approval needs: an approval step, ready.
func approvalReady(stepID string) func(*store.Run, *StepDef, *store.Step) error {
	return func(run *store.Run, def *StepDef, st *store.Step) error {
		if def.Kind != kindApproval {
			return errStep("not_an_approval_step", nil, "step %q is not an approval step", stepID)
		}
		if st.State != store.StepReady {
			return errStep("step_"+st.State, missingSteps(run, def), "step %q is %s", stepID, st.State)
		}
		return nil
	}
}

func (s *Server) mayOperatorApprove(op *Operator, run *store.Run) error {
	if !op.approves(run.ClientID) {
		return notApprover(op)
	}
	if strings.EqualFold(humanID(op.Username), humanID(run.InitiatedBy)) {
		e := errForbidden("%s started this run; someone else must approve it", op.Username)
		e.Reason = reasonSelfApproval
		return e
	}
	return nil
}

func notApprover(op *Operator) error {
	e := errForbidden("operator %s may not approve this run (role approver, approves_for)", op.Username)
	e.Reason = reasonNotApprover
	return e
}

// RevokeAgentAsOperator revokes an agent for good (admin role).
func (s *Server) RevokeAgentAsOperator(ctx context.Context, op *Operator, agentID string) error {
	if !op.Can(RoleAdmin) {
		return errForbidden("operator %s is not an admin", op.Username)
	}
	var revoked []*store.Revocation
	err := s.store.Update(ctx, func(tx store.Tx) error {
		a, err := tx.AgentForUpdate(ctx, agentID)
		if err != nil {
			return err
		}
		revoked, err = s.revokeAgent(ctx, tx, a, "operator:"+op.Username)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such agent")
	}
	if err == nil {
		s.feed.notify(revoked)
	}
	return err
}

// IsForbidden reports whether err refuses the caller (403), as opposed to
// a missing record or a failure.
func IsForbidden(err error) bool {
	var perr *protocol.Error
	return errors.As(err, &perr) && perr.Status == http.StatusForbidden
}
