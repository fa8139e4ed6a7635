// Proves the interop harness itself, with plain fetch and no mcpauth code: each server
// starts, prints its ready line, and carries a full client flow. Run: node --test tests/interop/harness.test.mjs
// The diagnostics (startup time, requests per first login) are the measurements the README quotes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { startServer, countingFetch } from './servers.mjs';
import { approveAuthorization, approveDevice, CookieJar } from './approve.mjs';
import { clientAssertion, decodeJwt, dpopKey, dpopProof, serverLog, thumbprint } from './jose.mjs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const REDIRECT = 'http://127.0.0.1:9/callback'; // nothing listens: the code is read off the Location
const RESOURCE = 'http://127.0.0.1:5555/mcp'; // oidc.mjs serves no resource; any URL is accepted
const DEVICE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

function pkce() {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

async function json(res) {
  return { status: res.status, body: await res.json(), headers: res.headers };
}

const postForm = (f, url, params) => f(url, { method: 'POST', body: new URLSearchParams(params) }).then(json);
const postJson = (f, url, body) =>
  f(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }).then(json);
const jwtPayload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));

// RFC 8414 §3.1: the well-known suffix goes between the origin and the issuer's path, and
// the SDK's issuer path is "/" (a trailing slash), which must not become a second slash.
function asMetadataUrl(issuer) {
  const { origin, pathname } = new URL(issuer);
  return `${origin}/.well-known/oauth-authorization-server${pathname.replace(/\/$/, '')}`;
}

function authorizeUrl(endpoint, params) {
  const url = new URL(endpoint);
  url.search = new URLSearchParams({ response_type: 'code', code_challenge_method: 'S256', ...params });
  return url.href;
}

// One JSON-RPC call over streamable HTTP; the answer is JSON or an SSE stream whose last
// data line is the response (a resumable server opens with an empty priming event).
async function rpc(f, mcpUrl, token, method, params, headers = {}) {
  const res = await f(mcpUrl, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  const text = await res.text();
  const data = res.headers.get('content-type')?.startsWith('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:') && l.slice(5).trim()).at(-1)?.slice(5)
    : text;
  return { status: res.status, headers: res.headers, body: data ? JSON.parse(data) : undefined };
}

const initParams = { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'interop-harness', version: '0' } };

