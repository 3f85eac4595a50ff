package token

import (
	"github.com/ajwt/ajwt/protocol"
)

// checkIntent requires an intent token to be complete and self-consistent.
// A token with none of cnf, agent_proof and intent is a legacy token and
// passes; so does one with cnf alone, a client token bound to a key
// (PROTOCOL.md §6.1), once its cnf.jkt is well-formed. Otherwise all three
// are required, and:
//
//   - cnf.jkt: an RFC 7638 SHA-256 thumbprint (43 base64url characters);
//   - agent_proof: agent_checksum ("sha256:" + 64 lowercase hex),
//     registration_id, version ≥ 1;
//   - intent: executed_by = sub; delegation_chain non-empty, at most
//     MaxDelegationDepth hops, ending with executed_by, and
//     delegation_chain_hash = ChainHash(chain); run_id, workflow_id and
//     workflow_step all present (with workflow_version ≥ 1) or all absent
//     (an agent without a run); step_sequence_hash =
//     StepSequenceHash(completed_steps, workflow_step).
//
// An absent member is missing_claim; a present but wrong one is malformed.
func checkIntent(c *Claims) error {
	switch {
	case c.AgentProof == nil && c.Intent == nil && c.Cnf == nil:
		return nil
	case c.AgentProof == nil && c.Intent == nil:
		return checkJKT(c.Cnf.JKT)
	case !c.IsIntent():
		return missing("intent tokens need cnf, agent_proof and intent together")
	}
	if err := checkBinding(c.Cnf, c.AgentProof); err != nil {
		return err
	}
	if err := checkChain(c.Intent, c.Subject); err != nil {
		return err
	}
	return checkRun(c.Intent)
}

func checkJKT(jkt string) error {
	switch {
	case jkt == "":
		return missing("cnf.jkt is required")
	case !isThumbprint(jkt):
		return malformed("cnf.jkt is not a SHA-256 JWK thumbprint")
	}
	return nil
}

func checkBinding(cnf *Confirmation, p *AgentProof) error {
	switch {
	case cnf.JKT == "" || p.AgentChecksum == "" || p.RegistrationID == "":
		return missing("cnf.jkt, agent_proof.agent_checksum and agent_proof.registration_id are required")
	case !isThumbprint(cnf.JKT):
		return malformed("cnf.jkt is not a SHA-256 JWK thumbprint")
	case !isChecksum(p.AgentChecksum):
		return malformed("agent_proof.agent_checksum is not sha256:<64 hex>")
	case p.Version < 1:
		return malformed("agent_proof.version must be at least 1")
	}
	return nil
}

func checkChain(in *Intent, sub string) error {
	n := len(in.DelegationChain)
	switch {
	case in.ExecutedBy == "" || n == 0 || in.DelegationChainHash == "":
		return missing("intent.executed_by, delegation_chain and delegation_chain_hash are required")
	case in.ExecutedBy != sub:
		return malformed("intent.executed_by must equal sub")
	case n-1 > protocol.MaxDelegationDepth:
		return malformed("delegation chain longer than %d hops", protocol.MaxDelegationDepth)
	case in.DelegationChain[n-1] != in.ExecutedBy:
		return malformed("delegation chain must end with executed_by")
	case in.DelegationChainHash != ChainHash(in.DelegationChain):
		return malformed("delegation_chain_hash does not match delegation_chain")
	}
	return nil
}

func checkRun(in *Intent) error {
	hasRun, hasWorkflow, hasStep := in.RunID != "", in.WorkflowID != "", in.WorkflowStep != ""
	switch {
	case hasRun != hasWorkflow || hasRun != hasStep:
		return missing("intent.run_id, workflow_id and workflow_step go together")
	case hasRun && in.WorkflowVersion < 1:
		return missing("intent.workflow_version is required with a run")
	case in.StepSequenceHash == "":
		return missing("intent.step_sequence_hash is required")
	case in.StepSequenceHash != StepSequenceHash(in.CompletedSteps, in.WorkflowStep):
		return malformed("step_sequence_hash does not match completed_steps and workflow_step")
	}
	return nil
}

func isThumbprint(s string) bool {
	if len(s) != 43 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isBase64URL(s[i]) {
			return false
		}
	}
	return true
}

func isChecksum(s string) bool {
	const prefix = "sha256:"
	if len(s) != len(prefix)+64 || s[:len(prefix)] != prefix {
		return false
	}
	for i := len(prefix); i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

func isBase64URL(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_'
}

func missing(format string, args ...any) error {
	return protocol.ErrMissingClaim.WithDescription(format, args...)
}

func malformed(format string, args ...any) error {
	return protocol.ErrMalformedToken.WithDescription(format, args...)
}
