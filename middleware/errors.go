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
func WriteError(w http.ResponseWriter, err error) {
	status, wire := protocol.Wire(err)
	switch {
	case status == http.StatusUnauthorized && (wire.Error == protocol.CodeInvalidDPoPProof || wire.Error == protocol.CodeUseDPoPNonce):
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, error_description=%q, algs="ES256 EdDSA RS256"`, wire.Error, wire.Reason))
	case status == http.StatusUnauthorized:
		// The reason in error_description lets clients tell an expired
		// token (get a new one) from a refused one without the body.
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`DPoP error=%q, error_description=%q, algs="ES256 EdDSA RS256"`, protocol.CodeInvalidToken, wire.Reason))
	case wire.Error == protocol.CodeInsufficientScope:
		w.Header().Set("WWW-Authenticate", `DPoP error="insufficient_scope"`)
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
