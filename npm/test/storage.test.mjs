// Storage: MemoryStorage, WebStorage over a DOM-like store, and the pending authorization
// surviving a full-page redirect (a new McpAuth over the same storages completes the login).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { McpAuth, MemoryStorage, pkg, startServer } from './helpers.mjs';

const { WebStorage } = pkg;

/** A stand-in for window.localStorage / sessionStorage. */
class DomStorage {
  map = new Map();
  getItem(k) {
    return this.map.has(k) ? this.map.get(k) : null;
  }
  setItem(k, v) {
    this.map.set(k, String(v));
  }
  removeItem(k) {
    this.map.delete(k);
  }
}

test('MemoryStorage stores, replaces and deletes', async () => {
  const s = new MemoryStorage();
  assert.equal(await s.get('a'), undefined);
  await s.set('a', '1');
  await s.set('a', '2');
  assert.equal(await s.get('a'), '2');
  await s.delete('a');
  await s.delete('a');
  assert.equal(await s.get('a'), undefined);
});

test('WebStorage keeps each app under its own prefix', async () => {
  const dom = new DomStorage();
  const a = new WebStorage(dom, 'app-a:');
  const b = new WebStorage(dom, 'app-b:');
  await a.set('k', 'from a');
  await b.set('k', 'from b');
  assert.equal(await a.get('k'), 'from a');
  assert.equal(await b.get('k'), 'from b');
  assert.deepEqual([...dom.map.keys()].sort(), ['app-a:k', 'app-b:k']);
  await a.delete('k');
  assert.equal(await a.get('k'), undefined);
  assert.equal(await new WebStorage(dom).get('k'), undefined, 'default prefix is mcpauth:');
});

test('the pending authorization survives a full-page redirect in session storage', async (t) => {
  const sdk = await startServer('sdk-server.mjs');
  t.after(sdk.stop);
  const local = new DomStorage();
  const session = new DomStorage();
  const page = () =>
    new McpAuth({
      redirectUri: 'http://127.0.0.1:9/callback',
      storage: new WebStorage(local),
      sessionStorage: new WebStorage(session),
    });

  // Page 1 starts the login and navigates away.
  const { url, state } = await page().authorizationUrl(sdk.info.mcp);
  assert.ok([...session.map.keys()].some((k) => k.includes(state)), 'pending kept in session storage');
  assert.ok(![...local.map.values()].some((v) => v.includes('verifier')), 'no verifier in local storage');

  // The authorization server sends the browser back; page 2 is a fresh McpAuth.
  const callback = (await fetch(url, { redirect: 'manual' })).headers.get('location');
  const auth = page();
  const grant = await auth.handleCallback(callback);
  assert.equal(grant.issuer, sdk.info.issuer);
  assert.ok(![...session.map.keys()].some((k) => k.includes(state)), 'pending removed after use');
  assert.equal(await auth.accessToken(sdk.info.mcp), grant.tokens.access_token);
  // Grants live in the persistent store, so a third page is still logged in.
  assert.equal(await page().accessToken(sdk.info.mcp), grant.tokens.access_token);
});
