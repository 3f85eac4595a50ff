// oauth4webapi driving the agent side of ajwt: a run started with a
// DPoP-bound client_credentials token, the agent_checksum grant (§6.2) with
// DPoP proofs by the agents' registered keys (one Ed25519, one ES256), token
// exchange (RFC 8693, §6.4), calls through `ajwt proxy` with the intent
// tokens (protectedResourceRequest with DPoP), legacy Bearer tokens on a
// legacy route, and RFC 9728 resource discovery at the proxy.
//
// As in authserver.test.mjs, allowInsecureRequests is the only option beyond
// oauth4webapi's defaults (plain-HTTP loopback).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oauth from 'oauth4webapi';

import { World, freePort, publicJwk } from './world.mjs';

const AGENT_GRANT = 'urn:ietf:params:oauth:grant-type:agent_checksum';
const EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';
const APP_SECRET = 'app-secret-0123456789abcdef0123456789';
const insecure = { [oauth.allowInsecureRequests]: true };
const json = () => new Headers({ 'content-type': 'application/json' });

const world = new World();
const client = { client_id: 'app' };
const clientAuth = () => oauth.ClientSecretBasic(APP_SECRET);
const agents = {
  reader: { alg: 'Ed25519', spec: { agent_id: 'reader', prompt_template: 'You read the tree of {{repo}}.', substitutions: { repo: { pattern: '^[a-z]+/[a-z]+$', max_length: 100 } }, tools: [] } },
  writer: { alg: 'ES256', spec: { agent_id: 'writer', prompt_template: 'You open pull requests.', tools: [{ name: 'open_pr', description: 'Open a pull request.' }] } },
};
let issuer;
let resource; // the proxy's URL is its resource identifier: RFC 9728 §3.3 compares them
let upstream;

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

async function discover(iss = issuer) {
  const res = await oauth.discoveryRequest(new URL(iss), { algorithm: 'oauth2', ...insecure });
  return oauth.processDiscoveryResponse(new URL(iss), res);
}

before(async () => {
  await world.build();
  const proxyPort = await freePort();
  resource = `http://127.0.0.1:${proxyPort}`;
  for (const a of Object.values(agents)) {
    a.keyPair = await oauth.generateKeyPair(a.alg);
    a.dpop = oauth.DPoP(client, a.keyPair);
    a.checksum = await world.checksum(a.spec);
  }
  issuer = await world.serve('idp', await freePort(), {
    token_ttl: '120s', failed_grants_per_minute: 1000,
    clients: [{ client_id: 'app', client_secret: APP_SECRET, scopes: ['ajwt:run', 'repo:read', 'repo:write'], audiences: [resource] }],
    agents: await Promise.all(Object.entries(agents).map(async ([id, a]) => ({
      agent_id: id, client_id: 'app', spec: a.spec, public_jwk: await publicJwk(a.keyPair),
      scopes: id === 'writer' ? ['repo:read', 'repo:write'] : ['repo:read'], audiences: [resource],
    }))),
    workflows: [{
      workflow_id: 'triage',
      steps: [
        { id: 'read', agent: 'reader', scopes: ['repo:read'], audience: resource },
        { id: 'write', agent: 'writer', scopes: ['repo:read', 'repo:write'], audience: resource, depends_on: ['read'] },
      ],
    }],
  });
  upstream = await world.upstream();
  await world.proxy('forge', proxyPort, upstream.url, {
    issuer, resource,
    routes: [
      { match: { method: 'GET', path: '/repos/{owner}/{repo}/tree' }, scopes: ['repo:read'], workflow: 'triage', context: { repo: '{owner}/{repo}' } },
      { match: { method: 'POST', path: '/repos/{owner}/{repo}/pulls' }, scopes: ['repo:write'], workflow: 'triage', steps: ['write'], agents: ['writer'] },
      { match: { method: 'GET', path: '/legacy/status' }, scopes: ['repo:read'], legacy: 'allow' },
    ],
    default: 'deny',
  });
});

after(() => world.stop());

