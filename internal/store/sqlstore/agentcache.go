package sqlstore

import (
	"bytes"
	"slices"
	"sync/atomic"

	"github.com/ajwt/ajwt/internal/boundedmap"
	"github.com/ajwt/ajwt/internal/store"
)

// agentCache keeps agent records read by View on SQLite, where this
// process is the database's only writer: every grant reads its agent, and
// registrations change rarely. PostgreSQL has none (other nodes write).
//
// Invalidation is by generation: the writer bumps gen after committing a
// batch that wrote an agent, and an entry is used only while its gen is
// current. An entry stored with generation g was read after g was loaded,
// hence after the commit that set g, and no agent was committed since (or
// gen would have moved on); a read racing a commit stores its entry under
// the older generation, where nobody uses it.
type agentCache struct {
	gen     atomic.Uint64
	entries *boundedmap.Map[string, agentEntry]
}

type agentEntry struct {
	gen   uint64
	agent *store.Agent
}

const maxCachedAgents = 10_000

func newAgentCache() *agentCache {
	return &agentCache{entries: boundedmap.New[string, agentEntry](maxCachedAgents)}
}

// get returns a copy of a current entry and the generation to store a
// fresh read under.
func (c *agentCache) get(id string) (*store.Agent, uint64) {
	g := c.gen.Load()
	if e, ok := c.entries.Get(id); ok && e.gen == g {
		return cloneAgent(e.agent), g
	}
	return nil, g
}

func (c *agentCache) put(id string, g uint64, a *store.Agent) {
	c.entries.Put(id, agentEntry{g, cloneAgent(a)})
}

// invalidate is called after a commit that wrote agents.
func (c *agentCache) invalidate() { c.gen.Add(1) }

// cloneAgent copies what a caller could modify in place.
func cloneAgent(a *store.Agent) *store.Agent {
	out := *a
	out.PublicJWK, out.Spec = bytes.Clone(a.PublicJWK), bytes.Clone(a.Spec)
	out.Scopes, out.Audiences, out.MayDelegateTo = slices.Clone(a.Scopes), slices.Clone(a.Audiences), slices.Clone(a.MayDelegateTo)
	return &out
}
