package authserver

import (
	"net/http"

	"github.com/ajwt/ajwt/keys"
)

// metadata is the RFC 8414 document with the §9 extensions.
type metadata struct {
	Issuer                string   `json:"issuer"`
	TokenEndpoint         string   `json:"token_endpoint"`
	JWKSURI               string   `json:"jwks_uri"`
	IntrospectionEndpoint string   `json:"introspection_endpoint"`
	RevocationEndpoint    string   `json:"revocation_endpoint"`
	GrantTypes            []string `json:"grant_types_supported"`
	AuthMethods           []string `json:"token_endpoint_auth_methods_supported"`
	AuthSigningAlgs       []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	DPoPAlgs              []string `json:"dpop_signing_alg_values_supported"`
	AgentRegistration     string   `json:"agent_registration_endpoint"`
	WorkflowRegistration  string   `json:"workflow_registration_endpoint"`
	RunEndpoint           string   `json:"run_endpoint"`
	RevocationFeed        string   `json:"revocation_feed_endpoint"`
	AgentChecksumMethods  []string `json:"agent_checksum_methods_supported"`
	AuditEndpoint         string   `json:"audit_endpoint"`
	ScopesSupported       []string `json:"scopes_supported,omitempty"`
	ResponseTypes         []string `json:"response_types_supported"`
}

func (s *Server) handleMetadata(w http.ResponseWriter, _ *http.Request) error {
	iss := s.cfg.Issuer
	algs := proofAlgNames()
	writeJSON(w, http.StatusOK, metadata{
		Issuer: iss, TokenEndpoint: iss + "/token", JWKSURI: iss + "/jwks.json",
		IntrospectionEndpoint: iss + "/introspect", RevocationEndpoint: iss + "/revoke",
		GrantTypes:  []string{"client_credentials", "urn:ietf:params:oauth:grant-type:agent_checksum", "urn:ietf:params:oauth:grant-type:token-exchange"},
		AuthMethods: []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}, AuthSigningAlgs: algs, DPoPAlgs: algs,
		AgentRegistration: iss + "/v1/agents", WorkflowRegistration: iss + "/v1/workflows", RunEndpoint: iss + "/v1/runs",
		RevocationFeed: iss + "/v1/revocations", AgentChecksumMethods: []string{"jcs-sha256"}, AuditEndpoint: iss + "/v1/audit",
		ResponseTypes: []string{},
	})
	return nil
}

// proofAlgNames lists, for dpop_signing_alg_values_supported and
// token_endpoint_auth_signing_alg_values_supported, the algorithms accepted
// on what clients and agents sign: both names of Ed25519 (PROTOCOL.md §3).
func proofAlgNames() []string {
	var out []string
	for _, a := range keys.ProofAlgs() {
		out = append(out, string(a))
	}
	return out
}

func (s *Server) handleJWKS(w http.ResponseWriter, _ *http.Request) error {
	h := w.Header()
	h.Set("Content-Type", "application/jwk-set+json")
	// Short caching: enforcers refetch on an unknown kid anyway.
	h.Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(s.keyring.JWKS())
	return nil
}
