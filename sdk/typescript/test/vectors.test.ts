// The shared vectors of testdata/vectors (PROTOCOL.md "Interoperability"):
// every one the Go shim passes, this SDK passes too.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';

import { compactVerify, EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader } from 'jose';
import { parse as parseYaml } from 'yaml';

import {
  AjwtError, type AgentSpec, agentChecksum, canonicalSpec, canonicalize, createDpopProof, deriveAgentKey, deriveSeed,
  ed25519FromSeed, loadProofKeyFile, parseSpec,
} from '../src/index.js';
import { repoRoot, vectors } from './helpers.js';

interface ChecksumVector { name: string; spec: AgentSpec; spec_yaml?: string; canonical: string; agent_checksum: string }

describe('checksum.json', () => {
  for (const v of vectors<{ vectors: ChecksumVector[] }>('checksum.json').vectors) {
    it(v.name, async () => {
      assert.equal(canonicalSpec(v.spec), v.canonical);
      assert.equal(await agentChecksum(v.spec), v.agent_checksum);
      // The same spec read from its JSON text, strictly.
      assert.equal(await agentChecksum(parseSpec(JSON.stringify(v.spec))), v.agent_checksum);
      if (v.spec_yaml) assert.equal(await agentChecksum(parseYaml(v.spec_yaml) as AgentSpec), v.agent_checksum);
    });
  }
});

describe('shared-checksum.json', () => {
  const doc = vectors<{ vectors: { name: string; spec: AgentSpec; agent_checksum: string; canonical?: string }[] }>('shared-checksum.json');
  for (const v of doc.vectors) {
    it(v.name, async () => {
      if (v.canonical) assert.equal(canonicalSpec(v.spec), v.canonical);
      assert.equal(await agentChecksum(v.spec), v.agent_checksum);
    });
  }
});

describe('checksum-invalid.json', () => {
  const doc = vectors<{ vectors: { name: string; field: string; line: number; column: number; spec: string }[] }>('checksum-invalid.json');
  for (const v of doc.vectors) {
    it(v.name, () => {
      assert.throws(() => parseSpec(v.spec), (e: unknown) => {
        assert.ok(e instanceof AjwtError, `not an AjwtError: ${String(e)}`);
        assert.equal(e.code, 'invalid_request');
        assert.equal(e.field, v.field, e.message);
        if (v.line !== 0) assert.equal(e.line, v.line, e.message);
        if (v.column !== 0) assert.equal(e.column, v.column, e.message);
        return true;
      });
    });
  }
});

describe('jcs-numbers.json', () => {
  const doc = vectors<{
    samples: [string, string][];
    example_3_2_4: { input: string; canonical: string };
    sorting_3_2_3: { input: string; order: string[] };
    documents: { name: string; input: string; canonical: string }[];
  }>('jcs-numbers.json');
  it('Appendix B numbers', () => {
    assert.equal(doc.samples.length, 26);
    for (const [bits, want] of doc.samples) {
      const f = Buffer.from(bits, 'hex').readDoubleBE(0);
      if (want === '') assert.throws(() => canonicalize(f), AjwtError, bits);
      else assert.equal(canonicalize(f), want, bits);
    }
  });
  it('§3.2.4 example', () => assert.equal(canonicalize(JSON.parse(doc.example_3_2_4.input)), doc.example_3_2_4.canonical));
  it('§3.2.3 sorting', () => {
    const out = canonicalize(JSON.parse(doc.sorting_3_2_3.input));
    assert.deepEqual([...out.matchAll(/"((?:[^"\\]|\\.)*)":"/g)].map((m) => JSON.parse(`"${m[1]}"`)), doc.sorting_3_2_3.order);
  });
  for (const d of doc.documents) {
    it(`document ${d.name}`, () => assert.equal(canonicalize(JSON.parse(d.input)), d.canonical));
  }
});

describe('keys-derive.json', () => {
  const doc = vectors<{ vectors: { master_hex: string; agent_id: string; agent_checksum: string; seed_hex: string; x: string; jkt: string }[] }>('keys-derive.json');
  for (const v of doc.vectors) {
    it(v.agent_id, async () => {
      const master = Buffer.from(v.master_hex, 'hex');
      assert.equal(Buffer.from(deriveSeed(master, v.agent_id, v.agent_checksum)).toString('hex'), v.seed_hex);
      const key = await deriveAgentKey(master, v.agent_id, v.agent_checksum);
      assert.equal(key.alg, 'EdDSA');
      assert.deepEqual(key.publicJwk, { kty: 'OKP', crv: 'Ed25519', x: v.x });
      assert.equal(key.thumbprint, v.jkt);
      assert.equal(await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: v.x }), v.jkt);
    });
  }
});

describe('keys-files.json', () => {
  const doc = vectors<{ files: { file: string; alg: string; jkt: string }[] }>('keys-files.json');
  for (const f of doc.files) {
    it(f.file, async () => {
      const key = await loadProofKeyFile(join(repoRoot, 'testdata/keys', f.file));
      assert.equal(key.alg, f.alg);
      assert.equal(key.thumbprint, f.jkt);
    });
  }
});

describe('dpop.json', () => {
  const v = vectors<{
    seed_hex: string; method: string; uri: string; htu: string; access_token: string; jti: string; now: number; jkt: string;
    header: Record<string, unknown>; claims: Record<string, unknown>; proof: string;
  }>('dpop.json');
  it('reproduces the proof byte for byte', async () => {
    const key = await ed25519FromSeed(Buffer.from(v.seed_hex, 'hex'));
    assert.equal(key.thumbprint, v.jkt);
    const proof = await createDpopProof(key, v.method, v.uri, { accessToken: v.access_token, jti: v.jti, now: v.now * 1000 });
    assert.equal(proof, v.proof);
    assert.deepEqual(decodeProtectedHeader(proof), v.header);
  });
  it('the vector proof verifies with its embedded key', async () => {
    const { payload } = await compactVerify(v.proof, EmbeddedJWK, { algorithms: ['EdDSA'] });
    assert.deepEqual(JSON.parse(new TextDecoder().decode(payload)), v.claims);
  });
});

// The spec files the examples and the IdP share parse the same way.
describe('examples/vuln-patch agents', () => {
  for (const id of ['supervisor', 'classifier', 'planner', 'patcher']) {
    it(id, async () => {
      const spec = parseYaml(readFileSync(join(repoRoot, 'examples/vuln-patch/agents', `${id}.yaml`), 'utf8')) as AgentSpec;
      assert.match(await agentChecksum(spec), /^sha256:[0-9a-f]{64}$/);
    });
  }
});
