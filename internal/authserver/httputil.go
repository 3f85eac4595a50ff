package authserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"

	"github.com/ajwt/ajwt/internal/strictjson"
	"github.com/ajwt/ajwt/protocol"
)

const idPattern = `^[a-z0-9][a-z0-9-]{0,62}$`

var idRE = regexp.MustCompile(idPattern)

// validID reports whether s is a well-formed agent, client, workflow or step id.
func validID(s string) bool { return len(s) <= 63 && idRE.MatchString(s) }

// validResource reports whether s is an absolute URI without fragment
// (RFC 8707 §2).
func validResource(s string) bool {
	if len(s) > 2048 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != "" && u.Fragment == ""
}

func errBadRequest(format string, args ...any) *protocol.Error {
	return protocol.ErrInvalidRequest.WithDescription(format, args...)
}

func newErr(code string, status int, format string, args ...any) *protocol.Error {
	return &protocol.Error{Code: code, Status: status, Description: fmt.Sprintf(format, args...)}
}

// writeJSON writes v with status; responses carrying tokens or run state are
// never cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error","error_description":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError writes the protocol's JSON error body with extras merged in.
func writeError(w http.ResponseWriter, err error, extra map[string]any) {
	status, wire := protocol.Wire(err)
	body := map[string]any{"error": wire.Error}
	if wire.Description != "" {
		body["error_description"] = wire.Description
	}
	if wire.Reason != "" {
		body["reason"] = wire.Reason
	}
	for k, v := range extra {
		body[k] = v
	}
	setRetryAfter(w, err)
	if status == http.StatusUnauthorized && w.Header().Get("WWW-Authenticate") == "" {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`%s error=%q`, challengeScheme(wire.Error), wire.Error))
	}
	writeJSON(w, status, body)
}

// challengeScheme: proof failures are challenges of the DPoP scheme
// (RFC 9449 §7.1), everything else of Bearer (RFC 6750 §3).
func challengeScheme(code string) string {
	if code == protocol.CodeInvalidDPoPProof || code == protocol.CodeUseDPoPNonce {
		return "DPoP"
	}
	return "Bearer"
}

// readBody reads at most limit bytes; a larger body is a 413 in the
// protocol's format.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return nil, newErr(protocol.CodeInvalidRequest, http.StatusRequestEntityTooLarge, "request body larger than %d bytes", limit)
	}
	if err != nil {
		return nil, errBadRequest("reading request body: %v", err)
	}
	return data, nil
}

// decodeJSON reads a JSON body strictly: size limit, no duplicate members,
// nesting ≤ 32, no unknown fields, nothing after the value.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	data, err := readBody(w, r, limit)
	if err != nil {
		return err
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return errBadRequest("empty request body, want a JSON object")
	}
	if err := strictjson.Check(data, protocol.MaxJSONDepth); err != nil {
		return errBadRequest("malformed JSON body: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errBadRequest("JSON body: %v", err)
	}
	return nil
}

// parseForm reads an application/x-www-form-urlencoded body within the
// §10 limit and refuses repeated parameters (RFC 6749 §3.2: parameters MUST
// NOT be included more than once).
func parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if ct := r.Header.Get("Content-Type"); !isForm(ct) {
		return nil, errBadRequest("want Content-Type application/x-www-form-urlencoded")
	}
	data, err := readBody(w, r, protocol.MaxRequestBody)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(data))
	if err != nil {
		return nil, errBadRequest("malformed form body")
	}
	for k, v := range form {
		if len(v) > 1 {
			return nil, errBadRequest("parameter %q repeated", k)
		}
	}
	return form, nil
}

func isForm(ct string) bool {
	mt, _, _ := bytes.Cut([]byte(ct), []byte(";"))
	return string(bytes.TrimSpace(bytes.ToLower(mt))) == "application/x-www-form-urlencoded"
}

func itoa(n int) string { return strconv.Itoa(n) }
