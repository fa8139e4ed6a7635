// The built package loads in Node through its own exports map ("mcpauth", "mcpauth/core"),
// instantiates the WebAssembly core from disk, and its one driver loop does the I/O right:
// concurrent transmits with `redirect: "manual"`, request and operation deadlines, and fetch
// failures (a 24 KB WWW-Authenticate over Node's header limit included) that reach the caller
// as McpAuthError, never as a bare TypeError. scripts/test builds npm/dist first.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { McpAuth, McpAuthError, MemoryStorage } from 'mcpauth';
import { canonicalServer, constants, machineDrain, machineFree, machineNew } from 'mcpauth/core';

const SERVER = 'https://mcp.example.com/mcp';
const ISSUER = 'https://auth.example.com';
const metadata = (issuer) => ({
  issuer,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  code_challenge_methods_supported: ['S256'],
});

/** A server on 127.0.0.1 that handles every request with `handler`. */
async function serve(handler) {
  const server = createServer(handler);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const stop = () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); });
  return { url: `http://127.0.0.1:${server.address().port}/mcp`, stop };
}

test('the boundary answers: canonical URIs, the store layout, the error codes, errors as McpAuthError', () => {
  assert.equal(canonicalServer('HTTPS://MCP.Example:443/mcp/'), 'https://mcp.example/mcp');
  assert.equal(constants.grantPrefix, 'grant#');
  assert.equal(constants.pendingPrefix, 'pending#');
  for (const code of ['LOGIN_REQUIRED', 'STEP_UP_LIMIT', 'TRANSPORT', 'TIMEOUT', 'STORE_RECORD_UNREADABLE']) {
    assert.ok(constants.errorCodes.includes(code), code);
  }
  assert.throws(() => canonicalServer('not a url'), (err) => err instanceof McpAuthError && err.code === 'INVALID_URL');
});

test('a configuration the core refuses ends the machine on its first drain, with the error as its done', () => {
  const handle = machineNew('access', { server: 'ftp://nope' });
  const { transmits, events, timeout } = machineDrain(handle);
  machineFree(handle);
  assert.deepEqual(transmits, []);
  assert.equal(timeout, null);
  assert.equal(events.length, 1);
  assert.equal(events[0].kind, 'done');
  assert.equal(events[0].error.code, 'INVALID_URL');
  const bad = machineNew('access', '{');
  const drained = machineDrain(bad);
  machineFree(bad);
  assert.equal(drained.events[0].error.code, 'INVALID_ARGUMENT');
});

test('discovery runs against a stub fetch: a batch in flight together, every request with redirect: manual', async () => {
  const documents = {
    'https://mcp.example.com/.well-known/oauth-protected-resource/mcp': { resource: SERVER, authorization_servers: [ISSUER] },
    'https://auth.example.com/.well-known/oauth-authorization-server': metadata(ISSUER),
  };
  const seen = [];
  let inFlight = 0;
  let most = 0;
  const fetch = async (url, init) => {
    seen.push({ url, redirect: init.redirect });
    most = Math.max(most, ++inFlight);
    await new Promise((ok) => setTimeout(ok, 20));
    inFlight--;
    const doc = documents[url];
    return doc ? Response.json(doc) : new Response('not found', { status: 404 });
  };
  const discovered = await new McpAuth({ fetch }).discover(SERVER);
  assert.equal(discovered.issuer, ISSUER);
  assert.equal(discovered.metadata.token_endpoint, `${ISSUER}/token`);
  // Both PRM URLs and the speculative origin metadata go together (and the issuer's two
  // metadata URLs may join them while the unused ones are still in flight).
  assert.ok(most >= 3, `at most ${most} in flight`);
  assert.deepEqual(seen.slice(0, 3).map((c) => c.url).sort(), [
    'https://mcp.example.com/.well-known/oauth-authorization-server',
    'https://mcp.example.com/.well-known/oauth-protected-resource',
    'https://mcp.example.com/.well-known/oauth-protected-resource/mcp',
  ]);
  assert.ok(seen.every((call) => call.redirect === 'manual'));
});

test('a 24 KB WWW-Authenticate, over Node\'s header limit, ends as an McpAuthError, never a bare TypeError', async (t) => {
  const huge = await serve((req, res) => {
    req.resume();
    res.writeHead(401, { 'www-authenticate': `Bearer realm="${'x'.repeat(24 * 1024)}"` }).end();
  });
  t.after(huge.stop);
  const auth = new McpAuth({ redirectUri: 'http://127.0.0.1:9/callback', storage: new MemoryStorage() });
  // The MCP request itself (the caller's fetch) rejects: TRANSPORT, the TypeError as its cause.
  const mcp = auth.authFetch(undefined, { onAuthorizationRequired: () => assert.fail('no login without a challenge') });
  await assert.rejects(mcp(huge.url, { method: 'POST', body: '{}' }), (err) => {
    assert.ok(err instanceof McpAuthError, `${err?.name}: ${err?.message}`);
    assert.equal(err.code, 'TRANSPORT');
    assert.ok(err.cause instanceof TypeError);
    return true;
  });
  // The probe of a login fails in transport too; the core goes on without its challenge, and
  // the login ends with the core's discovery error.
  await assert.rejects(auth.authorizationUrl(huge.url), (err) => err instanceof McpAuthError && err.code === 'DISCOVERY_FAILED');
});

test('a server that never answers: each request gives up at requestTimeout, a login at its timeout', async (t) => {
  const silent = await serve(() => {});
  t.after(silent.stop);
  const auth = new McpAuth({ redirectUri: 'http://127.0.0.1:9/callback', requestTimeout: 200 });
  const started = Date.now();
  await assert.rejects(auth.discover(silent.url), (err) => err.code === 'DISCOVERY_FAILED' && /no answer in time/.test(err.message));
  assert.ok(Date.now() - started < 5000, 'the requests were cut at their deadline');
  const patient = new McpAuth({ redirectUri: 'http://127.0.0.1:9/callback' });
  await assert.rejects(patient.authorizationUrl(silent.url, { timeout: 300 }), (err) => err.code === 'TIMEOUT');
});

test('a storage that throws fails the operation with STORE, its error as the cause', async () => {
  const broken = { get: async () => { throw new Error('disk on fire'); }, set: async () => {}, delete: async () => {} };
  const auth = new McpAuth({ storage: broken });
  await assert.rejects(auth.accessToken(SERVER), (err) => {
    assert.ok(err instanceof McpAuthError);
    assert.equal(err.code, 'STORE');
    assert.equal(err.cause.message, 'disk on fire');
    return true;
  });
});

test('without a stored grant, accessToken and logout say LOGIN_REQUIRED', async () => {
  const auth = new McpAuth();
  await assert.rejects(auth.accessToken(SERVER), (err) => err instanceof McpAuthError && err.code === 'LOGIN_REQUIRED');
  await assert.rejects(auth.logout(SERVER), (err) => err.code === 'LOGIN_REQUIRED');
  assert.equal(await auth.grant(SERVER), undefined);
});