test('oidc-provider: DCR, code + PKCE, refresh rotation, device flow, revocation', async (t) => {
  const server = await startServer('oidc.mjs', { env: { OIDC_AT_TTL: '2' } });
  t.after(server.stop);
  const { issuer, port } = server.info;
  assert.equal(issuer, `http://127.0.0.1:${port}`); // no trailing slash
  t.diagnostic(`oidc.mjs startup ${server.startupMs} ms`);

  const f = countingFetch();
  const meta = (await json(await f(`${issuer}/.well-known/oauth-authorization-server`))).body;
  assert.equal(meta.issuer, issuer);
  assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
  assert.equal(meta.authorization_response_iss_parameter_supported, true);

  const reg = await postJson(f, meta.registration_endpoint, {
    client_name: 'interop-harness',
    application_type: 'native', // loopback redirect on any port (RFC 8252 §7.3) only for native
    redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token', DEVICE_GRANT], // refresh_token: or no refresh tokens
    response_types: ['code'],
  });
  assert.equal(reg.status, 201);
  const clientId = reg.body.client_id;

  // `approve` is the browser: the library by default, the CLI when asked (the Rust tests use it).
  const cli = async (url) => (await promisify(execFile)(process.execPath, [`${import.meta.dirname}/approve.mjs`, 'authorize', url])).stdout.trim();
  const login = async (fetchImpl, opts = {}, approve = (url) => approveAuthorization(url, { fetch: fetchImpl, ...opts })) => {
    const { verifier, challenge } = pkce();
    const state = randomBytes(8).toString('hex');
    const url = authorizeUrl(meta.authorization_endpoint, {
      client_id: clientId, redirect_uri: REDIRECT, scope: 'mcp:read mcp:write', resource: RESOURCE, state, code_challenge: challenge,
    });
    const back = new URL(await approve(url));
    assert.equal(back.origin + back.pathname, REDIRECT);
    assert.equal(back.searchParams.get('state'), state);
    assert.equal(back.searchParams.get('iss'), issuer); // RFC 9207, always sent
    return postForm(fetchImpl, meta.token_endpoint, {
      grant_type: 'authorization_code', client_id: clientId, code: back.searchParams.get('code'),
      code_verifier: verifier, redirect_uri: REDIRECT, resource: RESOURCE,
    });
  };

  const tok = await login(f);
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  t.diagnostic(`oidc-provider first login (metadata + DCR + browser + token): ${f.count} requests`);
  assert.equal(tok.body.expires_in, 2);
  assert.equal(tok.body.scope, 'mcp:read mcp:write');
  assert.ok(tok.body.refresh_token, 'refresh token without offline_access');
  assert.deepEqual(
    { aud: jwtPayload(tok.body.access_token).aud, iss: jwtPayload(tok.body.access_token).iss },
    { aud: RESOURCE, iss: issuer },
  );

  // Logins repeat; with the browser session kept, the next one skips the login page.
  assert.equal((await login(f, {}, cli)).status, 200);
  const jar = new CookieJar();
  assert.equal((await login(f, { jar })).status, 200);
  const sso = countingFetch();
  assert.equal((await login(sso, { jar })).status, 200);
  t.diagnostic(`oidc-provider login with the browser session kept (browser + token): ${sso.count} requests`);

  // Refresh rotates; replaying the spent refresh token kills the whole grant.
  const refresh = (rt) => postForm(f, meta.token_endpoint, { grant_type: 'refresh_token', client_id: clientId, refresh_token: rt, resource: RESOURCE });
  const r1 = await refresh(tok.body.refresh_token);
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.notEqual(r1.body.refresh_token, tok.body.refresh_token);
  assert.equal((await refresh(tok.body.refresh_token)).body.error, 'invalid_grant');
  assert.equal((await refresh(r1.body.refresh_token)).body.error, 'invalid_grant', 'reuse revokes the grant');

  // Device flow (RFC 8628): pending until the user approves; `resource` goes on the device request.
  const device = await postForm(f, meta.device_authorization_endpoint, { client_id: clientId, scope: 'mcp:read', resource: RESOURCE });
  assert.equal(device.status, 200);
  const poll = () => postForm(f, meta.token_endpoint, { grant_type: DEVICE_GRANT, client_id: clientId, device_code: device.body.device_code, resource: RESOURCE });
  assert.equal((await poll()).body.error, 'authorization_pending');
  const df = countingFetch();
  await approveDevice(issuer, device.body.user_code, { fetch: df });
  t.diagnostic(`oidc-provider device approval (browser side): ${df.count} requests`);
  const dtok = await poll();
  assert.equal(dtok.status, 200, JSON.stringify(dtok.body));
  assert.equal(jwtPayload(dtok.body.access_token).aud, RESOURCE);

  // Revocation (RFC 7009): the refresh token stops working. JWT access tokens cannot be revoked.
  const revoke = (token) => f(meta.revocation_endpoint, { method: 'POST', body: new URLSearchParams({ client_id: clientId, token }) });
  assert.equal((await revoke(dtok.body.refresh_token)).status, 200);
  assert.equal((await refresh(dtok.body.refresh_token)).body.error, 'invalid_grant');
  assert.equal((await json(await revoke(dtok.body.access_token))).body.error, 'unsupported_token_type');
});

