package protocol

import "net/http"

// OAuth error codes used on the wire (RFC 6749, RFC 6750, RFC 9449, §6, §8).
const (
	CodeInvalidRequest           = "invalid_request"
	CodeInvalidClient            = "invalid_client"
	CodeInvalidGrant             = "invalid_grant"
	CodeUnauthorizedClient       = "unauthorized_client"
	CodeUnsupportedGrantType     = "unsupported_grant_type"
	CodeInvalidScope             = "invalid_scope"
	CodeInvalidTarget            = "invalid_target"
	CodeInvalidToken             = "invalid_token"
	CodeInsufficientScope        = "insufficient_scope"
	CodeInvalidDPoPProof         = "invalid_dpop_proof"
	CodeUseDPoPNonce             = "use_dpop_nonce"
	CodeUnknownAgent             = "unknown_agent"
	CodeAgentRevoked             = "agent_revoked"
	CodeAgentChecksumMismatch    = "agent_checksum_mismatch"
	CodeWorkflowStepUnauthorized = "workflow_step_unauthorized"
	CodeInvalidDelegation        = "invalid_delegation"
	CodeInvalidWorkflow          = "invalid_workflow"
	CodeIntentMismatch           = "intent_mismatch"
	CodeSlowDown                 = "slow_down"
	CodeAccessDenied             = "access_denied"
	CodeNotFound                 = "not_found"
	CodeConflict                 = "conflict"
	CodeServerError              = "server_error"
	CodeTemporarilyUnavailable   = "temporarily_unavailable" // RFC 6749 §4.1.2.1
)

// Stable reason codes of §8 (and a few more the enforcer and shim report).
const (
	ReasonMalformed          = "malformed"
	ReasonExpired            = "expired"
	ReasonNotYetValid        = "not_yet_valid"
	ReasonIssuedInFuture     = "issued_in_future"
	ReasonBadSignature       = "bad_signature"
	ReasonUnknownKey         = "unknown_key"
	ReasonAlgNotAllowed      = "alg_not_allowed"
	ReasonWrongType          = "wrong_type"
	ReasonWrongIssuer        = "wrong_issuer"
	ReasonWrongAudience      = "wrong_audience"
	ReasonMissingClaim       = "missing_claim"
	ReasonForbiddenHeader    = "forbidden_header"
	ReasonTooLarge           = "too_large"
	ReasonReplayedProof      = "replayed_proof"
	ReasonMissingProof       = "missing_proof"
	ReasonWrongMethod        = "wrong_htm"
	ReasonWrongURI           = "wrong_htu"
	ReasonAthMismatch        = "ath_mismatch"
	ReasonKeyMismatch        = "key_mismatch"
	ReasonStaleProof         = "stale_proof"
	ReasonNonceRequired      = "nonce_required"
	ReasonPrivateKey         = "private_key_in_jwk"
	ReasonTokenUsed          = "token_used"
	ReasonTokenRevoked       = "token_revoked"
	ReasonAgentRevoked       = "agent_revoked"
	ReasonRunRevoked         = "run_revoked"
	ReasonWrongStep          = "wrong_step"
	ReasonWrongAgent         = "wrong_agent"
	ReasonWrongWorkflow      = "wrong_workflow"
	ReasonContextMismatch    = "context_mismatch"
	ReasonLegacyTokenRefused = "legacy_token_refused"
	ReasonInsufficientScope  = "insufficient_scope"
	ReasonNoRoute            = "no_route"
	ReasonNonCanonicalPath   = "non_canonical_path"
	// MCP (§12.2).
	ReasonToolNotAllowed   = "tool_not_allowed"
	ReasonMethodNotAllowed = "method_not_allowed"
	ReasonMCPMalformed     = "mcp_malformed"
	ReasonMCPBatch         = "mcp_batch"
	// ReasonClientRevoked: a §9 client entry revokes every token the
	// client obtained at or before its time.
	ReasonClientRevoked = "client_revoked"
	// ReasonReplayWindowReset: the enforcer's replay cache started after
	// the proof or one-time token may have been used (a restart, a Redis
	// that lost its data); a fresh proof with the DPoP-Nonce, or a new
	// token, is accepted.
	ReasonReplayWindowReset = "replay_window_reset"
	// ReasonReplayQuota: one proof key holds its whole share of a replay
	// cache under pressure (429 slow_down).
	ReasonReplayQuota = "replay_quota"
	// ReasonReplayCacheUnavailable: the replay cache is full or
	// unreachable (503 temporarily_unavailable); retry later.
	ReasonReplayCacheUnavailable = "replay_cache_unavailable"
)

