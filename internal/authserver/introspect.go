package authserver

import (
	"net/http"

	"github.com/ajwt/ajwt/token"
)

// handleIntrospect implements RFC 7662 for authenticated clients.
func (s *Server) handleIntrospect(w http.ResponseWriter, r *http.Request) error {
	form, err := parseForm(w, r)
	if err != nil {
		return err
	}
	if _, err := s.authenticateClient(r.Context(), r, form); err != nil {
		return err
	}
	claims, err := s.verifier.Verify(r.Context(), form.Get("token"))
	if err == nil {
		err = s.checkRevoked(r.Context(), claims)
		if err != nil && isInternal(err) {
			return err // unknown, not inactive: 503
		}
	}
	if err != nil {
		writeJSON(w, http.StatusOK, map[string]bool{"active": false})
		return nil
	}
	writeJSON(w, http.StatusOK, introspection{Active: true, Claims: claims, TokenType: tokenTypeOf(claims)})
	return nil
}

type introspection struct {
	Active    bool   `json:"active"`
	TokenType string `json:"token_type"`
	*token.Claims
}

func tokenTypeOf(c *token.Claims) string {
	if c.Cnf != nil {
		return "DPoP"
	}
	return "Bearer"
}