test('oidc-provider with DPoP nonces: bound access and refresh tokens, one nonce round trip, replayed proofs refused', async (t) => {
  const server = await startServer('oidc.mjs', { env: { OIDC_DPOP_NONCE: 'required' } });
  t.after(server.stop);
  const { issuer } = server.info;
  const meta = (await json(await fetch(`${issuer}/.well-known/oauth-authorization-server`))).body;
  assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'));
  const reg = await postJson(fetch, meta.registration_endpoint, {
    client_name: 'interop-harness', application_type: 'native', redirect_uris: [REDIRECT],
    token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  });
  const clientId = reg.body.client_id;
  const { verifier, challenge } = pkce();
  const back = new URL(await approveAuthorization(authorizeUrl(meta.authorization_endpoint, {
    client_id: clientId, redirect_uri: REDIRECT, scope: 'mcp:read', resource: RESOURCE, state: 's', code_challenge: challenge,
  })));
  const key = dpopKey();
  const token = (params, proof) => fetch(meta.token_endpoint, {
    method: 'POST', headers: proof ? { dpop: proof } : {}, body: new URLSearchParams({ client_id: clientId, ...params }),
  }).then(json);
  const proof = (nonce) => dpopProof(key, { htm: 'POST', htu: meta.token_endpoint, nonce });

  // RFC 9449 §8: a proof without the server's nonce gets use_dpop_nonce and the nonce.
  const code = { grant_type: 'authorization_code', code: back.searchParams.get('code'), code_verifier: verifier, redirect_uri: REDIRECT };
  const first = await token(code, proof());
  assert.equal(first.status, 400);
  assert.equal(first.body.error, 'use_dpop_nonce');
  const nonce = first.headers.get('dpop-nonce');
  assert.ok(nonce);
  const tok = await token(code, proof(nonce));
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  assert.equal(tok.body.token_type, 'DPoP');
  assert.equal(decodeJwt(tok.body.access_token).payload.cnf.jkt, thumbprint(key.jwk));

  // The refresh token of a public client is bound too: no proof, or another key's, fails
  // without spending it; the right key refreshes and the new token stays bound.
  const refresh = { grant_type: 'refresh_token', refresh_token: tok.body.refresh_token };
  assert.equal((await token(refresh)).body.error, 'invalid_grant');
  const other = dpopKey();
  const foreign = await token(refresh, dpopProof(other, { htm: 'POST', htu: meta.token_endpoint, nonce }));
  assert.equal(foreign.body.error, 'invalid_grant');
  const refreshProof = proof(nonce);
  const r1 = await token(refresh, refreshProof);
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.equal(decodeJwt(r1.body.access_token).payload.cnf.jkt, thumbprint(key.jwk));

  // The same proof again, with the new (unspent) refresh token: replay detected, token not spent.
  const refresh2 = { grant_type: 'refresh_token', refresh_token: r1.body.refresh_token };
  const replay = await token(refresh2, refreshProof);
  assert.equal(replay.status, 400);
  assert.equal(replay.body.error, 'invalid_grant');
  assert.equal((await token(refresh2, proof(nonce))).status, 200);

  // The request log saw all of it, proofs included, with oidc-provider's reasons.
  const log = await serverLog(issuer, '/token');
  const binding = 'failed jkt verification';
  assert.deepEqual(log.map((e) => [e.status, e.error ?? null, e.error_detail ?? null]), [
    [400, 'use_dpop_nonce', null], [200, null, null], [400, 'invalid_grant', binding], [400, 'invalid_grant', binding],
    [200, null, null], [400, 'invalid_grant', 'DPoP proof JWT Replay detected'], [200, null, null],
  ]);
  assert.equal(log[4].dpop, refreshProof);
  assert.equal(log[0].dpop_nonce, nonce);
});

test('oidc-provider with garbled nonces: every nonce it hands out is refused', async (t) => {
  const server = await startServer('oidc.mjs', { env: { OIDC_DPOP_NONCE: 'garbled', OIDC_MACHINE_CLIENTS: tempDir(t) } });
  t.after(server.stop);
  const { issuer, clients } = server.info;
  const tokenEndpoint = `${issuer}/token`;
  const key = dpopKey();
  const call = (nonce) => fetch(tokenEndpoint, {
    method: 'POST',
    headers: { authorization: basic(clients.basic), dpop: dpopProof(key, { htm: 'POST', htu: tokenEndpoint, nonce }) },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  }).then(json);
  const first = await call();
  assert.equal(first.body.error, 'use_dpop_nonce');
  const second = await call(first.headers.get('dpop-nonce'));
  assert.equal(second.body.error, 'use_dpop_nonce');
  assert.equal(second.body.error_description, 'invalid nonce in DPoP proof');
});

