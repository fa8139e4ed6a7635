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
//   OIDC_DPOP_NONCE=required|garbled  DPoP proofs must carry a server nonce (RFC 9449 §8);
//                              `garbled`: every DPoP-Nonce sent is replaced by one the server
//                              never issued, so no nonce ever works (a client must stop after
//                              its one retry)
//   OIDC_MACHINE_CLIENTS=<dir> register the static clients of machine logins (client
//                              credentials): private_key_jwt clients with fresh ES256 and
//                              RS256 keys (private keys written to <dir> as PKCS#8 PEM) and a
//                              client_secret_basic client; the ready line then has `clients`
//
// DPoP (RFC 9449) is on in every profile, as it is in oidc-provider by default: tokens are
// bound to the proof's key when the token request carries one. Client credentials and token
// introspection are on too.
//
// `GET /_interop/requests` answers with what the server saw and said, one entry per request
// to the token, introspection and userinfo endpoints (oldest first): method, path, status,
// grant_type, client_id, the client's authentication method, the raw `dpop` proof and
// `client_assertion`, the `dpop-nonce` answered, and the OAuth error with oidc-provider's
// reason for it (`error_detail`, which it keeps out of `error_description`). Tests read proofs off it
// to replay them and count retries; it is not an oidc-provider feature.

import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

// oidc-provider prints notices with console.info (stdout) and warns about Node 20 at
// import time; keep stdout for the ready line alone, so patch before the dynamic import.
console.log = console.info = console.error;
const { default: Provider, errors } = await import('oidc-provider');

const env = process.env;
const atTtl = Number(env.OIDC_AT_TTL ?? 60);
const atFormat = env.OIDC_AT_FORMAT ?? 'jwt';
const allowedResources = env.OIDC_RESOURCES?.split(',').filter(Boolean);
const requireOfflineAccess = env.OIDC_REQUIRE_OFFLINE_ACCESS === '1';
const dpopNonce = env.OIDC_DPOP_NONCE ?? '';
if (!['', 'required', 'garbled'].includes(dpopNonce)) throw new Error(`OIDC_DPOP_NONCE=${dpopNonce}: required or garbled`);
const machineClientsDir = env.OIDC_MACHINE_CLIENTS;

// Listen first: with port 0 the issuer (which embeds the port) is only known afterwards.
const server = createServer();
await new Promise((ok) => server.listen(Number(process.argv[2] ?? env.OIDC_PORT ?? 0), '127.0.0.1', ok));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}`;

// A fresh signing key per run: without one oidc-provider falls back to a dev key and warns.
const signingKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

// The static clients of machine logins, and what a test needs to act as them.
const { clients, machineClients } = machineClientsDir ? staticClients(machineClientsDir) : { clients: [], machineClients: undefined };

const provider = new Provider(issuer, {
  jwks: { keys: [{ ...signingKey, kid: 'interop', use: 'sig', alg: 'RS256' }] },
  cookies: { keys: ['interop-cookie-key'] },
  // Resource-server scopes come from getResourceServerInfo; these are the ones the AS
  // itself knows (and lists in scopes_supported).
  scopes: ['openid', 'offline_access', 'mcp:read', 'mcp:write'],
  pkce: { required: () => true }, // S256 is the only method oidc-provider 9 supports
  clients,
  ttl: { AccessToken: atTtl, ClientCredentials: atTtl, DeviceCode: 600, Interaction: 600, Session: 3600, Grant: 3600 },
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
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    dPoP: {
      enabled: true,
      nonceSecret: dpopNonce ? randomBytes(32) : undefined,
      requireNonce: () => dpopNonce !== '',
    },
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

// The request log (see the top of this file), and the garbled nonces.
const logged = new Set(['/token', '/token/introspection', '/me']);
const requests = [];
provider.use(async (ctx, next) => {
  await next();
  if (dpopNonce === 'garbled' && ctx.response.get('dpop-nonce')) ctx.set('dpop-nonce', randomBytes(16).toString('base64url'));
  if (!logged.has(ctx.path)) return;
  const params = ctx.oidc?.params ?? {};
  const body = typeof ctx.body === 'object' && ctx.body !== null && !Buffer.isBuffer(ctx.body) ? ctx.body : {};
  requests.push({
    method: ctx.method,
    path: ctx.path,
    status: ctx.status,
    grant_type: params.grant_type,
    client_id: ctx.oidc?.client?.clientId,
    client_auth_method: ctx.oidc?.client?.clientAuthMethod,
    authorization_scheme: ctx.get('authorization').split(' ')[0] || undefined,
    dpop: ctx.get('dpop') || undefined,
    client_assertion: params.client_assertion,
    resource: params.resource,
    dpop_nonce: ctx.response.get('dpop-nonce') || undefined,
    token_type: body.token_type,
    error: body.error,
    error_description: body.error_description,
    error_detail: ctx.state.errorDetail,
  });
});
// oidc-provider says only "grant request is invalid" for most invalid_grant answers; the
// reason (such as "DPoP proof JWT Replay detected") is in the error it emits.
for (const event of ['grant.error', 'introspection.error', 'userinfo.error']) {
  provider.on(event, (ctx, err) => {
    ctx.state.errorDetail = err.error_detail;
  });
}
const callback = provider.callback();
server.on('request', (req, res) => {
  if (req.method === 'GET' && req.url === '/_interop/requests') {
    res.setHeader('content-type', 'application/json');
    return res.end(JSON.stringify(requests));
  }
  return callback(req, res);
});

process.stdout.write(`${JSON.stringify({ issuer, port, ...(machineClients && { clients: machineClients }) })}\n`);
console.error(`oidc-provider ready at ${issuer} (access tokens: ${atFormat}, ttl ${atTtl}s, DPoP nonces: ${dpopNonce || 'off'})`);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0));

// Two private_key_jwt clients (an ES256 and an RS256 key, fresh per run; the private key goes
// to `${dir}/<alg>.pem`, the public JWK is registered, with a `kid`) and a
// client_secret_basic client, all for the client credentials grant only.
function staticClients(dir) {
  const machineClients = {};
  const clients = [];
  for (const [name, alg, type, options] of [
    ['es256', 'ES256', 'ec', { namedCurve: 'P-256' }],
    ['rs256', 'RS256', 'rsa', { modulusLength: 2048 }],
  ]) {
    const { privateKey, publicKey } = generateKeyPairSync(type, options);
    const keyFile = join(dir, `${name}.pem`);
    writeFileSync(keyFile, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
    const clientId = `machine-${name}`;
    const kid = `${name}-key`;
    clients.push({
      client_id: clientId,
      token_endpoint_auth_method: 'private_key_jwt',
      token_endpoint_auth_signing_alg: alg,
      jwks: { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg, use: 'sig' }] },
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
    });
    machineClients[name] = { client_id: clientId, alg, kid, key_file: keyFile, private_jwk: privateKey.export({ format: 'jwk' }) };
  }
  const basic = { client_id: 'machine-basic', client_secret: randomBytes(24).toString('base64url') };
  clients.push({
    ...basic,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
  });
  machineClients.basic = basic;
  return { clients, machineClients };
}
