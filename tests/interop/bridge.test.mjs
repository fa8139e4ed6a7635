// `mcpauth proxy` end to end, driven by the MCP TypeScript SDK's own clients: its
// StdioClientTransport spawns the bridge as a host spawns a stdio server, and its
// StreamableHTTPClientTransport talks to `--listen`. Upstream are the dev server (with its
// fake clock, stats and transport switches) and the SDK-protected servers of sdk-server.mjs.
//
//   node --test tests/interop/bridge.test.mjs
//
// Needs the binaries (cargo build -p mcpauth -p mcpauth-devserver, or MCPAUTH_BIN and
// MCPAUTH_DEVSERVER_BIN) and tests/interop/node_modules (scripts/setup). INTEROP_DEBUG=1 shows
// every child's stderr.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { ElicitRequestSchema, LoggingMessageNotificationSchema, McpError } from '@modelcontextprotocol/sdk/types.js';
import { startServer } from './servers.mjs';
import {
  startDevServer, tempHome, stdioBridge, listeningBridge, httpClient, mcpauth, text, within,
} from './bridge-harness.mjs';

const TEST = { timeout: 90000 };
// Past the dev server's default access-token lifetime (3600 s).
const PAST_TOKEN_LIFETIME_MS = 3601 * 1000;

// A dev server with `switches` and a fresh store, both gone when `t` ends.
async function devServerAndHome(t, switches = []) {
  const dev = await startDevServer(switches);
  t.after(dev.stop);
  const home = await tempHome();
  t.after(home.remove);
  return { dev, home };
}

// A stdio bridge closed when `t` ends (before the server it talks to stops).
async function bridgeFor(t, url, home, options) {
  const bridge = await stdioBridge(url, home, options);
  t.after(() => bridge.client.close());
  return bridge;
}

// Calls `echo` and checks it came back; a failure names the bridge's log.
async function echo(bridge, message) {
  const result = await within(30000, `echo ${message}`, bridge.client.callTool({ name: 'echo', arguments: { text: message } }))
    .catch((err) => assert.fail(`${err.message}\nbridge log:\n${bridge.log()}`));
  assert.equal(text(result), message, `echo answers ${message}: ${JSON.stringify(result)}`);
}

const toolNames = async (client) => (await client.listTools()).tools.map((tool) => tool.name);

test('stdio bridge to the dev server: logs in on first use, lists and calls tools', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t);
  const bridge = await bridgeFor(t, dev.mcpUrl, home);
  assert.equal(bridge.client.getServerVersion()?.name, 'mcpauth-devserver');
  assert.ok((await toolNames(bridge.client)).includes('echo'));
  await echo(bridge, 'hello through the bridge');

  const stats = await dev.stats();
  assert.equal(stats.token_grants.authorization_code, 1, 'one login, on first use');
  assert.equal(stats.requests.authorize, 1, 'through the browser');
  assert.equal(stats.refreshes, 0);
  assert.ok(stats.mcp_unauthorized >= 1, 'the first request met the 401 that started the login');
  const status = await mcpauth(['status'], home);
  assert.match(status.stdout, new RegExp(dev.mcpUrl.replace(/[.]/g, '\\.')), 'the login is in the store');
});

test('a session outlives its access token: one refresh, then the call succeeds', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t);
  const bridge = await bridgeFor(t, dev.mcpUrl, home);
  await echo(bridge, 'before');
  const refusedBefore = (await dev.stats()).mcp_unauthorized;
  await dev.advanceClock(PAST_TOKEN_LIFETIME_MS);
  await echo(bridge, 'after the token expired');
  const stats = await dev.stats();
  assert.equal(stats.mcp_unauthorized, refusedBefore + 1, 'the server refused the expired token once');
  assert.equal(stats.refreshes, 1, 'exactly one refresh');
  assert.equal(stats.token_grants.authorization_code, 1, 'no second login');
  assert.equal(stats.refresh_reuse_detected, 0);
});

test('step-up: admin-tool succeeds after the 403 insufficient_scope asks for mcp:admin', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t);
  const bridge = await bridgeFor(t, dev.mcpUrl, home);
  await echo(bridge, 'with mcp:read');
  const result = await within(30000, 'admin-tool', bridge.client.callTool({ name: 'admin-tool', arguments: {} }))
    .catch((err) => assert.fail(`${err.message}\nbridge log:\n${bridge.log()}`));
  assert.equal(text(result), 'admin ok');
  assert.notEqual(result.isError, true);
  const stats = await dev.stats();
  assert.equal(stats.token_grants.authorization_code, 2, 'the first login and the step-up login');
  await echo(bridge, 'still fine after the step-up');
});

