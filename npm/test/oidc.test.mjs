// McpAuth against panva's oidc-provider (a strict, spec-complete authorization server) behind a
// small protected resource (helpers.mjs startResource): dynamic registration, code + PKCE with
// RFC 9207 `iss`, resource indicators (the JWT `aud`), refresh rotation, single-flight
// refreshes, the device flow and revocation. Everything on 127.0.0.1.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import {
  McpAuth,
  MemoryStorage,
  McpAuthError,
  approveAuthorization,
  approveDevice,
  headlessLogin,
  recordingFetch,
  startResource,
  startServer,
  nodePkg,
} from './helpers.mjs';

const { loopbackLogin } = nodePkg;

let oidc; // access tokens live 60 s: no refresh unless asked
let issuer;
let rs;

before(async () => {
  oidc = await startServer('oidc.mjs');
  issuer = oidc.info.issuer;
  rs = await startResource({ issuer });
});
after(async () => {
  await rs?.stop();
  await oidc?.stop();
});

const decode = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));

function client(extra = {}) {
  const rec = recordingFetch();
  const auth = new McpAuth({ clientName: 'mcpauth-npm-test', fetch: rec.fetch, storage: new MemoryStorage(), ...extra });
  return { auth, rec };
}

const loginOnDemand = (auth) => ({
  onAuthorizationRequired: (ctx) => headlessLogin(auth, ctx.serverUrl, ctx.options),
});

