// Package authserver is the ajwt authorization server (IdP) of PROTOCOL.md
// §4–§7 and §9: agent and workflow registration, workflow runs with
// server-side state, the token endpoint (client_credentials, agent_checksum,
// token exchange), JWKS and metadata, introspection, revocation with a feed,
// and a hash-chained audit log.
//
// Every run-state rule is checked inside one store transaction with the
// write it guards, so concurrent requests cannot complete a step twice or
// skip one. Nothing a client says about completed steps or delegation is
// trusted: the server derives both from its own records.
package authserver
