#!/usr/bin/env node
// Benchmark section 2, "First login": five MCP clients each log in for the first time to an
// MCP server protected by the MCP TypeScript SDK (tests/interop/sdk-server.mjs) behind a
// latency proxy, then `initialize` and call one tool. Four layouts of the server's metadata;
// per layout and client: the wall time (median of the runs), the number of requests and the
// longest chain of requests each sent after the one before it was answered (what latency
// multiplies), and mcpauth's ratios against the TS SDK and rmcp.
//
//   node tests/bench/first-login.mjs [--quick] [--runs N] [--delay MS] [--clients sdk,rmcp,lib,cli,proxy,npm]
//
// Prints one Markdown section on stdout; progress goes to stderr. Needs Node, cargo (it
// builds the mcpauth CLI, the `first_login` example and tests/bench/rmcp-client: release
// builds, debug ones with --quick), tests/interop/node_modules (scripts/setup) and the npm
// package's build (npm/build.sh runs when npm/dist is missing).
//
// The clock: from the first request reaching the proxy to the last byte of the `tools/call`
// answer leaving it, so process start-up is left out for every client alike. Requests after
// that (a bridge's closing DELETE) are not counted.

import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { startServer } from '../interop/servers.mjs';
import { BROWSER } from './first-login/browser.mjs';
import { connectionsPerFront, longestChain, startProxy } from './latency-proxy.mjs';

const repo = join(import.meta.dirname, '..', '..');
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
};
const runs = option('--runs', quick ? 1 : 5);
const delayMs = option('--delay', 50);
const only = args.includes('--clients') ? args[args.indexOf('--clients') + 1].split(',') : undefined;
const profile = quick ? 'debug' : 'release';
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
const log = (...parts) => console.error('[first-login]', ...parts);

const SCENARIOS = [
  ['path-prm', 'resource metadata at the path, AS at the root'],
  ['root-prm', 'resource metadata only at the root, no hint in the 401'],
  ['issuer-path', 'an issuer with a path'],
  ['oidc-only', 'OpenID-only metadata'],
];

function cargo(cargoArgs) {
  const release = quick ? [] : ['--release'];
  execFileSync('cargo', ['build', '--quiet', ...release, ...cargoArgs], {
    cwd: repo,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, CARGO_TARGET_DIR: targetDir },
  });
}

