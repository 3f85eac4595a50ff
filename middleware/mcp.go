package middleware

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/ajwt/ajwt/policy"
	"github.com/ajwt/ajwt/protocol"
)

// readMCPMessage reads the one JSON-RPC message of an MCP POST (§12.2),
// at most limit bytes, and puts the body back for the handler, so the
// MCP server reads exactly the bytes the decision was made on.
func readMCPMessage(r *http.Request, limit int) (*policy.MCPMessage, error) {
	if r.ContentLength > int64(limit) {
		return nil, errMCPTooLarge
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, int64(limit)+1))
	_ = r.Body.Close()
	if err != nil {
		return nil, protocol.ErrInvalidRequest.WithDescription("could not read the request body")
	}
	if len(body) > limit {
		return nil, errMCPTooLarge
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return policy.ParseMCPMessage(body)
}

var errMCPTooLarge = &protocol.Error{Code: protocol.CodeInvalidRequest, Reason: protocol.ReasonTooLarge, Status: http.StatusRequestEntityTooLarge,
	Description: "the MCP message is larger than this route accepts"}

// MetadataPath is where the enforcer serves its protected resource
// metadata (RFC 9728, §12.1); the same document is served under it for
// every path a route matches.
const MetadataPath = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the RFC 9728 document of §12.1.
type ResourceMetadata struct {
	Resource                string   `json:"resource"`
	AuthorizationServers    []string `json:"authorization_servers"`
	BearerMethodsSupported  []string `json:"bearer_methods_supported"`
	ScopesSupported         []string `json:"scopes_supported"`
	DPoPSigningAlgs         []string `json:"dpop_signing_alg_values_supported"`
	DPoPBoundTokensRequired bool     `json:"dpop_bound_access_tokens_required"`
}

// Metadata returns the enforcer's protected resource metadata.
func (e *Enforcer) Metadata() ResourceMetadata {
	scopes := e.policy.Scopes()
	if scopes == nil {
		scopes = []string{}
	}
	return ResourceMetadata{Resource: e.policy.Resource(), AuthorizationServers: []string{e.policy.Issuer()},
		BearerMethodsSupported: []string{"header"}, ScopesSupported: scopes,
		DPoPSigningAlgs: []string{"ES256", "Ed25519", "EdDSA"}, DPoPBoundTokensRequired: true}
}

// serveMetadata answers GET and HEAD of the metadata document at the
// canonical path, without authentication, before any route applies;
// false: not such a request.
func (e *Enforcer) serveMetadata(w http.ResponseWriter, r *http.Request, path string) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	rest, ok := strings.CutPrefix(path, MetadataPath)
	if !ok || (rest != "" && rest != "/" && !strings.HasPrefix(rest, "/")) {
		return false
	}
	if rest != "" && rest != "/" && !e.policy.HasPath(rest) && !e.policy.DefaultAllow() {
		return false
	}
	body := e.metadataJSON()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=300")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(body)
	}
	return true
}

// metadataJSON is the metadata document, encoded once: the policy it
// comes from never changes.
func (e *Enforcer) metadataJSON() []byte {
	e.metadataOnce.Do(func() {
		body, _ := json.Marshal(e.Metadata())
		e.metadataBody = append(body, '\n')
	})
	return e.metadataBody
}

// writeError is WriteError with the RFC 9728 resource_metadata parameter
// in the challenge, so that a client without configuration finds the
// authorization server (§12.1). The document's URL is built like the
// DPoP htu: public_url, or the scheme and Host the request came with.
func (e *Enforcer) writeError(w http.ResponseWriter, r *http.Request, path string, err error) {
	writeError(w, err, fmt.Sprintf("resource_metadata=%q", e.requestURL(r, MetadataPath+path)))
}

// insufficientScope reports the scope challenge of a refusal, if any.
func insufficientScope(err error) (string, bool) {
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Code == protocol.CodeInsufficientScope {
		return pe.Scope, true
	}
	return "", false
}
