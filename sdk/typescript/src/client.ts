/**
 * The IdP side of the shim: discovery (RFC 8414), client authentication,
 * the token endpoint (§6) with DPoP nonces, and the run APIs (§5).
 *
 * @packageDocumentation
 */

import { Agent, type AgentKey } from './agent.js';
import { createDpopProof, randomId } from './dpop.js';
import { AjwtError } from './errors.js';
import { type FetchLike, DEFAULT_TIMEOUT_MS, call, decodeAnswer } from './http.js';
import type { ProofKey } from './keys.js';
import type { AgentSpec } from './spec.js';
import { validateSpec } from './checksum.js';

/** The authorization-server metadata members the SDK uses (§9). */
export interface ServerMetadata {
  issuer: string;
  token_endpoint: string;
  jwks_uri?: string;
  agent_registration_endpoint?: string;
  workflow_registration_endpoint?: string;
  run_endpoint?: string;
  revocation_endpoint?: string;
  introspection_endpoint?: string;
  dpop_signing_alg_values_supported?: string[];
  [member: string]: unknown;
}

/** One step of a run as the IdP reports it (§5). */
export interface RunStep {
  id: string;
  /** `pending`, `ready`, `in_progress` or `completed`. */
  state: string;
  completed_by?: string;
  completed_at?: number;
  approved_via?: string;
  missing_steps?: string[];
}

/** A workflow run as the IdP reports it (§5); the IdP alone changes it. */
export interface Run {
  run_id: string;
  workflow_id: string;
  workflow_version: number;
  /** `active`, `completed` or `revoked`. */
  status: string;
  initiated_by: string;
  execution_context?: Record<string, string>;
  steps: RunStep[];
}

/** The token endpoint's answer (§6.2, §6.4). */
export interface TokenResponse {
  access_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
  run_id?: string;
  workflow_step?: string;
  issued_token_type?: string;
}

/** `private_key_jwt` client authentication (RFC 7523, §1). */
export interface PrivateKeyJwt {
  /** The client's signing key (its public JWK is in the IdP's configuration). */
  key: ProofKey;
  /**
   * The `kid` of the assertion's header: the id of this key in the JWKS
   * configured for the client at the IdP (ajwt requires one). Default: the
   * key's RFC 7638 thumbprint.
   */
  kid?: string;
}

/** How {@link AjwtClient.discover} reaches the IdP. Give exactly one of `clientSecret` and `privateKeyJwt`. */
export interface DiscoverOptions {
  /** The IdP's issuer URL; its metadata must name exactly this issuer. */
  issuer: string;
  /** The OAuth client id. */
  clientId: string;
  /** The client secret, sent with `client_secret_basic`. */
  clientSecret?: string;
  /** Sign client assertions instead of sending a secret. */
  privateKeyJwt?: PrivateKeyJwt;
  /** The `fetch` to use; default the global one. */
  fetch?: FetchLike;
  /** Timeout of each call to the IdP, in milliseconds; default 10,000. */
  timeoutMs?: number;
  /** The clock, in milliseconds; default `Date.now`. */
  now?: () => number;
  /** Aborts the discovery. */
  signal?: AbortSignal;
}

/** Options of a single call. */
export interface CallOptions {
  /** Aborts the call (the client's timeout applies as well). */
  signal?: AbortSignal;
}

/** A token is renewed this long before it expires, so that none expires in flight. */
export const RENEW_BEFORE_MS = 30_000;

/**
 * One OAuth client of one IdP: it starts runs, reads them, and makes the
 * {@link Agent} handles that obtain intent tokens. Safe to share; it holds
 * no global state.
 */
export class AjwtClient {
  /** The IdP's metadata. */
  readonly metadata: Readonly<ServerMetadata>;
  /** The OAuth client id. */
  readonly clientId: string;
  /** @internal */ readonly fetch: FetchLike;
  /** @internal */ readonly timeoutMs: number;
  /** @internal */ readonly now: () => number;
  readonly #secret: string | undefined;
  readonly #privateKeyJwt: PrivateKeyJwt | undefined;
  #nonce: string | undefined;
  #appToken: { value: string; renewAt: number } | undefined;
  #appPending: Promise<string> | undefined;

