/**
 * Agent proof keys (PROTOCOL.md §3): the derived Ed25519 key of the shim's
 * default, keys from PEM files, JWKs or WebCrypto `CryptoKey`s, and
 * external signers (KMS, HSM). A {@link ProofKey} never exposes its private
 * half: not as a property, not through `JSON.stringify`, not in `inspect`.
 *
 * @packageDocumentation
 */

import { KeyObject, createPrivateKey, createPublicKey, hkdfSync, webcrypto } from 'node:crypto';
import { readFile } from 'node:fs/promises';

import { CompactSign, type JWK, base64url, calculateJwkThumbprint } from 'jose';

import { AjwtError } from './errors.js';

/** A WebCrypto key (the global `CryptoKey` of Node and browsers). */
export type CryptoKey = webcrypto.CryptoKey;

/** The JWS algorithms an agent key signs with (§3 allow-list; Ed25519 keys sign as `EdDSA`). */
export type ProofAlg = 'EdDSA' | 'ES256' | 'RS256';

/** The HKDF salt of §3. */
export const DERIVE_SALT = 'ajwt agent key v1';

/** The shortest master secret accepted (§3). */
export const MIN_MASTER_SECRET = 32;

/**
 * Signs raw JWS signing input for an external key (KMS, HSM): returns the
 * JWS signature bytes (for ES256 the 64-byte `r || s`, not DER).
 */
export type RawSigner = (signingInput: Uint8Array) => Promise<Uint8Array>;

/** An agent's signing key: its algorithm, public JWK and RFC 7638 thumbprint. */
export class ProofKey {
  /** The JWS `alg` proofs carry. */
  readonly alg: ProofAlg;
  /** The public key as a JWK with only its public members (`kty`, `crv`, `x`, `y`, `n`, `e`). */
  readonly publicJwk: Readonly<JWK>;
  /** The RFC 7638 SHA-256 thumbprint of {@link publicJwk} (the tokens' `cnf.jkt`). */
  readonly thumbprint: string;
  readonly #key: KeyObject | CryptoKey | undefined;
  readonly #signer: RawSigner | undefined;

  private constructor(alg: ProofAlg, publicJwk: JWK, thumbprint: string, key?: KeyObject | CryptoKey, signer?: RawSigner) {
    this.alg = alg;
    this.publicJwk = Object.freeze(publicJwk);
    this.thumbprint = thumbprint;
    this.#key = key;
    this.#signer = signer;
  }

  /** @internal */
  static async create(alg: ProofAlg, publicJwk: JWK, key?: KeyObject | CryptoKey, signer?: RawSigner): Promise<ProofKey> {
    const pub = publicMembers(publicJwk);
    checkAlgFits(alg, pub);
    return new ProofKey(alg, pub, await calculateJwkThumbprint(pub, 'sha256'), key, signer);
  }

  /**
   * A key held elsewhere: `sign` receives the JWS signing input and returns
   * the signature. `publicJwk` must be the matching public key.
   */
  static fromSigner(alg: ProofAlg, publicJwk: JWK, sign: RawSigner): Promise<ProofKey> {
    return ProofKey.create(alg, publicJwk, undefined, sign);
  }

