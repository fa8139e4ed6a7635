#!/usr/bin/env node
// An MCP server protected the way the MCP TypeScript SDK protects one, assembled from the
// SDK's own parts, so a client meets it exactly as in the field: a bare POST /mcp gets a
// 401 whose WWW-Authenticate carries resource_metadata, and everything else is discovered.
//
//   node sdk-server.mjs            this server (two listeners, both on 127.0.0.1)
//   node sdk-server.mjs --example  the SDK's own example (simpleStreamableHttp --oauth --oauth-strict):
//                                  stateful sessions, SSE answers, no refresh, `localhost` URLs
//
// Two ports, like the SDK example, so that the AS and the resource are different origins:
//   MCP resource server on $MCP_PORT (default 0 = random):
//     POST /mcp (stateless streamable HTTP, JSON responses), tools `echo` and `whoami`
//     GET  /.well-known/oauth-protected-resource/mcp (PRM)
//     GET  /.well-known/oauth-authorization-server (a copy of the AS metadata: the SDK's
//          mcpAuthMetadataRouter always adds it)
//   Authorization server on $MCP_AUTH_PORT (default 0 = random), the SDK's mcpAuthRouter:
//     /.well-known/oauth-authorization-server, /register, /authorize (approves at once with a
//     302, no login page, no `iss`), /token (code + refresh with rotation), /revoke
//
// stdout carries exactly one line, when both listeners are ready:
//   {"mcp":"http://127.0.0.1:P/mcp","issuer":"http://127.0.0.1:Q/"}
// The issuer's trailing slash is real: the SDK serializes it with URL.href. With --example
// both URLs say `localhost` instead of 127.0.0.1 (that is how the example builds them).
//
// Environment: SDK_AT_TTL=<s> access-token lifetime (default 3600);
//   SDK_REQUIRED_SCOPES="a b"  scopes /mcp demands (403 insufficient_scope otherwise)
//   SDK_SCENARIO  where the metadata lives (the four discovery layouts a client meets):
//     path-prm     (default) as described above: PRM at the path, hinted in the 401
//     root-prm     PRM only at /.well-known/oauth-protected-resource, and no
//                  resource_metadata in the 401, so a client has to find it
//     issuer-path  the issuer is http://127.0.0.1:Q/tenant, its RFC 8414 metadata at
//                  /.well-known/oauth-authorization-server/tenant and nowhere else
//     oidc-only    the AS metadata only at /.well-known/openid-configuration
//   SDK_MCP_ORIGIN, SDK_AUTH_ORIGIN  the origins to advertise instead of the listeners' own
//     (say, a latency proxy's in front of each listener: tests/bench/first-login.mjs); the
//     ready line then also has `listeners: {mcp, auth}`, the origins actually listened on

