package middleware

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/protocol"
)

// WriteError answers a refused request in the §8 format: the status, a
// DPoP WWW-Authenticate challenge for 401 and insufficient_scope (with
// DPoP-Nonce when the client must retry with one), Retry-After for a
// refusal the client may retry, and the JSON body
// {"error","error_description","reason"}.
func WriteError(w http.ResponseWriter, err error) { writeError(w, err, "") }

// WriteRefusal answers r, refused by Check with err, exactly as Handler
// answers it: WriteError's answer with the challenge's resource_metadata
// parameter built from r. For adapters that decide with Check outside
// Handler (ajwt authz), so that their refusals are the proxy's, byte for
// byte.
func (e *Enforcer) WriteRefusal(w http.ResponseWriter, r *http.Request, err error) {
	path, _ := canonicalPath(r)
	e.writeError(w, r, path, err)
}

// writeError is WriteError with extra auth-params (already formatted) on
// the challenge.
func writeError(w http.ResponseWriter, err error, extra string) {
	status, wire := protocol.Wire(err)
	if challenge := challengeFor(status, wire, err); challenge != "" {
		if extra != "" {
			challenge += ", " + extra
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	var nonce *dpop.NonceError
	if errors.As(err, &nonce) {
		w.Header().Set("DPoP-Nonce", nonce.Nonce)
	}
	var later *retryLater
	if errors.As(err, &later) {
		w.Header().Set("Retry-After", strconv.Itoa(int(later.after.Seconds())))
	}
	if wire.Reason == "" {
		wire.Reason = wire.Error
	}
	body, _ := json.Marshal(wire)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// challengeFor is the DPoP challenge of a refusal: for 401, with the
// reason in error_description, so that clients tell an expired token (get
// a new one) from a refused one without the body; for insufficient_scope,
// with the scopes the request needs (RFC 6750 §3; may be empty when no
// scope would do, as for a tool the route does not list).
func challengeFor(status int, wire protocol.WireError, err error) string {
	const algs = `algs="ES256 Ed25519 EdDSA RS256"`
	switch {
	case status == http.StatusUnauthorized && (wire.Error == protocol.CodeInvalidDPoPProof || wire.Error == protocol.CodeUseDPoPNonce):
		return fmt.Sprintf(`DPoP error=%q, error_description=%q, %s`, wire.Error, wire.Reason, algs)
	case status == http.StatusUnauthorized:
		return fmt.Sprintf(`DPoP error=%q, error_description=%q, %s`, protocol.CodeInvalidToken, wire.Reason, algs)
	}
	if scope, ok := insufficientScope(err); ok {
		return fmt.Sprintf(`DPoP error="insufficient_scope", scope=%q`, scope)
	}
	return ""
}
