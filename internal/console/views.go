package console

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/ajwt/ajwt/internal/authserver"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

func badRequest(msg string) error {
	return &protocol.Error{Code: protocol.CodeInvalidRequest, Status: http.StatusBadRequest, Description: msg}
}

// stepRow is one workflow step of a run as the pages show it.
type stepRow struct {
	ID, Kind, Agent string
	Checksum        string // the agent's registered checksum now
	AgentRevoked    bool
	DependsOn       []string
	DelegatedBy     []string
	store.Step
	Tokens []*store.Token
}

// Delegation is the holder's chain, delegator first, when it has one.
func (s stepRow) Delegation() string {
	if len(s.Chain) < 2 {
		return ""
	}
	return strings.Join(s.Chain, " → ")
}

func stepRows(st *authserver.RunStory, tokens []*store.Token) []stepRow {
	rows := make([]stepRow, 0, len(st.Run.Steps))
	for _, step := range st.Run.Steps {
		row := stepRow{ID: step.ID, Step: step}
		for _, d := range st.Workflow.Steps {
			if d.ID == step.ID {
				row.Kind, row.Agent, row.DependsOn, row.DelegatedBy = d.Kind, d.Agent, d.DependsOn, d.DelegatedBy
			}
		}
		if a := st.Agents[row.Agent]; a != nil {
			row.Checksum, row.AgentRevoked = a.Checksum, a.Revoked
		}
		for _, t := range tokens {
			if t.StepID == step.ID {
				row.Tokens = append(row.Tokens, t)
			}
		}
		rows = append(rows, row)
	}
	return rows
}

// auditRow is an entry with what the console could check of it.
type auditRow struct {
	*store.AuditEntry
	HashOK  bool // the entry's hash matches its content
	Chained bool // it lies in the part of the chain verified intact
}

func auditRows(entries []*store.AuditEntry, chain authserver.ChainStatus) []auditRow {
	rows := make([]auditRow, len(entries))
	for i, e := range entries {
		intactUpTo := chain.Verified
		if chain.BadSeq != 0 {
			intactUpTo = min(intactUpTo, chain.BadSeq-1)
		}
		rows[i] = auditRow{AuditEntry: e, HashOK: store.HashAudit(e) == e.Hash, Chained: e.Seq <= intactUpTo}
	}
	return rows
}

// dag is a workflow drawn left to right: a step's column is the length of
// the longest dependency path to it, so every edge points right.
type dag struct {
	Width, Height int
	Nodes         []dagNode
	Edges         []string // SVG path data
}

type dagNode struct {
	X, Y, W, H int
	ID, Sub    string
	State      string
	Approval   bool
}

const (
	nodeW, nodeH = 132, 44
	colGap       = 48
	rowGap       = 20
	margin       = 10
)

func layoutDAG(st *authserver.RunStory) dag {
	defs := st.Workflow.Steps
	col := map[string]int{}
	var depth func(id string, seen int) int
	depth = func(id string, seen int) int {
		if c, ok := col[id]; ok || seen > len(defs) { // validated acyclic; the bound is a guard
			return c
		}
		c := 0
		for _, d := range defs {
			if d.ID == id {
				for _, dep := range d.DependsOn {
					c = max(c, depth(dep, seen+1)+1)
				}
			}
		}
		col[id] = c
		return c
	}
	rowsIn := map[int]int{}
	pos := map[string][2]int{}
	var g dag
	state := map[string]string{}
	for _, s := range st.Run.Steps {
		state[s.ID] = s.State
	}
	for _, d := range defs {
		c := depth(d.ID, 0)
		r := rowsIn[c]
		rowsIn[c]++
		x, y := margin+c*(nodeW+colGap), margin+r*(nodeH+rowGap)
		pos[d.ID] = [2]int{x, y}
		sub := d.Agent
		if d.Kind == "approval" {
			sub = "approval"
		}
		g.Nodes = append(g.Nodes, dagNode{X: x, Y: y, W: nodeW, H: nodeH, ID: d.ID, Sub: sub, State: state[d.ID], Approval: d.Kind == "approval"})
		g.Width, g.Height = max(g.Width, x+nodeW+margin), max(g.Height, y+nodeH+margin)
	}
	for _, d := range defs {
		to := pos[d.ID]
		for _, dep := range d.DependsOn {
			from := pos[dep]
			x1, y1, x2, y2 := from[0]+nodeW, from[1]+nodeH/2, to[0]-6, to[1]+nodeH/2
			g.Edges = append(g.Edges, fmt.Sprintf("M%d %d C%d %d %d %d %d %d", x1, y1, (x1+x2)/2, y1, (x1+x2)/2, y2, x2, y2))
		}
	}
	return g
}
