package authserver

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// bulkTokens records n live tokens of agent at version directly in the
// store, as n grants would have.
func (h *harness) bulkTokens(agent string, version int, chain []string, n int) []*store.Token {
	h.t.Helper()
	now := h.clock.Now()
	toks := make([]*store.Token, n)
	err := h.st.Update(context.Background(), func(tx store.Tx) error {
		for i := range toks {
			toks[i] = &store.Token{JTI: fmt.Sprintf("bulk-%s-%d", agent, i), Kind: store.TokenIntent, ClientID: "app", AgentID: agent,
				Version: version, JKT: "k", Scope: "repo:read", Audience: "https://forge.example", Chain: chain,
				IssuedAt: now, ExpiresAt: now.Add(5 * time.Minute)}
			if err := tx.PutToken(context.Background(), toks[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		h.t.Fatal(err)
	}
	return toks
}

// claimsOf is what the token behind a record would carry.
func claimsOf(t *store.Token) *token.Claims {
	return &token.Claims{ID: t.JTI, Subject: t.AgentID, ClientID: t.ClientID, IssuedAt: t.IssuedAt.Unix(), ExpiresAt: t.ExpiresAt.Unix(),
		AgentProof: &token.AgentProof{Version: t.Version}, Intent: &token.Intent{ExecutedBy: t.AgentID, DelegationChain: t.Chain}}
}

func feedEntries(t *testing.T, res *response) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, e := range res.body["revoked"].([]any) {
		out = append(out, e.(map[string]any))
	}
	return out
}

// TestReRegistrationAtScale: re-registering an agent that holds 12,500
// live tokens refuses every one of them (at the IdP by comparing the
// token's registration version with the agent's; at enforcers by the one
// version entry on the feed) without a row per token: what the PUT's
// transaction reads and writes does not grow with the agent's tokens.
// Tokens delegated under the agent, whose subject is another agent, still
// get their own entries, and the steps delegated under it are freed.
func TestReRegistrationAtScale(t *testing.T) {
	t.Run("own tokens", func(t *testing.T) {
		h, cs := newCountingHarness(t, testConfig)
		loner := map[string]any{"workflow_required": false, "audiences": []string{"https://forge.example"}}
		h.registerAgent("loner", "app", []string{"repo:read"}, loner)
		granted := h.mustGrant("app", "loner", "", "", nil)
		bulk := h.bulkTokens("loner", 1, []string{"loner"}, 12_500)
		cursor := h.feed("").str("cursor")

		cs.reset()
		h.registerAgent("loner", "app", []string{"repo:read"}, loner) // a new key: version 2
		if added, revoked, read := cs.revocations.Load(), cs.revokedTokens.Load(), cs.tokenRows.Load(); added != 1 || revoked != 0 || read != 0 {
			t.Errorf("the re-registration wrote %d feed entries and revoked %d token records, reading %d; want 1, 0 and 0", added, revoked, read)
		}
		entries := feedEntries(t, h.feed(cursor))
		if len(entries) != 1 || entries[0]["type"] != store.RevokedAgent || entries[0]["id"] != "loner" || entries[0]["version"] != 1.0 {
			t.Fatalf("feed after the re-registration: %d entries, first %v", len(entries), entries[:min(3, len(entries))])
		}
		if h.introspect(granted) {
			t.Fatal("a token of the replaced version is active")
		}
		for _, tok := range bulk {
			if err := h.srv.checkRevoked(context.Background(), claimsOf(tok)); !errors.Is(err, protocol.ErrAgentRevokedToken) {
				t.Fatalf("token %s of the replaced version: %v", tok.JTI, err)
			}
		}
		if fresh := h.mustGrant("app", "loner", "", "", nil); !h.introspect(fresh) {
			t.Fatal("a token of the new version is inactive")
		}
	})
	t.Run("tokens delegated under it", func(t *testing.T) {
		h, cs := newCountingHarness(t, testConfig)
		h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
		h.registerAgent("worker", "app", []string{"repo:read"}, nil)
		h.registerWorkflow("w", map[string]any{"steps": []map[string]any{
			{"id": "lead", "agent": "boss", "scopes": []string{"repo:read"}, "audience": "https://forge.example"},
			{"id": "work", "agent": "worker", "scopes": []string{"repo:read"}, "audience": "https://forge.example", "delegated_by": []string{"boss"}},
		}})
		run := h.startRun("app", "w", nil)
		bossTok := h.mustGrant("app", "boss", run, "lead", nil)
		workTok := h.mustDelegate("boss", "worker", run, "work", "d1")
		h.bulkTokens("boss", 1, []string{"boss"}, 2_000)
		cursor := h.feed("").str("cursor")

		cs.reset()
		h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
		entries := feedEntries(t, h.feed(cursor))
		workJTI := h.verify(workTok).ID
		if len(entries) != 2 || entries[0]["id"] != "boss" || entries[0]["version"] != 1.0 ||
			entries[1]["type"] != store.RevokedToken || entries[1]["id"] != workJTI {
			t.Fatalf("feed after the re-registration: %d entries, first %v; want boss's version entry and the delegated token %s",
				len(entries), entries[:min(3, len(entries))], workJTI)
		}
		if added := cs.revocations.Load(); added != 2 {
			t.Errorf("%d feed entries written, want 2", added)
		}
		if h.introspect(bossTok) || h.introspect(workTok) {
			t.Fatal("a token of the old registration or delegated under it is active")
		}
		if got := h.stepState(run, "work"); got != store.StepReady {
			t.Fatalf("the step delegated under the old registration is %s, want ready", got)
		}
		if got := h.stepState(run, "lead"); got != store.StepInProgress {
			t.Fatalf("boss's own step is %s: a new version may renew it", got)
		}
	})
	t.Run("no delegation hangs off an old version's token", func(t *testing.T) {
		// The old version's tokens stay unrevoked in the store: a
		// delegation must not take one as its parent.
		h := delegationFixture(t)
		run := h.startRun("app", "w", nil)
		h.mustGrant("app", "boss", run, "lead", nil)
		h.registerAgent("boss", "app", []string{"repo:read"}, map[string]any{"may_delegate_to": []string{"worker"}})
		wantError(t, h.delegate("boss", "worker", run, "work", "d1"), 403, "invalid_delegation")
		h.mustGrant("app", "boss", run, "lead", nil) // the new version renews its step
		c := h.verify(h.mustDelegate("boss", "worker", run, "work", "d2"))
		if len(c.Intent.DelegationChain) != 2 {
			t.Fatalf("chain %v", c.Intent.DelegationChain)
		}
	})
}
