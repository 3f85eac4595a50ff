package authserver

import (
	"errors"
	"net/http"

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

func errForbidden(format string, args ...any) *protocol.Error {
	return newErr(protocol.CodeAccessDenied, http.StatusForbidden, format, args...)
}

func errNotFound(format string, args ...any) *protocol.Error {
	return newErr(protocol.CodeNotFound, http.StatusNotFound, format, args...)
}