function build() {
  const wanted = (key) => !only || only.includes(key);
  log(`building (${profile})`);
  if (wanted('lib') || wanted('cli') || wanted('proxy')) cargo(['-p', 'mcpauth', '--bin', 'mcpauth', '--example', 'first_login']);
  if (wanted('rmcp')) cargo(['--manifest-path', join(repo, 'tests/bench/rmcp-client/Cargo.toml'), '--locked']);
  if (wanted('npm') && !existsSync(join(repo, 'npm/dist/index.js'))) {
    log('building the npm package');
    execFileSync(join(repo, 'npm/build.sh'), { cwd: repo, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const bin = (name) => join(targetDir, profile, name);
  const node = (script) => [process.execPath, join(repo, 'tests/bench/first-login', script)];
  const all = [
    { name: 'TS SDK', key: 'sdk', command: node('ts-sdk.mjs') },
    { name: 'rmcp', key: 'rmcp', command: [bin('mcpauth-bench-rmcp-client')] },
    { name: 'mcpauth Rust library', key: 'lib', mcpauth: true, command: [bin('examples/first_login')] },
    { name: 'mcpauth CLI: `login`, then `proxy`', key: 'cli', mcpauth: true, command: node('cli.mjs'), env: { MCPAUTH_BIN: bin('mcpauth') } },
    { name: 'mcpauth CLI: `proxy`, logging in on first use', key: 'proxy', mcpauth: true, command: [...node('cli.mjs'), '--first-use'], env: { MCPAUTH_BIN: bin('mcpauth') } },
    { name: 'mcpauth npm (Node)', key: 'npm', mcpauth: true, command: node('npm.mjs') },
  ];
  return all.filter((c) => wanted(c.key));
}

function runClient(client, url) {
  return new Promise((resolve, reject) => {
    const [command, ...rest] = client.command;
    const env = { ...process.env, MCPAUTH_BROWSER: BROWSER, ...client.env };
    const child = spawn(command, [...rest, url], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0 && out.includes('hello')) resolve();
      else reject(new Error(`${client.name} failed (${code ?? signal}):\n${out}\n${err.slice(-2000)}`));
    });
  });
}

/**
 * Wall time, requests, longest chain and connections of one run, up to the `tools/call`
 * answer: connections to the MCP server's origin and to the authorization server's (`auth`,
 * the browser's included), each of which cost one more round trip.
 */
function measure(records, mcpOrigin) {
  const call = records.findLast((r) => r.rpc === 'tools/call' && r.status === 200);
  if (!call) throw new Error(`no tools/call answered: ${JSON.stringify(records)}`);
  const counted = records.filter((r) => r.start <= call.end);
  const first = Math.min(...counted.map((r) => r.start));
  const perFront = new Map(connectionsPerFront(counted));
  const mcp = perFront.get(mcpOrigin) ?? 0;
  const auth = [...perFront].filter(([front]) => front !== mcpOrigin).reduce((sum, [, n]) => sum + n, 0);
  return { wall: call.end - first, requests: counted.length, chain: longestChain(counted), mcp, auth };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

async function scenario(id, clients) {
  const proxy = await startProxy({ delayMs });
  const [mcpFront, authFront] = [await proxy.front(), await proxy.front()];
  const server = await startServer('sdk-server.mjs', {
    env: { SDK_SCENARIO: id, SDK_MCP_ORIGIN: mcpFront.origin, SDK_AUTH_ORIGIN: authFront.origin },
  });
  mcpFront.backend = server.info.listeners.mcp;
  authFront.backend = server.info.listeners.auth;
  const results = {};
  try {
    for (const client of clients) {
      const samples = [];
      for (let i = 0; i < runs; i++) {
        proxy.reset();
        await runClient(client, server.info.mcp);
        samples.push(measure(proxy.log, mcpFront.origin));
        if (process.env.BENCH_TRACE) {
          const t0 = proxy.log[0].start;
          for (const r of proxy.log) log(client.key, `#${r.connection}`, r.method, r.url.slice(0, 60), r.rpc ?? '', r.status, Math.round(r.start - t0), Math.round(r.end - t0));
        }
      }
      results[client.key] = {
        wall: median(samples.map((s) => s.wall)),
        requests: median(samples.map((s) => s.requests)),
        chain: median(samples.map((s) => s.chain)),
        mcp: median(samples.map((s) => s.mcp)),
        auth: median(samples.map((s) => s.auth)),
      };
      log(id, client.name, JSON.stringify(results[client.key]));
    }
  } finally {
    await server.stop();
    await proxy.close();
  }
  return results;
}

function versions() {
  const sdk = JSON.parse(readFileSync(join(repo, 'tests/interop/node_modules/@modelcontextprotocol/sdk/package.json'), 'utf8')).version;
  const lock = readFileSync(join(repo, 'tests/bench/rmcp-client/Cargo.lock'), 'utf8');
  const rmcp = lock.match(/name = "rmcp"\nversion = "([^"]+)"/)?.[1];
  const mcpauth = readFileSync(join(repo, 'Cargo.toml'), 'utf8').match(/\[workspace\.package\]\nversion = "([^"]+)"/)?.[1];
  const npm = JSON.parse(readFileSync(join(repo, 'npm/package.json'), 'utf8')).version;
  return `versions: @modelcontextprotocol/sdk ${sdk}, rmcp ${rmcp}, mcpauth ${mcpauth} (Rust), mcpauth ${npm} (npm), node ${process.versions.node}`;
}

const clients = build();
const table = [];
for (const [id, title] of SCENARIOS) table.push([id, title, await scenario(id, clients)]);

const ms = (x) => `${Math.round(x)} ms`;
const ratio = (a, b) => (a / b).toFixed(2);
const lines = [
  '## 2. First login',
  '',
  `Each client logs in for the first time (dynamic registration, the authorization redirect followed at once, the code exchange), then sends \`initialize\`, \`notifications/initialized\` and one \`tools/call\`, against an MCP server protected by the MCP TypeScript SDK (\`tests/interop/sdk-server.mjs\`), its resource server and authorization server on two origins, each behind a latency proxy adding ${delayMs} ms each way (a new connection costs one more round trip; plain HTTP, no TLS). Wall time: from the first request to the \`tools/call\` answer, median of ${runs} run${runs === 1 ? '' : 's'} (${profile} builds). Chain: the longest sequence of requests each sent after the previous one was answered. Connections: how many the client opened to the MCP server's origin + to the authorization server's (the browser's included), medians. Ratios: mcpauth's wall time over the TS SDK's and rmcp's (targets: ≤ 0.6 and ≤ 0.85).`,
  '',
  versions(),
  '',
];
for (const [id, title, results] of table) {
  lines.push(`### ${title} (\`${id}\`)`, '', '| client | wall time | requests | chain | connections (MCP + auth) | ÷ TS SDK | ÷ rmcp |', '|---|---|---|---|---|---|---|');
  for (const c of clients) {
    const r = results[c.key];
    const ratios = c.mcpauth && results.sdk && results.rmcp ? [ratio(r.wall, results.sdk.wall), ratio(r.wall, results.rmcp.wall)] : ['', ''];
    lines.push(`| ${c.name} | ${ms(r.wall)} | ${r.requests} | ${r.chain} | ${r.mcp} + ${r.auth} | ${ratios.join(' | ')} |`);
  }
  lines.push('');
}
process.stdout.write(`${lines.join('\n')}\n`);