  private constructor(opts: DiscoverOptions, metadata: ServerMetadata) {
    this.metadata = Object.freeze({ ...metadata });
    this.clientId = opts.clientId;
    this.fetch = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.now = opts.now ?? Date.now;
    this.#secret = opts.clientSecret;
    this.#privateKeyJwt = opts.privateKeyJwt;
  }

  /**
   * Reads the IdP's metadata (`/.well-known/oauth-authorization-server`) and
   * returns a client for it. The metadata must name the issuer given.
   */
  static async discover(opts: DiscoverOptions): Promise<AjwtClient> {
    if (!opts.issuer || !opts.clientId || (opts.clientSecret === undefined) === (opts.privateKeyJwt === undefined)) {
      throw new AjwtError({ code: 'invalid_request', description: 'issuer, clientId and exactly one of clientSecret and privateKeyJwt are required' });
    }
    const issuer = opts.issuer.replace(/\/$/, '');
    const fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    const { res, body } = await call(fetchFn, `${issuer}/.well-known/oauth-authorization-server`, { method: 'GET' }, opts.timeoutMs ?? DEFAULT_TIMEOUT_MS, opts.signal);
    const meta = decodeAnswer<ServerMetadata>(res, body);
    if (meta?.issuer !== issuer || typeof meta.token_endpoint !== 'string') {
      throw new AjwtError({ code: 'invalid_response', description: `metadata names issuer ${JSON.stringify(meta?.issuer)}, want ${JSON.stringify(issuer)}` });
    }
    return new AjwtClient(opts, meta);
  }

  /**
   * Makes the handle of the agent `spec` describes. The handle keeps the
   * object: its checksum is recomputed for every grant, so a specification
   * changed in memory is refused by the IdP (`agent_checksum_mismatch`).
   * An invalid specification throws now.
   */
  agent(spec: AgentSpec, key: AgentKey): Agent {
    validateSpec(spec);
    return new Agent(this, spec, key);
  }

  /** Starts a run of `workflowId` (§5) on behalf of `initiatedBy`; needs `ajwt:run`. */
  startRun(workflowId: string, initiatedBy: string, executionContext: Record<string, string> = {}, opts: CallOptions = {}): Promise<Run> {
    const body = { workflow_id: workflowId, initiated_by: initiatedBy, execution_context: executionContext };
    return this.appJson<Run>('POST', this.endpoint('run_endpoint'), body, opts);
  }

  /** Reads a run. */
  getRun(runId: string, opts: CallOptions = {}): Promise<Run> {
    return this.appJson<Run>('GET', `${this.endpoint('run_endpoint')}/${encodeURIComponent(runId)}`, undefined, opts);
  }

  /** Stops a run and revokes its tokens. */
  async revokeRun(runId: string, opts: CallOptions = {}): Promise<void> {
    await this.appJson<unknown>('POST', `${this.endpoint('run_endpoint')}/${encodeURIComponent(runId)}/revoke`, undefined, opts);
  }

  /** Completes an approval step (§5); the client needs `ajwt:approve`. */
  approve(runId: string, step: string, approver: string, comment = '', opts: CallOptions = {}): Promise<Run> {
    const url = `${this.endpoint('run_endpoint')}/${encodeURIComponent(runId)}/steps/${encodeURIComponent(step)}/approve`;
    return this.appJson<Run>('POST', url, { approver, comment }, opts);
  }

  /** @internal */
  endpoint(name: 'run_endpoint' | 'agent_registration_endpoint'): string {
    const u = this.metadata[name];
    if (typeof u !== 'string' || u === '') throw new AjwtError({ code: 'invalid_response', description: `the IdP's metadata has no ${name}` });
    return u;
  }

