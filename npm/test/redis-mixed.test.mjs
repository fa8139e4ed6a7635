// A Node process and a Rust process, replicas of one gateway on one Redis (same namespace,
// same MCPAUTH_STORE_KEY), ask for the same users' expired grants at the same moment: the dev
// server must see exactly one refresh per grant and no refresh token twice, and both processes
// must end with the same token for each user. The Rust process is the native crate's example
// native/examples/redis_token.rs, which `cargo test --workspace` builds before scripts/test
// runs these tests.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

import { createClient } from 'redis';

import { McpAuth } from './helpers.mjs';
import { login, redisForThisFile, startDevserver, targetDir } from './redis-servers.mjs';

const dist = process.env.MCPAUTH_NPM_DIST ? pathToFileURL(`${process.env.MCPAUTH_NPM_DIST}/`) : new URL('../dist/', import.meta.url);
const { RedisStorage } = await import(new URL('redis.js', dist).href);

const RUST_REPLICA = join(targetDir, 'debug/examples/redis_token');
const STORE_KEY = randomBytes(32).toString('base64');
const NAMESPACE = 'mixed-gateway';
const USERS = ['alice', 'bob', 'carol'];
/** Concurrent callers per user in each process. */
const CALLERS = 5;
/** How far the dev server's clock (and both processes') moves: past the 1 h token lifetime. */
const EXPIRED_MS = 2 * 3600 * 1000;
/** Each dev server answer takes this long, so that a refresh is still in flight when the other process asks. */
const LATENCY_MS = 100;

/** The fingerprint redis_token prints: the first 16 hex digits of the token's SHA-256. */
const fingerprint = (token) => createHash('sha256').update(token).digest('hex').slice(0, 16);

const redis = redisForThisFile();

/** Starts the Rust replica; resolves once it has opened the store, to `{ go, result }`. */
async function startRustReplica(mcp) {
  assert.ok(
    existsSync(RUST_REPLICA),
    `${RUST_REPLICA} is missing: \`cargo test --workspace\` builds it (scripts/test runs that first), or build it with \`cargo build -p mcpauth --features redis --example redis_token\``,
  );
  const args = [redis.url, NAMESPACE, mcp, USERS.join(','), String(CALLERS), String(EXPIRED_MS)];
  const child = spawn(RUST_REPLICA, args, { env: { ...process.env, MCPAUTH_STORE_KEY: STORE_KEY }, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const first = await lines.next();
  assert.equal(first.value, 'ready', `redis_token did not start (exit code ${child.exitCode})`);
  const result = (async () => {
    const line = await lines.next();
    const code = await exited;
    assert.equal(code, 0, `redis_token exited with ${code} (its error is on stderr above)`);
    return JSON.parse(line.value).tokens;
  })();
  return { go: () => child.stdin.end('go\n'), result, kill: () => child.kill() };
}

test('a Rust and a Node replica on one Redis refresh each of three expired grants once and end with the same tokens', { timeout: 60_000 }, async () => {
  const server = await startDevserver();
  const client = await createClient({ url: redis.url }).connect();
  let rust;
  try {
    const store = new RedisStorage({ client, namespace: NAMESPACE, key: STORE_KEY });
    const before = {};
    for (const user of USERS) {
      const grant = await login(new McpAuth({ storage: store, lock: store, profile: user }), server.mcp);
      before[user] = fingerprint(grant.tokens.access_token);
    }
    await server.dev('reset', {});
    await server.dev('faults', { latency_ms: LATENCY_MS });
    await server.dev('clock', { advance_ms: EXPIRED_MS });

    rust = await startRustReplica(server.mcp);
    const now = () => Date.now() + EXPIRED_MS;
    const auths = Object.fromEntries(USERS.map((user) => [user, new McpAuth({ storage: store, lock: store, profile: user, now })]));
    rust.go();
    const node = await Promise.all(
      USERS.flatMap((user) => Array.from({ length: CALLERS }, async () => [user, fingerprint(await auths[user].accessToken(server.mcp))])),
    );
    const fromRust = await rust.result;

    const stats = await server.dev('stats');
    assert.equal(stats.refreshes, USERS.length, `one refresh per grant: ${JSON.stringify(stats.token_grants)}`);
    assert.equal(stats.refresh_reuse_detected, 0, 'no refresh token sent twice');
    const seen = new Set();
    for (const user of USERS) {
      const mine = node.filter(([u]) => u === user).map(([, fp]) => fp);
      assert.equal(mine.length, CALLERS);
      assert.equal(fromRust[user]?.length, CALLERS, `the Rust replica's tokens for ${user}: ${JSON.stringify(fromRust)}`);
      const all = new Set([...mine, ...fromRust[user]]);
      assert.equal(all.size, 1, `${user}: every caller of both processes got one token, got ${[...all]}`);
      const [token] = all;
      assert.notEqual(token, before[user], `${user}'s token was refreshed`);
      seen.add(token);
    }
    assert.equal(seen.size, USERS.length, 'each user has their own grant');
    assert.deepEqual(await redis.raw.keys(`mcpauth:${NAMESPACE}:lock:*`), [], 'every lock released');
  } finally {
    rust?.kill();
    await client.close();
    server.child.kill();
  }
});
