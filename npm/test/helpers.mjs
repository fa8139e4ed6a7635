// Shared by the npm package's tests: the interop servers (tests/interop), a small protected
// resource in front of oidc-provider, headless logins, and a fetch that records what it sends.

import { createServer } from 'node:http';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { pathToFileURL } from 'node:url';

export { startServer } from '../../tests/interop/servers.mjs';
export { approveAuthorization, approveDevice } from '../../tests/interop/approve.mjs';
import { approveAuthorization } from '../../tests/interop/approve.mjs';

/**
 * The built package, as the tests import it: npm/dist (built by scripts/test before these run),
 * or the directory in MCPAUTH_NPM_DIST.
 */
const dist = process.env.MCPAUTH_NPM_DIST ? pathToFileURL(`${process.env.MCPAUTH_NPM_DIST}/`) : new URL('../dist/', import.meta.url);
export const pkg = await import(new URL('index.js', dist).href);
export const nodePkg = await import(new URL('node.js', dist).href);
export const sdkPkg = await import(new URL('sdk.js', dist).href);
export const { McpAuth, MemoryStorage, McpAuthError } = pkg;

/**
 * A fetch that records every request (method, url, form body) and can count them by predicate.
 * `recorder.fetch` is what the code under test gets.
 */
export function recordingFetch(inner = globalThis.fetch) {
  const requests = [];
  const fetch = async (input, init = {}) => {
    const request = new Request(input, init);
    const body = request.method === 'POST' ? await request.clone().text() : '';
    requests.push({ method: request.method, url: request.url, body, form: new URLSearchParams(body) });
    return inner(request);
  };
  return {
    fetch,
    requests,
    count: (pred) => requests.filter(pred).length,
    refreshes: () => requests.filter((r) => r.form.get('grant_type') === 'refresh_token').length,
  };
}

/** Logs in without a browser: the approver clicks through the AS, the callback URL goes to handleCallback. */
export async function headlessLogin(auth, serverUrl, options = {}) {
  const { url } = await auth.authorizationUrl(serverUrl, { redirectUri: 'http://127.0.0.1:9/callback', ...options });
  return auth.handleCallback(await approveAuthorization(url));
}

const jwtPart = (jwt, i) => JSON.parse(Buffer.from(jwt.split('.')[i], 'base64url'));

/**
 * A protected resource for oidc-provider (which has none): PRM at the path-form well-known URL
 * naming the issuer, and `/mcp` that demands a JWT access token signed by the issuer, for this
 * resource (`aud`), unexpired, with `requiredScope` if given. 401/403 carry RFC 6750 challenges
 * with `resource_metadata`. `/mcp` answers 200 with the token's claims.
 *
 * A DPoP-bound token (`cnf.jkt`, RFC 9449 §7) is taken only as `Authorization: DPoP` with a
 * proof by that key for this request (`htm`, `htu`, `ath`, a `jti` never seen); with
 * `dpopNonce` the proof must also carry the resource's current nonce (401 `use_dpop_nonce`
 * with a `DPoP-Nonce` otherwise). `stats.proofs` keeps every proof accepted.
 */
