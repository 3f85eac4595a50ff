package authserver

import (
	"context"
	"errors"
	"slices"
	"sync"

	"github.com/ajwt/ajwt/internal/store"
)

// What the console reads. Every method reads the store as it is; none
// reveals an agent's spec, a token or a secret.

// RunStory is everything known about one run.
type RunStory struct {
	Run      *store.Run
	Workflow *WorkflowDef
	Agents   map[string]*store.Agent // the agents its steps name, as registered now
	Tokens   []*store.Token          // issued in the run, oldest first
	Audit    []*store.AuditEntry     // the run's entries, oldest first
}

// maxStoryRecords bounds what a run page reads of each kind.
const maxStoryRecords = 1000

// RunStory reads a run with its workflow, agents, tokens and audit entries.
func (s *Server) RunStory(ctx context.Context, runID string) (*RunStory, error) {
	if err := s.store.FlushAudit(ctx); err != nil {
		return nil, err
	}
	return s.runStory(ctx, runID, true)
}

// RunOverview is RunStory without the tokens and audit entries: what a
// list of waiting runs shows of each.
func (s *Server) RunOverview(ctx context.Context, runID string) (*RunStory, error) {
	return s.runStory(ctx, runID, false)
}

func (s *Server) runStory(ctx context.Context, runID string, records bool) (*RunStory, error) {
	st := &RunStory{Agents: map[string]*store.Agent{}}
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if st.Run, err = tx.Run(ctx, runID); err != nil {
			return err
		}
		if st.Workflow, err = s.workflowDef(ctx, tx, st.Run.WorkflowID, st.Run.WorkflowVersion); err != nil {
			return err
		}
		for _, d := range st.Workflow.Steps {
			if d.Agent == "" || st.Agents[d.Agent] != nil {
				continue
			}
			if a, err := tx.Agent(ctx, d.Agent); err == nil {
				st.Agents[d.Agent] = a
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
		}
		if !records {
			return nil
		}
		if st.Tokens, err = tx.Tokens(ctx, store.TokenFilter{RunID: runID, Limit: maxStoryRecords}); err != nil {
			return err
		}
		slices.SortFunc(st.Tokens, func(a, b *store.Token) int { return a.IssuedAt.Compare(b.IssuedAt) })
		st.Audit, err = tx.Audit(ctx, store.AuditFilter{RunID: runID, Limit: maxStoryRecords})
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, errNotFound("no such run")
	}
	return st, err
}

// Runs lists runs, newest first.
func (s *Server) Runs(ctx context.Context, f store.RunFilter) (runs []*store.Run, err error) {
	err = s.store.View(ctx, func(tx store.Tx) error {
		runs, err = tx.Runs(ctx, f)
		return err
	})
	return runs, err
}

// Waiting is a run at an approval step that an operator may decide.
type Waiting struct {
	Run  *store.Run
	Step string
	// SelfApproval: the operator started this run and may only deny it.
	SelfApproval bool
}

// WaitingApprovals lists the active runs, newest first, with an approval
// step ready that op may approve or deny. It scans at most the
// console's approval_inbox_active_runs newest active runs.
func (s *Server) WaitingApprovals(ctx context.Context, op *Operator) ([]Waiting, error) {
	if !op.Can(RoleApprover) {
		return nil, nil
	}
	runs, err := s.Runs(ctx, store.RunFilter{Status: store.RunActive, Limit: s.cfg.Console.ApprovalScanLimit})
	if err != nil {
		return nil, err
	}
	var out []Waiting
	err = s.store.View(ctx, func(tx store.Tx) error {
		for _, run := range runs {
			if !op.approves(run.ClientID) {
				continue
			}
			wf, err := s.workflowDef(ctx, tx, run.WorkflowID, run.WorkflowVersion)
			if err != nil {
				return err
			}
			out = append(out, s.waitingSteps(op, run, wf)...)
		}
		return nil
	})
	return out, err
}

// WaitingIn is what of story's run waits for op's decision.
func (s *Server) WaitingIn(op *Operator, story *RunStory) []Waiting {
	if story.Run.Status != store.RunActive || !op.approves(story.Run.ClientID) {
		return nil
	}
	return s.waitingSteps(op, story.Run, story.Workflow)
}

