package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/anishathalye/porcupine"
)

// The sequential specification of one run (PROTOCOL.md §5, §6.2) that the
// linearizability check holds the two IdPs' concurrent history to.

// linSteps is the workflow every run follows:
//
//	s1 (a1) ─┐
//	         ├─ ap (approval) ── s2 (a1) ── s3 (a2)
//	p  (a2) ─┘
var linSteps = []struct {
	id, agent string // agent "": an approval step
	deps      []string
}{
	{"s1", "a1", nil},
	{"p", "a2", nil},
	{"ap", "", []string{"s1", "p"}},
	{"s2", "a1", []string{"ap"}},
	{"s3", "a2", []string{"s2"}},
}

func linStepIndex(id string) int {
	for i, st := range linSteps {
		if st.id == id {
			return i
		}
	}
	panic("no step " + id)
}

const (
	linPending    = "pending"
	linReady      = "ready"
	linInProgress = "in_progress"
	linCompleted  = "completed"
)

// linState is one run: each step's state and, while in progress, holder.
// Comparable, so porcupine can compare and cache states.
type linState struct {
	state  [5]string
	holder [5]string
}

func linInit() linState {
	var s linState
	for i, st := range linSteps {
		s.state[i] = linPending
		if len(st.deps) == 0 {
			s.state[i] = linReady
		}
	}
	return s
}

func (s linState) status() string {
	for _, st := range s.state {
		if st != linCompleted {
			return "active"
		}
	}
	return "completed"
}

// complete marks step i completed and readies the steps it unblocks.
func (s linState) complete(i int) linState {
	s.state[i], s.holder[i] = linCompleted, ""
	for j, st := range linSteps {
		if s.state[j] != linPending {
			continue
		}
		ready := true
		for _, d := range st.deps {
			ready = ready && s.state[linStepIndex(d)] == linCompleted
		}
		if ready {
			s.state[j] = linReady
		}
	}
	return s
}

// linInput is one request: a grant, complete or approve of a step by an
// agent (or the approver), or a read of the run, on one node.
type linInput struct {
	run   string
	op    string // grant | complete | approve | get
	agent string
	step  string
	node  int
}

// linOutput: whether the request succeeded and, with 200, the run view it
// returned (complete, approve, get).
type linOutput struct {
	ok     bool
	status int
	view   *linView
}

type linView struct {
	status string
	state  [5]string
}

func (v *linView) String() string {
	var b strings.Builder
	b.WriteString(v.status)
	for i, st := range v.state {
		fmt.Fprintf(&b, " %s=%s", linSteps[i].id, st)
	}
	return b.String()
}

// linStep is the specification: what each request may answer in state s,
// and the state after it.
func linStep(s linState, in linInput, out linOutput) (bool, linState) {
	var may bool
	next := s
	switch in.op {
	case "grant":
		i := linStepIndex(in.step)
		may = linSteps[i].agent == in.agent &&
			(s.state[i] == linReady || (s.state[i] == linInProgress && s.holder[i] == in.agent))
		if may {
			next.state[i], next.holder[i] = linInProgress, in.agent
		}
	case "complete":
		i := linStepIndex(in.step)
		may = s.state[i] == linInProgress && s.holder[i] == in.agent
		if may {
			next = s.complete(i)
		}
	case "approve":
		i := linStepIndex(in.step)
		may = linSteps[i].agent == "" && s.state[i] == linReady
		if may {
			next = s.complete(i)
		}
	case "get":
		may = true
	}
	if out.ok != may {
		return false, s
	}
	if out.ok && out.view != nil && (out.view.state != next.state || out.view.status != next.status()) {
		return false, s
	}
	return true, next
}

