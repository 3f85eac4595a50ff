/**
 * RFC 9449 DPoP proofs as ajwt's enforcers and IdP check them (PROTOCOL.md
 * §3), and the delegation assertions of §6.3.
 *
 * @packageDocumentation
 */

import { createHash, randomBytes } from 'node:crypto';

import { AjwtError } from './errors.js';
import type { ProofKey } from './keys.js';

/** The optional members of a proof. */
export interface ProofOptions {
  /** When set, the proof carries `ath` = base64url(SHA-256(token)). */
  accessToken?: string | undefined;
  /** The server's last `DPoP-Nonce`, when it asked for one. */
  nonce?: string | undefined;
  /** `iat`, in milliseconds since the epoch; default `Date.now()`. */
  now?: number | undefined;
  /** `jti`; default 128 random bits, base64url. */
  jti?: string | undefined;
}

/**
 * Signs a proof for one request: header `{alg, jwk, typ: "dpop+jwt"}`
 * (the public key embedded, never a `kid`), claims `jti`, `htm`, `htu`,
 * `iat` and, when given, `ath` and `nonce` — in that order, so that a proof
 * with the inputs of testdata/vectors/dpop.json is byte for byte the same.
 */
export async function createDpopProof(key: ProofKey, method: string, url: string | URL, opts: ProofOptions = {}): Promise<string> {
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(method)) {
    throw new AjwtError({ code: 'invalid_request', description: 'DPoP: method is not an HTTP token' });
  }
  const claims: Record<string, unknown> = {
    jti: opts.jti ?? randomId(),
    htm: method,
    htu: dpopHtu(url),
    iat: Math.floor((opts.now ?? Date.now()) / 1000),
  };
  if (opts.accessToken) claims.ath = accessTokenHash(opts.accessToken);
  if (opts.nonce) claims.nonce = opts.nonce;
  return key.signJws({ alg: key.alg, jwk: key.publicJwk, typ: 'dpop+jwt' }, claims);
}

/**
 * The `htu` of a request URL: scheme, host, port (default ports dropped)
 * and path, without query and fragment (RFC 9449 §4.2). The path is the
 * one `fetch` sends (WHATWG URL parsing), with escapes of unreserved
 * characters decoded and the hex digits of all others upper-cased, as the
 * Go enforcer normalizes it.
 */
export function dpopHtu(url: string | URL): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new AjwtError({ code: 'invalid_request', description: 'DPoP: htu: not an absolute URI' });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AjwtError({ code: 'invalid_request', description: 'DPoP: htu: want an http or https URI' });
  }
  if (u.username || u.password) throw new AjwtError({ code: 'invalid_request', description: 'DPoP: htu: user information is refused' });
  return `${u.protocol}//${u.host}${normalizePath(u.pathname || '/')}`;
}

function normalizePath(p: string): string {
  return p.replace(/%([0-9A-Fa-f]{2})/g, (_, hex: string) => {
    const c = String.fromCharCode(parseInt(hex, 16));
    return /^[A-Za-z0-9\-._~]$/.test(c) ? c : '%' + hex.toUpperCase();
  });
}

/** The `ath` of a token: base64url SHA-256 of its ASCII text (RFC 9449 §4.2). */
export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** How long the SDK's delegation assertions live (the protocol allows at most 60 s). */
export const DELEGATION_LIFETIME_SECONDS = 30;

/** The claims of a delegation assertion (§6.3). */
export interface DelegationClaims {
  /** The delegator's agent id. */
  from: string;
  /** The delegate's agent id. */
  to: string;
  /** The IdP's issuer. */
  issuer: string;
  /** The run and step handed over. */
  runId: string;
  step: string;
  /** Milliseconds since the epoch; default `Date.now()`. */
  now?: number | undefined;
}

/**
 * Signs a delegation assertion (§6.3): header `typ` `delegation+jwt`,
 * claims `iss`, `sub`, `aud`, `run_id`, `workflow_step`, `iat`, `exp`
 * (30 s later) and a random single-use `jti`.
 */
export async function createDelegationAssertion(key: ProofKey, c: DelegationClaims): Promise<string> {
  const iat = Math.floor((c.now ?? Date.now()) / 1000);
  return key.signJws(
    { alg: key.alg, typ: 'delegation+jwt' },
    { iss: c.from, sub: c.to, aud: c.issuer, run_id: c.runId, workflow_step: c.step, iat, exp: iat + DELEGATION_LIFETIME_SECONDS, jti: randomId() },
  );
}

/** 128 random bits, base64url. @internal */
export function randomId(): string {
  return randomBytes(16).toString('base64url');
}