test('event-stream answers and sessions: list and call, log notifications, the session used and ended', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t, ['--sse-responses', '--sessions']);
  const logged = [];
  const bridge = await bridgeFor(t, dev.mcpUrl, home, {
    onClient: (client) => client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logged.push(n.params.data)),
  });
  assert.ok((await toolNames(bridge.client)).includes('echo'));
  await echo(bridge, 'over an event stream');

  let stats = await dev.stats();
  assert.equal(stats.mcp_sse_responses, 3, 'initialize, tools/list and tools/call came back as event streams');
  assert.equal(stats.sessions_started, 1);
  assert.equal(stats.sessions_refused, 0, `every request carried the session id; bridge log:\n${bridge.log()}`);
  assert.equal(stats.session_requests, 3, 'notifications/initialized, tools/list, tools/call');
  assert.deepEqual(
    logged.filter((m) => m !== 'answering initialize'),
    ['answering tools/list', 'answering tools/call'],
    'the notifications inside the streams reached the client, in order',
  );

  await bridge.client.close();
  stats = await dev.stats();
  assert.equal(stats.sessions_ended, 1, `the bridge ends the session with DELETE when its client goes; log:\n${bridge.log()}`);
});

test('the SDK-protected server (stateless JSON): connect, list, call through the stdio bridge', TEST, async (t) => {
  const server = await startServer('sdk-server.mjs');
  t.after(server.stop);
  const home = await tempHome();
  t.after(home.remove);
  const bridge = await bridgeFor(t, server.info.mcp, home);
  const names = await toolNames(bridge.client);
  assert.ok(names.includes('echo') && names.includes('whoami'), names.join());
  await echo(bridge, 'to the SDK server');
  const whoami = JSON.parse(text(await bridge.client.callTool({ name: 'whoami', arguments: {} })));
  assert.equal(whoami.resource, server.info.mcp, 'the token is for this resource');
});

test("the SDK's own example server (sessions, SSE): connect, list, call, and an elicitation through the stdio bridge", TEST, async (t) => {
  const server = await startServer('sdk-server.mjs', { args: ['--example'] });
  t.after(server.stop);
  const home = await tempHome();
  t.after(home.remove);
  const asked = [];
  const bridge = await bridgeFor(t, server.info.mcp, home, {
    capabilities: { elicitation: { form: {} } },
    onClient: (client) =>
      client.setRequestHandler(ElicitRequestSchema, async (request) => {
        asked.push(request.params.message);
        return { action: 'accept', content: { name: 'Ada', email: 'ada@example.com' } };
      }),
  });
  assert.equal(bridge.client.getServerVersion()?.name, 'simple-streamable-http-server');
  assert.ok((await toolNames(bridge.client)).includes('greet'));
  const result = await within(30000, 'greet', bridge.client.callTool({ name: 'greet', arguments: { name: 'bridge' } }));
  assert.equal(text(result), 'Hello, bridge!');

  // The server asks the client a question inside the event stream of the tools/call answer;
  // the bridge hands it to the client and POSTs the client's answer back in the session.
  const collected = await within(30000, 'collect-user-info', bridge.client.callTool({ name: 'collect-user-info', arguments: { infoType: 'contact' } }));
  assert.deepEqual(asked, ['Please provide your contact information']);
  assert.match(text(collected), /^Thank you! Collected contact information: .*ada@example\.com/s);
});

test('requests in flight together on one stdio bridge are answered together, each to its caller', TEST, async (t) => {
  // Each /mcp answer takes 200 ms; ten in a row would take two seconds.
  const { dev, home } = await devServerAndHome(t, ['--sse-responses', '--sessions']);
  const bridge = await bridgeFor(t, dev.mcpUrl, home);
  await dev.setFaults({ sse_responses: true, sessions: true, latency_ms: 200 });
  const started = performance.now();
  const texts = [...Array(10).keys()].map((i) => `call ${i}`);
  const results = await within(30000, 'ten calls', Promise.all(texts.map((message) => bridge.client.callTool({ name: 'echo', arguments: { text: message } }))));
  const elapsed = performance.now() - started;
  assert.deepEqual(results.map(text), texts);
  assert.ok(elapsed < 1500, `ten 200 ms calls took ${Math.round(elapsed)} ms: they were not sent concurrently`);
});