var linModel = porcupine.Model{
	Partition: func(history []porcupine.Operation) [][]porcupine.Operation {
		byRun := map[string][]porcupine.Operation{}
		var order []string
		for _, op := range history {
			r := op.Input.(linInput).run
			if _, ok := byRun[r]; !ok {
				order = append(order, r)
			}
			byRun[r] = append(byRun[r], op)
		}
		out := make([][]porcupine.Operation, 0, len(order))
		for _, r := range order {
			out = append(out, byRun[r])
		}
		return out
	},
	Init: func() any { return linInit() },
	Step: func(state, input, output any) (bool, any) {
		return linStep(state.(linState), input.(linInput), output.(linOutput))
	},
	Equal: func(a, b any) bool { return a.(linState) == b.(linState) },
	DescribeOperation: func(input, output any) string {
		in, out := input.(linInput), output.(linOutput)
		s := fmt.Sprintf("node%d %s %s %s → %d", in.node, in.op, in.agent, in.step, out.status)
		if out.view != nil {
			s += " [" + out.view.String() + "]"
		}
		return s
	},
	DescribeState: func(state any) string {
		s := state.(linState)
		return (&linView{status: s.status(), state: s.state}).String()
	},
}

// TestLinearizabilityModel: the specification accepts a valid history and
// rejects the failures the check is there to catch. No services needed.
func TestLinearizabilityModel(t *testing.T) {
	view := func(states ...string) *linView {
		v := &linView{status: "active"}
		copy(v.state[:], states)
		return v
	}
	op := func(client int, call, ret int64, in linInput, ok bool, v *linView) porcupine.Operation {
		in.run = "r"
		return porcupine.Operation{ClientId: client, Input: in, Call: call, Output: linOutput{ok: ok, view: v}, Return: ret}
	}
	grant := func(agent, step string) linInput { return linInput{op: "grant", agent: agent, step: step} }
	complete := func(agent, step string) linInput { return linInput{op: "complete", agent: agent, step: step} }
	s1Done := view(linCompleted, linReady, linPending, linPending, linPending)
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    bool
	}{
		{"grant, then two racing completions, one wins", []porcupine.Operation{
			op(0, 0, 1, grant("a1", "s1"), true, nil),
			op(0, 2, 5, complete("a1", "s1"), true, s1Done),
			op(1, 3, 6, complete("a1", "s1"), false, nil),
		}, true},
		{"a step completed twice", []porcupine.Operation{
			op(0, 0, 1, grant("a1", "s1"), true, nil),
			op(0, 2, 5, complete("a1", "s1"), true, s1Done),
			op(1, 3, 6, complete("a1", "s1"), true, s1Done),
		}, false},
		{"a completion before the step was granted", []porcupine.Operation{
			op(1, 0, 1, complete("a1", "s1"), true, s1Done),
			op(0, 2, 3, grant("a1", "s1"), true, nil),
		}, false},
		{"a pending step granted", []porcupine.Operation{
			op(0, 0, 1, grant("a1", "s2"), true, nil),
		}, false},
		{"the wrong agent granted", []porcupine.Operation{
			op(0, 0, 1, grant("a2", "s1"), true, nil),
		}, false},
		{"a ready approval refused", []porcupine.Operation{
			op(0, 0, 1, grant("a1", "s1"), true, nil),
			op(0, 2, 3, complete("a1", "s1"), true, s1Done),
			op(0, 4, 5, grant("a2", "p"), true, nil),
			op(0, 6, 7, complete("a2", "p"), true, view(linCompleted, linCompleted, linReady, linPending, linPending)),
			op(1, 8, 9, linInput{op: "approve", step: "ap"}, false, nil),
		}, false},
		{"a read that goes back in time", []porcupine.Operation{
			op(0, 0, 1, grant("a1", "s1"), true, nil),
			op(0, 2, 3, complete("a1", "s1"), true, s1Done),
			op(1, 4, 5, linInput{op: "get"}, true, view(linInProgress, linReady, linPending, linPending, linPending)),
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := porcupine.CheckOperations(linModel, tt.history); got != tt.want {
				t.Fatalf("linearizable = %v, want %v", got, tt.want)
			}
		})
	}
}
