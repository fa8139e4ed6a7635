#!/usr/bin/env node
// A real, spec-heavy authorization server (panva's oidc-provider) on 127.0.0.1 for
// interop tests. It is an AS only: there is no protected resource here, tests use the
// issuer directly (discovery by issuer or manual configuration).
//
//   node oidc.mjs [port]          port from argv, else $OIDC_PORT, else 0 (random)
//
// stdout carries exactly one line, when the server is ready:
//   {"issuer":"http://127.0.0.1:PORT","port":PORT}
// Everything else goes to stderr.
//
// Environment:
//   OIDC_AT_TTL=<s>            access-token lifetime (default 60), short for refresh tests
//   OIDC_AT_FORMAT=jwt|opaque  access-token format for resource tokens (default jwt)
//   OIDC_RESOURCES=<a>,<b>     accept only these exact resource indicators (invalid_target
//                              otherwise); default: any absolute http(s) URL
//   OIDC_REQUIRE_OFFLINE_ACCESS=1  oidc-provider's stock rule: refresh tokens only when
//                              offline_access was granted (default: whenever the client
//                              registered the refresh_token grant type)

import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';

// oidc-provider prints notices with console.info (stdout) and warns about Node 20 at
// import time; keep stdout for the ready line alone, so patch before the dynamic import.
console.log = console.info = console.error;
const { default: Provider, errors } = await import('oidc-provider');

const env = process.env;
const atTtl = Number(env.OIDC_AT_TTL ?? 60);
const atFormat = env.OIDC_AT_FORMAT ?? 'jwt';
const allowedResources = env.OIDC_RESOURCES?.split(',').filter(Boolean);
const requireOfflineAccess = env.OIDC_REQUIRE_OFFLINE_ACCESS === '1';

// Listen first: with port 0 the issuer (which embeds the port) is only known afterwards.
const server = createServer();
await new Promise((ok) => server.listen(Number(process.argv[2] ?? env.OIDC_PORT ?? 0), '127.0.0.1', ok));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

// A fresh signing key per run: without one oidc-provider falls back to a dev key and warns.
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

const provider = new Provider(issuer, {
  jwks: { keys: [{ ...signingKey, kid: 'interop', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['interop-cookie-key'] },
  // Resource-server scopes come from getResourceServerInfo; these are the ones the AS
  // itself knows (and lists in scopes_supported).
  scopes: ['openid', 'offline_access', 'mcp:read', 'mcp:write'],
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  ttl: { AccessToken: atTtl, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 3600 },
  rotateRefreshToken: true,
  // Stock rule needs offline_access, which oidc-provider only keeps for OIDC requests with
  // prompt=consent; MCP clients send neither, so issue refresh tokens to any client that
  // registered the refresh_token grant type.
  issueRefreshToken: async (ctx, client, source) =>
    client.grantTypeAllowed('refresh_token') && (!requireOfflineAccess || source.scopes.has('offline_access')),
  features: {
    devInteractions: { enabled: true }, // built-in login + consent pages, driven by approve.mjs
    registration: { enabled: true, initialAccessToken: false }, // open DCR
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // The token request may omit `resource`; the one from the authorization request is used.
      useGrantedResource: async () => true,
      // No `resource` at all: no default, the token is an opaque userinfo token.
      defaultResource: async (ctx, client, oneOf) => oneOf,
      getResourceServerInfo: async (ctx, resource) => {
        const url = URL.parse(resource);
        const ok = allowedResources ? allowedResources.includes(resource) : /^https?:$/.test(url?.protocol);
        if (!ok) throw new errors.InvalidTarget(`resource not served by this AS: ${resource}`);
        return { scope: 'mcp:read mcp:write', audience: resource, accessTokenTTL: atTtl, accessTokenFormat: atFormat };
      },
    },
  },
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
server.on('request', provider.callback());

process.stdout.write(`${JSON.stringify({ issuer, port })}\n`);
console.error(`oidc-provider ready at ${issuer} (access tokens: ${atFormat}, ttl ${atTtl}s)`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));
