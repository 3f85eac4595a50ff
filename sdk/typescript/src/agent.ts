/**
 * Agent handles: what one agent of the client may do, signing only with its
 * own key and only in its own name (§2–§6).
 *
 * @packageDocumentation
 */

import { agentChecksum, checksumsEqual } from './checksum.js';
import type { AjwtClient, CallOptions, Run } from './client.js';
import { createDelegationAssertion } from './dpop.js';
import { AjwtError } from './errors.js';
import { ajwtFetch } from './fetch.js';
import { decodeAnswer, readLimited } from './http.js';
import { ProofKey, deriveAgentKey } from './keys.js';
import { render } from './render.js';
import type { AgentSpec } from './spec.js';
import { StepTokenSource, type Token, type TokenSourceOptions, sourceKey, toToken } from './tokensource.js';

/** The shim's default agent key: derived from a master secret, per agent and checksum (§3). */
export class DerivedKey {
  readonly #master: Uint8Array;

  /** Keeps a copy of the master secret (at least 32 bytes). */
  constructor(masterSecret: Uint8Array) {
    this.#master = Uint8Array.from(masterSecret);
  }

  /** @internal */
  keyFor(agentId: string, checksum: string): Promise<ProofKey> {
    return deriveAgentKey(this.#master, agentId, checksum);
  }

  /** Never prints the secret. */
  toJSON(): unknown {
    return { derived: true };
  }
}

/** Derives each agent's Ed25519 key from the shim's master secret (§3): a changed agent gets a changed key. */
export function derivedKey(masterSecret: Uint8Array): DerivedKey {
  return new DerivedKey(masterSecret);
}

/** An agent's key: derived (the default) or one fixed {@link ProofKey} (file, WebCrypto, KMS). */
export type AgentKey = DerivedKey | ProofKey;

/** Options of {@link Agent.exchange}. */
export interface ExchangeOptions extends CallOptions {
  /** The narrower scope. */
  scopes?: string[];
  /** RFC 8707 resource of the new token. */
  resource?: string;
  /** RFC 8693 audience (treated as resource by the IdP). */
  audience?: string;
}

/** Options of {@link Agent.complete}. */
export interface CompleteOptions extends CallOptions {
  /** SHA-256 (hex) of the step's result, recorded by future IdPs. */
  resultSha256?: string;
}

/** One agent of the client. Make it with {@link AjwtClient.agent}. */
export class Agent {
  readonly #client: AjwtClient;
  readonly #spec: AgentSpec;
  readonly #key: AgentKey;
  readonly #sources = new Map<string, StepTokenSource>();
  #last: { checksum: string; key: ProofKey } | undefined;

  /** @internal */
  constructor(client: AjwtClient, spec: AgentSpec, key: AgentKey) {
    this.#client = client;
    this.#spec = spec;
    this.#key = key;
  }

  /** The agent id of the live specification. */
  get id(): string {
    return this.#spec.agent_id;
  }

