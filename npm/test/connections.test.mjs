// Connection reuse in Node: each new connection costs a round trip (two with TLS) on a login's
// critical path, so the driver lets go of responses in a way that keeps their connection.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';

import { McpAuth, MemoryStorage } from 'mcpauth';

/** A server on 127.0.0.1 answering every request with `answer(req, res)`; counts its connections. */
async function serve(answer) {
  const server = createServer(answer);
  const seen = { connections: 0 };
  server.on('connection', () => seen.connections++);
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const close = () => {
    server.closeAllConnections();
    return new Promise((ok) => server.close(ok));
  };
  return { origin: `http://127.0.0.1:${server.address().port}`, seen, close };
}

test('the 401 before a login leaves its connection open for the next request to that origin', async () => {
  const { origin, seen, close } = await serve((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/mcp') {
        res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' });
        res.end(JSON.stringify({ error: 'invalid_token', error_description: 'x'.repeat(200) }));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not here');
      }
    });
  });
  try {
    const auth = new McpAuth({ clientName: 'connections test', storage: new MemoryStorage() });
    let during;
    const mcp = auth.authFetch(undefined, {
      // What a login's first request does: the same origin, right after the 401.
      onAuthorizationRequired: async () => {
        const res = await fetch(`${origin}/.well-known/oauth-protected-resource/mcp`);
        await res.text();
        during = seen.connections;
      },
    });
    await mcp(`${origin}/mcp`, { method: 'POST', body: '{}' }).catch(() => {});
    assert.equal(during, 1, 'the request after the 401 took its connection');
  } finally {
    await close();
  }
});
