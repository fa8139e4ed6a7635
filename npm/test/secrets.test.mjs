// No secret reaches debug output, the console, an error or util.inspect: with the `debug` hook
// capturing everything and the console spied on, a browser (loopback) login with a confidential
// client, an authorized MCP request, a forced refresh, a device login, a logout with
// revocation, and the error paths of a refused refresh, a callback with the wrong `iss` and a
// callback no login waits for all run against the dev server. Every secret it issued or was
// sent (`GET /_dev/secrets`: access and refresh tokens, authorization and device codes, the
// client secret, each `state` and PKCE verifier) is then looked for in all of it. The native
// twin is native/tests/no_secret_in_logs.rs.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inspect } from 'node:util';

import { McpAuth, MemoryStorage, McpAuthError, nodePkg } from './helpers.mjs';
import { startDevserver } from './devserver.mjs';

const CLIENT_SECRET = 'cs_npm_confidential_s3cret_value';


/**
 * A browser for the dev server: it follows the authorization URL to the loopback callback. A
 * login that fails at the callback closes the listener under it; the login's error tells.
 */
const openBrowser = async (url) => {
  await fetch(url, { redirect: 'follow' })
    .then((r) => r.text())
    .catch(() => {});
};

/** The secrets of `secrets` found in `text`. */
function leaked(text, secrets) {
  return secrets.filter((secret) => text.includes(secret));
}

test('the leak check finds a secret anywhere in the text', () => {
  assert.deepEqual(leaked('GET /mcp token=at_s3cret;', ['at_s3cret', 'rt_other']), ['at_s3cret']);
  assert.deepEqual(leaked('GET /mcp', ['at_s3cret']), []);
});

test('no secret reaches debug output, the console, errors or util.inspect', async (t) => {
  const { child, mcp, dev } = await startDevserver(['--auto-approve', '--device-interval', '1', '--confidential-client', `confidential:${CLIENT_SECRET}`]);
  t.after(() => child.kill());
  const debugLines = [];
  const consoleLines = [];
  const shown = [];
  const show = (what, value) => shown.push([what, typeof value === 'string' ? value : inspect(value, { depth: 10, showHidden: true })]);
  const showError = (what, error) => {
    assert.ok(error instanceof McpAuthError, `${what}: ${error?.stack ?? error}`);
    show(`${what} (message)`, error.message);
    show(`${what} (stack)`, error.stack ?? '');
    show(`${what} (inspect)`, error);
    show(`${what} (JSON)`, JSON.stringify(error));
  };
  const methods = ['log', 'info', 'warn', 'error', 'debug', 'trace'];
  const original = Object.fromEntries(methods.map((m) => [m, console[m]]));
  for (const m of methods) console[m] = (...args) => consoleLines.push(`${m}: ${args.map((a) => (typeof a === 'string' ? a : inspect(a, { depth: 10 }))).join(' ')}`);
  t.after(() => Object.assign(console, original));

  let offset = 0;
  const storage = new MemoryStorage();
  const auth = (extra = {}) =>
    new McpAuth({
      storage,
      clientName: 'mcpauth secrets test',
      now: () => Date.now() + offset,
      requestTimeout: 10_000,
      timeout: 60_000,
      debug: (message, fields) => debugLines.push(`${message} ${JSON.stringify(fields ?? {})}`),
      onWarning: (warning) => showError('warning', warning),
      ...extra,
    });

  // A browser login with a confidential client.
  const confidential = auth({ preRegistered: { clientId: 'confidential', clientSecret: CLIENT_SECRET, authMethod: 'client_secret_basic' } });
  await nodePkg.loopbackLogin(confidential, mcp, { print: () => {}, openBrowser });
  show('client', confidential);

  // An MCP request through authFetch.
  const authed = confidential.authFetch();
  const response = await authed(mcp, {
    method: 'POST',
    headers: { accept: 'application/json, text/event-stream', 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }),
  });
  assert.equal(response.status, 200);
  await response.text();

  // A refresh, forced by moving the client's clock past the access token's expiry.
  const before = (await dev('stats')).refreshes;
  offset += 2 * 3600_000;
  await confidential.accessToken(mcp);
  assert.equal((await dev('stats')).refreshes, before + 1);

  // A device login under another profile.
  await auth({ profile: 'device' }).deviceLogin(mcp, { onPrompt: () => {} });

  // A logout that revokes.
  const revocations = (await dev('stats')).revocations;
  await confidential.logout(mcp);
  assert.ok((await dev('stats')).revocations > revocations);

  // A pending login, and a callback no login waits for.
  // (Its own storage: the registration for a fixed redirect URI is not for loopback logins.)
  const pending = auth({ redirectUri: 'http://127.0.0.1:9/callback', storage: new MemoryStorage() });
  const { url } = await pending.authorizationUrl(mcp);
  assert.ok(new URL(url).searchParams.get('state'));
  show('client with a pending login', pending);
  showError(
    'callback without a login',
    await pending.handleCallback('http://127.0.0.1:9/callback?code=code_forged_value&state=st_forged_value').catch((e) => e),
  );

  // A refused refresh: the refresh token has expired on the server's clock.
  await dev('faults', { refresh_token_ttl_ms: 1000 });
  const publicClient = auth();
  await nodePkg.loopbackLogin(publicClient, mcp, { print: () => {}, openBrowser });
  await dev('clock', { advance_ms: 60_000 });
  offset += 2 * 3600_000;
  showError('refused refresh', await publicClient.accessToken(mcp).catch((e) => e));

  // A callback with the wrong `iss` (RFC 9207).
  await dev('faults', { wrong_iss: true });
  const wrongIss = await nodePkg.loopbackLogin(auth(), mcp, { print: () => {}, openBrowser }).catch((e) => e);
  assert.equal(wrongIss.code, 'ISS_MISMATCH', wrongIss.message);
  showError('callback with the wrong iss', wrongIss);
  await dev('faults', {});
  Object.assign(console, original);

  const secrets = await dev('secrets');
  for (const prefix of ['at_', 'rt_', 'code_', 'dc_']) assert.ok(secrets.some((s) => s.startsWith(prefix)), `no ${prefix} secret collected`);
  assert.ok(secrets.includes(CLIENT_SECRET));
  const unprefixed = secrets.filter((s) => !['at_', 'rt_', 'code_', 'dc_', 'cs_'].some((p) => s.startsWith(p)));
  assert.ok(unprefixed.length >= 4, `states and verifiers: ${unprefixed.length}`);

  // The capture works: it holds the driver's requests with their paths, and responses.
  const debug = debugLines.join('\n');
  for (const expected of ['sending request', '/token', '/register', '/device_authorization', '/revoke', '"status":200', '"event":"save"']) {
    assert.ok(debug.includes(expected), `the debug output lacks ${expected}`);
  }
  assert.deepEqual(leaked(debug, secrets), [], 'secrets in the debug output');
  assert.deepEqual(leaked(consoleLines.join('\n'), secrets), [], 'secrets on the console');
  for (const [what, text] of shown) assert.deepEqual(leaked(text, secrets), [], `secrets in ${what}:\n${text}`);
});
