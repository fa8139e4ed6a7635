// Section 4 of BENCHMARKS.md: how `mcpauth token <server>` (a cached valid token) and
// `mcpauth status` grow with the number of stored servers: 10, 1,000 and 10,000 (10 and 100
// with --quick).
//
// One real login against the dev server writes a grant in a file store with a known key
// (MCPAUTH_STORE_KEY); the other servers' grants are that record with another server in it,
// sealed and named as the file store does (native/src/store/file.rs): records/<sha256 of the
// record key>.rec, sealed by the npm package's sealRecord, the same format.
//
//   node tests/bench/growth.mjs [--quick]

import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cliEnv, mcpauthBinary, ms, output, quick, root, run, startDevserver, table, timeSpawns } from './lib.mjs';

const sizes = quick ? [10, 100] : [10, 1000, 10000];
const runs = quick ? 3 : 20;

const sealer = join(root, 'npm', 'dist', 'redis.js');
if (!existsSync(sealer)) run(join(root, 'npm', 'build.sh'), []);
const { sealRecord, openRecord } = await import(sealer);

const cli = mcpauthBinary();
const storeKey = randomBytes(32);
const { home, env } = cliEnv('file', { MCPAUTH_STORE_KEY: storeKey.toString('base64') });
const records = join(env.MCPAUTH_DATA_DIR, 'records');
const hashed = (key) => createHash('sha256').update(key).digest('hex');

const server = await startDevserver();
const results = [];
try {
  run(cli.path, ['login', server.mcp], { env, stdio: 'pipe' });
  // The login's records: its grant (the one whose key starts `grant#`) and its registration.
  const login = readdirSync(records).map((file) => {
    const sealed = readFileSync(join(records, file));
    const key = sealed.subarray(12, 12 + sealed.readUInt32BE(8)).toString('utf8');
    return { file, key, value: Buffer.from(openRecord(storeKey, key, sealed)).toString('utf8') };
  });
  const grant = login.find((record) => record.key.startsWith('grant#'));
  if (!grant) throw new Error(`no grant among the login's records: ${login.map((r) => r.key).join(', ')}`);
  const template = JSON.parse(grant.value);

  let stored = 1;
  for (const size of sizes) {
    // Adds grants for other servers of the same authorization server up to `size`.
    for (; stored < size; stored++) {
      const other = `${server.mcp}/bench-${stored}`;
      const record = structuredClone(template);
      record.grant.server = other;
      record.grant.resource = other;
      const key = `grant#${other}`;
      writeFileSync(join(records, `${hashed(key)}.rec`), sealRecord(storeKey, key, Buffer.from(JSON.stringify(record))), { mode: 0o600 });
    }
    const count = output(cli.path, ['status', '--json'], { env, maxBuffer: 1 << 28 });
    if (JSON.parse(count).length !== size) throw new Error(`mcpauth status lists ${JSON.parse(count).length} logins, not ${size}`);
    const [token, status] = timeSpawns(
      [
        [cli.path, 'token', server.mcp],
        [cli.path, 'status'],
      ],
      env,
      runs,
    );
    results.push({ size, token, status });
  }
} finally {
  server.stop();
  rmSync(home, { recursive: true, force: true });
}

const widest = Math.max(...results.map((r) => r.status.median), ...results.map((r) => r.token.median));
const bar = (value) => '#'.repeat(Math.max(1, Math.round((40 * value) / widest)));
const chart = ['token', 'status'].flatMap((op) => [
  `mcpauth ${op}`,
  ...results.map((r) => `${r.size.toLocaleString('en-US').padStart(8)} servers ${bar(r[op].median)} ${ms(r[op].median)} ms`),
]);

console.log(
  [
    '## 4. Growth',
    '',
    `Wall time of spawned processes (median, min, max of ${runs}, taking turns after one unmeasured round), ${cli.profile} build, file store`,
    '(`MCPAUTH_STORE=file`), with this many servers\' grants stored; `token` asks for one of them (a cached valid token),',
    '`status` lists them all.',
    '',
    table(
      ['stored servers', '`token` median ms', 'min', 'max', '`status` median ms', 'min', 'max'],
      results.map(({ size, token, status }) => [size.toLocaleString('en-US'), ms(token.median), ms(token.min), ms(token.max), ms(status.median), ms(status.min), ms(status.max)]),
    ),
    '',
    '```text',
    ...chart,
    '```',
    '',
    `versions: ${output(cli.path, ['--version'])} (${cli.profile}), Node ${process.version}`,
  ].join('\n'),
);
