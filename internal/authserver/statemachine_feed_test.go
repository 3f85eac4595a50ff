package authserver

import (
	"encoding/json"
	"net/http"
	"net/url"

	"pgregory.net/rapid"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/token"
)

// feedView is what an enforcer knows from the §9 feed: revoked token ids,
// and agents, runs and clients revoked at a time. An agent entry with a
// version (re-registration) revokes that agent's tokens up to it.
type feedView struct {
	cursor  string
	tokens  map[string]bool
	agents  map[string][]feedEntryView
	runs    map[string]int64
	clients map[string]int64
}

type feedEntryView struct {
	at      int64
	version int
}

func newFeedView() *feedView {
	return &feedView{tokens: map[string]bool{}, agents: map[string][]feedEntryView{}, runs: map[string]int64{}, clients: map[string]int64{}}
}

// poll reads the feed from the cursor on until it is drained.
func (s *smServer) pollFeed(t rapid.TB) {
	t.Helper()
	for {
		res := s.call(t, http.MethodGet, "/v1/revocations?since="+url.QueryEscape(s.feed.cursor), "", nil)
		if res.status != http.StatusOK {
			t.Fatalf("feed: %s", res)
		}
		var page struct {
			Cursor  string `json:"cursor"`
			Revoked []struct {
				Type    string `json:"type"`
				ID      string `json:"id"`
				At      int64  `json:"at"`
				Version int    `json:"version"`
			} `json:"revoked"`
		}
		if err := json.Unmarshal(res.raw, &page); err != nil {
			t.Fatalf("feed: %v", err)
		}
		for _, e := range page.Revoked {
			switch e.Type {
			case store.RevokedToken:
				s.feed.tokens[e.ID] = true
			case store.RevokedAgent:
				s.feed.agents[e.ID] = append(s.feed.agents[e.ID], feedEntryView{at: e.At, version: e.Version})
			case store.RevokedRun:
				s.feed.runs[e.ID] = max(s.feed.runs[e.ID], e.At)
			case store.RevokedClient:
				s.feed.clients[e.ID] = max(s.feed.clients[e.ID], e.At)
			default:
				t.Fatalf("feed entry of unknown type %q", e.Type)
			}
		}
		s.feed.cursor = page.Cursor
		if len(page.Revoked) < feedPage {
			return
		}
	}
}

// refuses: would an enforcer that follows the feed refuse c (§8, §9)? An
// agent entry refuses every token naming the agent in its chain (§8), a
// version entry the agent's own tokens up to that version, a run or client
// entry the tokens issued at or before it.
func (f *feedView) refuses(c *token.Claims) bool {
	if f.tokens[c.ID] {
		return true
	}
	if at, ok := f.clients[c.ClientID]; ok && at >= c.IssuedAt {
		return true
	}
	if at, ok := f.runs[c.Intent.RunID]; ok && at >= c.IssuedAt {
		return true
	}
	for _, id := range c.Intent.DelegationChain {
		for _, e := range f.agents[id] {
			switch {
			case e.version == 0:
				return true
			case e.version > 0 && id == c.Subject && c.AgentProof.Version <= e.version:
				return true
			}
		}
	}
	return false
}
