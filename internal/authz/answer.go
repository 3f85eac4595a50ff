package authz

import (
	"encoding/json"
	"net/http"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/proxy"
)

// Headers of a refusal that carry the §8 body's error and reason, for
// gateways that pass a client only the status and headers of the
// authorizer's answer (nginx).
const (
	HeaderError  = "Ajwt-Error"
	HeaderReason = "Ajwt-Reason"
)

// identityHeaders are the five headers of §8 an allowed answer always
// carries, empty where they do not apply.
var identityHeaders = [...]string{proxy.HeaderAgent, proxy.HeaderRun, proxy.HeaderStep, proxy.HeaderInitiatedBy, proxy.HeaderClient}

// IdentityHeaders returns the names of the five identity headers, in the
// order Agent, Run, Step, Initiated-By, Client.
func IdentityHeaders() [len(identityHeaders)]string { return identityHeaders }

// Answer is the HTTP answer of §13.2; the gRPC door carries it in a
// CheckResponse.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte // empty when allowed
}

// Allowed reports whether the gateway may forward the request.
func (a *Answer) Allowed() bool { return a.Status == http.StatusOK }

// allowed is 200 with the five identity headers, as the proxy would set
// them for the upstream (a legacy token names no agent, §8); v is nil on
// a public route.
func allowed(v *middleware.Verified) *Answer {
	h := make(http.Header, len(identityHeaders)+1)
	for i, value := range identity(v) {
		h[identityHeaders[i]] = []string{value}
	}
	h.Set("Cache-Control", "no-store")
	return &Answer{Status: http.StatusOK, Header: h}
}

// identity is the values of IdentityHeaders for v, in order.
func identity(v *middleware.Verified) [len(identityHeaders)]string {
	var out [len(identityHeaders)]string
	if v == nil {
		return out
	}
	c := v.Claims
	out[4] = c.ClientID
	if c.IsIntent() {
		out[0], out[1], out[2], out[3] = c.Subject, c.Intent.RunID, c.Intent.WorkflowStep, c.Intent.InitiatedBy
	}
	return out
}

// ReasonGatewayUnauthenticated: a request without the gateway secret, or
// with another (§13.3).
const ReasonGatewayUnauthenticated = "gateway_unauthenticated"

// gatewayRefusal answers a caller that is not the gateway: no decision,
// so no DPoP challenge either.
func gatewayRefusal() *Answer {
	body, _ := json.Marshal(map[string]string{"error": "unauthorized",
		"error_description": "only the gateway may ask for decisions: missing or wrong " + HeaderGatewaySecret,
		"reason":            ReasonGatewayUnauthenticated})
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set(HeaderError, "unauthorized")
	h.Set(HeaderReason, ReasonGatewayUnauthenticated)
	return &Answer{Status: http.StatusUnauthorized, Header: h, Body: append(body, '\n')}
}

// forNginx maps the statuses nginx's auth_request would turn into a 500
// (anything but 2xx, 401 and 403) that a refusal of another door has as
// 400 or 413 to 403; the body and the reason stay (§13.2).
func (a *Answer) forNginx() *Answer {
	if a.Status == http.StatusBadRequest || a.Status == http.StatusRequestEntityTooLarge {
		a.Status = http.StatusForbidden
	}
	return a
}

// write sends the answer; an empty header value is sent as such.
func (a *Answer) write(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range a.Header {
		h[k] = v
	}
	w.WriteHeader(a.Status)
	_, _ = w.Write(a.Body)
}