test('a bare 401 leads to discovery, dynamic registration and a PKCE login whose token the resource accepts', async () => {
  const { auth, rec } = client();
  const mcp = auth.authFetch(undefined, loginOnDemand(auth));
  const res = await mcp(rs.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  const claims = await res.json();
  assert.equal(claims.iss, issuer);
  assert.deepEqual([claims.aud].flat(), [rs.resource], 'RFC 8707: the token is bound to this resource');

  const regs = rec.requests.filter((r) => r.url.endsWith('/reg'));
  assert.equal(regs.length, 1);
  const registered = JSON.parse(regs[0].body);
  assert.ok(registered.grant_types.includes('refresh_token'));
  const code = rec.requests.find((r) => r.form.get('grant_type') === 'authorization_code');
  assert.ok(code.form.get('code_verifier'), 'PKCE verifier sent');
  assert.equal(code.form.get('resource'), rs.resource, 'resource repeated in the token request');

  const grant = await auth.grant(rs.resource);
  assert.equal(grant.issuer, issuer);
  assert.ok(grant.tokens.refresh_token, 'oidc-provider issued a refresh token');
  const scopes = grant.tokens.scope.split(' ');
  assert.ok(scopes.includes('mcp:read') && scopes.includes('mcp:write'), `PRM scopes_supported requested: ${grant.tokens.scope}`);
});

test('the registration is reused for the next login at the same issuer', async () => {
  const { auth, rec } = client();
  await headlessLogin(auth, rs.resource);
  await headlessLogin(auth, rs.resource);
  assert.equal(rec.count((r) => r.url.endsWith('/reg')), 1);
});

test('a callback with a forged state finds no login, a wrong iss is refused by the core, and a callback is worth one attempt', async () => {
  const { auth } = client();
  const { url } = await auth.authorizationUrl(rs.resource, { redirectUri: 'http://127.0.0.1:9/callback' });
  const callback = new URL(await approveAuthorization(url));
  const forged = new URL(callback);
  forged.searchParams.set('state', 'forged');
  await assert.rejects(auth.handleCallback(forged.href), (err) => err instanceof McpAuthError && err.code === 'NO_PENDING_AUTHORIZATION');
  const wrongIss = new URL(callback);
  wrongIss.searchParams.set('iss', `${issuer}/`);
  await assert.rejects(auth.handleCallback(wrongIss.href), (err) => err.code === 'ISS_MISMATCH');
  // The wrong-iss attempt carried the real state, so it used up the pending login.
  await assert.rejects(auth.handleCallback(callback.href), (err) => err.code === 'NO_PENDING_AUTHORIZATION');
});

test('what is stored is the core\'s layout: grant#<server> and client#<issuer>#code, versioned records, nothing else', async () => {
  const entries = new Map();
  const storage = { get: async (k) => entries.get(k), set: async (k, v) => void entries.set(k, v), delete: async (k) => void entries.delete(k) };
  const { auth } = client({ storage });
  await headlessLogin(auth, rs.resource);
  assert.deepEqual([...entries.keys()].sort(), [`client#${issuer}#code`, `grant#${rs.resource}`]);
  for (const record of entries.values()) assert.equal(JSON.parse(record).v, 1);
  const status = await auth.status(rs.resource);
  assert.equal(status.issuer, issuer);
  assert.equal(status.refreshable, true);
  assert.ok(status.expires_in_ms > 0);
});

test('resource indicators: an authorization server that does not serve the resource refuses it, and the error surfaces', async (t) => {
  // This AS accepts only one other resource: ours is an invalid_target at the authorization endpoint.
  const picky = await startServer('oidc.mjs', { env: { OIDC_RESOURCES: 'https://elsewhere.example/mcp' } });
  t.after(picky.stop);
  const rs2 = await startResource({ issuer: picky.info.issuer });
  t.after(rs2.stop);
  const { auth } = client();
  const { url } = await auth.authorizationUrl(rs2.resource, { redirectUri: 'http://127.0.0.1:9/callback' });
  assert.equal(new URL(url).searchParams.get('resource'), rs2.resource);
  const callback = await approveAuthorization(url);
  await assert.rejects(auth.handleCallback(callback), (err) => err.code === 'OAUTH_ERROR' && err.error === 'invalid_target');
  assert.equal(await auth.grant(rs2.resource), undefined);
});

test('refresh rotates the refresh token; the rotated-out one is dead', async () => {
  const { auth, rec } = client();
  const first = await headlessLogin(auth, rs.resource);
  const second = await auth.refresh(rs.resource);
  assert.notEqual(second.tokens.refresh_token, first.tokens.refresh_token);
  assert.notEqual(second.tokens.access_token, first.tokens.access_token);
  assert.equal(rec.refreshes(), 1);
  const refresh = rec.requests.find((r) => r.form.get('grant_type') === 'refresh_token');
  assert.equal(refresh.form.get('resource'), rs.resource, 'resource sent with the refresh (RFC 8707 §2.2)');
  assert.deepEqual([decode(second.tokens.access_token).aud].flat(), [rs.resource]);
  assert.equal(await auth.accessToken(rs.resource), second.tokens.access_token);
});

test('N concurrent requests that all get 401 cause exactly one refresh request', async () => {
  const { auth, rec } = client();
  const grant = await headlessLogin(auth, rs.resource);
  rs.stats.revoked = new Set([grant.tokens.access_token]);
  const before = rs.stats.unauthorized;
  const mcp = auth.authFetch();
  const N = 8;
  const results = await Promise.all(Array.from({ length: N }, () => mcp(rs.resource, { method: 'POST', body: '{}' })));
  assert.deepEqual(results.map((r) => r.status), Array(N).fill(200));
  assert.equal(rec.refreshes(), 1, 'one refresh shared by all callers');
  assert.equal(rs.stats.unauthorized - before, N, 'each first attempt was rejected');
  rs.stats.revoked = undefined;
});

test('N concurrent requests on a token about to expire cause exactly one refresh request', async (t) => {
  // Tokens living 10 s get a 5 s margin (half their lifetime); the client's clock then moves
  // 6 s ahead, so the token is inside the margin while the server still accepts it.
  const shortLived = await startServer('oidc.mjs', { env: { OIDC_AT_TTL: '10' } });
  t.after(shortLived.stop);
  const rs2 = await startResource({ issuer: shortLived.info.issuer });
  t.after(rs2.stop);
  let ahead = 0;
  const { auth, rec } = client({ now: () => Date.now() + ahead });
  await headlessLogin(auth, rs2.resource);
  ahead = 6000;
  // The login's probe (one request without a token, for the challenge) was the last 401.
  const before = rs2.stats.unauthorized;
  const mcp = auth.authFetch();
  const N = 10;
  const results = await Promise.all(Array.from({ length: N }, () => mcp(rs2.resource, { method: 'POST', body: '{}' })));
  assert.deepEqual(results.map((r) => r.status), Array(N).fill(200));
  assert.equal(rec.refreshes(), 1);
  assert.equal(rs2.stats.unauthorized - before, 0, 'refreshed before sending, so no 401 at all');
});

test('a 403 insufficient_scope steps up with the union of the held and the challenged scope', async (t) => {
  const strict = await startResource({ issuer, requiredScope: 'mcp:read mcp:write' });
  t.after(strict.stop);
  const { auth } = client();
  await headlessLogin(auth, strict.resource, { scope: 'mcp:read' });
  const seen = [];
  let asked;
  const mcp = auth.authFetch(undefined, {
    onAuthorizationRequired: async (ctx) => {
      seen.push(ctx);
      const { url } = await auth.authorizationUrl(ctx.serverUrl, { redirectUri: 'http://127.0.0.1:9/callback', ...ctx.options });
      asked = new URL(url).searchParams.get('scope');
      await auth.handleCallback(await approveAuthorization(url));
    },
  });
  const res = await mcp(strict.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
  assert.equal(seen.length, 1);
  assert.equal(seen[0].reason, 'insufficient_scope');
  assert.equal(seen[0].challenge.scope, 'mcp:read mcp:write');
  assert.equal(seen[0].options.previousScope, 'mcp:read');
  const scopes = asked.split(' ');
  assert.ok(scopes.includes('mcp:read') && scopes.includes('mcp:write'), `union requested: ${asked}`);
});

async function deviceFlow({ auth, rec }) {
  let approval;
  let prompted;
  const grant = await auth.deviceLogin(rs.resource, {
    onPrompt: (prompt) => {
      prompted = prompt;
      approval = approveDevice(issuer, prompt.user_code);
    },
  });
  assert.match(prompted.user_code, /\S/);
  assert.ok(prompted.verification_uri.startsWith(issuer));
  assert.equal(prompted.device_code, undefined, 'the device code stays in the core');
  await approval;
  assert.equal(grant.issuer, issuer);
  assert.deepEqual([decode(grant.tokens.access_token).aud].flat(), [rs.resource]);
  const reg = JSON.parse(rec.requests.find((r) => r.url.endsWith('/reg')).body);
  assert.ok(reg.grant_types.includes('urn:ietf:params:oauth:grant-type:device_code'));
  const res = await auth.authFetch()(rs.resource, { method: 'POST', body: '{}' });
  assert.equal(res.status, 200);
}

test('device flow (client with a redirect URI too): user code, approval, polling, grant', () =>
  deviceFlow(client({ redirectUri: 'http://127.0.0.1:9/callback' })));

// A device-only client registers without redirect URIs; oidc-provider then needs the explicit
// `response_types: []` the core sends (RFC 7591 would otherwise default it to `code`).
test('device flow (device-only client, no redirect URI)', () =>
  deviceFlow(client()));

test('logout revokes the refresh token at the server and forgets the grant', async () => {
  const { auth, rec } = client();
  const grant = await headlessLogin(auth, rs.resource);
  assert.deepEqual(await auth.logout(rs.resource), { revoked: true });
  assert.equal(await auth.grant(rs.resource), undefined);
  assert.equal(rec.count((r) => r.url.endsWith('/token/revocation')), 1);
  await assert.rejects(auth.accessToken(rs.resource), (err) => err.code === 'LOGIN_REQUIRED');
  // The revoked refresh token no longer works.
  const meta = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  const res = await fetch(meta.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.tokens.refresh_token, client_id: grant.client.client_id }),
  });
  assert.equal((await res.json()).error, 'invalid_grant');
});

