package authserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// tokenResponse is the RFC 6749 §5.1 body plus the §6.2 extras.
type tokenResponse struct {
	AccessToken     string `json:"access_token"`
	TokenType       string `json:"token_type"`
	ExpiresIn       int64  `json:"expires_in"`
	Scope           string `json:"scope,omitempty"`
	RunID           string `json:"run_id,omitempty"`
	WorkflowStep    string `json:"workflow_step,omitempty"`
	IssuedTokenType string `json:"issued_token_type,omitempty"`
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) error {
	form, err := parseForm(w, r)
	if err != nil {
		return err
	}
	grant := form.Get("grant_type")
	c, err := s.authenticateClient(r.Context(), r, form)
	if err != nil {
		s.metrics.refused(grantLabel(grant), err)
		if _, pass, ok := r.BasicAuth(); ok && pass != "" {
			w.Header().Set("WWW-Authenticate", `Basic realm="ajwt"`)
		}
		return err
	}
	noteGrant(r.Context(), c.id, form)
	if err := s.requests.allow(c.id); err != nil {
		s.metrics.refused(grantLabel(grant), err)
		setRetryAfter(w, err)
		return err
	}
	if err := s.limiter.allowKeys(grantKey(c.id, grant, form.Get("agent_id"))); err != nil {
		s.metrics.refused(grantLabel(grant), err)
		setRetryAfter(w, err)
		return err
	}
	resp, err := s.grant(r, c, grant, form)
	if err != nil {
		if isInternal(err) {
			err = unavailable(err)
		}
		s.refuseGrant(r.Context(), c, grant, form, err)
		return err
	}
	s.metrics.issued(grantLabel(grant))
	writeJSON(w, http.StatusOK, resp)
	return nil
}

func (s *Server) grant(r *http.Request, c *client, grant string, form url.Values) (*tokenResponse, error) {
	switch grant {
	case protocol.GrantClientCredentials:
		return s.grantClientCredentials(r, c, form)
	case protocol.GrantAgentChecksum:
		return s.grantAgent(r, c, form)
	case protocol.GrantTokenExchange:
		return s.grantExchange(r, c, form)
	case "":
		return nil, errBadRequest("grant_type is required")
	}
	return nil, newErr(protocol.CodeUnsupportedGrantType, http.StatusBadRequest, "unsupported grant_type")
}

func grantLabel(g string) string {
	switch g {
	case protocol.GrantClientCredentials:
		return "client_credentials"
	case protocol.GrantAgentChecksum:
		return "agent_checksum"
	case protocol.GrantTokenExchange:
		return "token_exchange"
	}
	return "other"
}

// refuseGrant audits a refused grant and, when the caller caused it,
// counts it against the failure limit of the agent or client.
func (s *Server) refuseGrant(ctx context.Context, c *client, grant string, form url.Values, err error) {
	s.metrics.refused(grantLabel(grant), err)
	agentID := form.Get("agent_id")
	if !validID(agentID) {
		agentID = ""
	}
	if callerFault(err) {
		s.limiter.failKeys(grantKey(c.id, grant, agentID))
	}
	_, wire := protocol.Wire(err)
	s.audit(ctx, &store.AuditEntry{
		Event: "grant", ClientID: c.id, AgentID: agentID, RunID: safeRef(form.Get("run_id")),
		Step: safeRef(form.Get("workflow_step")), Outcome: "refused:" + wire.Error, Detail: grantLabel(grant) + " reason=" + wire.Reason,
	})
}

// safeRef keeps an identifier from a request out of the audit log unless it
// has the shape of one of our identifiers.
func safeRef(s string) string {
	if len(s) <= 64 && validRunOrID(s) {
		return s
	}
	return ""
}

func validRunOrID(s string) bool {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return s != ""
}

// respond signs claims and builds the token response.
func (s *Server) respond(claims *token.Claims, tokenType string) (*tokenResponse, error) {
	issuer := s.keyring.Issuer()
	raw, err := issuer.Mint(claims)
	if err != nil {
		return nil, err
	}
	if claims.Intent != nil && claims.Intent.RunID != "" {
		s.verifier.minted(raw, issuer.KeyID()) // its agent presents it here to complete the step
	}
	resp := &tokenResponse{AccessToken: raw, TokenType: tokenType, ExpiresIn: claims.ExpiresAt - claims.IssuedAt, Scope: claims.Scope}
	if claims.Intent != nil {
		resp.RunID, resp.WorkflowStep = claims.Intent.RunID, claims.Intent.WorkflowStep
	}
	return resp, nil
}

// newID returns 128 random bits, base64url: token, run and registration ids.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func setRetryAfter(w http.ResponseWriter, err error) {
	var rl *rateLimited
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(rl.retryAfter/time.Second)+1))
	}
}

// audit appends an entry in its own transaction; a failure is logged, never
// returned, because it happens on paths that already failed.
func (s *Server) audit(ctx context.Context, e *store.AuditEntry) {
	if e.Time.IsZero() {
		e.Time = s.now()
	}
	ctx = context.WithoutCancel(ctx)
	err := s.store.Update(ctx, func(tx store.Tx) error { return tx.AppendAudit(ctx, e) })
	if err != nil {
		s.log.Error("audit append failed", "event", e.Event, "err", err)
	}
}

func unix(sec int64) time.Time { return time.Unix(sec, 0) }
