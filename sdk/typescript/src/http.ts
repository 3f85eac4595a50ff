/**
 * HTTP plumbing shared by the client and the fetch wrapper: timeouts on
 * every call, bounded reads, protocol error bodies.
 *
 * @internal
 * @packageDocumentation
 */

import { AjwtError, MAX_RESPONSE_BYTES, errorFromBody } from './errors.js';

/** A `fetch`-compatible function. */
export type FetchLike = (input: string | URL | Request, init?: RequestInit) => Promise<Response>;

/** Default timeout of a call to the IdP. */
export const DEFAULT_TIMEOUT_MS = 10_000;

/** A signal that aborts on the caller's signal or after `ms`. @internal */
export function timeoutSignal(ms: number, signal?: AbortSignal | null): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, t]) : t;
}

/**
 * Sends a request and reads its whole answer (at most 1 MiB) within
 * `timeoutMs`. Network failures become `network_error`; the message names
 * the method and path, never headers or bodies. @internal
 */
export async function call(
  fetchFn: FetchLike,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  signal?: AbortSignal | null,
): Promise<{ res: Response; body: string }> {
  const where = `${init.method ?? 'GET'} ${safePath(url)}`;
  try {
    const res = await fetchFn(url, { ...init, signal: timeoutSignal(timeoutMs, signal) });
    return { res, body: await readLimited(res) };
  } catch (e) {
    if (e instanceof AjwtError) throw e;
    throw new AjwtError({ code: 'network_error', description: `${where}: ${(e as Error).name === 'TimeoutError' ? 'timed out' : (e as Error).message}`, cause: e });
  }
}

function safePath(url: string): string {
  try {
    return new URL(url).pathname;
  } catch {
    return '?';
  }
}

/** Reads a body of at most `limit` bytes. @internal */
export async function readLimited(res: Response, limit = MAX_RESPONSE_BYTES): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let n = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n += value.byteLength;
    if (n > limit) {
      await reader.cancel();
      throw new AjwtError({ code: 'invalid_response', status: res.status, description: `answer larger than ${limit} bytes` });
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Decodes a JSON answer; a non-2xx answer is the error its body names. @internal */
export function decodeAnswer<T>(res: Response, body: string): T {
  let parsed: unknown;
  try {
    parsed = body === '' ? undefined : JSON.parse(body);
  } catch {
    parsed = undefined;
    if (res.ok) throw new AjwtError({ code: 'invalid_response', status: res.status, description: 'answer is not JSON' });
  }
  if (!res.ok) throw errorFromBody(res.status, parsed);
  return parsed as T;
}
