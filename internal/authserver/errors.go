package authserver

import (
	"errors"
	"net/http"
	"time"

	"github.com/ajwt/ajwt/dpop"
	"github.com/ajwt/ajwt/internal/store"
	"github.com/ajwt/ajwt/protocol"
)

// stepError is workflow_step_unauthorized with the §6.2 extras: which
// steps are still missing and why.
type stepError struct {
	perr    *protocol.Error
	reason  string
	missing []string
}

func (e *stepError) Error() string { return e.perr.Error() }
func (e *stepError) Unwrap() error { return e.perr }

func (e *stepError) extra() map[string]any {
	m := map[string]any{"reason": e.reason}
	if len(e.missing) > 0 {
		m["missing_steps"] = e.missing
	}
	return m
}

func errStep(reason string, missing []string, format string, args ...any) error {
	base := newErr(protocol.CodeWorkflowStepUnauthorized, http.StatusForbidden, format, args...)
	base.Reason = reason
	return &stepError{perr: base, reason: reason, missing: missing}
}

// isInternal reports whether err is not a protocol error, i.e. a fault of
// ours that the client must not see the details of.
func isInternal(err error) bool {
	var pe *protocol.Error
	return !errors.As(err, &pe)
}

// storeFailed reports whether err, from a store read, is the store's
// failure rather than the record's absence. Only ErrNotFound may become a
// refusal (unknown agent, revoked token…): a read that could not be made
// says nothing about the record.
func storeFailed(err error) bool {
	return err != nil && !errors.Is(err, store.ErrNotFound)
}

// retryUnavailable is the Retry-After of a dependency failure: a dropped
// connection or a database failover is usually over within seconds.
const retryUnavailable = time.Second

var errUnavailable = &protocol.Error{Code: protocol.CodeTemporarilyUnavailable, Status: http.StatusServiceUnavailable,
	Description: "the authorization server cannot answer now; retry later"}

// unavailable answers a failure that is not the caller's (the store or
// Redis could not be reached): 503 temporarily_unavailable with
// Retry-After. The cause stays in the chain for the log and never reaches
// the wire: a Redis or database address is nobody's business.
func unavailable(cause error) error {
	c := *errUnavailable
	c.Err = cause
	return &rateLimited{perr: &c, retryAfter: retryUnavailable}
}

// unavailableCause is the dependency failure behind a 503 built by
// unavailable, for the log; nil for anything else.
func unavailableCause(err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.CodeTemporarilyUnavailable {
		return pe.Err
	}
	return nil
}

// callerFault reports whether a failed request was the caller's doing: a
// 4xx protocol error other than a throttle or a nonce challenge (the
// round trip RFC 9449 §8 asks of every client). Only those count against a
// failure limit; an outage of ours must not lock clients out after it.
func callerFault(err error) bool {
	var pe *protocol.Error
	if !errors.As(err, &pe) {
		return false
	}
	status, _ := protocol.Wire(pe)
	switch pe.Code {
	case protocol.CodeSlowDown, protocol.CodeTemporarilyUnavailable, protocol.CodeUseDPoPNonce:
		return false
	}
	return status >= 400 && status < 500 && status != http.StatusTooManyRequests
}

// Retry-After of a proof key over its share of the replay cache: its
// entries must expire first.
const retryProofQuota = 10 * time.Second

var errProofQuota = &protocol.Error{Code: protocol.CodeSlowDown, Status: http.StatusTooManyRequests,
	Description: "too many proofs with this key; retry later"}

// proofCacheErr keeps the proof verifier's protocol errors and turns a
// failing replay cache into 429 (a key over its share) or 503 (full or
// unreachable: Redis down), never a proof error carrying the cause.
func proofCacheErr(err error) error {
	switch {
	case err == nil || !isInternal(err):
		return err
	case errors.Is(err, dpop.ErrOwnerFull):
		c := *errProofQuota
		c.Err = err
		return &rateLimited{perr: &c, retryAfter: retryProofQuota}
	}
	return unavailable(err)
}

func errForbidden(format string, args ...any) *protocol.Error {
	return newErr(protocol.CodeAccessDenied, http.StatusForbidden, format, args...)
}

func errNotFound(format string, args ...any) *protocol.Error {
	return newErr(protocol.CodeNotFound, http.StatusNotFound, format, args...)
}
