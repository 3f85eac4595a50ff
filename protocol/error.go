package protocol

import (
	"errors"
	"fmt"
	"net/http"
)

// Error is a protocol failure: an OAuth error code (Code), an optional stable
// machine reason (Reason, §8), a human description and the HTTP status the
// wire form uses. Err, when set, is the underlying cause; it is never put on
// the wire.
type Error struct {
	Code        string // OAuth "error", e.g. invalid_token
	Reason      string // §8 "reason", e.g. expired; may be empty
	Description string // human text for error_description
	Status      int    // HTTP status of the wire form
	// Scope, on insufficient_scope, lists the scopes the request needs
	// (space-separated) for the WWW-Authenticate scope challenge.
	Scope string
	Err   error // cause, for logs and errors.Unwrap only
}

func (e *Error) Error() string {
	msg := e.Code
	if e.Reason != "" {
		msg += " (" + e.Reason + ")"
	}
	if e.Description != "" {
		msg += ": " + e.Description
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Is matches a sentinel *Error by code and, when the sentinel has one, by
// reason: errors.Is(err, ErrExpired) holds for any expired-token error,
// whatever its description.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok {
		return false
	}
	return t.Code == e.Code && (t.Reason == "" || t.Reason == e.Reason)
}

// WithDescription returns a copy of e with a description, for building a
// specific error from a sentinel.
func (e *Error) WithDescription(format string, args ...any) *Error {
	c := *e
	c.Description = fmt.Sprintf(format, args...)
	return &c
}

// Wrap returns a copy of e with cause err and, if e has none, err's text as
// description.
func (e *Error) Wrap(err error) *Error {
	c := *e
	c.Err = err
	if c.Description == "" && err != nil {
		c.Description = err.Error()
	}
	return &c
}

// WireError is the JSON body of every error response (§8, §9).
type WireError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
	Reason      string `json:"reason,omitempty"`
}

// Wire returns the public form of err: the protocol fields of an *Error, or a
// generic server_error that reveals nothing of an unknown cause.
func Wire(err error) (int, WireError) {
	var pe *Error
	if errors.As(err, &pe) {
		status := pe.Status
		if status == 0 {
			status = http.StatusBadRequest
		}
		return status, WireError{Error: pe.Code, Description: pe.Description, Reason: pe.Reason}
	}
	return http.StatusInternalServerError, WireError{Error: CodeServerError, Description: "internal error"}
}