async function clientToken(as, params, options = {}) {
  const res = await oauth.clientCredentialsGrantRequest(as, client, clientAuth(), params, { ...insecure, ...options });
  return oauth.processClientCredentialsResponse(as, client, res);
}

async function agentToken(as, id, runId, step) {
  const a = agents[id];
  const res = await oauth.genericTokenEndpointRequest(as, client, clientAuth(), AGENT_GRANT,
    { agent_id: id, agent_checksum: a.checksum, run_id: runId, workflow_step: step }, { DPoP: a.dpop, ...insecure });
  return oauth.processGenericTokenEndpointResponse(as, client, res);
}

async function call(token, method, url, { dpop, headers, body } = {}) {
  return oauth.protectedResourceRequest(token, method, new URL(url), headers, body, { DPoP: dpop, ...insecure });
}

/** The challenge oauth4webapi parsed from a refusal's WWW-Authenticate. */
async function challengeOf(promise) {
  const err = await promise.then(() => assert.fail('accepted'), (e) => e);
  assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, String(err));
  return { status: err.status, ...err.cause[0] };
}

async function startRun(as) {
  // A DPoP-bound ajwt:run token: every use at the IdP needs a proof (§3).
  const dpop = oauth.DPoP(client, await oauth.generateKeyPair('Ed25519'));
  const tok = await clientToken(as, { scope: 'ajwt:run' }, { DPoP: dpop });
  assert.equal(tok.token_type, 'dpop');
  const body = JSON.stringify({ workflow_id: 'triage', initiated_by: 'user:alice', execution_context: { repo: 'acme/web' } });
  const res = await call(tok.access_token, 'POST', `${issuer}/v1/runs`, { dpop, headers: json(), body });
  assert.equal(res.status, 201);
  return (await res.json()).run_id;
}

describe('RFC 9728 protected resource metadata at the proxy', () => {
  test('resourceDiscoveryRequest finds the IdP, which oauth4webapi then discovers', async () => {
    const res = await oauth.resourceDiscoveryRequest(new URL(resource), insecure);
    const rs = await oauth.processResourceDiscoveryResponse(new URL(resource), res);
    assert.equal(rs.resource, resource);
    assert.deepEqual(rs.authorization_servers, [issuer]);
    assert.equal(rs.dpop_bound_access_tokens_required, true);
    assert.deepEqual(rs.bearer_methods_supported, ['header']);
    for (const alg of ['ES256', 'Ed25519', 'EdDSA']) assert.ok(rs.dpop_signing_alg_values_supported.includes(alg));
    assert.deepEqual(rs.scopes_supported, ['repo:read', 'repo:write']);
    const as = await discover(rs.authorization_servers[0]);
    assert.equal(as.issuer, issuer);
  });

  test('a refusal points at the metadata (resource_metadata in the DPoP challenge)', async () => {
    const ch = await challengeOf(call('not-a-token', 'GET', `${resource}/repos/acme/web/tree`));
    assert.equal(ch.status, 401);
    assert.equal(ch.scheme, 'dpop');
    assert.equal(ch.parameters.error, 'invalid_token');
    for (const alg of ['ES256', 'Ed25519', 'EdDSA']) assert.ok(ch.parameters.algs.split(' ').includes(alg), `algs lacks ${alg}`);
    assert.equal(ch.parameters.resource_metadata, `${resource}/.well-known/oauth-protected-resource/repos/acme/web/tree`);
  });

  test('the metadata under a route path, for the resource at that path', {
    todo: 'RFC 9728 §3.3: the document at /.well-known/oauth-protected-resource/P must name resource <base>/P; ajwt serves the policy resource there, which a conforming client discards',
  }, async () => {
    const atPath = new URL(`${resource}/repos/acme/web/tree`);
    const res = await oauth.resourceDiscoveryRequest(atPath, insecure);
    const rs = await oauth.processResourceDiscoveryResponse(atPath, res);
    assert.equal(rs.resource, atPath.href);
  });
});

