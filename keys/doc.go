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
//	issuer, _ := keys.LoadSignerFile("issuer.pem", keys.ES256) // PKCS#8, SEC 1, PKCS#1 or JWK
//	jwk, _ := keys.MarshalPublicJWK(issuer.CryptoSigner(), issuer.KeyID())
//	pub, err := keys.ParsePublicJWK(untrusted) // public P-256, Ed25519, RSA ≥ 2048 only
//
// Only ES256, EdDSA and RS256 exist here (RFC 7518 §3.1, RFC 8037), and
// Ed25519, RFC 9864's second name for EdDSA on an Ed25519 key, accepted
// (ProofAlgs, FitsKey, JOSEVerificationKey) but never signed with: "none"
// and HMAC cannot be named. Roles: issuer keys sign access tokens (ES256 by
// default, from a file, a KMS or Generate); agent keys sign DPoP proofs and
// delegation assertions (EdDSA, derived with DeriveAgentKey, by default).
// One Signer type serves both; the role is in the caller's hands, so never
// use one key for both. Private keys are never printed (Signer's String and
// GoString hide them) and errors about key files name the file, never its
// content.
//
// Implements: PROTOCOL.md §3 (derivation: HKDF, RFC 5869), RFC 7638
// (thumbprints), RFC 7517 (JWK), RFC 5208/5958, RFC 5915, RFC 8017 and
// RFC 8410 (PKCS#8, SEC 1, PKCS#1 and Ed25519 key files).
package keys
