package authserver

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// checkProof verifies the request's DPoP proof for this endpoint (htu is
// built from the configured issuer, never from the Host header), bound to
// jkt and, when accessToken is set, to that token (ath).
func (s *Server) checkProof(ctx context.Context, r *http.Request, jkt, accessToken string) (*dpop.Proof, error) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return nil, tokenEndpointProofErr(protocol.ErrMissingProof.WithDescription("DPoP proof required"))
	}
	if len(proofs) > 1 {
		return nil, tokenEndpointProofErr(protocol.ErrMalformedProof.WithDescription("exactly one DPoP header allowed"))
	}
	p, err := s.proofs.Verify(ctx, dpop.Request{
		Proof: proofs[0], Method: r.Method, URL: s.cfg.Issuer + r.URL.EscapedPath(), AccessToken: accessToken, JKT: jkt,
	})
	if err != nil {
		return nil, tokenEndpointProofErr(err)
	}
	return p, nil
}

// tokenEndpointProofErr gives proof failures the token endpoint's status
// (400, §6.2) while keeping code and reason.
func tokenEndpointProofErr(err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return protocol.ErrMalformedProof.Wrap(err)
	}
	c := *pe
	c.Status = http.StatusBadRequest
	return &c
}

// accessToken extracts and verifies an access token presented with scheme
// Bearer or DPoP. It returns the claims and the scheme used.
func (s *Server) accessToken(ctx context.Context, r *http.Request) (*token.Claims, string, string, error) {
	h := r.Header.Get("Authorization")
	scheme, raw, ok := strings.Cut(h, " ")
	if !ok || raw == "" || (!strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP")) {
		return nil, "", "", protocol.ErrMalformedToken.WithDescription("want Authorization: Bearer or DPoP access token")
	}
	claims, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", "", err
	}
	if err := s.checkRevoked(ctx, claims); err != nil {
		return nil, "", "", err
	}
	return claims, strings.ToLower(scheme), raw, nil
}

// apiCaller authenticates a legacy (client) token for the admin and run
// APIs: it must be addressed to the issuer and carry the scope; agent
// tokens never qualify.
func (s *Server) apiCaller(ctx context.Context, r *http.Request, scopes ...string) (*token.Claims, error) {
	claims, _, _, err := s.accessToken(ctx, r)
	if err != nil {
		return nil, err
	}
	if claims.Cnf != nil || claims.Intent != nil || !claims.Audience.Contains(s.cfg.Issuer) {
		return nil, newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "an agent token cannot call this endpoint")
	}
	for _, sc := range scopes {
		if claims.HasScope(sc) {
			return claims, nil
		}
	}
	return nil, newErr(protocol.CodeInsufficientScope, http.StatusForbidden, "requires scope %s", strings.Join(scopes, " or "))
}
