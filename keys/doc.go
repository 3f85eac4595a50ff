// Package keys holds the key material of ajwt: signing keys of the issuer
// and proof keys of agents, both as Signer (any crypto.Signer with an
// algorithm and key ID, so KMS and HSM keys plug in), per-agent key
// derivation (PROTOCOL.md §3), PEM and JWK files, and RFC 7638 thumbprints.
//
//	master, _ := keys.LoadMasterSecretFile("shim-master.key")
//	priv, _ := keys.DeriveAgentKey(master, "patcher", string(sum)) // Ed25519
//	signer, _ := keys.NewSigner(priv, keys.EdDSA, "")
//	jkt := signer.Thumbprint()                                   // cnf.jkt
//
// Only ES256, EdDSA and RS256 exist here: "none" and HMAC cannot be named.
// Roles: issuer keys sign access tokens (ES256 by default); agent keys sign
// DPoP proofs and delegation assertions (EdDSA, derived, by default). Private
// keys are never printed: Signer's String hides them.
package keys
