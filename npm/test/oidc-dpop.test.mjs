// DPoP (RFC 9449) in Node against panva's oidc-provider (tests/interop/oidc.mjs) and a small
// resource that checks proofs (helpers.mjs startResource): a DPoP login gets access and
// refresh tokens bound to the client's key, refreshes with proofs by that key, answers a
// server nonce (authorization server or resource) with exactly one retry and stops after it,
// polls a device login with proofs, and a proof it sent, replayed, is refused. What the client sent is read off oidc-provider's
// request log (GET /_interop/requests).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { McpAuth, MemoryStorage, approveDevice, headlessLogin, recordingFetch, startResource, startServer } from './helpers.mjs';
import { decodeJwt, serverLog, thumbprint } from '../../tests/interop/jose.mjs';

let plain; // oidc-provider without nonces
let nonces; // oidc-provider requiring DPoP nonces
let rs; // a resource of `plain`
let rsNonces; // a resource of `nonces`
before(async () => {
  [plain, nonces] = await Promise.all([startServer('oidc.mjs'), startServer('oidc.mjs', { env: { OIDC_DPOP_NONCE: 'required' } })]);
  [rs, rsNonces] = await Promise.all([startResource({ issuer: plain.info.issuer }), startResource({ issuer: nonces.info.issuer })]);
});
after(async () => {
  await Promise.all([rs?.stop(), rsNonces?.stop()]);
  await Promise.all([plain?.stop(), nonces?.stop()]);
});

function client(extra = {}) {
  const rec = recordingFetch();
  const auth = new McpAuth({ clientName: 'mcpauth-npm-test', fetch: rec.fetch, storage: new MemoryStorage(), dpop: true, ...extra });
  return { auth, rec };
}

const keyOf = (grant) => thumbprint({ kty: 'EC', ...grant.dpop_key.jwk });
const boundTo = (grant) => decodeJwt(grant.tokens.access_token).payload.cnf?.jkt;
const proofOf = (entry) => decodeJwt(entry.dpop);
const tokenLog = async (issuer, since = 0) => (await serverLog(issuer, '/token')).slice(since);
const outcomes = (log) => log.map((e) => [e.status, e.error ?? null]);

// A refresh sent by hand for `grant`, with `proof` as its DPoP header (or none).
async function refreshByHand(grant, proof) {
  const res = await fetch(grant.token_endpoint, {
    method: 'POST',
    headers: proof ? { dpop: proof } : {},
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.tokens.refresh_token, client_id: grant.client.client_id, resource: grant.resource }),
  });
  return { status: res.status, body: await res.json() };
}