  /**
   * Signs a compact JWS with the given protected header (whose member order
   * is kept) and JSON claims. @internal
   */
  async signJws(header: Record<string, unknown>, claims: Record<string, unknown>): Promise<string> {
    const payload = new TextEncoder().encode(JSON.stringify(claims));
    if (this.#key) {
      return new CompactSign(payload).setProtectedHeader(header as { alg: string }).sign(this.#key);
    }
    const input = `${base64url.encode(JSON.stringify(header))}.${base64url.encode(payload)}`;
    const sig = await this.#signer!(new TextEncoder().encode(input));
    return `${input}.${base64url.encode(sig)}`;
  }

  /** Never prints key material. */
  toJSON(): unknown {
    return { alg: this.alg, publicJwk: this.publicJwk, thumbprint: this.thumbprint };
  }
}

function publicMembers(jwk: JWK): JWK {
  const keep = ['kty', 'crv', 'x', 'y', 'n', 'e'] as const;
  const out: JWK = {};
  for (const k of keep) if (jwk[k] !== undefined) out[k] = jwk[k];
  return out;
}

function checkAlgFits(alg: ProofAlg, jwk: JWK): void {
  const fits =
    (alg === 'EdDSA' && jwk.kty === 'OKP' && jwk.crv === 'Ed25519') ||
    (alg === 'ES256' && jwk.kty === 'EC' && jwk.crv === 'P-256') ||
    (alg === 'RS256' && jwk.kty === 'RSA');
  if (!fits) throw keyError(`a ${jwk.kty ?? 'unknown'} ${jwk.crv ?? ''} key cannot sign ${alg}`.replace('  ', ' '));
}

function keyError(description: string): AjwtError {
  return new AjwtError({ code: 'invalid_key', description });
}

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows. */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The 32-byte Ed25519 seed of §3: HKDF-SHA256(ikm = master secret, salt =
 * "ajwt agent key v1", info = agentId || 0x00 || agentChecksum), the
 * checksum in its prefixed wire form.
 */
export function deriveSeed(masterSecret: Uint8Array, agentId: string, agentChecksum: string): Uint8Array {
  if (masterSecret.length < MIN_MASTER_SECRET) {
    throw keyError(`master secret has ${masterSecret.length} bytes, want at least ${MIN_MASTER_SECRET}`);
  }
  if (!/^[a-z0-9][a-z0-9-]{0,62}$/.test(agentId)) throw keyError('agent id is not valid');
  if (!/^sha256:[0-9a-f]{64}$/.test(agentChecksum)) throw keyError('agent checksum must be sha256:<64 lowercase hex>');
  const info = Buffer.concat([Buffer.from(agentId), Buffer.from([0]), Buffer.from(agentChecksum)]);
  return new Uint8Array(hkdfSync('sha256', masterSecret, Buffer.from(DERIVE_SALT), info, 32));
}

/**
 * Derives an agent's Ed25519 key (§3) from the shim's master secret, the
 * agent id and its checksum: a changed agent gets a changed key.
 */
export async function deriveAgentKey(masterSecret: Uint8Array, agentId: string, agentChecksum: string): Promise<ProofKey> {
  return ed25519FromSeed(deriveSeed(masterSecret, agentId, agentChecksum));
}

/** Builds the Ed25519 key whose 32-byte seed is given. */
export async function ed25519FromSeed(seed: Uint8Array): Promise<ProofKey> {
  if (seed.length !== 32) throw keyError('an Ed25519 seed has 32 bytes');
  const priv = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  return fromKeyObject(priv);
}

/**
 * Reads a private key: PEM (PKCS#8, SEC 1 `EC PRIVATE KEY`, PKCS#1 `RSA
 * PRIVATE KEY`) or a private JWK (object or JSON text). The algorithm
 * follows from the key: Ed25519 → EdDSA, P-256 → ES256, RSA (2048–4096
 * bits, e = 65537) → RS256; anything else is refused.
 */
export async function proofKeyFromPrivateKey(key: string | JWK): Promise<ProofKey> {
  let obj: KeyObject;
  try {
    if (typeof key === 'object') obj = createPrivateKey({ key: key as never, format: 'jwk' });
    else if (key.trimStart().startsWith('{')) obj = createPrivateKey({ key: JSON.parse(key), format: 'jwk' });
    else obj = createPrivateKey(key);
  } catch (e) {
    throw new AjwtError({ code: 'invalid_key', description: 'not a readable private key (PEM or JWK)', cause: e });
  }
  return fromKeyObject(obj);
}

/** Reads a private key file (see {@link proofKeyFromPrivateKey}). */
export async function loadProofKeyFile(path: string): Promise<ProofKey> {
  return proofKeyFromPrivateKey(await readFile(path, 'utf8'));
}

/**
 * Uses a WebCrypto key pair (Ed25519, ECDSA P-256 or RSASSA-PKCS1-v1_5 with
 * SHA-256). The private key may be non-extractable; the public one is
 * exported to make the JWK.
 */
export async function proofKeyFromCryptoKey(pair: { privateKey: CryptoKey; publicKey: CryptoKey }): Promise<ProofKey> {
  const jwk = (await webcrypto.subtle.exportKey('jwk', pair.publicKey)) as JWK;
  return ProofKey.create(algOfJwk(jwk), jwk, pair.privateKey);
}

async function fromKeyObject(priv: KeyObject): Promise<ProofKey> {
  if (priv.type !== 'private') throw keyError('want a private key');
  const jwk = createPublicKey(priv).export({ format: 'jwk' }) as JWK;
  const alg = algOfJwk(jwk);
  if (alg === 'RS256') checkRSA(priv);
  return ProofKey.create(alg, jwk, priv);
}

function algOfJwk(jwk: JWK): ProofAlg {
  if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519') return 'EdDSA';
  if (jwk.kty === 'EC' && jwk.crv === 'P-256') return 'ES256';
  if (jwk.kty === 'RSA') return 'RS256';
  throw keyError(`unsupported key type ${jwk.kty ?? '?'} ${jwk.crv ?? ''}`.trim());
}

function checkRSA(k: KeyObject): void {
  const d = k.asymmetricKeyDetails;
  if (!d?.modulusLength || d.modulusLength < 2048 || d.modulusLength > 4096 || d.publicExponent !== 65537n) {
    throw keyError('RSA keys must have 2048 to 4096 bits and exponent 65537');
  }
}

/**
 * Reads a master secret from file or environment text: 64 or more hex
 * digits are decoded, anything else is taken as raw bytes; at least 32
 * bytes either way.
 */
export function parseMasterSecret(text: string | Uint8Array): Uint8Array {
  const bytes = trimSpace(typeof text === 'string' ? Buffer.from(text, 'utf8') : Buffer.from(text));
  const s = bytes.toString('latin1');
  if (s.length >= 2 * MIN_MASTER_SECRET && s.length % 2 === 0 && /^[0-9a-fA-F]+$/.test(s)) {
    return new Uint8Array(Buffer.from(s, 'hex'));
  }
  if (bytes.length < MIN_MASTER_SECRET) {
    throw keyError(`master secret too short: want at least ${MIN_MASTER_SECRET} bytes (or ${2 * MIN_MASTER_SECRET} hex digits)`);
  }
  return new Uint8Array(bytes); // raw bytes, as written
}

/** Drops ASCII white space at both ends, as Go's strings.TrimSpace does for a secret file. */
function trimSpace(b: Buffer): Buffer {
  const space = (c: number | undefined) => c === 0x20 || (c !== undefined && c >= 0x09 && c <= 0x0d);
  let i = 0;
  let j = b.length;
  while (i < j && space(b[i])) i++;
  while (j > i && space(b[j - 1])) j--;
  return b.subarray(i, j);
}

/** Reads a master-secret file (see {@link parseMasterSecret}). */
export async function loadMasterSecretFile(path: string): Promise<Uint8Array> {
  return parseMasterSecret(await readFile(path));
}