test('oidc-provider client credentials: client_secret_basic and private_key_jwt (ES256, RS256), DPoP-bound, no refresh token', async (t) => {
  const server = await startServer('oidc.mjs', { env: { OIDC_MACHINE_CLIENTS: tempDir(t), OIDC_AT_TTL: '5' } });
  t.after(server.stop);
  const { issuer, clients } = server.info;
  const meta = (await json(await fetch(`${issuer}/.well-known/oauth-authorization-server`))).body;
  assert.ok(meta.grant_types_supported.includes('client_credentials'));
  const cc = (headers, params = {}) => postFormWith(meta.token_endpoint, headers, { grant_type: 'client_credentials', resource: RESOURCE, scope: 'mcp:read', ...params });

  const viaSecret = await cc({ authorization: basic(clients.basic) });
  assert.equal(viaSecret.status, 200, JSON.stringify(viaSecret.body));
  assert.equal(viaSecret.body.token_type, 'Bearer');
  assert.equal(viaSecret.body.expires_in, 5);
  assert.equal(viaSecret.body.refresh_token, undefined, 'client credentials: a new token on expiry, not a refresh');
  assert.equal(decodeJwt(viaSecret.body.access_token).payload.aud, RESOURCE);
  assert.equal(decodeJwt(viaSecret.body.access_token).payload.client_id, clients.basic.client_id);
  assert.equal((await cc({ authorization: basic({ ...clients.basic, client_secret: 'wrong' }) })).body.error, 'invalid_client');

  for (const client of [clients.es256, clients.rs256]) {
    const assertion = clientAssertion(client, issuer);
    assert.equal(decodeJwt(assertion).header.alg, client.alg);
    const assertionParams = { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion };
    const ok = await cc({}, assertionParams);
    assert.equal(ok.status, 200, `${client.alg}: ${JSON.stringify(ok.body)}`);
    assert.equal(decodeJwt(ok.body.access_token).payload.client_id, client.client_id);
    const again = await cc({}, assertionParams);
    assert.equal(again.body.error, 'invalid_client', `${client.alg}: a client assertion is good once`);
  }
  // The ES256 key does not sign for the RS256 client.
  const mixed = clientAssertion(clients.es256, issuer, { clientId: clients.rs256.client_id });
  const refused = await cc({}, { client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: mixed });
  assert.equal(refused.body.error, 'invalid_client');

  // With a proof the token is DPoP-bound (a confidential client; no nonce in this profile).
  const key = dpopKey();
  const bound = await cc({ authorization: basic(clients.basic), dpop: dpopProof(key, { htm: 'POST', htu: meta.token_endpoint }) });
  assert.equal(bound.body.token_type, 'DPoP');
  assert.equal(decodeJwt(bound.body.access_token).payload.cnf.jkt, thumbprint(key.jwk));

  const log = await serverLog(issuer, '/token');
  assert.deepEqual([...new Set(log.filter((e) => e.status === 200).map((e) => e.client_auth_method))].sort(), ['client_secret_basic', 'private_key_jwt']);
});

