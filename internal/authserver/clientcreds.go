package authserver

import (
	"context"
	"github.com/ajwt/ajwt/internal/clip"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// grantClientCredentials issues the legacy client token (§6.1): Bearer, or
// bound to the key of the request's DPoP proof when it carries one
// (RFC 9449 §5).
func (s *Server) grantClientCredentials(r *http.Request, c *client, form url.Values) (*tokenResponse, error) {
	jkt, err := s.optionalProofKey(r)
	if err != nil {
		return nil, err
	}
	requested, err := scopeList(form.Get("scope"))
	if err != nil {
		return nil, err
	}
	for _, sc := range requested {
		if !c.hasScope(sc) {
			return nil, newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "scope %q not allowed for this client", clip.Text(sc, clip.Short))
		}
	}
	aud, err := s.legacyAudience(c, form.Get("resource"))
	if err != nil {
		return nil, err
	}
	granted, err := s.legacyScope(c, requested, aud)
	if err != nil {
		return nil, err
	}
	return s.issueClientToken(r.Context(), c, aud, strings.Join(granted, " "), jkt)
}

// optionalProofKey is the thumbprint of the request's DPoP proof key, or
// "" without a DPoP header. A header that is there but does not hold one
// valid proof is refused (§6.1): the client asked for a bound token, and a
// Bearer one in its place would be a silent downgrade.
func (s *Server) optionalProofKey(r *http.Request) (string, error) {
	if _, sent := r.Header[http.CanonicalHeaderKey("DPoP")]; !sent {
		return "", nil
	}
	p, err := s.checkNewKeyProof(r.Context(), r)
	if err != nil {
		return "", err
	}
	return p.JKT, nil
}

func (s *Server) issueClientToken(ctx context.Context, c *client, aud, scope, jkt string) (*tokenResponse, error) {
	now := s.now()
	claims := &token.Claims{
		Subject: c.id, Audience: token.Audience{aud}, ClientID: c.id,
		IssuedAt: now.Unix(), ExpiresAt: now.Add(s.cfg.TokenTTL).Unix(), ID: newID(), Scope: scope,
	}
	tokenType := "Bearer"
	if jkt != "" {
		claims.Cnf, tokenType = &token.Confirmation{JKT: jkt}, "DPoP"
	}
	rec := &store.Token{JTI: claims.ID, Kind: store.TokenLegacy, ClientID: c.id, JKT: jkt, Scope: scope, Audience: aud,
		IssuedAt: now, ExpiresAt: now.Add(s.cfg.TokenTTL)}
	err := s.store.Update(ctx, func(tx store.Tx) error {
		if err := tx.PutToken(ctx, rec); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, &store.AuditEntry{Time: now, Event: "grant", ClientID: c.id, Outcome: "issued", Detail: "client_credentials"})
	})
	if err != nil {
		return nil, err
	}
	return s.respond(claims, tokenType)
}

func (s *Server) legacyAudience(c *client, resource string) (string, error) {
	if resource == "" {
		return s.cfg.Issuer, nil
	}
	if !validResource(resource) {
		return "", newErr(protocol.CodeInvalidTarget, http.StatusBadRequest, "resource must be an absolute URI")
	}
	if len(c.audiences) > 0 && !slices.Contains(c.audiences, resource) && resource != s.cfg.Issuer {
		return "", newErr(protocol.CodeInvalidTarget, http.StatusBadRequest, "resource not allowed for this client")
	}
	return resource, nil
}

// legacyScope is the scope of a client token for aud (§4): the requested
// scopes (already checked against the client's), by default all the
// client's. The IdP's own ajwt: scopes go only into tokens for the issuer:
// a token for a resource server, which that server may replay, must never
// open the IdP's APIs. Nothing to grant is invalid_scope, never a token
// without scope.
func (s *Server) legacyScope(c *client, requested []string, aud string) ([]string, error) {
	forIssuer := aud == s.cfg.Issuer
	if len(requested) > 0 {
		for _, sc := range requested {
			if !forIssuer && isIdPScope(sc) {
				return nil, newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "scope %q is granted only for the issuer's audience", clip.Text(sc, clip.Short))
			}
		}
		return requested, nil
	}
	granted := c.scopes
	if !forIssuer {
		granted = slices.DeleteFunc(slices.Clone(c.scopes), isIdPScope)
	}
	if len(granted) == 0 {
		return nil, newErr(protocol.CodeInvalidScope, http.StatusBadRequest, "no scope this client may have for this audience")
	}
	return granted, nil
}

// isIdPScope reports an ajwt: scope, one that opens the IdP's own APIs.
func isIdPScope(sc string) bool { return strings.HasPrefix(sc, "ajwt:") }
