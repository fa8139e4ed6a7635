// What the benchmark sections share: the repository's paths, the `--quick` flag, installing the
// pinned peers, running and timing processes, the mcpauth CLI and the dev server, and Markdown.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

export const benchDir = fileURLToPath(new URL('.', import.meta.url));
export const root = join(benchDir, '..', '..');
export const target = process.env.CARGO_TARGET_DIR ?? join(root, 'target');

/** `--quick`: tiny counts, so that the gate runs the code; its numbers mean nothing. */
export const quick = process.argv.includes('--quick');

/** Runs a command in the repository, its output to stderr (stdout is the section), failing loudly. */
export function run(cmd, args, options = {}) {
  execFileSync(cmd, args, { cwd: root, stdio: ['ignore', 2, 2], ...options });
}

/** The standard output of a command, trimmed. */
export function output(cmd, args, options = {}) {
  return execFileSync(cmd, args, { cwd: root, encoding: 'utf8', ...options }).trim();
}

/**
 * Installs tests/bench/package-lock.json into tests/bench/node_modules when the lock changed
 * (as npm/build.sh does: a copy of the installed lock is the stamp).
 */
export function installPeers() {
  const lock = join(benchDir, 'package-lock.json');
  const stamp = join(benchDir, 'node_modules', '.mcpauth-installed-lock.json');
  if (existsSync(stamp) && readFileSync(stamp).equals(readFileSync(lock))) return;
  run('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: benchDir });
  copyFileSync(lock, stamp);
}

/** The installed version of a package of tests/bench. */
export function peerVersion(name) {
  return JSON.parse(readFileSync(join(benchDir, 'node_modules', name, 'package.json'), 'utf8')).version;
}

export const gzipLength = (bytes) => gzipSync(bytes, { level: 9 }).length;

/** A fresh temporary directory. */
export const tempDir = (prefix) => mkdtempSync(join(tmpdir(), `mcpauth-bench-${prefix}-`));

/**
 * The mcpauth CLI to measure: the release build, built here; with `--quick`, the debug build
 * the gate's `cargo test` made when there is one (its numbers mean nothing).
 */
export function mcpauthBinary() {
  const debug = join(target, 'debug', 'mcpauth');
  if (quick && existsSync(debug)) return { path: debug, profile: 'debug' };
  run('cargo', ['build', '--quiet', '--release', '-p', 'mcpauth', '--bin', 'mcpauth']);
  return { path: join(target, 'release', 'mcpauth'), profile: 'release' };
}

/** A free TCP port on 127.0.0.1. */
async function freePort() {
  const server = createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Starts the development authorization server (built in debug: it is not what is measured),
 * approving every authorization at once. Returns its MCP endpoint and a `stop()`.
 */
export async function startDevserver() {
  run('cargo', ['build', '--quiet', '-p', 'mcpauth-devserver', '--bin', 'mcpauth-devserver']);
  const port = await freePort();
  const child = spawn(join(target, 'debug', 'mcpauth-devserver'), ['--port', String(port), '--auto-approve', '--quiet'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    if (await fetch(`${base}/.well-known/oauth-authorization-server`).then((r) => r.ok, () => false)) break;
    if (i === 200 || child.exitCode !== null) throw new Error('the dev server did not start');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { mcp: `${base}/mcp`, stop: () => child.kill() };
}

/**
 * The environment of a throwaway mcpauth home: its own data and configuration directories,
 * `store` as MCPAUTH_STORE (undefined: the default store), curl as the browser.
 */
export function cliEnv(store, extra = {}) {
  const home = tempDir('home');
  const env = {
    ...process.env,
    MCPAUTH_DATA_DIR: join(home, 'data'),
    MCPAUTH_CONFIG_DIR: join(home, 'config'),
    MCPAUTH_BROWSER: 'curl -fsSL -o /dev/null',
    ...extra,
  };
  delete env.MCPAUTH_STORE;
  delete env.MCPAUTH_LOG;
  delete env.RUST_LOG;
  if (store) env.MCPAUTH_STORE = store;
  return { home, env };
}

/**
 * Wall time in milliseconds of `runs` spawns of each command (`[cmd, ...args]`), each required to
 * succeed. The commands take turns, after one unmeasured round, so that a busy machine weighs on
 * each alike. Returns their stats in order.
 */
export function timeSpawns(commands, env, runs) {
  const once = ([cmd, ...args]) => {
    const t0 = process.hrtime.bigint();
    const result = spawnSync(cmd, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    if (result.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${result.stderr}`);
    return ms;
  };
  commands.forEach(once);
  const samples = commands.map(() => []);
  for (let i = 0; i < runs; i++) commands.forEach((command, c) => samples[c].push(once(command)));
  return samples.map(stats);
}

/** Median, minimum and maximum of some samples. */
export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], runs: s.length };
}

/** A Markdown table. */
export function table(header, rows) {
  const line = (cells) => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

/** 12345 as "12,345". */
export const thousands = (n) => Math.round(n).toLocaleString('en-US');

/** Milliseconds with two decimals. */
export const ms = (n) => n.toFixed(2);
