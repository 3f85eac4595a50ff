/**
 * The one error class of the SDK. Protocol errors keep the IdP's or the
 * enforcer's `error` code, `reason`, HTTP status and description
 * (PROTOCOL.md §8, §9); local refusals use codes of their own (listed on
 * {@link AjwtErrorCode}). Messages never hold tokens, secrets, proofs or
 * refused substitution values.
 *
 * @packageDocumentation
 */

/**
 * Codes the SDK raises itself, beside the protocol's codes
 * (`invalid_request`, `agent_checksum_mismatch`, `invalid_dpop_proof`, …)
 * that it passes on from protocol bodies:
 *
 * - `invalid_request`: an invalid agent specification (`field` names it), or
 *   a malformed argument;
 * - `substitution_refused`: {@link render} refused a runtime value (§2.5);
 * - `registration_mismatch`: the local agent differs from its registration
 *   (`reason`: `agent_checksum`, `jkt`, `revoked` or `registration`);
 * - `invalid_key`: a key that cannot sign proofs (wrong type, size, format);
 * - `network_error`: no answer (connection refused, timeout, abort);
 * - `invalid_response`: an answer that is not what the protocol promises;
 * - `server_error`: an error answer without a protocol body.
 */
export type AjwtErrorCode =
  | 'invalid_request'
  | 'substitution_refused'
  | 'registration_mismatch'
  | 'invalid_key'
  | 'network_error'
  | 'invalid_response'
  | 'server_error'
  | (string & {});

/** What an {@link AjwtError} is built from. */
export interface AjwtErrorInit {
  /** The OAuth/ajwt error code, or one of the SDK's own codes. */
  code: AjwtErrorCode;
  /** The protocol's machine-readable `reason`, when there is one. */
  reason?: string | undefined;
  /** The HTTP status of the answer that carried the error. */
  status?: number | undefined;
  /** The `error_description` of the answer, or the SDK's explanation. */
  description?: string | undefined;
  /** For specification errors: the field, like `tools[1].name` (`""`: the whole document). */
  field?: string | undefined;
  /** For specification text: 1-based line of the error (0 when unknown). */
  line?: number | undefined;
  /** For specification text: 1-based column in characters (0 when unknown). */
  column?: number | undefined;
  /** Other members of the protocol body, such as `missing_steps`. */
  extra?: Record<string, unknown> | undefined;
  /** The underlying error, if any. */
  cause?: unknown;
}

/**
 * An error of the ajwt protocol or of the SDK. `code` is stable and
 * machine-readable; compare it (and `reason`) rather than the message.
 */
export class AjwtError extends Error {
  /** The error code (see {@link AjwtErrorCode}). */
  readonly code: AjwtErrorCode;
  /** The protocol's `reason`, if any. */
  readonly reason: string | undefined;
  /** The HTTP status, when the error came from an answer. */
  readonly status: number | undefined;
  /** The `error_description`, or the SDK's explanation. */
  readonly description: string | undefined;
  /** The specification field an `invalid_request` names. */
  readonly field: string | undefined;
  /** Line of a specification error (0 when unknown). */
  readonly line: number;
  /** Column of a specification error (0 when unknown). */
  readonly column: number;
  /** Other members of the protocol body (for example `missing_steps`). */
  readonly extra: Readonly<Record<string, unknown>>;

  /** Builds an error; prefer comparing `code` and `reason` to reading the message. */
  constructor(init: AjwtErrorInit) {
    super(formatMessage(init), init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'AjwtError';
    this.code = init.code;
    this.reason = init.reason;
    this.status = init.status;
    this.description = init.description;
    this.field = init.field;
    this.line = init.line ?? 0;
    this.column = init.column ?? 0;
    this.extra = Object.freeze({ ...(init.extra ?? {}) });
  }

  /** Reports whether this error has `code` and, when given, `reason`. */
  is(code: AjwtErrorCode, reason?: string): boolean {
    return this.code === code && (reason === undefined || this.reason === reason);
  }
}

function formatMessage(init: AjwtErrorInit): string {
  let s: string = init.code;
  if (init.reason) s += ` (${init.reason})`;
  if (init.field !== undefined && init.field !== '') s += ` ${init.field}`;
  if (init.description) s += `: ${init.description}`;
  if (init.status !== undefined) s += ` [HTTP ${init.status}]`;
  if (init.line) s = `line ${init.line}: ${s}`;
  return s;
}

/** Cap on the protocol bodies the SDK reads (PROTOCOL.md §10). */
export const MAX_RESPONSE_BYTES = 1 << 20;

/**
 * Builds the error an error answer stands for, from its
 * `{"error", "error_description", "reason", …}` body.
 * @internal
 */
export function errorFromBody(status: number, body: unknown): AjwtError {
  const m = isRecord(body) ? body : {};
  const str = (k: string): string | undefined => (typeof m[k] === 'string' ? (m[k] as string) : undefined);
  const { error: _e, error_description: _d, reason: _r, ...extra } = m;
  const code = str('error');
  if (!code) {
    return new AjwtError({ code: 'server_error', status, description: `HTTP ${status} without a protocol error body` });
  }
  return new AjwtError({ code, reason: str('reason'), status, description: str('error_description'), extra });
}

/** @internal */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
