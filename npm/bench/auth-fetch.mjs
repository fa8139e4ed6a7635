// What `authFetch` adds to each request with a valid token: N sequential requests through
// `auth.authFetch()` and N through plain `fetch`, alternating, to the same local endpoint (a
// node:http server on 127.0.0.1 answering 200 JSON), after a warm-up; prints the median and
// p90 of each and the median overhead in microseconds.
//
//   node npm/bench/auth-fetch.mjs [--iterations N] [--markdown]
//
// Default 2,000 iterations. With --markdown it prints a Markdown table fragment (rows only
// under a header line) for the benchmark report. Run after npm/build.sh. The token is a
// client credentials grant from the same server (npm/bench/local-server.mjs), stored in the
// package's MemoryStorage by a login through the public API.

import { McpAuth } from 'mcpauth';

import { CLIENT, startLocalServer } from './local-server.mjs';

const args = process.argv.slice(2);
const at = args.indexOf('--iterations');
const iterations = at >= 0 ? Number(args[at + 1]) : 2000;
const markdown = args.includes('--markdown');
if (!Number.isInteger(iterations) || iterations < 1) throw new Error('--iterations takes a positive integer');

const server = await startLocalServer();
try {
  const auth = new McpAuth({ grant: { kind: 'client_credentials' }, preRegistered: CLIENT });
  await auth.login(server.mcp);
  const authFetch = auth.authFetch();
  const token = await auth.accessToken(server.mcp);
  const init = () => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}',
  });
  // Plain fetch carries the same token, so both requests are the same to the server.
  const plain = (url, options) => {
    options.headers.authorization = `Bearer ${token}`;
    return fetch(url, options);
  };

  /** Microseconds one request takes, its body read. */
  const time = async (f) => {
    const t0 = process.hrtime.bigint();
    const response = await f(server.mcp, init());
    await response.arrayBuffer();
    const elapsed = Number(process.hrtime.bigint() - t0) / 1000;
    if (response.status !== 200) throw new Error(`the endpoint answered ${response.status}`);
    return elapsed;
  };

  const warmup = Math.min(500, Math.max(20, iterations));
  for (let i = 0; i < warmup; i++) {
    await time(authFetch);
    await time(plain);
  }
  const withAuth = [];
  const without = [];
  for (let i = 0; i < iterations; i++) {
    // Alternating, in both orders, so neither side always runs on a warmer connection.
    if (i % 2 === 0) {
      withAuth.push(await time(authFetch));
      without.push(await time(plain));
    } else {
      without.push(await time(plain));
      withAuth.push(await time(authFetch));
    }
  }

  const quantile = (values, q) => {
    const sorted = [...values].sort((a, b) => a - b);
    const pos = (sorted.length - 1) * q;
    const lo = Math.floor(pos);
    const hi = Math.ceil(pos);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
  };
  const a = { median: quantile(withAuth, 0.5), p90: quantile(withAuth, 0.9) };
  const p = { median: quantile(without, 0.5), p90: quantile(without, 0.9) };
  const overhead = a.median - p.median;
  const us = (v) => v.toFixed(1);
  if (markdown) {
    console.log('| request | median µs | p90 µs |');
    console.log('|---|---:|---:|');
    console.log(`| plain \`fetch\` | ${us(p.median)} | ${us(p.p90)} |`);
    console.log(`| \`authFetch\` (valid token) | ${us(a.median)} | ${us(a.p90)} |`);
    console.log(`| **overhead** (median difference, ${iterations} requests each) | **${us(overhead)}** | |`);
  } else {
    console.log(`${process.version}, ${iterations} sequential requests each, after ${warmup} warm-up pairs`);
    console.log(`plain fetch:  median ${us(p.median)} µs, p90 ${us(p.p90)} µs`);
    console.log(`authFetch:    median ${us(a.median)} µs, p90 ${us(a.p90)} µs`);
    console.log(`overhead:     ${us(overhead)} µs (median difference)`);
  }
} finally {
  await server.close();
}
