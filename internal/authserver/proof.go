package authserver

import (
	"context"
	"errors"
	"net/http"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// checkProof verifies the DPoP proof of a token request by the key jkt
// (a registered agent key, or the key of the token being exchanged), with
// the token endpoint's status for failures (400, §6.2).
func (s *Server) checkProof(ctx context.Context, r *http.Request, jkt string) (*dpop.Proof, error) {
	return s.tokenEndpointProof(ctx, r, dpop.Request{JKT: jkt, NoAccessToken: true})
}

// checkNewKeyProof verifies the DPoP proof of a token request by a key no
// token is bound to yet: the one the issued token will be bound to.
func (s *Server) checkNewKeyProof(ctx context.Context, r *http.Request) (*dpop.Proof, error) {
	return s.tokenEndpointProof(ctx, r, dpop.Request{AnyKey: true, NoAccessToken: true})
}

func (s *Server) tokenEndpointProof(ctx context.Context, r *http.Request, binding dpop.Request) (*dpop.Proof, error) {
	p, err := s.verifyProof(ctx, r, binding)
	if err != nil {
		return nil, tokenEndpointProofErr(err)
	}
	return p, nil
}

// verifyProof verifies the request's DPoP proof for this endpoint (htu is
// built from the configured issuer, never from the Host header) with the
// binding (token and key) the caller states. Failures have the
// resource-server status (401).
func (s *Server) verifyProof(ctx context.Context, r *http.Request, binding dpop.Request) (*dpop.Proof, error) {
	proofs := r.Header.Values("DPoP")
	if len(proofs) == 0 {
		return nil, protocol.ErrMissingProof.WithDescription("DPoP proof required")
	}
	if len(proofs) > 1 {
		return nil, protocol.ErrMalformedProof.WithDescription("exactly one DPoP header allowed")
	}
	binding.Proof, binding.Method, binding.URL = proofs[0], r.Method, s.cfg.Issuer+r.URL.EscapedPath()
	p, err := s.proofs.Verify(ctx, binding)
	return p, proofCacheErr(err)
}

// tokenEndpointProofErr gives proof failures the token endpoint's status
// (400, §6.2) while keeping code and reason.
func tokenEndpointProofErr(err error) error {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return protocol.ErrMalformedProof.Wrap(err)
	}
	if pe.Status != http.StatusUnauthorized {
		return err // a throttled or unavailable replay cache keeps its status and Retry-After
	}
	c := *pe
	c.Status = http.StatusBadRequest
	return &c
}

// accessToken extracts and verifies an access token presented with scheme
// Bearer or DPoP. It returns the claims, the scheme used and the token.
// Every token-authenticated endpoint goes through here (or through
// presentedToken), so this is where a token bound to a key (cnf) is
// refused without a proof of that key (§3): whoever saw the token (an
// enforcer, a log) cannot use it on our APIs. It is also where a client
// token must be addressed to us (§4).
func (s *Server) accessToken(ctx context.Context, r *http.Request) (*token.Claims, string, string, error) {
	claims, scheme, chk, err := s.presentedToken(ctx, r)
	if err != nil {
		return nil, "", "", err
	}
	if err := s.checkRevoked(ctx, claims); err != nil {
		return nil, "", "", err
	}
	return claims, scheme, chk.raw, nil
}

// presentedToken is accessToken but for the revocation check, its last,
// which it leaves to the caller's write transaction (tokenCheck).
func (s *Server) presentedToken(ctx context.Context, r *http.Request) (*token.Claims, string, tokenCheck, error) {
	scheme, raw, err := protocol.AccessToken(r.Header)
	if err != nil {
		return nil, "", tokenCheck{}, err
	}
	claims, err := s.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, "", tokenCheck{}, err
	}
	if err := s.checkAPIAudience(claims); err != nil {
		return nil, "", tokenCheck{}, err
	}
	if err := s.requireProof(ctx, r, claims, scheme, raw); err != nil {
		return nil, "", tokenCheck{}, err
	}
	return claims, scheme, tokenCheck{s: s, claims: claims, raw: raw}, nil
}

// requireProof: a DPoP-bound token needs the DPoP scheme (RFC 9449 §7.1)
// and a proof by its key for this request and this token (ath).
func (s *Server) requireProof(ctx context.Context, r *http.Request, c *token.Claims, scheme, raw string) error {
	if c.Cnf == nil {
		return nil
	}
	if scheme != protocol.SchemeDPoP {
		return protocol.ErrMissingProof.WithDescription("a DPoP-bound token must be sent with the DPoP scheme and a proof of its key")
	}
	_, err := s.verifyProof(ctx, r, dpop.Request{JKT: c.Cnf.JKT, AccessToken: raw})
	return err
}