describe('an agent workflow driven by oauth4webapi', () => {
  test('agent_checksum grant, proxy calls, token exchange, completion, introspection, revocation', async (t) => {
    const as = await discover();
    const runId = await startRun(as);
    const { reader, writer } = agents;

    let readTok;
    await t.test('agent_checksum grant with an Ed25519 DPoP proof (§6.2)', async () => {
      readTok = await agentToken(as, 'reader', runId, 'read');
      assert.equal(readTok.token_type, 'dpop');
      assert.equal(readTok.scope, 'repo:read');
      assert.equal(readTok.run_id, runId);
      assert.equal(readTok.workflow_step, 'read');
      const claims = claimsOf(readTok.access_token);
      assert.equal(claims.cnf.jkt, await reader.dpop.calculateThumbprint());
      assert.equal(claims.aud, resource);
      assert.equal(claims.sub, 'reader');
      assert.equal(claims.agent_proof.agent_checksum, reader.checksum);
      assert.equal(claims.intent.workflow_step, 'read');
    });

    await t.test('the writer cannot take its step before the reader completes', async () => {
      await assert.rejects(agentToken(as, 'writer', runId, 'write'), { error: 'workflow_step_unauthorized', status: 403 });
    });

    await t.test('protectedResourceRequest with DPoP through the proxy', async () => {
      const res = await call(readTok.access_token, 'GET', `${resource}/repos/acme/web/tree`, { dpop: reader.dpop });
      assert.equal(res.status, 200);
      const seen = upstream.seen.at(-1);
      assert.equal(seen.agent, 'reader');
      assert.equal(seen.step, 'read');
      assert.equal(seen.run, runId);
      assert.equal(seen.authorization, undefined, 'the proxy forwarded Authorization');
      assert.equal(seen.dpop, undefined, 'the proxy forwarded DPoP');
    });

    await t.test('the intent token refused without its proof, with another key, and out of context', async () => {
      const bearer = await challengeOf(call(readTok.access_token, 'GET', `${resource}/repos/acme/web/tree`));
      assert.equal(bearer.status, 401);
      const otherKey = await challengeOf(call(readTok.access_token, 'GET', `${resource}/repos/acme/web/tree`, { dpop: writer.dpop }));
      assert.equal(otherKey.parameters.error, 'invalid_dpop_proof');
      const res = await call(readTok.access_token, 'GET', `${resource}/repos/acme/api/tree`, { dpop: reader.dpop });
      assert.equal(res.status, 403);
      assert.equal((await res.json()).reason, 'context_mismatch');
    });

    await t.test('the reader completes its step at the IdP with its intent token and a proof', async () => {
      const res = await call(readTok.access_token, 'POST', `${issuer}/v1/runs/${runId}/steps/read/complete`, { dpop: reader.dpop, headers: json(), body: '{}' });
      assert.equal(res.status, 200);
      const view = await res.json();
      assert.equal(view.steps.find((s) => s.id === 'read').state, 'completed');
    });

    let writeTok;
    await t.test('agent_checksum grant with an ES256 DPoP proof', async () => {
      writeTok = await agentToken(as, 'writer', runId, 'write');
      assert.equal(writeTok.token_type, 'dpop');
      assert.deepEqual(writeTok.scope.split(' ').sort(), ['repo:read', 'repo:write']);
      assert.equal(claimsOf(writeTok.access_token).cnf.jkt, await writer.dpop.calculateThumbprint());
      const res = await call(writeTok.access_token, 'POST', `${resource}/repos/acme/web/pulls`, { dpop: writer.dpop, headers: json(), body: '{"title":"bump"}' });
      assert.equal(res.status, 200);
      assert.equal(upstream.seen.at(-1).agent, 'writer');
    });

    let narrowed;
    await t.test('token exchange (RFC 8693) down to repo:read, same DPoP key', async () => {
      const res = await oauth.genericTokenEndpointRequest(as, client, clientAuth(), EXCHANGE_GRANT, {
        subject_token: writeTok.access_token, subject_token_type: ACCESS_TOKEN_TYPE, requested_token_type: ACCESS_TOKEN_TYPE, scope: 'repo:read',
      }, { DPoP: writer.dpop, ...insecure });
      narrowed = await oauth.processGenericTokenEndpointResponse(as, client, res);
      assert.equal(narrowed.token_type, 'dpop');
      assert.equal(narrowed.scope, 'repo:read');
      assert.equal(narrowed.issued_token_type, ACCESS_TOKEN_TYPE);
      const claims = claimsOf(narrowed.access_token);
      assert.equal(claims.cnf.jkt, await writer.dpop.calculateThumbprint());
      assert.equal(claims.exp, claimsOf(writeTok.access_token).exp);
    });

    await t.test('the narrowed token reads, and is refused where repo:write is needed', async () => {
      const ok = await call(narrowed.access_token, 'GET', `${resource}/repos/acme/web/tree`, { dpop: writer.dpop });
      assert.equal(ok.status, 200);
      const ch = await challengeOf(call(narrowed.access_token, 'POST', `${resource}/repos/acme/web/pulls`, { dpop: writer.dpop, headers: json(), body: '{}' }));
      assert.equal(ch.status, 403);
      assert.equal(ch.parameters.error, 'insufficient_scope');
      assert.equal(ch.parameters.scope, 'repo:write');
    });

    await t.test('exchange with another key is refused', async () => {
      const res = await oauth.genericTokenEndpointRequest(as, client, clientAuth(), EXCHANGE_GRANT, {
        subject_token: writeTok.access_token, subject_token_type: ACCESS_TOKEN_TYPE, scope: 'repo:read',
      }, { DPoP: reader.dpop, ...insecure });
      await assert.rejects(oauth.processGenericTokenEndpointResponse(as, client, res), { error: 'invalid_dpop_proof' });
    });

    await t.test('introspection shows the intent; revocation ends it, and what was exchanged under it', async () => {
      const introspect = async (token) => oauth.processIntrospectionResponse(as, client,
        await oauth.introspectionRequest(as, client, clientAuth(), token, insecure));
      const info = await introspect(writeTok.access_token);
      assert.equal(info.active, true);
      assert.equal(info.token_type, 'DPoP');
      assert.equal(info.sub, 'writer');
      assert.equal(info.cnf.jkt, await writer.dpop.calculateThumbprint());
      assert.equal(info.intent.run_id, runId);
      const res = await oauth.revocationRequest(as, client, clientAuth(), writeTok.access_token, insecure);
      await oauth.processRevocationResponse(res);
      assert.equal((await introspect(writeTok.access_token)).active, false);
      assert.equal((await introspect(narrowed.access_token)).active, false);
    });
  });
});

