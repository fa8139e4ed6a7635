// Section 3 of BENCHMARKS.md: what a request costs once logged in.
//   - the npm package's `authFetch` against plain `fetch` (npm/bench/auth-fetch.mjs);
//   - `mcpauth token <server>` with a cached valid token, spawned as a script spawns it, against
//     `mcpauth --version` (the floor of starting the binary) and `cat` of a file, with the
//     default store and with the file store (MCPAUTH_STORE=file).
//
//   node tests/bench/per-request.mjs [--quick]

import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { cliEnv, mcpauthBinary, ms, output, quick, root, run, startDevserver, table, timeSpawns } from './lib.mjs';

const spawns = quick ? 5 : 200;
const lines = ['## 3. Per request', '', '### `authFetch` overhead', ''];

// Written on its own branch; until it is there the section says so rather than failing.
const authFetch = join(root, 'npm', 'bench', 'auth-fetch.mjs');
if (existsSync(authFetch)) {
  const iterations = quick ? 50 : 2000;
  lines.push(execFileSync(process.execPath, [authFetch, '--markdown', '--iterations', String(iterations)], { cwd: root, encoding: 'utf8' }).trim());
} else {
  lines.push('(section missing: npm/bench/auth-fetch.mjs is not there yet.)');
}

const cli = mcpauthBinary();
const server = await startDevserver();
const rows = [];
const ratios = [];
const homes = [];
let defaultStore;
try {
  for (const [label, store] of [
    ['default store', undefined],
    ['file store (`MCPAUTH_STORE=file`)', 'file'],
  ]) {
    const { home, env } = cliEnv(store);
    homes.push(home);
    run(cli.path, ['login', server.mcp], { env, stdio: 'pipe' });
    if (!store) defaultStore = existsSync(join(env.MCPAUTH_DATA_DIR, 'records')) ? 'the file store (no keychain service here)' : 'the OS keychain';
    // The token is cached and valid: from here on, `token` needs no network.
    if (!output(cli.path, ['token', server.mcp], { env })) throw new Error('mcpauth token printed nothing');
    const file = join(home, 'file.txt');
    writeFileSync(file, 'x'.repeat(1000));
    const [token, version, cat] = timeSpawns(
      [
        [cli.path, 'token', server.mcp],
        [cli.path, '--version'],
        ['cat', file],
      ],
      env,
      spawns,
    );
    const ratio = token.median / version.median;
    ratios.push(`${label}: ${ratio.toFixed(2)}×`);
    for (const [what, t] of [
      ['`mcpauth token <server>`', token],
      ['`mcpauth --version`', version],
      ['`cat` of a 1 kB file', cat],
    ]) {
      rows.push([label, what, ms(t.median), ms(t.min), ms(t.max)]);
    }
  }
} finally {
  server.stop();
  for (const home of homes) rmSync(home, { recursive: true, force: true });
}

lines.push(
  '',
  '### `mcpauth token` with a cached valid token',
  '',
  `Wall time of ${spawns} spawned processes each (taking turns, after one unmeasured round), ${cli.profile} build, on a throwaway data directory;`,
  `the default store is the OS keychain where it works and the file store otherwise: on this machine ${defaultStore}.`,
  '',
  table(['store', 'command', 'median ms', 'min ms', 'max ms'], rows),
  '',
  `\`token\` ÷ \`--version\` (median; target ≤ 2×): ${ratios.join(', ')}.`,
  '',
  `versions: ${output(cli.path, ['--version'])} (${cli.profile}), Node ${process.version}`,
);
console.log(lines.join('\n'));
