// oauth4webapi, a stock OAuth client nobody here wrote, against a real
// `ajwt serve`: RFC 8414 discovery, every client authentication method the
// metadata advertises, DPoP-bound client_credentials (RFC 9449 §5) with and
// without server nonces (§8), RFC 6749 error responses, RFC 7662
// introspection and RFC 7009 revocation.
//
// The only option set beyond oauth4webapi's defaults is allowInsecureRequests:
// the servers listen on plain-HTTP loopback, which oauth4webapi otherwise
// refuses (RFC 6749 §3.1 requires TLS; ajwt serve has none of its own).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import * as oauth from 'oauth4webapi';

import { World, freePort, publicJwk } from './world.mjs';

const FORGE = 'https://forge.example';
const APP_SECRET = 'app-secret-0123456789abcdef0123456789';
const insecure = { [oauth.allowInsecureRequests]: true };

const world = new World();
const keys = {};
let issuer;
let nonceIssuer;

function claimsOf(jwt) {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString());
}

async function discover(iss) {
  const res = await oauth.discoveryRequest(new URL(iss), { algorithm: 'oauth2', ...insecure });
  return oauth.processDiscoveryResponse(new URL(iss), res);
}

// The server configuration shared by both IdPs: a secret client and one
// private_key_jwt client per key type, their JWKs exactly as WebCrypto
// exports them (key_ops, ext and, for Ed25519, alg "Ed25519" included).
function config() {
  const scopes = ['ajwt:run', 'repo:read'];
  return {
    token_ttl: '120s', failed_grants_per_minute: 1000,
    clients: [
      { client_id: 'app', client_secret: APP_SECRET, scopes, audiences: [FORGE] },
      { client_id: 'jwt-es256', jwks: { keys: [{ ...keys.clientES256.jwk, kid: 'es-1' }] }, scopes, audiences: [FORGE] },
      { client_id: 'jwt-ed25519', jwks: { keys: [{ ...keys.clientEd25519.jwk, kid: 'ed-1' }] }, scopes, audiences: [FORGE] },
    ],
  };
}

async function keyPair(alg) {
  const pair = await oauth.generateKeyPair(alg);
  return { pair, jwk: await publicJwk(pair) };
}

before(async () => {
  await world.build();
  keys.clientES256 = await keyPair('ES256');
  keys.clientEd25519 = await keyPair('Ed25519');
  issuer = await world.serve('idp', await freePort(), config());
  nonceIssuer = await world.serve('idp-nonce', await freePort(), { ...config(), dpop_require_nonce: true });
});

after(() => world.stop());

// Each client authentication method ajwt advertises, as oauth4webapi
// makes it. private_key_jwt keys are given with their kid (oauth4webapi's
// PrivateKey form); the test below gives a bare CryptoKey (no kid).
const methods = [
  { name: 'client_secret_basic', client: 'app', auth: () => oauth.ClientSecretBasic(APP_SECRET) },
  { name: 'client_secret_post', client: 'app', auth: () => oauth.ClientSecretPost(APP_SECRET) },
  { name: 'private_key_jwt ES256', client: 'jwt-es256', auth: () => oauth.PrivateKeyJwt({ key: keys.clientES256.pair.privateKey, kid: 'es-1' }) },
  { name: 'private_key_jwt Ed25519', client: 'jwt-ed25519', auth: () => oauth.PrivateKeyJwt({ key: keys.clientEd25519.pair.privateKey, kid: 'ed-1' }) },
];

const authFor = (name) => methods.find((m) => m.name === name);

async function clientCredentials(as, method, params, options = {}) {
  const client = { client_id: method.client };
  const res = await oauth.clientCredentialsGrantRequest(as, client, method.auth(), params, { ...insecure, ...options });
  return oauth.processClientCredentialsResponse(as, client, res);
}

async function introspect(as, token) {
  const client = { client_id: 'app' };
  const res = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic(APP_SECRET), token, insecure);
  return oauth.processIntrospectionResponse(as, client, res);
}