  /** Recomputes the checksum of the live specification. */
  checksum(): Promise<string> {
    return agentChecksum(this.#spec);
  }

  /** @internal */
  now(): number {
    return this.#client.now();
  }

  /**
   * The checksum and key of the specification as it is now. Deriving the
   * key again for an unchanged checksum would only repeat the same HKDF.
   * @internal
   */
  async identity(): Promise<{ checksum: string; key: ProofKey }> {
    const checksum = await this.checksum();
    if (this.#last?.checksum === checksum) return this.#last;
    const key = this.#key instanceof ProofKey ? this.#key : await this.#key.keyFor(this.id, checksum);
    this.#last = { checksum, key };
    return this.#last;
  }

  /** Fills the agent's prompt template (§2.5), refusing values outside their declarations. */
  render(values: Readonly<Record<string, string>>): string {
    return render(this.#spec.prompt_template, values, this.#spec.substitutions ?? {});
  }

  /**
   * Compares the local checksum and key thumbprint with the IdP's
   * registration; run it at start-up, before any work. A difference throws
   * `registration_mismatch` with `reason` `agent_checksum`, `jkt`,
   * `revoked` or `registration` (not registered).
   */
  async verifyRegistration(opts: CallOptions = {}): Promise<void> {
    const { checksum, key } = await this.identity();
    let reg: { agent_checksum?: string; jkt?: string; revoked?: boolean };
    try {
      reg = await this.#client.appJson('GET', `${this.#client.endpoint('agent_registration_endpoint')}/${encodeURIComponent(this.id)}`, undefined, opts);
    } catch (e) {
      if (e instanceof AjwtError && e.status === 404) throw mismatch(this.id, 'registration', 'not registered at the IdP');
      throw e;
    }
    if (!checksumsEqual(reg.agent_checksum ?? '', checksum)) throw mismatch(this.id, 'agent_checksum', `local ${checksum}, IdP ${reg.agent_checksum}`);
    if (reg.jkt !== key.thumbprint) throw mismatch(this.id, 'jkt', `local ${key.thumbprint}, IdP ${reg.jkt}`);
    if (reg.revoked) throw mismatch(this.id, 'revoked', 'the IdP has revoked the agent');
  }

  /**
   * The agent's token source for one step of one run (`runId` `""` for
   * agents registered without `workflow_required`). Sources are cached per
   * (run, step, resource, scope): a token never crosses steps or runs.
   */
  tokenSource(runId: string, step: string, opts: TokenSourceOptions = {}): StepTokenSource {
    const k = sourceKey(runId, step, opts);
    let s = this.#sources.get(k);
    if (!s) {
      s = new StepTokenSource(this, runId, step, { ...opts });
      this.#sources.set(k, s);
    } else if (opts.delegation) {
      s.options = { ...s.options, delegation: opts.delegation };
    }
    return s;
  }

  /**
   * The `agent_checksum` grant (§6.2) with a fresh proof, the checksum
   * recomputed from the live spec. @internal
   */
  async grant(form: URLSearchParams, signal?: AbortSignal): Promise<Token> {
    const { checksum, key } = await this.identity();
    form.set('grant_type', 'urn:ietf:params:oauth:grant-type:agent_checksum');
    form.set('agent_id', this.id);
    form.set('agent_checksum', checksum);
    const res = await this.#client.tokenRequest(form, key, signal);
    return toToken(res, this.now(), key, checksum);
  }

  /** Reports the agent's step done (§5), with the step's own token and a proof with `ath`. */
  async complete(runId: string, step: string, opts: CompleteOptions = {}): Promise<Run> {
    // A source of this step that holds a live token completes it without
    // another grant (one `grant issued` per step in the audit log).
    const src = [...this.#sources.values()].find((s) => s.runId === runId && s.step === step && s.live()) ?? this.tokenSource(runId, step);
    const tok = await src.token(opts);
    const url = `${this.#client.endpoint('run_endpoint')}/${encodeURIComponent(runId)}/steps/${encodeURIComponent(step)}/complete`;
    const f = ajwtFetch(src, { fetch: this.#client.fetch, timeoutMs: this.#client.timeoutMs });
    const init: RequestInit = { method: 'POST', headers: { Accept: 'application/json' } };
    if (opts.resultSha256) {
      init.body = JSON.stringify({ result_sha256: opts.resultSha256 });
      init.headers = { Accept: 'application/json', 'Content-Type': 'application/json' };
    }
    if (opts.signal) init.signal = opts.signal;
    const res = await f(url, init);
    this.#client.rememberNonce(res);
    const run = decodeAnswer<Run>(res, await readLimited(res));
    src.invalidate(tok);
    return run;
  }

  /**
   * Signs a delegation assertion (§6.3) that lets agent `to` execute `step`
   * of `runId`; `to` sends it with its own grant (the `delegation` option of
   * {@link tokenSource}). Valid for 30 seconds, once.
   */
  async delegate(to: string, runId: string, step: string): Promise<string> {
    const { key } = await this.identity();
    return createDelegationAssertion(key, { from: this.id, to, issuer: this.#client.metadata.issuer, runId, step, now: this.now() });
  }

  /**
   * Trades one of the agent's tokens for a narrower one (§6.4, RFC 8693):
   * same agent, run, step and key; a subset of the scope, or one audience.
   */
  async exchange(subjectToken: string, opts: ExchangeOptions = {}): Promise<Token> {
    const { checksum, key } = await this.identity();
    const form = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
      requested_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    });
    if (opts.scopes?.length) form.set('scope', opts.scopes.join(' '));
    if (opts.resource) form.set('resource', opts.resource);
    if (opts.audience) form.set('audience', opts.audience);
    const res = await this.#client.tokenRequest(form, key, opts.signal);
    return toToken(res, this.now(), key, checksum);
  }
}

function mismatch(agentId: string, field: string, detail: string): AjwtError {
  return new AjwtError({ code: 'registration_mismatch', reason: field, description: `agent ${agentId}: ${field} differs from the registration (${detail})` });
}
