// McpAuth against an MCP server protected by the MCP TypeScript SDK's own server-side auth
// (tests/interop/sdk-server.mjs): everything discovered from a bare 401, then the SDK adapter
// (McpAuthProvider) inside the SDK's real client and transport.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

import { McpAuth, MemoryStorage, headlessLogin, recordingFetch, rpc, sdkPkg, startServer } from './helpers.mjs';

const { McpAuthProvider } = sdkPkg;

let sdk;
let mcpUrl;
let issuer;

before(async () => {
  sdk = await startServer('sdk-server.mjs');
  ({ mcp: mcpUrl, issuer } = sdk.info);
});
after(() => sdk?.stop());

function client(extra = {}) {
  const rec = recordingFetch();
  return { auth: new McpAuth({ clientName: 'mcpauth-npm-test', fetch: rec.fetch, storage: new MemoryStorage(), ...extra }), rec };
}

test('authFetch: a bare 401 from the SDK server leads to a login, then tools/call works', async () => {
  const { auth, rec } = client();
  const logins = [];
  const mcp = auth.authFetch(undefined, {
    onAuthorizationRequired: (ctx) => {
      logins.push(ctx);
      return headlessLogin(auth, ctx.serverUrl, ctx.options);
    },
  });
  const list = await rpc(mcp, mcpUrl, 'tools/list');
  assert.equal(list.status, 200);
  assert.deepEqual(list.body.result.tools.map((t) => t.name).sort(), ['echo', 'whoami']);
  const who = await rpc(mcp, mcpUrl, 'tools/call', { name: 'whoami', arguments: {} });
  const seen = JSON.parse(who.body.result.content[0].text);
  assert.equal(seen.resource, mcpUrl, 'the token is bound to the MCP endpoint');
  assert.deepEqual(seen.scopes.sort(), ['mcp:read', 'mcp:write'], 'PRM scopes_supported requested');

  assert.equal(logins.length, 1);
  assert.equal(logins[0].reason, 'unauthorized');
  assert.equal(logins[0].attempt, 1);
  assert.equal((await auth.grant(mcpUrl)).issuer, issuer, 'the issuer kept byte for byte (trailing slash)');
  assert.ok(rec.requests.some((r) => r.url === `${new URL(mcpUrl).origin}/.well-known/oauth-protected-resource/mcp`));
});

test('refresh at the SDK server rotates the refresh token', async () => {
  const { auth } = client();
  const first = await headlessLogin(auth, mcpUrl);
  const second = await auth.refresh(mcpUrl);
  assert.notEqual(second.tokens.refresh_token, first.tokens.refresh_token);
  const mcp = auth.authFetch();
  assert.equal((await rpc(mcp, mcpUrl, 'tools/list')).status, 200);
});

test('SDK adapter: Client + StreamableHTTPClientTransport with authProvider: new McpAuthProvider(...)', async () => {
  const { auth } = client();
  const logins = [];
  const provider = new McpAuthProvider(auth, mcpUrl, {
    login: (ctx) => {
      logins.push(ctx);
      return headlessLogin(auth, ctx.serverUrl, ctx.options);
    },
  });
  // The transport's own fetch: whatever the SDK sends goes through here, so the test can
  // prove the SDK sent no OAuth request of its own.
  const sdkRequests = [];
  const transportFetch = (url, init) => {
    sdkRequests.push(String(url));
    return fetch(url, init);
  };
  const connect = async () => {
    const mcpClient = new Client({ name: 'mcpauth-sdk-adapter-test', version: '0' });
    await mcpClient.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider, fetch: transportFetch }));
    return mcpClient;
  };

  // First connect: 401, the provider runs mcpauth's login, the SDK reports UnauthorizedError
  // (its contract after a redirect); connecting again uses the new token.
  await assert.rejects(connect(), UnauthorizedError);
  assert.equal(logins.length, 1);
  const mcpClient = await connect();
  const { tools } = await mcpClient.listTools();
  assert.deepEqual(tools.map((t) => t.name).sort(), ['echo', 'whoami']);
  const echoed = await mcpClient.callTool({ name: 'echo', arguments: { text: 'hello through mcpauth' } });
  assert.equal(echoed.content[0].text, 'hello through mcpauth');
  await mcpClient.close();

  const authOrigin = new URL(issuer).origin;
  assert.deepEqual(sdkRequests.filter((u) => u.startsWith(authOrigin) || u.includes('/.well-known/')), [], 'the SDK made no OAuth request');
});

test('SDK adapter: with a grant in storage the first connect just works, and transport.finishAuth is refused', async () => {
  const { auth } = client();
  await headlessLogin(auth, mcpUrl);
  const provider = new McpAuthProvider(auth, mcpUrl, { onRedirect: () => assert.fail('no login expected') });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  const mcpClient = new Client({ name: 'mcpauth-sdk-adapter-test', version: '0' });
  await mcpClient.connect(transport);
  const echoed = await mcpClient.callTool({ name: 'echo', arguments: { text: 'again' } });
  assert.equal(echoed.content[0].text, 'again');
  await mcpClient.close();
  // A bare code cannot be checked against `iss`: the SDK's own exchange is refused.
  await assert.rejects(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }).finishAuth('some-code'), /finishAuth\(callbackUrl\)/);
});

test('SDK adapter: onRedirect gets mcpauth\'s authorization URL and finishAuth(callbackUrl) completes it', async () => {
  const { auth } = client({ redirectUri: 'http://127.0.0.1:9/callback' });
  let redirectedTo;
  const provider = new McpAuthProvider(auth, mcpUrl, { onRedirect: (url) => (redirectedTo = url) });
  const mcpClient = new Client({ name: 'mcpauth-sdk-adapter-test', version: '0' });
  await assert.rejects(mcpClient.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider })), UnauthorizedError);
  assert.ok(redirectedTo instanceof URL);
  assert.equal(redirectedTo.searchParams.get('resource'), mcpUrl);
  assert.equal(redirectedTo.searchParams.get('code_challenge_method'), 'S256');
  // The SDK AS redirects at once: read the callback off the Location header.
  const res = await fetch(redirectedTo, { redirect: 'manual' });
  await provider.finishAuth(res.headers.get('location'));
  const again = new Client({ name: 'mcpauth-sdk-adapter-test', version: '0' });
  await again.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  assert.ok((await again.listTools()).tools.length > 0);
  await again.close();
});

test('dangerouslyOmitResource leaves RFC 8707 resource out of the authorization request', async () => {
  const { auth } = client({ redirectUri: 'http://127.0.0.1:9/callback', dangerouslyOmitResource: true });
  const { url } = await auth.authorizationUrl(mcpUrl);
  assert.equal(new URL(url).searchParams.get('resource'), null);
  const { url: withResource } = await client({ redirectUri: 'http://127.0.0.1:9/callback' }).auth.authorizationUrl(mcpUrl);
  assert.equal(new URL(withResource).searchParams.get('resource'), mcpUrl);
});
