package protocol

import "time"

// Grant types and token types of §6.
const (
	GrantClientCredentials = "client_credentials"
	GrantAgentChecksum     = "urn:ietf:params:oauth:grant-type:agent_checksum"
	GrantTokenExchange     = "urn:ietf:params:oauth:grant-type:token-exchange"
	TokenTypeAccessToken   = "urn:ietf:params:oauth:token-type:access_token"

	TypeAccessToken = "at+jwt"         // JOSE typ of every access token (RFC 9068)
	TypeDPoPProof   = "dpop+jwt"       // JOSE typ of a DPoP proof (RFC 9449)
	TypeDelegation  = "delegation+jwt" // JOSE typ of a delegation assertion (§6.3)
)

// Default limits of §10. Servers may lower them; they never raise the hard caps.
const (
	MaxRegistrationBody = 1 << 20 // bytes
	MaxRequestBody      = 64 << 10
	MaxTokenSize        = 8 << 10 // a token or a proof, bytes
	MaxJSONDepth        = 32
	DefaultIATSkew      = 60 * time.Second
	DefaultTokenTTL     = 300 * time.Second
	MaxDelegationDepth  = 5
	DefaultLeeway       = 5 * time.Second // enforcer exp/nbf/iat leeway (§8)
	MaxLeeway           = 60 * time.Second
	MaxDelegationTTL    = 60 * time.Second
)
