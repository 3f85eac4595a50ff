package demo

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/protocol"
	"github.com/ajwt/ajwt/token"
)

// legacyAuth is the "before" resource server: it checks a bearer token's
// signature, issuer, expiry and scope — nothing about which agent, which
// step, which repository or whether the token was seen before.
func (e *Env) legacyAuth(next http.Handler, scopeFor func(*http.Request) string) (http.Handler, error) {
	meta, err := middleware.FetchMetadata(context.Background(), e.hc, e.IdPURL)
	if err != nil {
		return nil, err
	}
	ks := middleware.NewRemoteKeySet(meta.JWKSURI, e.hc, time.Now)
	v, err := token.NewVerifier(e.IdPURL, "", ks, token.AnyAudience())
	if err != nil {
		return nil, err
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, raw, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if !strings.EqualFold(scheme, "Bearer") && !strings.EqualFold(scheme, "DPoP") {
			middleware.WriteError(w, protocol.ErrMalformedToken.WithDescription("bearer token required"))
			return
		}
		c, err := v.Verify(r.Context(), raw)
		if err != nil {
			middleware.WriteError(w, err)
			return
		}
		if !c.HasScope(scopeFor(r)) {
			middleware.WriteError(w, &protocol.Error{Code: protocol.CodeInsufficientScope, Reason: protocol.ReasonInsufficientScope, Status: http.StatusForbidden})
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

func (e *Env) startLegacyAPIs(forge, adv http.Handler) error {
	f, err := e.legacyAuth(forge, func(r *http.Request) string {
		if r.Method == http.MethodGet {
			return "repo:read"
		}
		return "repo:write"
	})
	if err != nil {
		return err
	}
	a, err := e.legacyAuth(adv, func(*http.Request) string { return "osv:query" })
	if err != nil {
		return err
	}
	if e.ForgeURL, err = e.serve(f); err != nil {
		return err
	}
	e.OSVURL, err = e.serve(a)
	return err
}
