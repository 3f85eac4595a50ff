package token

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
)

// Claims are the claims of an access token (§7).
type Claims struct {
	Issuer     string        `json:"iss"`
	Subject    string        `json:"sub"`
	Audience   Audience      `json:"aud"`
	ClientID   string        `json:"client_id"`
	IssuedAt   int64         `json:"iat"`
	ExpiresAt  int64         `json:"exp"`
	NotBefore  int64         `json:"nbf,omitempty"`
	ID         string        `json:"jti"`
	Scope      string        `json:"scope,omitempty"`
	Cnf        *Confirmation `json:"cnf,omitempty"`
	AgentProof *AgentProof   `json:"agent_proof,omitempty"`
	Intent     *Intent       `json:"intent,omitempty"`
}

// Confirmation binds the token to a key (RFC 9449 §6.1).
type Confirmation struct {
	JKT string `json:"jkt"`
}

// AgentProof ties the token to one registration of the agent.
type AgentProof struct {
	AgentChecksum  string `json:"agent_checksum"`
	RegistrationID string `json:"registration_id"`
	Version        int    `json:"version"`
}

// Intent is what the agent may do: which run, which step, on whose behalf.
// workflow_id, workflow_version, run_id, workflow_step and initiated_by
// are omitted from the token of an agent that acts outside any run
// (agents registered with workflow_required: false); the other members
// are always present. See Verify for the members an intent token must have.
type Intent struct {
	WorkflowID          string            `json:"workflow_id,omitempty"`
	WorkflowVersion     int               `json:"workflow_version,omitempty"`
	RunID               string            `json:"run_id,omitempty"`
	WorkflowStep        string            `json:"workflow_step,omitempty"`
	ExecutedBy          string            `json:"executed_by"`
	InitiatedBy         string            `json:"initiated_by,omitempty"`
	DelegationChain     []string          `json:"delegation_chain"`
	DelegationChainHash string            `json:"delegation_chain_hash"`
	StepSequenceHash    string            `json:"step_sequence_hash"`
	CompletedSteps      []string          `json:"completed_steps"`
	ExecutionContext    map[string]string `json:"execution_context,omitempty"`
}

// IsIntent reports whether the token is an agent intent token (as opposed
// to a legacy client_credentials token).
func (c *Claims) IsIntent() bool {
	return c.Cnf != nil && c.AgentProof != nil && c.Intent != nil
}

// Scopes splits the scope claim.
func (c *Claims) Scopes() []string { return strings.Fields(c.Scope) }

// HasScope reports whether the scope claim lists s.
func (c *Claims) HasScope(s string) bool { return slices.Contains(c.Scopes(), s) }

// Audience is the aud claim: one string or an array on the wire; a single
// audience is written as a string.
type Audience []string

// Contains reports whether a is one of the audiences.
func (a Audience) Contains(s string) bool { return slices.Contains(a, s) }

// MarshalJSON writes one audience as a string.
func (a Audience) MarshalJSON() ([]byte, error) {
	if len(a) == 1 {
		return json.Marshal(a[0])
	}
	return json.Marshal([]string(a))
}

// UnmarshalJSON reads a string or an array of strings. null leaves a
// empty, so the verifier reports aud as missing rather than as "".
func (a *Audience) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = Audience{s}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return err
	}
	*a = list
	return nil
}

// ChainHash is delegation_chain_hash: SHA-256 over the chain's agent ids
// joined with "|" (unambiguous, since agent ids cannot contain "|").
func ChainHash(chain []string) string {
	return hashJoined(chain)
}

// StepSequenceHash is step_sequence_hash: SHA-256 over the completed step
// ids in completion order plus the current step, joined with "|".
func StepSequenceHash(completed []string, current string) string {
	return hashJoined(append(slices.Clone(completed), current))
}

func hashJoined(parts []string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	return "sha256:" + hex.EncodeToString(sum[:])
}