test('a refresh answered with invalid_grant drops the grant, warns with the server\'s error, and asks for a login', async () => {
  const warnings = [];
  const { auth } = client({ onWarning: (w) => warnings.push(w) });
  const grant = await headlessLogin(auth, rs.resource);
  warnings.length = 0; // the login's own (oidc-provider's userinfo refuses resource-bound tokens)
  // Spend the refresh token behind mcpauth's back: rotation makes mcpauth's copy stale.
  const meta = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json();
  await fetch(meta.token_endpoint, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: grant.tokens.refresh_token, client_id: grant.client.client_id }),
  });
  await assert.rejects(auth.refresh(rs.resource), (err) => err.code === 'LOGIN_REQUIRED');
  assert.deepEqual(warnings.map((w) => [w.code, w.error]), [['OAUTH_ERROR', 'invalid_grant']]);
  assert.ok(warnings[0] instanceof McpAuthError);
  assert.equal(await auth.grant(rs.resource), undefined);
});

test('loopbackLogin: a one-shot server on 127.0.0.1 catches the redirect', async () => {
  const { auth, rec } = client();
  let printed;
  const grant = await loopbackLogin(auth, rs.resource, {
    print: (_message, url) => (printed = url),
    openBrowser: async (url) => {
      // The "browser": sign in at the AS, then follow the redirect to the loopback server.
      const callback = await approveAuthorization(url);
      assert.match(callback, /^http:\/\/127\.0\.0\.1:\d+\/callback\?/);
      const page = await fetch(callback);
      assert.equal(page.status, 200);
      assert.doesNotMatch(await page.text(), /code=|access_token/);
    },
  });
  assert.ok(printed.startsWith(`${issuer}/auth?`));
  assert.equal(grant.issuer, issuer);
  const reg = JSON.parse(rec.requests.find((r) => r.url.endsWith('/reg')).body);
  assert.match(reg.redirect_uris[0], /^http:\/\/127\.0\.0\.1:\d+\/callback$/);
  assert.equal(reg.application_type, 'native');
});
