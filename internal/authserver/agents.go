package authserver

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/ajwt/ajwt/internal/clip"
	"net/http"
	"slices"

	"github.com/ajwt/ajwt/agentspec"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/keys"
	"github.com/ajwt/ajwt/protocol"
)

// agentBody is the §4.1 registration body.
type agentBody struct {
	ClientID         string          `json:"client_id"`
	Spec             json.RawMessage `json:"spec"`
	PublicJWK        json.RawMessage `json:"public_jwk"`
	AgentChecksum    string          `json:"agent_checksum,omitempty"`
	Scopes           []string        `json:"scopes"`
	Audiences        []string        `json:"audiences"`
	MayDelegateTo    []string        `json:"may_delegate_to"`
	WorkflowRequired *bool           `json:"workflow_required"`
}

type agentResponse struct {
	AgentID        string          `json:"agent_id"`
	RegistrationID string          `json:"registration_id"`
	Version        int             `json:"version"`
	AgentChecksum  string          `json:"agent_checksum"`
	JKT            string          `json:"jkt"`
	ClientID       string          `json:"client_id,omitempty"`
	Scopes         []string        `json:"scopes,omitempty"`
	Audiences      []string        `json:"audiences,omitempty"`
	MayDelegateTo  []string        `json:"may_delegate_to,omitempty"`
	WorkflowReq    *bool           `json:"workflow_required,omitempty"`
	Revoked        *bool           `json:"revoked,omitempty"`
	Spec           json.RawMessage `json:"spec,omitempty"`
}

func (s *Server) handlePutAgent(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.apiCaller(r.Context(), r, "ajwt:admin")
	if err != nil {
		return err
	}
	var body agentBody
	if err := decodeJSON(w, r, protocol.MaxRegistrationBody, &body); err != nil {
		return err
	}
	a, created, err := s.registerAgent(r.Context(), r.PathValue("agent_id"), &body, caller.ClientID)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, agentResponse{AgentID: a.AgentID, RegistrationID: a.RegistrationID, Version: a.Version, AgentChecksum: a.Checksum, JKT: a.JKT})
	return nil
}

// buildAgent checks a registration body and turns it into a record
// (without version and registration id).
func (s *Server) buildAgent(id string, b *agentBody) (*store.Agent, error) {
	if !validID(id) {
		return nil, errBadRequest("agent_id must match %s", idPattern)
	}
	if s.clients[b.ClientID] == nil {
		return nil, errBadRequest("client_id %q is not a configured client", clip.Text(b.ClientID, clip.Short))
	}
	spec, err := agentspec.ParseJSON(b.Spec)
	if err != nil {
		return nil, errBadRequest("spec: %v", err)
	}
	if spec.AgentID != id {
		return nil, errBadRequest("spec.agent_id %q differs from the path's %q", spec.AgentID, id)
	}
	sum, err := agentspec.Sum(spec)
	if err != nil {
		return nil, errBadRequest("spec: %v", err)
	}
	if err := checkClaimedChecksum(b.AgentChecksum, sum); err != nil {
		return nil, err
	}
	jwk, err := keys.ParsePublicJWK(b.PublicJWK)
	if err != nil {
		return nil, errBadRequest("public_jwk: %v", err)
	}
	jkt, err := keys.Thumbprint(jwk)
	if err != nil {
		return nil, errBadRequest("public_jwk: %v", err)
	}
	if err := checkAgentLists(b); err != nil {
		return nil, err
	}
	canonicalSpec, _ := agentspec.Canonical(spec) // cannot fail: Sum succeeded
	return &store.Agent{
		AgentID: id, ClientID: b.ClientID, Checksum: string(sum), JKT: jkt, PublicJWK: b.PublicJWK,
		Spec: canonicalSpec, Scopes: b.Scopes, Audiences: b.Audiences, MayDelegateTo: b.MayDelegateTo,
		WorkflowRequired: b.WorkflowRequired == nil || *b.WorkflowRequired,
	}, nil
}

func checkClaimedChecksum(claimed string, sum agentspec.Checksum) error {
	if claimed == "" {
		return nil
	}
	c, err := agentspec.ParseChecksum(claimed)
	if err != nil {
		return errBadRequest("agent_checksum: want sha256:<64 lowercase hex>")
	}
	if !c.Equal(sum) {
		return newErr(protocol.CodeAgentChecksumMismatch, http.StatusBadRequest, "agent_checksum does not match the spec (server computed %s; `ajwt checksum --canonical FILE` shows the hashed form)", sum)
	}
	return nil
}

func checkAgentLists(b *agentBody) error {
	if len(b.Scopes) > 64 || len(b.Audiences) > 16 || len(b.MayDelegateTo) > 64 {
		return errBadRequest("too many scopes, audiences or delegates")
	}
	for _, sc := range b.Scopes {
		if !validScopeToken(sc) {
			return errBadRequest("malformed scope %q", clip.Text(sc, clip.Short))
		}
	}
	for _, a := range b.Audiences {
		if !validResource(a) {
			return errBadRequest("audience %q is not an absolute URI", clip.Text(a, clip.Short))
		}
	}
	for _, d := range b.MayDelegateTo {
		if !validID(d) {
			return errBadRequest("may_delegate_to: %q is not an agent id", clip.Text(d, clip.Short))
		}
	}
	return nil
}