export async function startResource({ issuer, requiredScope, scopesSupported = ['mcp:read', 'mcp:write'], dpopNonce = false }) {
  const jwks = await (await fetch(`${issuer}/jwks`)).json();
  const keys = new Map(jwks.keys.map((k) => [k.kid, createPublicKey({ key: k, format: 'jwk' })]));
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const resource = `${origin}/mcp`;
  const prmUrl = `${origin}/.well-known/oauth-protected-resource/mcp`;
  // `revoked`: a Set of access tokens to reject as if revoked (tests set it).
  const stats = { unauthorized: 0, ok: 0, forbidden: 0, tokens: [], revoked: undefined, proofs: [] };

  const challenge = (extra = '') => `Bearer resource_metadata="${prmUrl}"${extra}`;
  const check = (token) => {
    const [h, p, s] = token.split('.');
    const header = jwtPart(token, 0);
    const key = keys.get(header.kid);
    if (!key || !s) return undefined;
    const ok = verify('sha256', Buffer.from(`${h}.${p}`), key, Buffer.from(s, 'base64url'));
    const claims = jwtPart(token, 1);
    const aud = [claims.aud].flat();
    if (!ok || claims.iss !== issuer || !aud.includes(resource) || claims.exp * 1000 <= Date.now()) return undefined;
    return claims;
  };

  const dpop = dpopChecker({ resource, stats, requireNonce: dpopNonce, challenge: (error) => `DPoP error="${error}", algs="ES256", resource_metadata="${prmUrl}"` });
  server.on('request', (req, res) => {
    const url = new URL(req.url, origin);
    if (url.pathname === '/.well-known/oauth-protected-resource/mcp') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ resource, authorization_servers: [issuer], scopes_supported: scopesSupported }));
    }
    if (url.pathname !== '/mcp') return res.writeHead(404).end();
    req.resume();
    const [, scheme, token] = req.headers.authorization?.match(/^(Bearer|DPoP) (.+)$/) ?? [];
    const claims = token && !stats.revoked?.has(token) && check(token);
    if (!claims) {
      stats.unauthorized++;
      res.writeHead(401, { 'www-authenticate': challenge(token ? ', error="invalid_token"' : '') });
      return res.end();
    }
    if (claims.cnf?.jkt || scheme === 'DPoP') {
      const refused = dpop.check(req, scheme, token, claims);
      if (refused) {
        stats.unauthorized++;
        res.writeHead(401, refused);
        return res.end();
      }
    }
    const scopes = (claims.scope ?? '').split(' ');
    if (requiredScope && !requiredScope.split(' ').every((s) => scopes.includes(s))) {
      stats.forbidden++;
      res.writeHead(403, { 'www-authenticate': challenge(`, error="insufficient_scope", scope="${requiredScope}"`) });
      return res.end();
    }
    stats.ok++;
    stats.tokens.push(token);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(claims));
  });
  return {
    resource,
    prmUrl,
    stats,
    rotateDpopNonce: dpop.rotateNonce,
    stop: () => new Promise((ok) => { server.closeAllConnections(); server.close(ok); }),
  };
}

// The resource's side of DPoP (RFC 9449 §7): `check` returns the 401 headers for a request
// whose proof does not hold, or undefined.
function dpopChecker({ resource, stats, requireNonce, challenge }) {
  const seen = new Set();
  let nonce = randomBytes(16).toString('base64url');
  const refuse = (error, extra = {}) => ({ 'www-authenticate': challenge(error), ...extra });
  return {
    check(req, scheme, token, claims) {
      const proof = req.headers.dpop;
      if (scheme !== 'DPoP' || !claims.cnf?.jkt || typeof proof !== 'string') return refuse('invalid_token');
      let header;
      let payload;
      try {
        [header, payload] = [jwtPart(proof, 0), jwtPart(proof, 1)];
        const [h, p, s] = proof.split('.');
        const key = createPublicKey({ key: header.jwk, format: 'jwk' });
        const ok = header.typ === 'dpop+jwt' && header.alg === 'ES256'
          && verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(s, 'base64url'));
        if (!ok) return refuse('invalid_dpop_proof');
      } catch {
        return refuse('invalid_dpop_proof');
      }
      const ath = createHash('sha256').update(token).digest('base64url');
      const { crv, kty, x, y } = header.jwk;
      const jkt = createHash('sha256').update(JSON.stringify({ crv, kty, x, y })).digest('base64url');
      if (jkt !== claims.cnf.jkt || payload.htm !== req.method || payload.htu !== resource || payload.ath !== ath) {
        return refuse('invalid_dpop_proof');
      }
      if (Math.abs(Date.now() / 1000 - payload.iat) > 300 || seen.has(payload.jti)) return refuse('invalid_dpop_proof');
      if (requireNonce && payload.nonce !== nonce) {
        stats.nonceChallenges = (stats.nonceChallenges ?? 0) + 1;
        return refuse('use_dpop_nonce', { 'dpop-nonce': nonce });
      }
      seen.add(payload.jti);
      stats.proofs.push(proof);
      return undefined;
    },
    /** A new nonce, as a server rotating them would (the one held goes stale). */
    rotateNonce() {
      nonce = randomBytes(16).toString('base64url');
    },
  };
}

// One JSON-RPC request over streamable HTTP with a given fetch (JSON or SSE answers).
export async function rpc(f, mcpUrl, method, params = {}, id = 1) {
  const res = await f(mcpUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-11-25',
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method, params }),
  });
  const text = await res.text();
  const data = res.headers.get('content-type')?.startsWith('text/event-stream')
    ? text.split('\n').filter((l) => l.startsWith('data:') && l.slice(5).trim()).at(-1)?.slice(5)
    : text;
  return { status: res.status, body: data ? JSON.parse(data) : undefined };
}

/** Test policy: the servers are plain http on 127.0.0.1, which the core allows on loopback by default. */
export const policy = {};