func tokenErr(reason string) *Error {
	return &Error{Code: CodeInvalidToken, Reason: reason, Status: http.StatusUnauthorized}
}

func proofErr(reason string) *Error {
	return &Error{Code: CodeInvalidDPoPProof, Reason: reason, Status: http.StatusUnauthorized}
}

// Sentinels for errors.Is. Build specific errors from them with
// WithDescription or Wrap; never mutate them.
var (
	ErrMalformedToken     = tokenErr(ReasonMalformed)
	ErrExpired            = tokenErr(ReasonExpired)
	ErrNotYetValid        = tokenErr(ReasonNotYetValid)
	ErrIssuedInFuture     = tokenErr(ReasonIssuedInFuture)
	ErrBadSignature       = tokenErr(ReasonBadSignature)
	ErrUnknownKey         = tokenErr(ReasonUnknownKey)
	ErrAlgNotAllowed      = tokenErr(ReasonAlgNotAllowed)
	ErrWrongType          = tokenErr(ReasonWrongType)
	ErrWrongIssuer        = tokenErr(ReasonWrongIssuer)
	ErrWrongAudience      = tokenErr(ReasonWrongAudience)
	ErrMissingClaim       = tokenErr(ReasonMissingClaim)
	ErrForbiddenHeader    = tokenErr(ReasonForbiddenHeader)
	ErrTokenTooLarge      = tokenErr(ReasonTooLarge)
	ErrTokenUsed          = tokenErr(ReasonTokenUsed)
	ErrTokenRevoked       = tokenErr(ReasonTokenRevoked)
	ErrAgentRevokedToken  = tokenErr(ReasonAgentRevoked)
	ErrRunRevoked         = tokenErr(ReasonRunRevoked)
	ErrLegacyTokenRefused = tokenErr(ReasonLegacyTokenRefused)
	ErrClientRevoked      = tokenErr(ReasonClientRevoked)

	ErrMalformedProof  = proofErr(ReasonMalformed)
	ErrMissingProof    = proofErr(ReasonMissingProof)
	ErrProofAlg        = proofErr(ReasonAlgNotAllowed)
	ErrProofType       = proofErr(ReasonWrongType)
	ErrProofSignature  = proofErr(ReasonBadSignature)
	ErrProofPrivateKey = proofErr(ReasonPrivateKey)
	ErrReplayedProof   = proofErr(ReasonReplayedProof)
	ErrWrongMethod     = proofErr(ReasonWrongMethod)
	ErrWrongURI        = proofErr(ReasonWrongURI)
	ErrAthMismatch     = proofErr(ReasonAthMismatch)
	ErrKeyMismatch     = proofErr(ReasonKeyMismatch)
	ErrStaleProof      = proofErr(ReasonStaleProof)
	ErrProofTooLarge   = proofErr(ReasonTooLarge)
	ErrNonceRequired   = &Error{Code: CodeUseDPoPNonce, Reason: ReasonNonceRequired, Status: http.StatusUnauthorized}

	ErrInvalidRequest = &Error{Code: CodeInvalidRequest, Status: http.StatusBadRequest}
	// ErrNonCanonicalPath refuses a request path the enforcer will not
	// route or forward (§8 path canonicalization).
	ErrNonCanonicalPath = &Error{Code: CodeInvalidRequest, Reason: ReasonNonCanonicalPath, Status: http.StatusBadRequest}
)