// registerAgent stores a registration: 201 semantics for a new agent, a
// new version when spec, key or grants change (older versions' tokens are
// revoked), the same version for identical content.
func (s *Server) registerAgent(ctx context.Context, id string, b *agentBody, by string) (*store.Agent, bool, error) {
	a, err := s.buildAgent(id, b)
	if err != nil {
		return nil, false, err
	}
	if a.Spec, err = s.sealSpec(a.Spec); err != nil {
		return nil, false, err
	}
	created := false
	var revoked []*store.Revocation
	err = s.store.Update(ctx, func(tx store.Tx) error {
		// Locked: a concurrent re-registration or revocation must not
		// write over this one (a lost revocation, two "version n+1"s).
		old, err := tx.AgentForUpdate(ctx, id)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		created, revoked = old == nil, nil
		if old != nil && sameRegistration(old, a) {
			*a = *old
			return nil
		}
		s.nextVersion(a, old)
		if err := tx.PutAgent(ctx, a); err != nil {
			return err
		}
		if old != nil {
			if revoked, err = s.revokeOldVersion(ctx, tx, id, old.Version); err != nil {
				return err
			}
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: s.now(), Event: "register_agent", ClientID: a.ClientID, AgentID: id, Outcome: "ok", Detail: versionDetail(a, by)})
	})
	if err != nil {
		return nil, false, err
	}
	s.feed.notify(revoked)
	return a, created, nil
}

// revokeOldVersion publishes a re-registration. One feed entry revokes
// the agent's tokens of version old and older at every enforcer (they
// compare agent_proof.version), and checkRevoked compares the same version
// with the agent's: the agent's own tokens, however many, need no row
// each, and the transaction never reads them. Tokens delegated under the
// agent have another subject, whose version did not change: each is
// revoked with its own entry, with what was minted under it, however many
// (only delegated tokens are read: an index holds just those). Steps held
// through a delegation naming the agent are freed.
func (s *Server) revokeOldVersion(ctx context.Context, tx store.Tx, id string, old int) ([]*store.Revocation, error) {
	rev, err := s.revokeVersions(ctx, tx, id, old)
	if err != nil {
		return nil, err
	}
	delegated, err := tx.Tokens(ctx, store.TokenFilter{ChainAgent: id, Delegated: true, Active: true, Now: s.now()})
	if err != nil {
		return nil, err
	}
	var under []*store.Token
	var runs []string
	for _, t := range delegated {
		switch {
		case t.AgentID != id:
			under = append(under, t)
		case t.RunID != "": // delegated to the agent: the version covers it, its step is freed
			runs = append(runs, t.RunID)
		}
	}
	revs, more, err := s.cascadeUpTo(ctx, tx, under, 0)
	if err != nil {
		return nil, err
	}
	freed, err := s.releaseBroken(ctx, tx, append(runs, more...))
	return append(append([]*store.Revocation{rev}, revs...), freed...), err
}

func (s *Server) nextVersion(a, old *store.Agent) {
	a.Version, a.RegistrationID, a.UpdatedAt = 1, newID(), s.now()
	if old != nil {
		a.Version, a.RegistrationID = old.Version+1, old.RegistrationID
		a.Revoked, a.RevokedAt = old.Revoked, old.RevokedAt // revocation is permanent
	}
}

func versionDetail(a *store.Agent, by string) string {
	return "version=" + itoa(a.Version) + " checksum=" + a.Checksum + " jkt=" + a.JKT + " by=" + by
}

func sameRegistration(old, a *store.Agent) bool {
	return old.Checksum == a.Checksum && old.JKT == a.JKT && old.ClientID == a.ClientID &&
		slices.Equal(old.Scopes, a.Scopes) && slices.Equal(old.Audiences, a.Audiences) &&
		slices.Equal(old.MayDelegateTo, a.MayDelegateTo) && old.WorkflowRequired == a.WorkflowRequired
}

func (s *Server) handleGetAgent(w http.ResponseWriter, r *http.Request) error {
	claims, _, _, err := s.accessToken(r.Context(), r)
	if err != nil {
		return err
	}
	var a *store.Agent
	err = s.store.View(r.Context(), func(tx store.Tx) (err error) {
		a, err = tx.Agent(r.Context(), r.PathValue("agent_id"))
		return err
	})
	admin := claims.Intent == nil && claims.HasScope("ajwt:admin")
	if errors.Is(err, store.ErrNotFound) || (err == nil && !admin && a.ClientID != claims.ClientID) {
		return errNotFound("no such agent")
	}
	if err != nil {
		return err
	}
	resp := agentResponse{AgentID: a.AgentID, RegistrationID: a.RegistrationID, Version: a.Version, AgentChecksum: a.Checksum,
		JKT: a.JKT, ClientID: a.ClientID, Scopes: a.Scopes, Audiences: a.Audiences, MayDelegateTo: a.MayDelegateTo,
		WorkflowReq: &a.WorkflowRequired, Revoked: &a.Revoked}
	if r.URL.Query().Get("include") == "spec" {
		if !admin {
			return newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "include=spec requires ajwt:admin")
		}
		if resp.Spec, err = s.openSpec(a.Spec); err != nil {
			return err
		}
	}
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) handleRevokeAgent(w http.ResponseWriter, r *http.Request) error {
	caller, err := s.apiCaller(r.Context(), r, "ajwt:admin")
	if err != nil {
		return err
	}
	id := r.PathValue("agent_id")
	var revoked []*store.Revocation
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		a, err := tx.AgentForUpdate(r.Context(), id)
		if err != nil {
			return err
		}
		revoked, err = s.revokeAgent(r.Context(), tx, a, caller.ClientID)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound("no such agent")
	}
	if err != nil {
		return err
	}
	s.feed.notify(revoked)
	writeJSON(w, http.StatusOK, map[string]any{"agent_id": id, "revoked": true})
	return nil
}
