// The CommonJS build (dist/cjs/, package.json's `require` conditions), as a Node CLI that uses
// `require` loads it: `mcpauth` and `mcpauth/node` by their names (the package referring to
// itself), one core shared by both, and a loopback (redirect) login at the dev server followed
// by an authorized MCP call. The published shape (types for `require`) is checked by
// package.test.mjs.
'use strict';

const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { join } = require('node:path');

const mcpauth = require('mcpauth');
const { loopbackLogin } = require('mcpauth/node');

let devserver;
let mcpUrl;
let dev;

before(async () => {
  const { startDevserver } = await import('./devserver.mjs');
  ({ child: devserver, mcp: mcpUrl, dev } = await startDevserver());
});
after(() => devserver?.kill());

test('require resolves the package to its CommonJS build', () => {
  assert.equal(require.resolve('mcpauth'), join(__dirname, '../dist/cjs/index.js'));
  assert.equal(require.resolve('mcpauth/node'), join(__dirname, '../dist/cjs/node.js'));
  assert.equal(typeof mcpauth.McpAuth, 'function');
  assert.equal(require('mcpauth/core').canonicalServer('HTTPS://MCP.Example:443/mcp/'), 'https://mcp.example/mcp');
});

test('the CommonJS loader of the core exports what the ES loader it stands in for exports', async () => {
  // npm/cjs/wasm.js is written by hand in place of src/wasm.ts (whose top-level await cannot be
  // required): the rest of the CommonJS build imports the same names from it.
  const esm = await import('../dist/wasm.js');
  const cjs = require('../dist/cjs/wasm.js');
  assert.deepEqual(Object.keys(cjs).sort(), Object.keys(esm).sort());
  for (const name of Object.keys(esm)) assert.equal(typeof cjs[name], typeof esm[name], name);
});

test('mcpauth and mcpauth/node share one core: an error from either is the same McpAuthError class', async () => {
  const auth = new mcpauth.McpAuth({ storage: new mcpauth.MemoryStorage() });
  const controller = new AbortController();
  controller.abort();
  const error = await loopbackLogin(auth, mcpUrl, { print: () => {}, signal: controller.signal }).catch((e) => e);
  assert.ok(error instanceof mcpauth.McpAuthError, `${error}`);
  assert.equal(error.code, 'ABORTED');
});

test('a loopback login at the dev server through the required package, then an authorized MCP call with its token', async () => {
  const auth = new mcpauth.McpAuth({ clientName: 'mcpauth-cjs-test', storage: new mcpauth.MemoryStorage() });
  const grant = await loopbackLogin(auth, mcpUrl, {
    print: () => {},
    // The browser's part: the dev server approves at once and redirects to the loopback callback.
    openBrowser: async (url) => {
      const authorize = await fetch(url, { redirect: 'manual' });
      assert.equal(authorize.status, 302);
      assert.equal((await fetch(authorize.headers.get('location'))).status, 200);
    },
  });
  assert.ok((await dev('secrets')).includes(grant.tokens.access_token), 'the dev server issued the token');
  const refusedBefore = (await dev('stats')).mcp_unauthorized;
  const res = await auth.authFetch()(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello from require' } } }),
  });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).result.content[0].text, 'hello from require');
  assert.equal((await dev('stats')).mcp_unauthorized, refusedBefore, 'the call carried the token from the start');
});