// waitingSteps are run's approval steps that are ready, for op.
func (s *Server) waitingSteps(op *Operator, run *store.Run, wf *WorkflowDef) []Waiting {
	var out []Waiting
	for _, st := range run.Steps {
		if d := wf.step(st.ID); d != nil && d.Kind == kindApproval && st.State == store.StepReady {
			out = append(out, Waiting{Run: run, Step: st.ID, SelfApproval: s.mayOperatorApprove(op, run) != nil})
		}
	}
	return out
}

// Agents lists the registered agents by id (at most limit).
func (s *Server) Agents(ctx context.Context, limit int) (agents []*store.Agent, err error) {
	err = s.store.View(ctx, func(tx store.Tx) error {
		agents, err = tx.Agents(ctx, limit)
		return err
	})
	return agents, err
}

// AgentStory is an agent as registered now and the audit entries about
// it (registrations, revocation), newest first.
func (s *Server) AgentStory(ctx context.Context, agentID string) (*store.Agent, []*store.AuditEntry, error) {
	if err := s.store.FlushAudit(ctx); err != nil {
		return nil, nil, err
	}
	var a *store.Agent
	var history []*store.AuditEntry
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if a, err = tx.Agent(ctx, agentID); err != nil {
			return err
		}
		for _, ev := range []string{"register_agent", "revoke_agent"} {
			page, err := tx.Audit(ctx, store.AuditFilter{AgentID: agentID, Event: ev, Newest: true, Limit: 200})
			if err != nil {
				return err
			}
			history = append(history, page...)
		}
		return nil
	})
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, errNotFound("no such agent")
	}
	slices.SortFunc(history, func(x, y *store.AuditEntry) int { return int(y.Seq - x.Seq) })
	return a, history, err
}

// AuditEntries reads audit entries (flushing PostgreSQL's outbox first).
func (s *Server) AuditEntries(ctx context.Context, f store.AuditFilter) (entries []*store.AuditEntry, err error) {
	if err := s.store.FlushAudit(ctx); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx store.Tx) error {
		entries, err = tx.Audit(ctx, f)
		return err
	})
	return entries, err
}

// ChainStatus is the audit chain as verified up to its head.
type ChainStatus struct {
	Verified int64  // entries verified, from the genesis on
	Head     int64  // the head's sequence number as recorded
	HeadHash string // and its hash
	BadSeq   int64  // first bad entry, 0 when intact
	Problem  string
}

// Intact reports a chain verified up to its recorded head.
func (c ChainStatus) Intact() bool { return c.BadSeq == 0 && c.Verified == c.Head }

// chainWatch keeps what has been verified, so that each check reads only
// the entries added since the last one.
type chainWatch struct {
	mu sync.Mutex
	v  *store.AuditChainVerifier
	// at and hash: the last entry verified.
	at   int64
	hash string
}

// AuditChain verifies the audit log from where the last call stopped up
// to its recorded head, a page at a time.
func (s *Server) AuditChain(ctx context.Context) (ChainStatus, error) {
	if err := s.store.FlushAudit(ctx); err != nil {
		return ChainStatus{}, err
	}
	w := &s.chain
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.v == nil {
		w.v, w.hash = store.NewAuditChainVerifier(), store.AuditGenesis
	}
	var st ChainStatus
	err := s.store.View(ctx, func(tx store.Tx) error {
		var err error
		if st.Head, st.HeadHash, err = tx.AuditHead(ctx); err != nil {
			return err
		}
		for w.at < st.Head {
			page, err := tx.Audit(ctx, store.AuditFilter{After: w.at, Limit: 1000})
			if err != nil || len(page) == 0 {
				return err
			}
			w.v.Add(page)
			if bad, _ := w.v.Result(); bad != 0 {
				return nil
			}
			last := page[len(page)-1]
			w.at, w.hash = last.Seq, last.Hash
		}
		return nil
	})
	st.Verified = w.at
	st.BadSeq, st.Problem = w.v.Result()
	if st.BadSeq == 0 && st.Head < w.at {
		st.BadSeq, st.Problem = st.Head+1, "the log ends before entries verified earlier: truncated"
	}
	if st.BadSeq == 0 && w.at == st.Head && w.hash != st.HeadHash {
		st.BadSeq, st.Problem = st.Head, "the recorded head does not match the last entry"
	}
	return st, err
}