describe('RFC 8414 discovery', () => {
  test('the metadata oauth4webapi reads names every endpoint and method ajwt serves', async () => {
    const as = await discover(issuer);
    assert.equal(as.issuer, issuer);
    assert.equal(as.token_endpoint, `${issuer}/token`);
    assert.equal(as.introspection_endpoint, `${issuer}/introspect`);
    assert.equal(as.revocation_endpoint, `${issuer}/revoke`);
    assert.equal(as.jwks_uri, `${issuer}/jwks.json`);
    assert.deepEqual([...as.token_endpoint_auth_methods_supported].sort(), ['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
    for (const alg of ['ES256', 'Ed25519', 'EdDSA']) {
      assert.ok(as.dpop_signing_alg_values_supported.includes(alg), `dpop_signing_alg_values_supported lacks ${alg}`);
      assert.ok(as.token_endpoint_auth_signing_alg_values_supported.includes(alg), `token_endpoint_auth_signing_alg_values_supported lacks ${alg}`);
    }
    for (const grant of ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange', 'urn:ietf:params:oauth:grant-type:agent_checksum']) {
      assert.ok(as.grant_types_supported.includes(grant), `grant_types_supported lacks ${grant}`);
    }
  });

  test('ajwt is an OAuth server, not an OpenID provider: OIDC discovery finds nothing', async () => {
    const res = await oauth.discoveryRequest(new URL(issuer), insecure); // oauth4webapi's default: OIDC
    await assert.rejects(oauth.processDiscoveryResponse(new URL(issuer), res), { code: oauth.RESPONSE_IS_NOT_CONFORM });
  });
});

describe('client_credentials with each client authentication method (RFC 6749 §2.3, RFC 7523 §2.2)', () => {
  for (const method of methods) {
    test(method.name, async () => {
      const as = await discover(issuer);
      const tok = await clientCredentials(as, method, { scope: 'repo:read', resource: FORGE });
      assert.equal(tok.token_type, 'bearer');
      assert.equal(tok.scope, 'repo:read');
      assert.ok(tok.expires_in > 0 && tok.expires_in <= 120);
      const claims = claimsOf(tok.access_token);
      assert.equal(claims.client_id, method.client);
      assert.equal(claims.aud, FORGE);
      assert.equal(claims.cnf, undefined);
    });
  }

  test('private_key_jwt, the same key given to oauth4webapi without a kid (its default form)', async () => {
    const as = await discover(issuer);
    const tok = await clientCredentials(as, { client: 'jwt-ed25519', auth: () => oauth.PrivateKeyJwt(keys.clientEd25519.pair.privateKey) }, { scope: 'repo:read' });
    assert.equal(tok.token_type, 'bearer');
  });
});

describe('RFC 6749 §5.2 error responses as oauth4webapi reports them', () => {
  const cases = [
    { name: 'wrong secret, client_secret_basic', auth: oauth.ClientSecretBasic('wrong'), params: {}, status: 401, error: 'invalid_client', scheme: 'basic' },
    { name: 'wrong secret, client_secret_post', auth: oauth.ClientSecretPost('wrong'), params: {}, status: 401, error: 'invalid_client' },
    { name: 'scope the client lacks', auth: oauth.ClientSecretPost(APP_SECRET), params: { scope: 'repo:write' }, status: 400, error: 'invalid_scope' },
    { name: 'resource the client may not address', auth: oauth.ClientSecretPost(APP_SECRET), params: { resource: 'https://elsewhere.example' }, status: 400, error: 'invalid_target' },
    { name: 'ajwt: scope for another audience', auth: oauth.ClientSecretPost(APP_SECRET), params: { scope: 'ajwt:run', resource: FORGE }, status: 400, error: 'invalid_scope' },
  ];
  for (const c of cases) {
    test(c.name, async () => {
      const as = await discover(issuer);
      const client = { client_id: 'app' };
      const res = await oauth.clientCredentialsGrantRequest(as, client, c.auth, c.params, insecure);
      assert.equal(res.status, c.status);
      const err = await oauth.processClientCredentialsResponse(as, client, res).then(() => assert.fail('accepted'), (e) => e);
      // A 401 carries a WWW-Authenticate challenge, which oauth4webapi
      // surfaces before the body; a 400 is the body's error.
      if (c.status === 401) {
        assert.ok(err instanceof oauth.WWWAuthenticateChallengeError, String(err));
        if (c.scheme) assert.equal(err.cause[0].scheme, c.scheme);
        assert.equal(res.headers.get('content-type').split(';')[0], 'application/json');
      } else {
        assert.ok(err instanceof oauth.ResponseBodyError, String(err));
        assert.equal(err.error, c.error);
        assert.equal(err.status, c.status);
      }
    });
  }

  test('an unknown grant type is unsupported_grant_type', async () => {
    const as = await discover(issuer);
    const client = { client_id: 'app' };
    const res = await oauth.genericTokenEndpointRequest(as, client, oauth.ClientSecretBasic(APP_SECRET), 'urn:example:no-such-grant', {}, insecure);
    await assert.rejects(oauth.processGenericTokenEndpointResponse(as, client, res), { error: 'unsupported_grant_type', status: 400 });
  });
});

describe('DPoP-bound client_credentials (RFC 9449 §5, §6)', () => {
  for (const alg of ['Ed25519', 'ES256']) {
    test(`proof signed with ${alg}`, async () => {
      const as = await discover(issuer);
      const dpop = oauth.DPoP({ client_id: 'app' }, await oauth.generateKeyPair(alg));
      const tok = await clientCredentials(as, authFor('client_secret_basic'), { scope: 'repo:read', resource: FORGE }, { DPoP: dpop });
      assert.equal(tok.token_type, 'dpop');
      const jkt = await dpop.calculateThumbprint();
      assert.equal(claimsOf(tok.access_token).cnf.jkt, jkt);
      const info = await introspect(as, tok.access_token);
      assert.equal(info.active, true);
      assert.equal(info.token_type, 'DPoP');
      assert.equal(info.cnf.jkt, jkt);
    });
  }

  test('with private_key_jwt as well (both JWTs from oauth4webapi in one request)', async () => {
    const as = await discover(issuer);
    const dpop = oauth.DPoP({ client_id: 'jwt-ed25519' }, await oauth.generateKeyPair('Ed25519'));
    const tok = await clientCredentials(as, authFor('private_key_jwt Ed25519'), { scope: 'repo:read' }, { DPoP: dpop });
    assert.equal(tok.token_type, 'dpop');
    assert.equal(claimsOf(tok.access_token).cnf.jkt, await dpop.calculateThumbprint());
  });
});

describe('DPoP server nonces (RFC 9449 §8) at an IdP with dpop_require_nonce', () => {
  for (const alg of ['Ed25519', 'ES256']) {
    test(`${alg}: use_dpop_nonce, then the retry oauth4webapi prepares succeeds`, async () => {
      const as = await discover(nonceIssuer);
      const dpop = oauth.DPoP({ client_id: 'app' }, await oauth.generateKeyPair(alg));
      const err = await clientCredentials(as, authFor('client_secret_basic'), { scope: 'repo:read' }, { DPoP: dpop }).then(() => assert.fail('no nonce demanded'), (e) => e);
      assert.ok(oauth.isDPoPNonceError(err), String(err));
      assert.equal(err.status, 400);
      assert.ok(err.response.headers.get('dpop-nonce'), 'no DPoP-Nonce header');
      const tok = await clientCredentials(as, authFor('client_secret_basic'), { scope: 'repo:read' }, { DPoP: dpop });
      assert.equal(tok.token_type, 'dpop');
      assert.equal(claimsOf(tok.access_token).cnf.jkt, await dpop.calculateThumbprint());
      // The handle keeps the nonce it was last given: the next grant needs no retry.
      const again = await clientCredentials(as, authFor('client_secret_basic'), { scope: 'repo:read' }, { DPoP: dpop });
      assert.equal(again.token_type, 'dpop');
    });
  }

  test('the same IdP without DPoP still issues Bearer tokens', async () => {
    const as = await discover(nonceIssuer);
    const tok = await clientCredentials(as, authFor('client_secret_post'), { scope: 'repo:read' });
    assert.equal(tok.token_type, 'bearer');
  });
});

describe('introspection (RFC 7662) and revocation (RFC 7009)', () => {
  test('an active token, then revoked, then inactive', async () => {
    const as = await discover(issuer);
    const tok = await clientCredentials(as, authFor('client_secret_post'), { scope: 'repo:read', resource: FORGE });
    const info = await introspect(as, tok.access_token);
    assert.equal(info.active, true);
    assert.equal(info.client_id, 'app');
    assert.equal(info.scope, 'repo:read');
    assert.equal(info.token_type, 'Bearer');
    assert.equal(info.iss, issuer);

    const client = { client_id: 'app' };
    const res = await oauth.revocationRequest(as, client, oauth.ClientSecretPost(APP_SECRET), tok.access_token, insecure);
    assert.equal(await oauth.processRevocationResponse(res), undefined);
    assert.equal((await introspect(as, tok.access_token)).active, false);
  });

  test('revoking what is not a token is 200 all the same (RFC 7009 §2.2)', async () => {
    const as = await discover(issuer);
    const client = { client_id: 'jwt-es256' };
    const res = await oauth.revocationRequest(as, client, authFor('private_key_jwt ES256').auth(), 'not-a-token', insecure);
    assert.equal(await oauth.processRevocationResponse(res), undefined);
  });

  test('introspecting garbage is active: false', async () => {
    const as = await discover(issuer);
    assert.equal((await introspect(as, 'garbage')).active, false);
  });

  test('introspection with a wrong client secret is refused', async () => {
    const as = await discover(issuer);
    const client = { client_id: 'app' };
    const res = await oauth.introspectionRequest(as, client, oauth.ClientSecretBasic('wrong'), 'x', insecure);
    assert.equal(res.status, 401);
    await assert.rejects(oauth.processIntrospectionResponse(as, client, res), oauth.WWWAuthenticateChallengeError);
  });
});