test('four bridges started at once over one store with an expired token refresh it once', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t);
  await mcpauth(['login', dev.mcpUrl], home);
  await dev.advanceClock(PAST_TOKEN_LIFETIME_MS);

  const bridges = await Promise.all([1, 2, 3, 4].map(() => bridgeFor(t, dev.mcpUrl, home)));
  await Promise.all(bridges.map((bridge, i) => echo(bridge, `bridge ${i + 1}`)));
  const stats = await dev.stats();
  assert.ok(stats.mcp_unauthorized >= 2, 'the server refused the expired token (after the login\'s own 401)');
  assert.equal(stats.refreshes, 1, `one refresh for all four; logs:\n${bridges.map((b) => b.log()).join('\n---\n')}`);
  assert.equal(stats.refresh_reuse_detected, 0);
  assert.equal(stats.token_grants.authorization_code, 1, 'only the ahead-of-time login');
});

test('HTTP mode: the SDK Streamable HTTP client through --listen; foreign Origin and Host get 403', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t, ['--sessions']);
  const bridge = await listeningBridge(dev.mcpUrl, home);
  t.after(bridge.stop);
  const { client, transport } = await httpClient(bridge.url);
  t.after(() => client.close());
  assert.ok((await toolNames(client)).includes('echo'));
  const result = await client.callTool({ name: 'echo', arguments: { text: 'over http' } });
  assert.equal(text(result), 'over http');
  // The upstream session is the client's: its id came through, and ending it ends it upstream.
  assert.match(transport.sessionId ?? '', /^mcp_session_/);
  await transport.terminateSession();
  const sessions = await dev.stats();
  assert.deepEqual([sessions.sessions_started, sessions.sessions_ended, sessions.sessions_refused], [1, 1, 0]);

  const initialize = JSON.stringify({
    jsonrpc: '2.0', id: 1, method: 'initialize',
    params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'evil', version: '0' } },
  });
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };
  const upstreamBefore = (await dev.stats()).requests.mcp;
  const fromPage = await fetch(bridge.url, { method: 'POST', headers: { ...headers, origin: 'http://evil.example' }, body: initialize });
  assert.equal(fromPage.status, 403, 'a request from a web page elsewhere');

  const rawPost = (host) =>
    new Promise((ok, fail) => {
      const { hostname, port, pathname } = new URL(bridge.url);
      const req = httpRequest({ hostname, port, path: pathname, method: 'POST', headers: { ...headers, host } }, (res) => {
        res.resume();
        res.on('end', () => ok(res.statusCode));
      });
      req.on('error', fail);
      req.end(initialize);
    });
  assert.equal(await rawPost('evil.example'), 403, 'a DNS-rebound Host');
  assert.equal((await dev.stats()).requests.mcp, upstreamBefore, 'the refused requests never went upstream');
  assert.equal(await rawPost(`127.0.0.1:${new URL(bridge.url).port}`), 200, 'the same request with the loopback Host');
});

test('login impossible: --no-login with an empty store answers -32001 naming mcpauth login', TEST, async (t) => {
  const { dev, home } = await devServerAndHome(t);
  const bridge = await bridgeFor(t, dev.mcpUrl, home, { proxyArgs: ['--no-login'], connect: false });
  const failure = await within(30000, 'connect', bridge.client.connect(bridge.transport)).then(
    () => assert.fail('connect must fail without a login'),
    (err) => err,
  );
  assert.ok(failure instanceof McpError, `${failure}\n${bridge.log()}`);
  assert.equal(failure.code, -32001);
  assert.equal(failure.data?.code, 'LOGIN_REQUIRED');
  assert.match(failure.data?.command ?? '', /^mcpauth login \S+/);
  assert.ok(failure.data.command.includes(dev.mcpUrl), failure.data.command);
  const stats = await dev.stats();
  assert.equal(stats.requests.authorize ?? 0, 0, 'no browser was opened');
  assert.equal(stats.tokens_issued, 0);
});
