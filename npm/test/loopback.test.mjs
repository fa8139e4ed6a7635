// mcpauth/node loopbackLogin: the one-shot callback server itself (address, paths, one result,
// timeout, abort), against the SDK-protected server, whose /authorize redirects at once.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';

import { McpAuth, MemoryStorage, nodePkg, startServer } from './helpers.mjs';

const { loopbackLogin } = nodePkg;

let sdk;
let mcpUrl;
before(async () => {
  sdk = await startServer('sdk-server.mjs');
  mcpUrl = sdk.info.mcp;
});
after(() => sdk?.stop());

const newAuth = () => new McpAuth({ clientName: 'mcpauth-loopback-test', storage: new MemoryStorage() });
const quiet = () => {};
const callbackOf = async (authorizeUrl) => (await fetch(authorizeUrl, { redirect: 'manual' })).headers.get('location');

test('answers only GET on the callback path, takes one result, then stops listening', async () => {
  const auth = newAuth();
  let port;
  const grant = await loopbackLogin(auth, mcpUrl, {
    print: quiet,
    openBrowser: async (url) => {
      const callback = new URL(await callbackOf(url));
      port = callback.port;
      assert.equal(callback.hostname, '127.0.0.1');
      assert.equal(callback.pathname, '/callback');
      assert.equal((await fetch(`http://127.0.0.1:${port}/other`)).status, 404);
      assert.equal((await fetch(callback, { method: 'POST' })).status, 404);
      const page = await fetch(callback);
      assert.equal(page.status, 200);
      assert.match(page.headers.get('content-type'), /text\/html/);
    },
  });
  assert.ok(grant.tokens.access_token);
  await assert.rejects(fetch(`http://127.0.0.1:${port}/callback`), /fetch failed/, 'the server is closed after one result');
});

test('a callback without the login\'s state is refused and does not end the login', async () => {
  let foreign = 0;
  const auth = new McpAuth({ storage: new MemoryStorage(), onForeignCallback: () => foreign++ });
  const grant = await loopbackLogin(auth, mcpUrl, {
    print: quiet,
    openBrowser: async (url) => {
      const callback = new URL(await callbackOf(url));
      const forged = new URL(callback);
      forged.searchParams.set('state', 'forged');
      forged.searchParams.set('code', 'attacker-code');
      assert.equal((await fetch(forged)).status, 400);
      const missing = new URL(callback);
      missing.searchParams.delete('state');
      assert.equal((await fetch(missing)).status, 400);
      // The real callback still completes the login.
      assert.equal((await fetch(callback)).status, 200);
    },
  });
  assert.ok(grant.tokens.access_token);
  assert.equal(foreign, 2, 'onForeignCallback heard both');
});

test('listens on 127.0.0.1 only, not on other interfaces', async (t) => {
  const external = Object.values(networkInterfaces()).flat().find((i) => i.family === 'IPv4' && !i.internal);
  if (!external) return t.skip('no non-loopback IPv4 interface on this machine');
  const auth = newAuth();
  await loopbackLogin(auth, mcpUrl, {
    print: quiet,
    openBrowser: async (url) => {
      const callback = new URL(await callbackOf(url));
      await assert.rejects(fetch(`http://${external.address}:${callback.port}/callback`), /fetch failed/);
      await fetch(callback);
    },
  });
});

test('a fixed port is used when given', async () => {
  const auth = newAuth();
  const probe = (await import('node:net')).createServer();
  await new Promise((ok) => probe.listen(0, '127.0.0.1', ok));
  const port = probe.address().port;
  await new Promise((ok) => probe.close(ok));
  await loopbackLogin(auth, mcpUrl, {
    port,
    print: quiet,
    openBrowser: async (url) => {
      const callback = new URL(await callbackOf(url));
      assert.equal(Number(callback.port), port);
      await fetch(callback);
    },
  });
});

test('an error response from the authorization server rejects with the core\'s OAUTH_ERROR', async () => {
  const auth = newAuth();
  await assert.rejects(
    loopbackLogin(auth, mcpUrl, {
      print: quiet,
      openBrowser: async (url) => {
        const callback = new URL(await callbackOf(url));
        const denied = new URL(callback.pathname, callback);
        denied.search = new URLSearchParams({ error: 'access_denied', state: callback.searchParams.get('state') });
        const page = await fetch(denied);
        assert.equal(page.status, 400);
      },
    }),
    (err) => err.code === 'OAUTH_ERROR' && err.error === 'access_denied',
  );
});

test('times out with TIMEOUT and can be aborted with ABORTED', async () => {
  const auth = newAuth();
  let printed;
  await assert.rejects(
    loopbackLogin(auth, mcpUrl, { print: (_m, url) => (printed = url), timeout: 1000 }),
    (err) => err.code === 'TIMEOUT',
  );
  // The abandoned login is forgotten: its callback, arriving late, is refused.
  const late = await callbackOf(printed);
  await assert.rejects(auth.handleCallback(late), (err) => err.code === 'NO_PENDING_AUTHORIZATION');
  const controller = new AbortController();
  const pending = loopbackLogin(auth, mcpUrl, { print: quiet, signal: controller.signal, openBrowser: () => controller.abort() });
  await assert.rejects(pending, (err) => err.code === 'ABORTED');
});