  /**
   * Posts a form to the token endpoint, authenticated as the client, with a
   * fresh DPoP proof of `key` when given; retries once with the IdP's nonce
   * when it asks for one (`use_dpop_nonce`). @internal
   */
  async tokenRequest(form: URLSearchParams, key: ProofKey | undefined, signal?: AbortSignal): Promise<TokenResponse> {
    for (let attempt = 0; ; attempt++) {
      try {
        const proof = key ? await createDpopProof(key, 'POST', this.metadata.token_endpoint, { nonce: this.#nonce, now: this.now() }) : undefined;
        return await this.postToken(form, proof, signal);
      } catch (e) {
        if (attempt === 0 && key && e instanceof AjwtError && e.code === 'use_dpop_nonce') continue;
        throw e;
      }
    }
  }

  private async postToken(form: URLSearchParams, proof: string | undefined, signal?: AbortSignal): Promise<TokenResponse> {
    const headers = new Headers({ 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' });
    const body = new URLSearchParams(form);
    await this.authenticate(headers, body);
    if (proof) headers.set('DPoP', proof);
    const { res, body: text } = await call(this.fetch, this.metadata.token_endpoint, { method: 'POST', headers, body: body.toString() }, this.timeoutMs, signal);
    this.rememberNonce(res);
    const tok = decodeAnswer<TokenResponse>(res, text);
    if (typeof tok?.access_token !== 'string' || typeof tok.expires_in !== 'number') {
      throw new AjwtError({ code: 'invalid_response', status: res.status, description: 'token answer without access_token or expires_in' });
    }
    return tok;
  }

  private async authenticate(headers: Headers, form: URLSearchParams): Promise<void> {
    if (this.#secret !== undefined) {
      const enc = (s: string) => new URLSearchParams({ v: s }).toString().slice(2); // RFC 6749 §2.3.1
      headers.set('Authorization', 'Basic ' + Buffer.from(`${enc(this.clientId)}:${enc(this.#secret)}`).toString('base64'));
      return;
    }
    const pk = this.#privateKeyJwt!;
    const iat = Math.floor(this.now() / 1000);
    const header = { alg: pk.key.alg, typ: 'JWT', kid: pk.kid ?? pk.key.thumbprint };
    const assertion = await pk.key.signJws(header, { iss: this.clientId, sub: this.clientId, aud: this.metadata.issuer, jti: randomId(), iat, exp: iat + 60 });
    form.set('client_id', this.clientId);
    form.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    form.set('client_assertion', assertion);
  }

  /** @internal */
  rememberNonce(res: Response): void {
    const n = res.headers.get('DPoP-Nonce');
    if (n) this.#nonce = n;
  }

  /** A `client_credentials` token for the run and registry APIs, cached until shortly before it expires. @internal */
  async appBearer(signal?: AbortSignal): Promise<string> {
    if (this.#appToken && this.now() < this.#appToken.renewAt) return this.#appToken.value;
    this.#appPending ??= this.fetchAppToken(signal).finally(() => {
      this.#appPending = undefined;
    });
    return this.#appPending;
  }

  private async fetchAppToken(signal?: AbortSignal): Promise<string> {
    const tok = await this.tokenRequest(new URLSearchParams({ grant_type: 'client_credentials' }), undefined, signal);
    this.#appToken = { value: tok.access_token, renewAt: this.now() + tok.expires_in * 1000 - RENEW_BEFORE_MS };
    return tok.access_token;
  }

  /** A JSON call to the IdP's APIs with the client's own token. @internal */
  async appJson<T>(method: string, url: string, body: unknown, opts: CallOptions = {}): Promise<T> {
    const token = await this.appBearer(opts.signal);
    const headers = new Headers({ Authorization: `Bearer ${token}`, Accept: 'application/json' });
    if (body !== undefined) headers.set('Content-Type', 'application/json');
    const init: RequestInit = { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) };
    const { res, body: text } = await call(this.fetch, url, init, this.timeoutMs, opts.signal);
    this.rememberNonce(res);
    return decodeAnswer<T>(res, text);
  }
}
