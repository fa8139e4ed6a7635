// A latency proxy on 127.0.0.1: each listener stands for one remote origin, delays every
// request and every response by `delayMs` (so one round trip costs 2 × delayMs), and charges
// a new TCP connection one more round trip before its first request (the handshake a real
// network would cost; there is no TLS here). Requests and responses are buffered whole, so a
// request's record spans from its arrival to the last byte of its answer.
//
//   const proxy = await startProxy({ delayMs: 50 });
//   const front = await proxy.front();  // { origin: 'http://127.0.0.1:PORT', backend }
//   front.backend = 'http://127.0.0.1:BACKEND';     // set before the first request
//   proxy.reset(); ... ; proxy.log  // [{ start, end, front, method, url, rpc, status, connection }]
//
// `front` is the origin of the listener the request came to. `connection` numbers the
// client's connections (a new number: a new connection, charged one more round trip). `rpc` is the JSON-RPC method of an MCP POST (or undefined), so a benchmark can tell where
// the client's work ended.

import { createServer, request as httpRequest, Agent } from 'node:http';
import { performance } from 'node:perf_hooks';

const sleep = (ms) => (ms > 0 ? new Promise((ok) => setTimeout(ok, ms)) : Promise.resolve());

export async function startProxy({ delayMs = 50, connectRtt = true } = {}) {
  const servers = [];
  const agent = new Agent({ keepAlive: true });
  let connections = 0;
  const proxy = {
    log: [],
    reset() {
      proxy.log = [];
    },
    async front() {
      const entry = { origin: '', backend: '' };
      const server = createServer(async (req, res) => {
        const record = { start: performance.now(), front: entry.origin, method: req.method, url: req.url };
        proxy.log.push(record);
        const chunks = [];
        for await (const chunk of req) chunks.push(chunk);
        const body = Buffer.concat(chunks);
        if (req.method === 'POST' && body.length) {
          try {
            record.rpc = JSON.parse(body.toString()).method;
          } catch {
            // not JSON-RPC
          }
        }
        const socket = req.socket;
        const extra = connectRtt && !socket.benchSeen ? 2 * delayMs : 0;
        socket.benchSeen ??= ++connections;
        record.connection = socket.benchSeen;
        await sleep(delayMs + extra);
        const target = new URL(entry.backend);
        const answer = await new Promise((ok, fail) => {
          const out = httpRequest(
            { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
            async (back) => {
              const parts = [];
              for await (const part of back) parts.push(part);
              ok({ status: back.statusCode, headers: back.headers, body: Buffer.concat(parts) });
            },
          );
          out.on('error', fail);
          out.end(body);
        }).catch((err) => ({ status: 502, headers: {}, body: Buffer.from(String(err)) }));
        record.status = answer.status;
        await sleep(delayMs);
        const headers = { ...answer.headers };
        delete headers['transfer-encoding'];
        headers['content-length'] = String(answer.body.length);
        res.writeHead(answer.status, headers);
        res.end(answer.body, () => {
          record.end = performance.now();
        });
      });
      server.keepAliveTimeout = 30000;
      await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
      servers.push(server);
      entry.origin = `http://127.0.0.1:${server.address().port}`;
      return entry;
    },
    async close() {
      agent.destroy();
      for (const s of servers) {
        s.closeAllConnections?.();
        await new Promise((ok) => s.close(ok));
      }
    },
  };
  return proxy;
}

/** How many connections carried `records`, per listener origin in order of first use: `[[origin, count]]`. */
export function connectionsPerFront(records) {
  const seen = new Map();
  for (const r of records) {
    if (!seen.has(r.front)) seen.set(r.front, new Set());
    seen.get(r.front).add(r.connection);
  }
  return [...seen].map(([front, ids]) => [front, ids.size]);
}

/** The longest chain of requests each of which started after the one before it ended. */
export function longestChain(records) {
  const done = records.filter((r) => r.end !== undefined).sort((a, b) => a.end - b.end);
  const best = [];
  for (let i = 0; i < done.length; i++) {
    let longest = 1;
    for (let j = 0; j < i; j++) {
      if (done[j].end <= done[i].start) longest = Math.max(longest, best[j] + 1);
    }
    best.push(longest);
  }
  return Math.max(0, ...best);
}