test('a DPoP login binds the access and refresh tokens to the client key, and the resource takes the token with a proof', async () => {
  const since = (await tokenLog(plain.info.issuer)).length;
  const { auth } = client();
  const first = await headlessLogin(auth, rs.resource);
  const key = keyOf(first);
  assert.equal(first.tokens.token_type, 'DPoP');
  assert.equal(boundTo(first), key, 'cnf.jkt is the thumbprint of the client key');

  let log = await tokenLog(plain.info.issuer, since);
  assert.deepEqual(outcomes(log), [[200, null]]);
  const { header, payload } = proofOf(log[0]);
  assert.equal(header.typ, 'dpop+jwt');
  assert.equal(header.alg, 'ES256');
  assert.equal(header.jwk.d, undefined, 'no private key in the proof');
  assert.equal(thumbprint(header.jwk), key);
  assert.deepEqual([payload.htm, payload.htu], ['POST', first.token_endpoint]);

  // The resource gets `Authorization: DPoP` with a proof for the request (ath included).
  const res = await auth.authFetch()(rs.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  const sent = decodeJwt(rs.stats.proofs.at(-1));
  assert.equal(thumbprint(sent.header.jwk), key);
  assert.deepEqual([sent.payload.htm, sent.payload.htu], ['POST', rs.resource]);

  // The refresh token is bound too (a public client, RFC 9449 §5): no proof, no refresh (and
  // the refresh token is not spent by trying).
  const unproven = await refreshByHand(first);
  assert.equal(unproven.body.error, 'invalid_grant');
  log = await tokenLog(plain.info.issuer, since);
  assert.equal(log.at(-1).error_detail, 'failed jkt verification');

  const second = await auth.refresh(rs.resource);
  assert.notEqual(second.tokens.refresh_token, first.tokens.refresh_token, 'rotated');
  assert.equal(keyOf(second), key, 'one key for the life of the grant');
  assert.equal(boundTo(second), key);
  log = await tokenLog(plain.info.issuer, since);
  assert.deepEqual(outcomes(log), [[200, null], [400, 'invalid_grant'], [200, null]]);
  assert.equal(log[2].grant_type, 'refresh_token');
  assert.equal(thumbprint(proofOf(log[2]).header.jwk), key);
  assert.notEqual(proofOf(log[2]).payload.jti, proofOf(log[0]).payload.jti);
});

test('a token endpoint nonce is answered with exactly one retry', async () => {
  const since = (await tokenLog(nonces.info.issuer)).length;
  const { auth } = client();
  const grant = await headlessLogin(auth, rsNonces.resource);
  assert.equal(boundTo(grant), keyOf(grant));
  const log = await tokenLog(nonces.info.issuer, since);
  assert.deepEqual(outcomes(log), [[400, 'use_dpop_nonce'], [200, null]]);
  assert.equal(proofOf(log[0]).payload.nonce, undefined);
  assert.equal(proofOf(log[1]).payload.nonce, log[0].dpop_nonce, 'the retry carries the nonce given');

  // The refresh: done with at most that one retry (none if the client kept the nonce).
  await auth.refresh(rsNonces.resource);
  const refresh = (await tokenLog(nonces.info.issuer, since)).slice(2);
  assert.ok(
    [JSON.stringify([[200, null]]), JSON.stringify([[400, 'use_dpop_nonce'], [200, null]])].includes(JSON.stringify(outcomes(refresh))),
    JSON.stringify(refresh),
  );
  assert.ok(proofOf(refresh.at(-1)).payload.nonce);
});

test('a device login polls with proofs, answers nonces at once, and gets a bound token', async () => {
  const since = (await tokenLog(nonces.info.issuer)).length;
  const { auth } = client();
  let approval;
  const grant = await auth.deviceLogin(rsNonces.resource, {
    onPrompt: (prompt) => {
      approval = approveDevice(nonces.info.issuer, prompt.user_code);
    },
  });
  await approval;
  const key = keyOf(grant);
  assert.equal(boundTo(grant), key);
  const log = await tokenLog(nonces.info.issuer, since);
  assert.ok(log.every((e) => e.grant_type === 'urn:ietf:params:oauth:grant-type:device_code' && thumbprint(proofOf(e).header.jwk) === key), JSON.stringify(log));
  assert.equal(log[0].error, 'use_dpop_nonce', 'the first poll knew no nonce');
  assert.ok(log.every((e, i) => !(e.error === 'use_dpop_nonce' && log[i + 1]?.error === 'use_dpop_nonce')), JSON.stringify(outcomes(log)));
  assert.deepEqual(outcomes(log).at(-1), [200, null]);
  const res = await auth.authFetch()(rsNonces.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
});

test('a server whose nonces never work gets one retry, then the error', async (t) => {
  const garbled = await startServer('oidc.mjs', { env: { OIDC_DPOP_NONCE: 'garbled' } });
  t.after(garbled.stop);
  const rs2 = await startResource({ issuer: garbled.info.issuer });
  t.after(rs2.stop);
  const { auth } = client();
  await assert.rejects(headlessLogin(auth, rs2.resource), (err) => err.code === 'OAUTH_ERROR' && err.error === 'use_dpop_nonce');
  const log = await tokenLog(garbled.info.issuer);
  assert.deepEqual(outcomes(log), [[400, 'use_dpop_nonce'], [400, 'use_dpop_nonce']], 'one request, one retry, no more');
  assert.equal(await auth.grant(rs2.resource), undefined);
});

test('a resource server nonce is answered with exactly one retry', async (t) => {
  const strict = await startResource({ issuer: plain.info.issuer, dpopNonce: true });
  t.after(strict.stop);
  const { auth } = client();
  await headlessLogin(auth, strict.resource);
  const mcp = auth.authFetch();
  assert.equal((await mcp(strict.resource, { method: 'POST', body: '{}' })).status, 200);
  assert.equal(strict.stats.nonceChallenges, 1);
  assert.equal(strict.stats.proofs.length, 1);
  // A rotated nonce: again one retry.
  strict.rotateDpopNonce();
  assert.equal((await mcp(strict.resource, { method: 'POST', body: '{}' })).status, 200);
  assert.ok(strict.stats.nonceChallenges <= 2, `${strict.stats.nonceChallenges} nonce challenges`);
  assert.equal(strict.stats.proofs.length, 2);
});

test('a replayed proof is refused, and the grant lives on', async () => {
  const since = (await tokenLog(plain.info.issuer)).length;
  const { auth } = client();
  await headlessLogin(auth, rs.resource);
  const refreshed = await auth.refresh(rs.resource);
  const log = await tokenLog(plain.info.issuer, since);
  assert.deepEqual(outcomes(log), [[200, null], [200, null]]);

  // The proof of the client's refresh, replayed with the current (unspent) refresh token.
  const replay = await refreshByHand(refreshed, log[1].dpop);
  assert.equal(replay.body.error, 'invalid_grant');
  assert.equal((await tokenLog(plain.info.issuer, since))[2].error_detail, 'DPoP proof JWT Replay detected');

  // The resource refuses a replayed proof too.
  const res = await auth.authFetch()(rs.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  const again = await fetch(rs.resource, {
    method: 'POST',
    headers: { authorization: `DPoP ${refreshed.tokens.access_token}`, dpop: rs.stats.proofs.at(-1) },
    body: '{}',
  });
  assert.equal(again.status, 401);
  assert.match(again.headers.get('www-authenticate'), /^DPoP error="invalid_dpop_proof"/);

  // The client's own next refresh (with a new proof) still works.
  const next = await auth.refresh(rs.resource);
  assert.notEqual(next.tokens.access_token, refreshed.tokens.access_token);
  assert.equal(boundTo(next), keyOf(refreshed));
});
