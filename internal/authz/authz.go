package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"

	"github.com/ajwt/ajwt/middleware"
	"github.com/ajwt/ajwt/protocol"
)

// HeaderGatewaySecret carries the gateway secret on the HTTP doors; gRPC
// callers send it as metadata of the same name, lower-case (§13.3).
const HeaderGatewaySecret = "Ajwt-Gateway-Secret"

// MinSecretLen is the shortest gateway secret accepted (§13.3).
const MinSecretLen = 32

// Options configure New.
type Options struct {
	// Secret, when not empty, must come with every request; without it
	// the authorizer must be reachable from loopback only (the command
	// makes sure).
	Secret string
	// Observe, when set, sees every decision (access log, metrics).
	Observe func(Decision)
}

// Decision is what Observe sees of one request.
type Decision struct {
	Door   string
	Method string // the original method ("" when the gateway sent none)
	Path   string // the canonical path decided on; "" when refused before
	RawURI string // the original path and query as forwarded
	// Verified is nil for a public route and for a refusal.
	Verified *middleware.Verified
	Err      error // nil: allowed
}

// Authorizer answers gateways with the decisions of one enforcer.
type Authorizer struct {
	enf     *middleware.Enforcer
	secret  *[sha256.Size]byte // nil: no secret required
	observe func(Decision)
}

// New returns an authorizer that decides with enf.
func New(enf *middleware.Enforcer, opts Options) (*Authorizer, error) {
	if enf == nil {
		return nil, errors.New("authz: nil enforcer")
	}
	a := &Authorizer{enf: enf, observe: opts.Observe}
	if opts.Secret != "" {
		if len(opts.Secret) < MinSecretLen {
			return nil, errors.New("authz: gateway secret shorter than 32 characters")
		}
		sum := sha256.Sum256([]byte(opts.Secret))
		a.secret = &sum
	}
	if a.observe == nil {
		a.observe = func(Decision) {}
	}
	return a, nil
}

// gatewayOK reports whether a request may be decided: no secret is
// required, or exactly one value equals it. The digests are compared, in
// constant time, so that neither the secret's bytes nor its length show
// in the timing.
func (a *Authorizer) gatewayOK(values []string) bool {
	if a.secret == nil {
		return true
	}
	if len(values) != 1 {
		return false
	}
	got := sha256.Sum256([]byte(values[0]))
	return subtle.ConstantTimeCompare(got[:], a.secret[:]) == 1
}

// decide asks the enforcer about the forwarded request (or refuses one
// the door could not read: ferr) and returns the §13.2 answer.
func (a *Authorizer) decide(ctx context.Context, door string, f *Forwarded, ferr error) *Answer {
	d := Decision{Door: door, Err: ferr}
	var r *http.Request
	if ferr == nil {
		d.Method, d.RawURI = f.Method, f.URI
		r, d.Err = f.request(ctx)
	}
	if d.Err == nil {
		d.Path, _ = middleware.CanonicalPath(r)
		d.Verified, d.Err = a.enf.Check(r)
	}
	a.observe(d)
	if d.Err != nil {
		return a.refusal(r, d.Err)
	}
	return allowed(d.Verified)
}

// refusal is the enforcer's answer to a refused request — the proxy's,
// byte for byte — plus Ajwt-Error and Ajwt-Reason; r is nil when there
// was no request to build.
func (a *Authorizer) refusal(r *http.Request, err error) *Answer {
	rec := newRecorder()
	if r != nil {
		a.enf.WriteRefusal(rec, r, err)
	} else {
		middleware.WriteError(rec, err)
	}
	return rec.answer(err)
}

// recorder captures what the enforcer writes.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (w *recorder) Header() http.Header         { return w.header }
func (w *recorder) Write(p []byte) (int, error) { return w.body.Write(p) }
func (w *recorder) WriteHeader(status int)      { w.status = status }

func (w *recorder) answer(err error) *Answer {
	_, wire := protocol.Wire(err)
	if wire.Reason == "" {
		wire.Reason = wire.Error // as the body says
	}
	w.header.Set(HeaderError, wire.Error)
	w.header.Set(HeaderReason, wire.Reason)
	return &Answer{Status: w.status, Header: w.header, Body: w.body.Bytes()}
}
