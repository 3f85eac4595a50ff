/**
 * MCP agents behind an ajwt enforcer (PROTOCOL.md §12): the official MCP
 * TypeScript SDK's Streamable HTTP transport with {@link ajwtFetch}, and the
 * enforcer's refusals turned into JSON-RPC errors of the refused call.
 *
 * `@modelcontextprotocol/sdk` is an optional peer dependency: it is loaded
 * only when {@link ajwtMcpTransport} is called.
 *
 * @packageDocumentation
 */

import type { StreamableHTTPClientTransport, StreamableHTTPClientTransportOptions } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

import { isRecord } from './errors.js';
import { type AjwtFetchOptions, ajwtFetch } from './fetch.js';
import type { FetchLike } from './http.js';
import type { TokenSource } from './tokensource.js';

/**
 * The JSON-RPC error code of an enforcer's refusal (the implementation-
 * defined server error range), as the Go shim's `client.MCPRefusalCode`.
 * The MCP TypeScript SDK names the same number `ErrorCode.RequestTimeout`
 * for its own timeouts: tell them apart by the error's `data`
 * ({@link McpRefusal}, with `error` and `status`).
 */
export const MCP_REFUSAL_CODE = -32001;

/** The `data` of a refusal: the enforcer's §8 answer and its HTTP status. */
export interface McpRefusal {
  /** The HTTP status the enforcer answered (401, 403, 400, 413, …). */
  status: number;
  /** The OAuth/ajwt error code, e.g. `insufficient_scope`. */
  error: string;
  /** The enforcer's description. */
  error_description?: string;
  /** The reason, e.g. `tool_not_allowed`, `context_mismatch`, `token_used`. */
  reason?: string;
}

/**
 * A `fetch` for MCP clients: {@link ajwtFetch}, and an enforcer's 4xx JSON
 * refusal of a POSTed JSON-RPC request rewritten into a JSON-RPC error
 * response for that request's id, with code {@link MCP_REFUSAL_CODE} and
 * the refusal (with its HTTP status) as `data`.
 *
 * Unlike the Go shim, which keeps the HTTP status, the answer is given
 * status 200: the MCP TypeScript SDK (1.x) reads no JSON-RPC message from a
 * non-2xx answer — it throws a `StreamableHTTPError` carrying only the body
 * text — while from a 200 it delivers the error to the call that made the
 * request (an `McpError` with `code` and `data`) and the session goes on.
 * Refusals of notifications (no id) and of other methods are left as they
 * are.
 */
export function mcpFetch(source: TokenSource, opts: AjwtFetchOptions = {}): FetchLike {
  const signed = ajwtFetch(source, opts);
  return async (input, init) => {
    const req = new Request(input, init?.body ? ({ ...init, duplex: 'half' } as RequestInit) : init);
    const text = req.method === 'POST' && req.body ? await req.text() : undefined;
    const res = await signed(req.url, { method: req.method, headers: req.headers, signal: req.signal, ...(text === undefined ? {} : { body: text }) });
    return text === undefined ? res : refusalAsJsonRpc(text, res);
  };
}

/** Rewrites an enforcer's refusal of a JSON-RPC request. @internal */
export async function refusalAsJsonRpc(requestBody: string, res: Response): Promise<Response> {
  if (res.status < 400 || res.status >= 500 || !isJson(res.headers.get('Content-Type'))) return res;
  const id = requestId(requestBody);
  if (id === undefined) return res;
  const raw = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(raw);
  } catch {
    body = undefined;
  }
  if (!isRecord(body) || typeof body.error !== 'string' || body.error === '') {
    return new Response(raw, { status: res.status, statusText: res.statusText, headers: res.headers });
  }
  const refusal: McpRefusal = { status: res.status, error: body.error };
  if (typeof body.error_description === 'string') refusal.error_description = body.error_description;
  if (typeof body.reason === 'string') refusal.reason = body.reason;
  let message = refusal.error;
  if (refusal.reason) message += ` (${refusal.reason})`;
  if (refusal.error_description) message += `: ${refusal.error_description}`;
  const rpc = JSON.stringify({ jsonrpc: '2.0', id, error: { code: MCP_REFUSAL_CODE, message, data: refusal } });
  return new Response(rpc, { status: 200, headers: { 'Content-Type': 'application/json' } });
}

/** The id of a JSON-RPC request, `undefined` for a notification, a response or another body. */
function requestId(body: string): string | number | undefined {
  try {
    const msg: unknown = JSON.parse(body);
    if (isRecord(msg) && typeof msg.method === 'string' && (typeof msg.id === 'string' || typeof msg.id === 'number')) return msg.id;
  } catch {
    // not JSON: the enforcer answered mcp_malformed; leave its answer as it is
  }
  return undefined;
}

function isJson(contentType: string | null): boolean {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() === 'application/json';
}

/** Options of {@link ajwtMcpTransport}. */
export interface AjwtMcpTransportOptions extends AjwtFetchOptions {
  /** Further options of the MCP SDK's transport (its `fetch` is replaced). */
  transport?: Omit<StreamableHTTPClientTransportOptions, 'fetch'>;
}

/**
 * Builds the MCP TypeScript SDK's `StreamableHTTPClientTransport` for
 * `url`, sending every message with the step's intent token and a fresh
 * proof ({@link mcpFetch}). Connect an SDK `Client` with it: `tools/list`
 * then shows only what the step may call, and a refused call fails with an
 * `McpError` of code {@link MCP_REFUSAL_CODE} whose `data` is an
 * {@link McpRefusal}, the session intact.
 */
export async function ajwtMcpTransport(url: string | URL, source: TokenSource, opts: AjwtMcpTransportOptions = {}): Promise<StreamableHTTPClientTransport> {
  const { StreamableHTTPClientTransport: Transport } = await import('@modelcontextprotocol/sdk/client/streamableHttp.js');
  return new Transport(new URL(url), { ...opts.transport, fetch: mcpFetch(source, opts) });
}
