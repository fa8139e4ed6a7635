// What the `mcpauth proxy` tests and benchmark share: the binaries, the dev server as a child
// process with its /_dev endpoints, throwaway stores, and bridges started the way MCP hosts
// start them (the SDK's StdioClientTransport) or with --listen.
//
//   const dev = await startDevServer(['--sessions']);
//   const home = await tempHome();
//   const { client } = await stdioBridge(dev.mcpUrl, home);
//   await client.callTool({ name: 'echo', arguments: { text: 'hi' } });
//   await dev.stats();  await dev.advanceClock(3_601_000);  await dev.stop();  await home.remove();
//
// Binaries: $MCPAUTH_BIN and $MCPAUTH_DEVSERVER_BIN, else ${CARGO_TARGET_DIR:-<repo>/target}/debug.

import { spawn, execFile } from 'node:child_process';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const repo = resolve(import.meta.dirname, '../..');
const targetDir = process.env.CARGO_TARGET_DIR || join(repo, 'target');
export const MCPAUTH_BIN = process.env.MCPAUTH_BIN || join(targetDir, 'debug', 'mcpauth');
export const DEVSERVER_BIN = process.env.MCPAUTH_DEVSERVER_BIN || join(targetDir, 'debug', 'mcpauth-devserver');

// How long one child may take to print its ready line.
const READY_MS = 15000;

// The stand-in for a browser: fetches the authorization URL and follows the redirects to the
// loopback callback, which is all an auto-approving server needs.
const BROWSER = 'curl -fsSL -o /dev/null';

// Settles like `promise`, or rejects naming `what` after `ms`.
export function within(ms, what, promise) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

// Kills `child` (SIGTERM, then SIGKILL after 2 s) and resolves once it exited.
export function stopChild(child) {
  return new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    const hard = setTimeout(() => child.kill('SIGKILL'), 2000);
    child.once('exit', () => {
      clearTimeout(hard);
      done();
    });
    child.kill('SIGTERM');
  });
}

// Spawns `command` and resolves with the first line of `stream` ('stdout' or 'stderr') that
// matches `pattern` (its match), keeping everything the child writes to stderr for errors.
function spawnUntil(command, args, { env, stream, pattern, what }) {
  const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.INTEROP_DEBUG) process.stderr.write(d);
  });
  const lines = createInterface({ input: child[stream] });
  const found = new Promise((ok, fail) => {
    lines.on('line', (line) => {
      const match = line.match(pattern);
      if (match) ok(match);
    });
    child.once('error', fail);
    child.once('exit', (code) => fail(new Error(`${what} exited (${code}) before it was ready:\n${stderr}`)));
  });
  return within(READY_MS, `${what} ready line`, found).then(
    (match) => ({ child, match, stderr: () => stderr }),
    async (err) => {
      await stopChild(child);
      throw new Error(`${err.message}\n${stderr}`);
    },
  );
}

// The dev server (`--port 0 --auto-approve --quiet` plus `switches`) as a child process.
export async function startDevServer(switches = []) {
  const args = ['--port', '0', '--auto-approve', '--quiet', ...switches];
  const { child, match } = await spawnUntil(DEVSERVER_BIN, args, {
    env: process.env,
    stream: 'stdout',
    pattern: /^MCP endpoint:\s+(\S+)$/,
    what: 'mcpauth-devserver',
  });
  const mcpUrl = match[1];
  const base = new URL(mcpUrl).origin;
  const dev = async (path, body) => {
    const init = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const res = await fetch(`${base}/_dev/${path}`, init);
    if (!res.ok) throw new Error(`/_dev/${path}: ${res.status}`);
    const text = await res.text();
    return text ? JSON.parse(text) : undefined;
  };
  return {
    mcpUrl,
    base,
    child,
    // The server's counters (see `Stats` in tests/devserver/src/state.rs).
    stats: () => dev('stats'),
    // Moves the server's clock forward, expiring whatever lives shorter than `ms`.
    advanceClock: (ms) => dev('clock', { advance_ms: ms }),
    setFaults: (faults) => dev('faults', faults),
    stop: () => stopChild(child),
  };
}

