// A protected MCP endpoint and its authorization server in one node:http server on 127.0.0.1,
// for the authFetch benchmark and the tests of its fast path: nothing to build, no network.
//
// - `/mcp` answers 200 with a small JSON body to a request bearing a token the server issued
//   and has not revoked, else 401 with a Bearer challenge naming its protected resource
//   metadata. It records each request it saw (`seen`: method, authorization, body).
// - `/.well-known/oauth-protected-resource/mcp` and `/.well-known/oauth-authorization-server`:
//   the metadata (RFC 9728, RFC 8414).
// - `/token`: the client credentials grant for client `bench` with secret `bench-secret`
//   (HTTP Basic), one new Bearer token per call, valid `lifetime` seconds.
//
// `revokeAll()` makes every token issued so far answer 401, as a server that rotated its keys.

import { createServer } from 'node:http';

/** The pre-registered client the token endpoint knows. */
export const CLIENT = { clientId: 'bench', clientSecret: 'bench-secret' };

/**
 * Starts the server; resolves to `{ origin, mcp, seen, tokenCalls, revokeAll, close }`.
 * `lifetime` is the `expires_in` of issued tokens, in seconds.
 */
export async function startLocalServer({ lifetime = 3600 } = {}) {
  const valid = new Set();
  const seen = [];
  const state = { tokenCalls: 0, issued: 0 };
  const server = createServer((req, res) => {
    const chunks = [];
    req.on('data', (chunk) => chunks.push(chunk));
    req.on('end', () => answer(req, res, Buffer.concat(chunks).toString('utf8')));
  });
  server.keepAliveTimeout = 60_000;
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${server.address().port}`;
  const mcp = `${origin}/mcp`;
  const json = (res, status, body, headers = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', ...headers });
    res.end(text);
  };

  function answer(req, res, body) {
    const path = new URL(req.url ?? '/', origin).pathname;
    switch (path) {
      case '/mcp': {
        const authorization = req.headers.authorization ?? null;
        seen.push({ method: req.method, authorization, body });
        const token = authorization?.startsWith('Bearer ') ? authorization.slice(7) : undefined;
        if (token === undefined || !valid.has(token)) {
          return json(res, 401, { error: 'unauthorized' }, {
            'www-authenticate': `Bearer resource_metadata="${origin}/.well-known/oauth-protected-resource/mcp"`,
          });
        }
        return json(res, 200, { jsonrpc: '2.0', id: 1, result: {} });
      }
      case '/.well-known/oauth-protected-resource/mcp':
        return json(res, 200, { resource: mcp, authorization_servers: [origin] });
      case '/.well-known/oauth-authorization-server':
        return json(res, 200, {
          issuer: origin,
          authorization_endpoint: `${origin}/authorize`,
          token_endpoint: `${origin}/token`,
          response_types_supported: ['code'],
          grant_types_supported: ['client_credentials'],
          code_challenge_methods_supported: ['S256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic'],
        });
      case '/token': {
        state.tokenCalls++;
        const basic = `Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString('base64')}`;
        const form = new URLSearchParams(body);
        if (req.method !== 'POST' || req.headers.authorization !== basic || form.get('grant_type') !== 'client_credentials') {
          return json(res, 400, { error: 'invalid_client' });
        }
        const token = `at-${++state.issued}`;
        valid.add(token);
        return json(res, 200, { access_token: token, token_type: 'Bearer', expires_in: lifetime });
      }
      default:
        return json(res, 404, { error: 'not_found' });
    }
  }

  return {
    origin,
    mcp,
    seen,
    get tokenCalls() {
      return state.tokenCalls;
    },
    revokeAll: () => valid.clear(),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