function tempDir(t) {
  const dir = mkdtempSync(join(tmpdir(), 'oidc-clients-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// RFC 6749 §2.3.1: client_secret_basic form-encodes both parts first.
const basic = ({ client_id: id, client_secret: secret }) =>
  `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

const postFormWith = (url, headers, params) => fetch(url, { method: 'POST', headers, body: new URLSearchParams(params) }).then(json);

// The discovery an MCP client does, from a bare 401 down to a token, counted.
async function sdkFirstLogin(t, mcp, { f, expectIssuer, label }) {
  const bare = await rpc(f, mcp, '', 'initialize', initParams, { authorization: '' });
  assert.equal(bare.status, 401);
  const challenge = bare.headers.get('www-authenticate');
  const prmUrl = challenge.match(/resource_metadata="([^"]+)"/)[1];
  const prm = (await json(await f(prmUrl))).body;
  assert.equal(prm.resource, mcp);
  const [issuer] = prm.authorization_servers;
  assert.equal(issuer, expectIssuer);
  const meta = (await json(await f(asMetadataUrl(issuer)))).body;
  assert.equal(meta.issuer, issuer); // byte-identical, trailing slash included
  assert.deepEqual(meta.code_challenge_methods_supported, ['S256']);
  assert.equal(meta.authorization_response_iss_parameter_supported, undefined);

  const reg = await postJson(f, meta.registration_endpoint, {
    client_name: 'interop-harness', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'],
  });
  assert.equal(reg.status, 201);
  const clientId = reg.body.client_id;

  const { verifier, challenge: codeChallenge } = pkce();
  const res = await f(
    authorizeUrl(meta.authorization_endpoint, {
      client_id: clientId, redirect_uri: REDIRECT, scope: prm.scopes_supported.join(' '), resource: mcp, state: 'xyz', code_challenge: codeChallenge,
    }),
    { redirect: 'manual' },
  );
  assert.equal(res.status, 302);
  const back = new URL(res.headers.get('location'));
  assert.equal(back.searchParams.get('state'), 'xyz');
  assert.equal(back.searchParams.get('iss'), null); // the SDK's AS does not send RFC 9207 iss
  const tok = await postForm(f, meta.token_endpoint, {
    grant_type: 'authorization_code', client_id: clientId, code: back.searchParams.get('code'),
    code_verifier: verifier, redirect_uri: REDIRECT, resource: mcp,
  });
  assert.equal(tok.status, 200, JSON.stringify(tok.body));
  const init = await rpc(f, mcp, tok.body.access_token, 'initialize', initParams);
  assert.equal(init.status, 200, JSON.stringify(init.body));
  t.diagnostic(`${label} first login (bare 401 .. authenticated initialize): ${f.count} requests`);
  return { meta, clientId, tok, init };
}

test('MCP SDK server: bare 401 -> PRM -> DCR -> authorize -> token -> tools, refresh, revoke', async (t) => {
  const server = await startServer('sdk-server.mjs');
  t.after(server.stop);
  const { mcp, issuer } = server.info;
  assert.match(issuer, /^http:\/\/127\.0\.0\.1:\d+\/$/); // trailing slash
  t.diagnostic(`sdk-server.mjs startup ${server.startupMs} ms`);

  const f = countingFetch();
  const { meta, clientId, tok, init } = await sdkFirstLogin(t, mcp, { f, expectIssuer: issuer, label: 'sdk-server' });
  assert.equal(init.headers.get('mcp-session-id'), null); // stateless
  const protocol = { 'mcp-protocol-version': init.body.result.protocolVersion };
  const list = await rpc(f, mcp, tok.body.access_token, 'tools/list', {}, protocol);
  assert.deepEqual(list.body.result.tools.map((x) => x.name).sort(), ['echo', 'whoami']);
  const who = await rpc(f, mcp, tok.body.access_token, 'tools/call', { name: 'whoami', arguments: {} }, protocol);
  assert.deepEqual(JSON.parse(who.body.result.content[0].text).resource, mcp);

  // Refresh rotates; the spent refresh token fails, the new access token works.
  const refresh = (rt) => postForm(f, meta.token_endpoint, { grant_type: 'refresh_token', client_id: clientId, refresh_token: rt, resource: mcp });
  const r1 = await refresh(tok.body.refresh_token);
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.notEqual(r1.body.refresh_token, tok.body.refresh_token);
  assert.equal((await refresh(tok.body.refresh_token)).body.error, 'invalid_grant');
  assert.equal((await rpc(f, mcp, r1.body.access_token, 'tools/list', {}, protocol)).status, 200);

  // A token for another resource is refused at /authorize; a revoked one at /mcp.
  const wrong = await f(authorizeUrl(meta.authorization_endpoint, {
    client_id: clientId, redirect_uri: REDIRECT, resource: `${mcp}/other`, code_challenge: pkce().challenge,
  }), { redirect: 'manual' });
  assert.equal(new URL(wrong.headers.get('location')).searchParams.get('error'), 'invalid_target');
  const revoked = await f(meta.revocation_endpoint, { method: 'POST', body: new URLSearchParams({ client_id: clientId, token: r1.body.access_token }) });
  assert.equal(revoked.status, 200);
  const after = await rpc(f, mcp, r1.body.access_token, 'tools/list', {}, protocol);
  assert.equal(after.status, 401);
  assert.match(after.headers.get('www-authenticate'), /error="invalid_token".*resource_metadata="/);
});

test("MCP SDK's own example server (--example): discovery and first login", async (t) => {
  const server = await startServer('sdk-server.mjs', { args: ['--example'] });
  t.after(server.stop);
  const { mcp, issuer } = server.info;
  assert.match(mcp, /^http:\/\/localhost:\d+\/mcp$/);
  assert.match(issuer, /^http:\/\/localhost:\d+\/$/);
  t.diagnostic(`sdk-server.mjs --example startup ${server.startupMs} ms`);

  const f = countingFetch();
  const { tok, init } = await sdkFirstLogin(t, mcp, { f, expectIssuer: issuer, label: 'SDK example' });
  assert.equal(tok.body.refresh_token, undefined); // the demo provider issues none
  const session = { 'mcp-session-id': init.headers.get('mcp-session-id'), 'mcp-protocol-version': init.body.result.protocolVersion };
  assert.ok(session['mcp-session-id'], 'the example is stateful');
  const list = await rpc(f, mcp, tok.body.access_token, 'tools/list', {}, session);
  assert.ok(list.body.result.tools.some((x) => x.name === 'greet'));
});
