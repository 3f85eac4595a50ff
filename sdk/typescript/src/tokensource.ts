/**
 * Token sources: one per (agent, run, step, resource, scope), each caching
 * its intent token and renewing it before it expires. A token is never
 * reused across steps or runs.
 *
 * @packageDocumentation
 */

import type { Agent } from './agent.js';
import { RENEW_BEFORE_MS, type TokenResponse } from './client.js';
import { AjwtError } from './errors.js';
import type { ProofKey } from './keys.js';

/** An access token bound to an agent's key. */
export interface Token {
  /** The token itself; send it only with a proof (`Authorization: DPoP`). */
  readonly accessToken: string;
  /** `DPoP` for intent tokens. */
  readonly tokenType: string;
  /** The granted scope, space-separated. */
  readonly scope: string;
  /** When it expires, in milliseconds since the epoch. */
  readonly expiresAt: number;
  /** The run it was issued for (`""` without a run). */
  readonly runId: string;
  /** The workflow step it was issued for (`""` without a run). */
  readonly step: string;
  /** The key its `cnf.jkt` names, which signs the proofs that go with it. */
  readonly proofKey: ProofKey;
  /** The agent checksum the grant showed. */
  readonly checksum: string;
}

/** Supplies tokens, like `oauth2.TokenSource`. */
export interface TokenSource {
  /** Returns a valid token, obtaining or renewing one when needed. */
  token(opts?: { signal?: AbortSignal }): Promise<Token>;
  /** Drops `token` from the cache (an enforcer said it expired), so that the next call gets a new one. */
  invalidate?(token: Token): void;
}

/** Options of {@link Agent.tokenSource}. */
export interface TokenSourceOptions {
  /** The RFC 8707 resource (the token's audience). */
  resource?: string;
  /** Narrows the scope (default: the step's scopes). */
  scopes?: string[];
  /**
   * Supplies a fresh delegation assertion for each grant (they are single
   * use), e.g. `() => supervisor.delegate('patcher', runId, 'patch')`.
   */
  delegation?: () => Promise<string>;
}

/** @internal */
export function sourceKey(runId: string, step: string, o: TokenSourceOptions): string {
  return JSON.stringify([runId, step, o.resource ?? '', (o.scopes ?? []).join(' ')]);
}

/** The token source of one agent for one step of one run. */
export class StepTokenSource implements TokenSource {
  #token: Token | undefined;
  #pending: Promise<Token> | undefined;

  /** @internal */
  constructor(
    private readonly agent: Agent,
    /** The run (`""` for agents registered without `workflow_required`). */
    readonly runId: string,
    /** The workflow step. */
    readonly step: string,
    /** @internal */ public options: TokenSourceOptions,
  ) {}

  /** Returns the cached token while it is valid for 30 s more and the live spec still has its checksum; otherwise a new one. */
  async token(opts: { signal?: AbortSignal } = {}): Promise<Token> {
    const cached = this.#token;
    if (cached && this.agent.now() < cached.expiresAt - RENEW_BEFORE_MS && (await this.stillOurs(cached))) return cached;
    this.#pending ??= this.fetch(opts.signal).finally(() => {
      this.#pending = undefined;
    });
    return this.#pending;
  }

  /** Whether the source holds a token it would still hand out (no I/O; the spec is not re-checked). */
  live(): boolean {
    const t = this.#token;
    return t !== undefined && this.agent.now() < t.expiresAt - RENEW_BEFORE_MS;
  }

  /** Drops `token` from the cache. */
  invalidate(token: Token): void {
    if (this.#token === token) this.#token = undefined;
  }

  /** A spec changed in memory makes the cached token stale: the next grant must show the new checksum. */
  private async stillOurs(t: Token): Promise<boolean> {
    try {
      const id = await this.agent.identity();
      return id.checksum === t.checksum && id.key.thumbprint === t.proofKey.thumbprint;
    } catch {
      return false;
    }
  }

  private async fetch(signal?: AbortSignal): Promise<Token> {
    const form = new URLSearchParams();
    if (this.runId !== '') {
      form.set('run_id', this.runId);
      form.set('workflow_step', this.step);
    }
    if (this.options.resource) form.set('resource', this.options.resource);
    if (this.options.scopes?.length) form.set('scope', this.options.scopes.join(' '));
    if (this.options.delegation) {
      try {
        form.set('delegation_assertion', await this.options.delegation());
      } catch (e) {
        if (e instanceof AjwtError) throw e;
        throw new AjwtError({ code: 'invalid_request', description: 'delegation assertion could not be made', cause: e });
      }
    }
    const tok = await this.agent.grant(form, signal);
    this.#token = tok;
    return tok;
  }
}

/** Turns a token answer into a {@link Token}. @internal */
export function toToken(res: TokenResponse, now: number, key: ProofKey, checksum: string): Token {
  return Object.freeze({
    accessToken: res.access_token,
    tokenType: res.token_type,
    scope: res.scope ?? '',
    expiresAt: now + res.expires_in * 1000,
    runId: res.run_id ?? '',
    step: res.workflow_step ?? '',
    proofKey: key,
    checksum,
  });
}
