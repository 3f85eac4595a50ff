/**
 * `ajwtFetch`: a drop-in `fetch` that sends every request with
 * `Authorization: DPoP <token>` and a fresh proof, like the Go shim's
 * `client.Transport`.
 *
 * @packageDocumentation
 */

import { createDpopProof } from './dpop.js';
import { AjwtError } from './errors.js';
import type { FetchLike } from './http.js';
import type { Token, TokenSource } from './tokensource.js';

/** Options of {@link ajwtFetch}. */
export interface AjwtFetchOptions {
  /** The underlying `fetch`; default the global one. */
  fetch?: FetchLike;
  /**
   * How long to wait for an answer's headers, in milliseconds (default
   * 30,000). The body is not timed: event streams stay open.
   */
  timeoutMs?: number;
}

/** Default wait for response headers in {@link ajwtFetch}. */
export const DEFAULT_FETCH_TIMEOUT_MS = 30_000;

/**
 * Returns a `fetch` that signs each request for the token `source` gives:
 * `Authorization: DPoP <token>` and a `DPoP` proof with `ath` and an `htu`
 * without query or fragment. When the server answers 401 it retries at
 * most once with the `DPoP-Nonce` it asked for (`use_dpop_nonce`) and at
 * most once with a new token when it says the token expired; the body is
 * buffered once and re-sent. Any `Authorization` or `DPoP` header the
 * caller set is replaced.
 */
export function ajwtFetch(source: TokenSource, opts: AjwtFetchOptions = {}): FetchLike {
  const base = opts.fetch ?? globalThis.fetch.bind(globalThis);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  return async (input, init) => {
    const req = new Request(input, init?.body ? ({ ...init, duplex: 'half' } as RequestInit) : init);
    const body = req.body ? new Uint8Array(await req.arrayBuffer()) : undefined;
    const send = async (tok: Token, nonce?: string): Promise<Response> => {
      const proof = await createDpopProof(tok.proofKey, req.method, req.url, { accessToken: tok.accessToken, nonce });
      const headers = new Headers(req.headers);
      headers.set('Authorization', `DPoP ${tok.accessToken}`);
      headers.set('DPoP', proof);
      const sendInit: RequestInit = { method: req.method, headers, redirect: req.redirect };
      if (body) sendInit.body = body;
      return withHeaderTimeout(base, req.url, sendInit, req.signal, timeoutMs);
    };
    let tok = await source.token({ signal: req.signal });
    let res = await send(tok);
    let nonceRetried = false;
    let refreshed = false;
    for (;;) {
      const retry = retryReason(res);
      if (retry === 'use_dpop_nonce' && !nonceRetried) {
        nonceRetried = true;
        await drain(res);
        res = await send(tok, res.headers.get('DPoP-Nonce') ?? undefined);
      } else if (retry === 'expired' && !refreshed && source.invalidate) {
        refreshed = true;
        source.invalidate(tok);
        const fresh = await source.token({ signal: req.signal });
        if (fresh.accessToken === tok.accessToken) return res;
        await drain(res);
        tok = fresh;
        res = await send(tok);
      } else {
        return res;
      }
    }
  };
}

/** Reads a 401 challenge: `use_dpop_nonce`, `expired` or `undefined`. @internal */
export function retryReason(res: Response): 'use_dpop_nonce' | 'expired' | undefined {
  if (res.status !== 401) return undefined;
  const h = res.headers.get('WWW-Authenticate') ?? '';
  if (/error="use_dpop_nonce"/.test(h) && res.headers.get('DPoP-Nonce')) return 'use_dpop_nonce';
  if (/error="invalid_token"/.test(h) && /expired/i.test(h)) return 'expired';
  return undefined;
}

async function drain(res: Response): Promise<void> {
  await res.body?.cancel().catch(() => undefined);
}

/** Sends with a deadline on the answer's headers; the caller's signal still aborts the body later. */
async function withHeaderTimeout(base: FetchLike, url: string, init: RequestInit, signal: AbortSignal, ms: number): Promise<Response> {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort(signal.reason);
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => ctl.abort(new DOMException('no answer in time', 'TimeoutError')), ms);
  try {
    return await base(url, { ...init, signal: ctl.signal });
  } catch (e) {
    if (signal.aborted) throw e;
    const path = new URL(url).pathname;
    throw new AjwtError({ code: 'network_error', description: `${init.method ?? 'GET'} ${path}: ${ctl.signal.aborted ? 'timed out' : (e as Error).message}`, cause: e });
  } finally {
    clearTimeout(timer);
  }
}
