// The client credentials grant (RFC 6749 §4.4, MCP's OAuth client credentials extension) in
// Node against panva's oidc-provider (tests/interop/oidc.mjs with its static machine clients)
// and a resource that checks its tokens (helpers.mjs startResource): client_secret_basic, and
// private_key_jwt assertions (RFC 7523 §2.2) signed with WebCrypto by an ES256 key (given as a
// JWK) or an RS256 key (given as PEM), which oidc-provider verifies against the public JWK registered for the client. There is
// no refresh token: on expiry the client obtains a new token the same way. With `dpop` the
// token is bound. What the client sent is read off oidc-provider's request log.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { McpAuth, MemoryStorage, recordingFetch, startResource, startServer } from './helpers.mjs';
import { decodeJwt, serverLog, thumbprint } from '../../tests/interop/jose.mjs';

let keys;
let oidc;
let issuer;
let clients;
let rs;
before(async () => {
  keys = mkdtempSync(join(tmpdir(), 'oidc-clients-'));
  oidc = await startServer('oidc.mjs', { env: { OIDC_MACHINE_CLIENTS: keys, OIDC_DPOP_NONCE: 'required' } });
  ({ issuer, clients } = oidc.info);
  rs = await startResource({ issuer });
});
after(async () => {
  await rs?.stop();
  await oidc?.stop();
  rmSync(keys, { recursive: true, force: true });
});

const CLIENT_CREDENTIALS = { kind: 'client_credentials' };
const tokenLog = async (since = 0) => (await serverLog(issuer, '/token')).slice(since);
const outcomes = (log) => log.map((e) => [e.status, e.error ?? null]);

// A machine client as `name` of oidc.mjs's static clients, on a clock the test moves.
function machine(name, extra = {}) {
  const c = clients[name];
  const preRegistered = c.client_secret
    ? { issuer, clientId: c.client_id, clientSecret: c.client_secret, authMethod: 'client_secret_basic' }
    : { issuer, clientId: c.client_id, authMethod: 'private_key_jwt', keyAlg: c.alg, keyId: c.kid };
  const clock = { ahead: 0 };
  const rec = recordingFetch();
  const auth = new McpAuth({
    clientName: 'mcpauth-npm-test',
    fetch: rec.fetch,
    storage: new MemoryStorage(),
    now: () => Date.now() + clock.ahead,
    preRegistered,
    grant: CLIENT_CREDENTIALS,
    scope: 'mcp:read',
    // Both forms of key: the ES256 one as a private JWK, the RS256 one as a PKCS#8 PEM.
    ...(c.alg === 'ES256' && { clientKey: c.private_jwk }),
    ...(c.alg === 'RS256' && { clientKey: readFileSync(c.key_file, 'utf8') }),
    ...extra,
  });
  return { auth, rec, clock, client: c };
}

function assertMachineToken(grant, client) {
  const { payload } = decodeJwt(grant.tokens.access_token);
  assert.deepEqual([payload.aud].flat(), [rs.resource]);
  assert.equal(payload.client_id, client.client_id);
  assert.equal(grant.tokens.refresh_token ?? undefined, undefined, 'client credentials: no refresh token');
}

// Logs in, uses the token at the resource, then moves the clock into the token's expiry margin
// (60 s tokens, 30 s margin) and checks that the next call obtains a new token the same way.
async function loginUseAndRenew({ auth, clock, client }) {
  const since = (await tokenLog()).length;
  const grant = await auth.login(rs.resource);
  assertMachineToken(grant, client);
  const res = await auth.authFetch()(rs.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  clock.ahead = 45_000;
  const renewed = await auth.accessToken(rs.resource);
  assert.notEqual(renewed, grant.tokens.access_token, 'a new token on expiry');
  const log = await tokenLog(since);
  const successes = log.filter((e) => e.status === 200);
  assert.deepEqual(successes.map((e) => e.grant_type), ['client_credentials', 'client_credentials'], JSON.stringify(log));
  assert.equal(log.filter((e) => e.grant_type === 'refresh_token').length, 0);
  return { grant, log };
}

test('client credentials with client_secret_basic, and a new token on expiry', async () => {
  const m = machine('basic');
  const { log } = await loginUseAndRenew(m);
  assert.ok(log.every((e) => e.authorization_scheme === 'Basic' && e.client_auth_method === 'client_secret_basic'), JSON.stringify(log));
  assert.ok(log.every((e) => e.resource === rs.resource));
});

for (const name of ['es256', 'rs256']) {
  test(`client credentials with private_key_jwt (${name.toUpperCase()}), signed with WebCrypto, and a new token on expiry`, async () => {
    const m = machine(name);
    const { log } = await loginUseAndRenew(m);
    const assertions = log.filter((e) => e.status === 200).map((e) => decodeJwt(e.client_assertion));
    for (const { header, payload } of assertions) {
      assert.equal(header.alg, m.client.alg);
      assert.equal(header.kid, m.client.kid);
      assert.deepEqual([payload.iss, payload.sub, payload.aud], [m.client.client_id, m.client.client_id, issuer]);
      assert.ok(payload.exp > payload.iat && payload.exp - payload.iat <= 300, JSON.stringify(payload));
    }
    assert.notEqual(assertions[0].payload.jti, assertions[1].payload.jti, 'oidc-provider takes each assertion once');
    assert.ok(log.every((e) => e.client_auth_method === 'private_key_jwt' && !e.authorization_scheme));
  });
}

test('client credentials with DPoP: a server nonce costs one retry and the token is bound', async () => {
  const m = machine('es256', { dpop: true });
  const since = (await tokenLog()).length;
  const grant = await m.auth.login(rs.resource);
  assertMachineToken(grant, m.client);
  assert.equal(grant.tokens.token_type, 'DPoP');
  const key = thumbprint({ kty: 'EC', ...grant.dpop_key.jwk });
  assert.equal(decodeJwt(grant.tokens.access_token).payload.cnf.jkt, key);
  const log = await tokenLog(since);
  assert.deepEqual(outcomes(log), [[400, 'use_dpop_nonce'], [200, null]]);
  assert.equal(decodeJwt(log[1].dpop).payload.nonce, log[0].dpop_nonce);
  assert.notEqual(log[0].client_assertion, log[1].client_assertion, 'a new assertion for the retry');
  const res = await m.auth.authFetch()(rs.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  assert.equal(thumbprint(decodeJwt(rs.stats.proofs.at(-1)).header.jwk), key);
});
