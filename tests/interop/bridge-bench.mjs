#!/usr/bin/env node
// What `mcpauth proxy` costs per request: N sequential `tools/call echo` against the dev server
// with a valid token, (a) directly with the SDK's StreamableHTTPClientTransport and the bearer
// token from `mcpauth token`, (b) through the stdio bridge (the SDK's StdioClientTransport),
// (c) through `mcpauth proxy --listen` (StreamableHTTPClientTransport again). Prints the
// median and p90 per request, what each bridge adds to the direct path, and each bridge
// process's peak RSS (VmHWM), as a Markdown table. A benchmark, not a test: it only fails when
// a call does not come back right.
//
//   node tests/interop/bridge-bench.mjs [--iterations N]     (default 1000)
//
// Binaries as in bridge-harness.mjs (MCPAUTH_BIN, MCPAUTH_DEVSERVER_BIN, CARGO_TARGET_DIR):
// point MCPAUTH_BIN at a release build for numbers worth quoting.

import { parseArgs } from 'node:util';
import {
  MCPAUTH_BIN, startDevServer, tempHome, stdioBridge, listeningBridge, httpClient, mcpauth, text, peakRssKiB,
} from './bridge-harness.mjs';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '1000' } } });
const iterations = Number(values.iterations);
if (!Number.isInteger(iterations) || iterations < 1) {
  console.error(`--iterations must be a positive integer, got ${values.iterations}`);
  process.exit(2);
}
// Untimed calls first, so that connection setup, lazy initialization and the JIT stay out of
// the numbers.
const WARMUP = Math.min(100, iterations);

// One echo call on `client`, checked.
async function echo(client, i) {
  const message = `bench ${i}`;
  const result = await client.callTool({ name: 'echo', arguments: { text: message } });
  if (text(result) !== message) throw new Error(`echo ${i} came back as ${JSON.stringify(result)}`);
}

// Milliseconds per call for each of `paths`, sorted. The paths take turns call by call, so a
// pause of the machine (or of Node's garbage collector) spreads over all of them instead of
// landing on whichever ran at that moment.
async function timeCalls(paths) {
  for (let i = 0; i < WARMUP; i++) for (const path of paths) await echo(path.client, -i);
  for (const path of paths) path.times = [];
  for (let i = 0; i < iterations; i++) {
    for (const path of paths) {
      const start = performance.now();
      await echo(path.client, i);
      path.times.push(performance.now() - start);
    }
  }
  for (const path of paths) path.times.sort((a, b) => a - b);
}

// The nearest-rank `q` quantile of sorted `times`.
const quantile = (times, q) => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
const ms = (value) => value.toFixed(3);

const dev = await startDevServer();
const home = await tempHome();
const rows = [];
const closers = [];
try {
  await mcpauth(['login', dev.mcpUrl], home);
  const token = (await mcpauth(['token', dev.mcpUrl], home)).stdout.trim();

  const direct = await httpClient(dev.mcpUrl, { authorization: `Bearer ${token}` });
  closers.push(() => direct.client.close());
  const stdio = await stdioBridge(dev.mcpUrl, home);
  closers.push(() => stdio.client.close());
  const listening = await listeningBridge(dev.mcpUrl, home);
  closers.push(listening.stop);
  const http = await httpClient(listening.url);
  closers.push(() => http.client.close());

  rows.push(
    { path: 'direct (SDK Streamable HTTP + bearer)', client: direct.client },
    { path: 'stdio bridge', client: stdio.client, pid: stdio.pid },
    { path: '--listen bridge', client: http.client, pid: listening.child.pid },
  );
  await timeCalls(rows);
  for (const row of rows) if (row.pid) row.rssKiB = await peakRssKiB(row.pid);

  const stats = await dev.stats();
  if (stats.refreshes !== 0 || stats.token_grants.authorization_code !== 1) {
    throw new Error(`the token should have served every call: ${JSON.stringify(stats)}`);
  }
} finally {
  for (const close of closers.reverse()) await close();
  await dev.stop();
  await home.remove();
}

const [base] = rows;
const baseMedian = quantile(base.times, 0.5);
const baseP90 = quantile(base.times, 0.9);
console.log(`\n${iterations} sequential tools/call echo per path, the paths taking turns (after ${WARMUP} warm-up calls each); ${MCPAUTH_BIN}\n`);
console.log('| path | median ms | p90 ms | added median ms | added p90 ms | bridge peak RSS |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const row of rows) {
  const [median, p90] = [quantile(row.times, 0.5), quantile(row.times, 0.9)];
  const added = row === base ? ['', ''] : [ms(median - baseMedian), ms(p90 - baseP90)];
  const rss = row.rssKiB === undefined ? '' : `${(row.rssKiB / 1024).toFixed(1)} MiB`;
  console.log(`| ${row.path} | ${ms(median)} | ${ms(p90)} | ${added[0]} | ${added[1]} | ${rss} |`);
}
