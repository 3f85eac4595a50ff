package protocol

import (
	"net/http"
	"strings"
)

// Authorization schemes an access token is presented with (RFC 6750,
// RFC 9449 §7.1), as AccessToken returns them.
const (
	SchemeBearer = "bearer"
	SchemeDPoP   = "dpop"
)

// AccessToken reads the access token of a request: exactly one
// Authorization header, "Bearer <token>" or "DPoP <token>" (scheme in any
// case, returned lower-case). Two headers are refused rather than one
// picked: a proxy in front may pick the other one. Every server of this
// module — the IdP's APIs and the enforcers — reads tokens through here.
func AccessToken(h http.Header) (scheme, token string, err error) {
	values := h.Values("Authorization")
	if len(values) != 1 {
		return "", "", ErrMalformedToken.WithDescription("want exactly one Authorization header")
	}
	scheme, token, ok := strings.Cut(values[0], " ")
	scheme = strings.ToLower(scheme)
	if !ok || token == "" || strings.ContainsAny(token, " \t") || (scheme != SchemeDPoP && scheme != SchemeBearer) {
		return "", "", ErrMalformedToken.WithDescription("want Authorization: DPoP <token> (or Bearer where a plain bearer token is accepted)")
	}
	return scheme, token, nil
}
