/**
 * `@ajwt/client`: the TypeScript client SDK of ajwt (Agentic JWT). It
 * computes agent checksums (RFC 8785), derives per-agent keys, signs DPoP
 * proofs and obtains intent tokens per workflow step from an ajwt IdP, and
 * signs every API request (`ajwtFetch`), MCP included. The wire protocol is
 * docs/PROTOCOL.md of the ajwt repository; the Go shim (`client`) is the
 * reference behaviour.
 *
 * @example
 * ```ts
 * const c = await AjwtClient.discover({ issuer, clientId: 'patch-app', clientSecret });
 * const patcher = c.agent(spec, derivedKey(master));
 * await patcher.verifyRegistration();
 * const run = await c.startRun('vuln-patch', 'user:alice', { repo: 'acme/web' });
 * const api = ajwtFetch(patcher.tokenSource(run.run_id, 'patch', { resource: 'https://forge.example' }));
 * await api('https://forge.example/repos/acme/web/pulls', { method: 'POST', body: '…' });
 * await patcher.complete(run.run_id, 'patch');
 * ```
 *
 * @packageDocumentation
 */

export { AjwtError, type AjwtErrorCode, type AjwtErrorInit, MAX_RESPONSE_BYTES } from './errors.js';
export { type JsonValue, MAX_JSON_DEPTH, canonicalize, canonicalNumber, canonicalString, checkIJsonNumber, isWellFormed, parseIJsonNumber } from './jcs.js';
export { type AgentSpec, type Substitution, type Tool, MAX_VALUE_LENGTH } from './spec.js';
export {
  MAX_SPEC_BYTES, agentChecksum, canonicalSpec, checksumOfCanonical, checksumsEqual, normalizePrompt, parseChecksum, parseSpec, validateSpec,
} from './checksum.js';
export { render } from './render.js';
export {
  type CryptoKey, DERIVE_SALT, MIN_MASTER_SECRET, ProofKey, type ProofAlg, type RawSigner, deriveAgentKey, deriveSeed, ed25519FromSeed, loadMasterSecretFile,
  loadProofKeyFile, parseMasterSecret, proofKeyFromCryptoKey, proofKeyFromPrivateKey,
} from './keys.js';
export {
  DELEGATION_LIFETIME_SECONDS, type DelegationClaims, type ProofOptions, accessTokenHash, createDelegationAssertion, createDpopProof, dpopHtu,
} from './dpop.js';
export { type FetchLike, DEFAULT_TIMEOUT_MS } from './http.js';
export {
  AjwtClient, type CallOptions, type DiscoverOptions, type PrivateKeyJwt, RENEW_BEFORE_MS, type Run, type RunStep, type ServerMetadata, type TokenResponse,
} from './client.js';
export { Agent, type AgentKey, type CompleteOptions, DerivedKey, type ExchangeOptions, derivedKey } from './agent.js';
export { StepTokenSource, type Token, type TokenSource, type TokenSourceOptions } from './tokensource.js';
export { type AjwtFetchOptions, DEFAULT_FETCH_TIMEOUT_MS, ajwtFetch } from './fetch.js';
export { type AjwtMcpTransportOptions, MCP_REFUSAL_CODE, type McpRefusal, ajwtMcpTransport, mcpFetch } from './mcp.js';