describe('client_credentials tokens on a legacy route of the proxy', () => {
  test('a Bearer token', async () => {
    const as = await discover();
    const tok = await clientToken(as, { scope: 'repo:read', resource });
    assert.equal(tok.token_type, 'bearer');
    const res = await call(tok.access_token, 'GET', `${resource}/legacy/status`);
    assert.equal(res.status, 200);
    const seen = upstream.seen.at(-1);
    assert.equal(seen.client, 'app');
    assert.equal(seen.agent, undefined);
  });

  test('a DPoP-bound token, with its proof', async () => {
    const as = await discover();
    const dpop = oauth.DPoP(client, await oauth.generateKeyPair('ES256'));
    const tok = await clientToken(as, { scope: 'repo:read', resource }, { DPoP: dpop });
    assert.equal(tok.token_type, 'dpop');
    const res = await call(tok.access_token, 'GET', `${resource}/legacy/status`, { dpop });
    assert.equal(res.status, 200);
    const ch = await challengeOf(call(tok.access_token, 'GET', `${resource}/legacy/status`));
    assert.equal(ch.status, 401);
  });

  test('a legacy token where an intent token is required', async () => {
    const as = await discover();
    const tok = await clientToken(as, { scope: 'repo:read', resource });
    const ch = await challengeOf(call(tok.access_token, 'GET', `${resource}/repos/acme/web/tree`));
    assert.equal(ch.status, 401);
    assert.equal(ch.parameters.error, 'invalid_token');
    assert.equal(ch.parameters.error_description, 'legacy_token_refused');
  });
});
