// The real servers the Redis tests run against: Debian's redis-server on a free 127.0.0.1 port
// with a throwaway directory (stopped by pid), the dev server from the Rust build, and a
// headless login to it.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before } from 'node:test';

import { createClient } from 'redis';

import { nodePkg } from './helpers.mjs';

export { root, startDevserver, targetDir } from './devserver.mjs';

/** A port nobody listens on now. */
async function freePort() {
  const server = createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/**
 * Starts redis-server on 127.0.0.1 with a throwaway directory; resolves once it accepts
 * connections to `{ child, url, dir, stop }`.
 */
export async function startRedis() {
  const binary = ['/usr/bin/redis-server', '/usr/local/bin/redis-server'].find(existsSync);
  assert.ok(binary, "redis-server is missing: run scripts/setup (it installs Debian's redis-server), or `sudo apt-get install -y redis-server`");
  const dir = mkdtempSync(join(tmpdir(), 'mcpauth-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}) before accepting connections`)));
  });
  child.stdout.resume();
  const stop = async () => {
    process.kill(child.pid, 'SIGTERM');
    await new Promise((ok) => (child.exitCode !== null ? ok() : child.once('exit', ok)));
    rmSync(dir, { recursive: true, force: true });
  };
  return { child, url: `redis://127.0.0.1:${port}`, dir, stop };
}


/** Logs in to the dev server headlessly, storing the grant through `auth`. */
export async function login(auth, mcp) {
  return nodePkg.loopbackLogin(auth, mcp, { print: () => {}, openBrowser: async (url) => void (await (await fetch(url, { redirect: 'follow' })).text()) });
}

/**
 * A redis-server for the calling test file: started before its tests, stopped after them. The
 * returned object's `url`, and `raw` (a plain client, to look at and tamper with what is
 * stored), are set once the `before` hook has run.
 */
export function redisForThisFile() {
  const shared = { url: undefined, raw: undefined };
  let server;
  before(async () => {
    server = await startRedis();
    shared.url = server.url;
    shared.raw = await createClient({ url: server.url }).connect();
  });
  after(async () => {
    await shared.raw?.close();
    await server?.stop();
  });
  return shared;
}