import { createServer } from 'node:http';
import { randomUUID } from 'node:crypto';
import express from 'express';
import * as z from 'zod';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import {
  mcpAuthRouter, mcpAuthMetadataRouter, createOAuthMetadata, getOAuthProtectedResourceMetadataUrl,
} from '@modelcontextprotocol/sdk/server/auth/router.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { DemoInMemoryClientsStore } from '@modelcontextprotocol/sdk/examples/server/demoInMemoryOAuthProvider.js';
import { InvalidGrantError, InvalidScopeError, InvalidTargetError, InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js';

console.log = console.error; // stdout is for the ready line only
const env = process.env;

if (process.argv.includes('--example')) await runSdkExample();
else await runServer();

async function runServer() {
  const [mcpHttp, authHttp] = [createServer(), createServer()];
  await listen(mcpHttp, env.MCP_PORT);
  await listen(authHttp, env.MCP_AUTH_PORT);
  const scenario = env.SDK_SCENARIO || 'path-prm';
  if (!['path-prm', 'root-prm', 'issuer-path', 'oidc-only'].includes(scenario)) throw new Error(`unknown SDK_SCENARIO ${scenario}`);
  const mcpOrigin = env.SDK_MCP_ORIGIN || `http://127.0.0.1:${mcpHttp.address().port}`;
  const authOrigin = env.SDK_AUTH_ORIGIN || `http://127.0.0.1:${authHttp.address().port}`;
  const mcpUrl = new URL(`${mcpOrigin}/mcp`);
  const issuerUrl = new URL(scenario === 'issuer-path' ? `${authOrigin}/tenant` : authOrigin);
  const scopesSupported = ['mcp:read', 'mcp:write'];
  const atTtl = Number(env.SDK_AT_TTL ?? 3600);

  // The SDK's demo provider has no refresh grant and throws plain Errors (which its token
  // handler turns into 500 server_error), so this one is written out: in memory, single-use
  // codes, refresh tokens rotated on every use, OAuth errors a client can act on.
  const provider = new (class {
    clientsStore = new DemoInMemoryClientsStore();
    codes = new Map();
    accessTokens = new Map();
    refreshTokens = new Map();

    async authorize(client, params, res) {
      // The SDK already checked client_id, redirect_uri and the PKCE parameters.
      if (params.resource?.href !== mcpUrl.href) {
        throw new InvalidTargetError(`resource must be ${mcpUrl.href}, got ${params.resource?.href}`);
      }
      const code = randomUUID();
      this.codes.set(code, { clientId: client.client_id, params });
      const target = new URL(params.redirectUri);
      target.searchParams.set('code', code);
      if (params.state !== undefined) target.searchParams.set('state', params.state);
      res.redirect(302, target.href);
    }

    async challengeForAuthorizationCode(client, code) {
      const data = this.codes.get(code);
      if (data?.clientId !== client.client_id) throw new InvalidGrantError('unknown authorization code');
      return data.params.codeChallenge;
    }

    async exchangeAuthorizationCode(client, code, _verifier, redirectUri, resource) {
      const data = this.codes.get(code);
      this.codes.delete(code); // single use, even when the exchange fails
      if (data?.clientId !== client.client_id) throw new InvalidGrantError('unknown authorization code');
      if (redirectUri !== undefined && redirectUri !== data.params.redirectUri) throw new InvalidGrantError('redirect_uri mismatch');
      if (resource && resource.href !== data.params.resource.href) throw new InvalidTargetError('resource differs from the authorization request');
      return this.issue(client.client_id, data.params.scopes, data.params.resource);
    }

    async exchangeRefreshToken(client, refreshToken, scopes, resource) {
      const data = this.refreshTokens.get(refreshToken);
      if (data?.clientId !== client.client_id) throw new InvalidGrantError('unknown refresh token');
      // Checked before the token is spent: unlike oidc-provider, a bad request does not burn it.
      if (scopes?.some((s) => !data.scopes.includes(s))) throw new InvalidScopeError('scope exceeds the grant');
      if (resource && resource.href !== data.resource.href) throw new InvalidTargetError('resource differs from the grant');
      this.refreshTokens.delete(refreshToken); // rotation: the old one is dead from now on
      return this.issue(client.client_id, scopes ?? data.scopes, data.resource);
    }

    issue(clientId, scopes, resource) {
      const [accessToken, refreshToken] = [randomUUID(), randomUUID()];
      const expiresAt = Math.floor(Date.now() / 1000) + atTtl;
      this.accessTokens.set(accessToken, { token: accessToken, clientId, scopes, expiresAt, resource });
      this.refreshTokens.set(refreshToken, { clientId, scopes, resource });
      return { access_token: accessToken, token_type: 'Bearer', expires_in: atTtl, scope: scopes.join(' '), refresh_token: refreshToken };
    }

    // requireBearerAuth answers 401 only for InvalidTokenError (any other Error is a 500),
    // and checks expiresAt itself.
    async verifyAccessToken(token) {
      const data = this.accessTokens.get(token);
      if (!data) throw new InvalidTokenError('unknown access token');
      return data;
    }

    async revokeToken(client, { token }) {
      for (const map of [this.accessTokens, this.refreshTokens]) {
        if (map.get(token)?.clientId === client.client_id) map.delete(token);
      }
    }
  })();

  // Authorization server. The SDK rate-limits every endpoint (50 token requests per 15
  // minutes and so on); a test suite goes past that, so the limits are off.
  const noLimit = { rateLimit: false };
  const authApp = express();
  const asMetadata = createOAuthMetadata({ provider, issuerUrl, scopesSupported });
  if (scenario === 'issuer-path' || scenario === 'oidc-only') {
    // The SDK router always serves RFC 8414 metadata at the root: moved to where this
    // scenario keeps it, and the root answers 404.
    const where = scenario === 'issuer-path' ? '/.well-known/oauth-authorization-server/tenant' : '/.well-known/openid-configuration';
    const meta = scenario === 'oidc-only'
      ? { ...asMetadata, jwks_uri: new URL('/jwks', issuerUrl).href, subject_types_supported: ['public'], id_token_signing_alg_values_supported: ['RS256'] }
      : asMetadata;
    authApp.get(where, (_req, res) => res.json(meta));
    authApp.get('/jwks', (_req, res) => res.json({ keys: [] })); // OpenID Discovery requires jwks_uri
    authApp.get('/.well-known/oauth-authorization-server', (_req, res) => res.status(404).json({ error: 'not_found' }));
  }
  authApp.use(
    mcpAuthRouter({
      provider, issuerUrl, scopesSupported, resourceServerUrl: mcpUrl,
      authorizationOptions: noLimit, tokenOptions: noLimit, clientRegistrationOptions: noLimit, revocationOptions: noLimit,
    }),
  );
  authHttp.on('request', authApp);

  // Resource server: PRM plus the bearer check in front of a stateless MCP endpoint.
  const mcpApp = createMcpExpressApp(); // with the SDK's Host-header check for 127.0.0.1/localhost
  if (scenario === 'path-prm') {
    mcpApp.use(mcpAuthMetadataRouter({ oauthMetadata: asMetadata, resourceServerUrl: mcpUrl, scopesSupported, resourceName: 'mcpauth interop' }));
  } else {
    // Only what the scenario names: PRM at the path or at the root, nothing else.
    const prm = { resource: mcpUrl.href, authorization_servers: [issuerUrl.href], scopes_supported: scopesSupported, resource_name: 'mcpauth interop' };
    const prmPath = scenario === 'root-prm' ? '/.well-known/oauth-protected-resource' : '/.well-known/oauth-protected-resource/mcp';
    mcpApp.get(prmPath, (_req, res) => res.json(prm));
  }
  const auth = requireBearerAuth({
    verifier: provider,
    requiredScopes: env.SDK_REQUIRED_SCOPES?.split(' ').filter(Boolean) ?? [],
    resourceMetadataUrl: scenario === 'root-prm' ? undefined : getOAuthProtectedResourceMetadataUrl(mcpUrl),
    expectedResource: mcpUrl,
  });
  mcpApp.post('/mcp', auth, async (req, res) => {
    // Stateless: a fresh server and transport per request, so no Mcp-Session-Id to track.
    const server = new McpServer({ name: 'mcpauth-interop', version: '1.0.0' });
    server.registerTool('echo', { description: 'Echoes its text', inputSchema: { text: z.string() } }, async ({ text }) => ({
      content: [{ type: 'text', text }],
    }));
    server.registerTool('whoami', { description: 'The token as the server saw it' }, async (extra) => {
      const { clientId, scopes, resource, expiresAt } = extra.authInfo;
      return { content: [{ type: 'text', text: JSON.stringify({ clientId, scopes, resource: resource?.href, expiresAt }) }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => void transport.close().then(() => server.close()));
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  mcpApp.all('/mcp', auth, (req, res) => res.status(405).set('Allow', 'POST').end());
  mcpHttp.on('request', mcpApp);

  const line = { mcp: mcpUrl.href, issuer: issuerUrl.href };
  // Behind a proxy, whoever runs it needs the listeners too.
  if (env.SDK_MCP_ORIGIN || env.SDK_AUTH_ORIGIN) {
    line.listeners = { mcp: `http://127.0.0.1:${mcpHttp.address().port}`, auth: `http://127.0.0.1:${authHttp.address().port}` };
  }
  ready(line);
}

// The SDK's example, run in this process (so killing this process stops it): it reads its
// ports and flags at import time, builds its URLs with `localhost` and listens on all
// interfaces. Pick two free ports, start it, and wait until both listeners answer.
async function runSdkExample() {
  env.MCP_PORT ||= String(await freePort());
  env.MCP_AUTH_PORT ||= String(await freePort());
  process.argv.push('--oauth', '--oauth-strict');
  await import('@modelcontextprotocol/sdk/examples/server/simpleStreamableHttp.js');
  const deadline = Date.now() + 15000;
  for (;;) {
    try {
      const meta = await (await fetch(`http://127.0.0.1:${env.MCP_AUTH_PORT}/.well-known/oauth-authorization-server`)).json();
      const prm = await (await fetch(`http://127.0.0.1:${env.MCP_PORT}/.well-known/oauth-protected-resource/mcp`)).json();
      return ready({ mcp: prm.resource, issuer: meta.issuer });
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((ok) => setTimeout(ok, 20));
    }
  }
}

function listen(server, port) {
  return new Promise((ok) => server.listen(Number(port ?? 0), '127.0.0.1', ok));
}

async function freePort() {
  const s = createServer();
  await listen(s, 0);
  const { port } = s.address();
  await new Promise((ok) => s.close(ok));
  return port;
}

function ready(line) {
  process.stdout.write(`${JSON.stringify(line)}\n`);
  console.error(`sdk-server ready: ${JSON.stringify(line)}`);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
}