// A throwaway store and configuration (the file store, so that every process sees it) and the
// environment that points mcpauth at them.
export async function tempHome() {
  const dir = await mkdtemp(join(tmpdir(), 'mcpauth-bridge-'));
  const env = {
    MCPAUTH_STORE: 'file',
    MCPAUTH_DATA_DIR: join(dir, 'data'),
    MCPAUTH_CONFIG_DIR: join(dir, 'config'),
    MCPAUTH_BROWSER: BROWSER,
  };
  return { dir, env, remove: () => rm(dir, { recursive: true, force: true }) };
}

// Runs the mcpauth CLI to completion; rejects with its output when it fails.
export function mcpauth(args, home, { timeoutMs = 30000 } = {}) {
  return new Promise((ok, fail) => {
    execFile(MCPAUTH_BIN, args, { env: { ...process.env, ...home.env }, timeout: timeoutMs }, (err, stdout, stderr) => {
      if (err) fail(new Error(`mcpauth ${args.join(' ')}: ${err.message}\n${stdout}\n${stderr}`));
      else ok({ stdout, stderr });
    });
  });
}

// An SDK `Client` connected through `mcpauth proxy [proxyArgs] <url>` spawned by the SDK's
// own StdioClientTransport, as an MCP host spawns a stdio server. `log()` is the bridge's
// stderr so far; `pid` its process id. `capabilities` are the client's, `onClient` sets
// handlers before the connect; pass `connect: false` to connect yourself.
export async function stdioBridge(url, home, { proxyArgs = [], connect = true, capabilities = {}, onClient } = {}) {
  const transport = new StdioClientTransport({
    command: MCPAUTH_BIN,
    args: ['proxy', ...proxyArgs, url],
    env: { ...home.env, ...(process.env.RUST_LOG ? { RUST_LOG: process.env.RUST_LOG } : {}) },
    stderr: 'pipe',
  });
  let log = '';
  transport.stderr.on('data', (d) => {
    log += d;
    if (process.env.INTEROP_DEBUG) process.stderr.write(d);
  });
  const client = new Client({ name: 'bridge-test', version: '0' }, { capabilities });
  onClient?.(client);
  const bridge = { client, transport, log: () => log, get pid() { return transport.pid; } };
  if (connect) await within(30000, 'connect through the stdio bridge', client.connect(transport));
  return bridge;
}

// `mcpauth proxy --listen 127.0.0.1:0 [proxyArgs] <url>` as a child; resolves with the URL it
// printed once bound.
export async function listeningBridge(url, home, proxyArgs = []) {
  const args = ['proxy', '--listen', '127.0.0.1:0', ...proxyArgs, url];
  const { child, match, stderr } = await spawnUntil(MCPAUTH_BIN, args, {
    env: { ...process.env, ...home.env },
    stream: 'stderr',
    pattern: /^mcpauth proxy listening on (http:\/\/127\.0\.0\.1:\d+\/mcp)$/,
    what: 'mcpauth proxy --listen',
  });
  return { url: match[1], child, log: stderr, stop: () => stopChild(child) };
}

// An SDK `Client` over Streamable HTTP to `url`, with extra request headers if given.
export async function httpClient(url, headers = {}) {
  const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } });
  const client = new Client({ name: 'bridge-test-http', version: '0' });
  await within(30000, `connect to ${url}`, client.connect(transport));
  return { client, transport };
}

// The text of a tool result's first content item.
export const text = (result) => result.content?.[0]?.text;

// Peak resident set size of a live process in KiB (`VmHWM`), or undefined once it is gone.
export async function peakRssKiB(pid) {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const kib = status.match(/^VmHWM:\s+(\d+) kB$/m);
    return kib ? Number(kib[1]) : undefined;
  } catch {
    return undefined;
  }
}
