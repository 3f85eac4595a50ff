package authz

import (
	"net/http"
	"strings"
)

// Handler serves the three HTTP doors of §13.1; any other path is 404.
// It is no ServeMux: that cleans paths and would redirect a forwarded
// "/a/../b" instead of letting the enforcer refuse it.
func (a *Authorizer) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.gatewayOK(r.Header.Values(HeaderGatewaySecret)) {
			gatewayRefusal().write(w)
			return
		}
		switch {
		case r.URL.Path == PathForwardAuth:
			f, err := forwardAuth(r)
			a.decide(r.Context(), DoorForwardAuth, f, err).write(w)
		case r.URL.Path == PathAuthRequest:
			f, err := authRequest(r)
			a.decide(r.Context(), DoorAuthRequest, f, err).forNginx().write(w)
		case strings.HasPrefix(r.RequestURI, PathExtAuthz+"/"):
			f, err := extAuthz(r)
			a.decide(r.Context(), DoorExtAuthz, f, err).write(w)
		default:
			notFound(w)
		}
	})
}

func notFound(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"error":"not_found","error_description":"the authorizer serves /authz/forward-auth, /authz/auth-request and /authz/ext-authz/…"}` + "\n"))
}
