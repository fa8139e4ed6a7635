// Section 1 of BENCHMARKS.md: the browser payload of `import { McpAuth } from "mcpauth"` (the
// built npm package, npm/dist) against the peers' auth code, each bundled by esbuild
// `--bundle --minify` for the browser and counted after gzip -9. The wasm module is counted
// apart: the package fetches it (`new URL(..., import.meta.url)`), so bundlers emit it as an
// asset next to the JS. Then, when twiggy is installed, what the module is made of.
//
//   node tests/bench/bytes.mjs [--quick]    (--quick changes nothing here: bundling is fast)

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { benchDir, gzipLength, installPeers, peerVersion, root, run, table, target, tempDir, thousands } from './lib.mjs';

installPeers();
const esbuild = join(benchDir, 'node_modules', '.bin', 'esbuild');
const dist = join(root, 'npm', 'dist');
if (!existsSync(join(dist, 'index.js'))) run(join(root, 'npm', 'build.sh'), []);

// `mcpauth` resolves to the repository's npm/ through a link in a scratch node_modules, so the
// package is bundled by its package.json exports as an app would bundle it; the peers are
// linked there from tests/bench/node_modules.
const work = tempDir('bytes');
mkdirSync(join(work, 'node_modules'));
symlinkSync(join(root, 'npm'), join(work, 'node_modules', 'mcpauth'));
for (const name of ['oauth4webapi', '@modelcontextprotocol']) {
  symlinkSync(join(benchDir, 'node_modules', name), join(work, 'node_modules', name));
}

/** gzip -9 bytes of what esbuild emits for an entry module's source. */
function bundled(name, source) {
  const entry = join(work, `${name}.mjs`);
  writeFileSync(entry, source);
  const out = join(work, 'out', name);
  const args = [entry, '--bundle', '--minify', '--format=esm', '--platform=browser', `--outdir=${out}`, '--log-level=error'];
  const result = spawnSync(esbuild, args, { cwd: work, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`esbuild ${name}: ${result.stderr}`);
  return readdirSync(out).reduce((sum, file) => sum + gzipLength(readFileSync(join(out, file))), 0);
}

// Every module the package ships (one today), however the build names it.
const wasmFiles = readdirSync(dist, { recursive: true }).filter((file) => file.endsWith('.wasm'));
if (wasmFiles.length === 0) throw new Error(`no .wasm under ${dist}`);
const wasm = wasmFiles.reduce((sum, file) => sum + gzipLength(readFileSync(join(dist, file))), 0);
const js = bundled('mcpauth', 'export { McpAuth } from "mcpauth";\n');
const total = wasm + js;

const sdk = '@modelcontextprotocol/sdk/client';
const peers = [
  ['oauth4webapi, whole', bundled('oauth4webapi', 'export * from "oauth4webapi";\n')],
  [`MCP TypeScript SDK ${peerVersion('@modelcontextprotocol/sdk')}, \`client/auth.js\` with its dependencies`, bundled('sdk-auth', `export * from "${sdk}/auth.js";\n`)],
  [
    `MCP TypeScript SDK ${peerVersion('@modelcontextprotocol/sdk')}, client + transport + auth`,
    bundled(
      'sdk-client',
      `export { Client } from "${sdk}/index.js";\nexport { StreamableHTTPClientTransport } from "${sdk}/streamableHttp.js";\nexport * from "${sdk}/auth.js";\n`,
    ),
  ],
];
const client2 = peerVersion('@modelcontextprotocol/client');
peers.push(
  [`\`@modelcontextprotocol/client\` ${client2}, \`auth\` (its OAuth flow)`, bundled('client2-auth', 'export { auth } from "@modelcontextprotocol/client";\n')],
  [
    `\`@modelcontextprotocol/client\` ${client2}, client + transport + auth`,
    bundled('client2-client', 'export { Client, StreamableHTTPClientTransport, auth } from "@modelcontextprotocol/client";\n'),
  ],
);

const ratio = (peer) => `${(total / peer).toFixed(2)}×`;
const lines = [
  '## 1. Bytes',
  '',
  'Browser payload of `import { McpAuth } from "mcpauth"` (npm/build.sh, then esbuild `--bundle --minify --platform=browser`,',
  'gzip -9; the wasm module is an asset the package fetches, counted apart) against the peers bundled the same way.',
  '',
  table(
    ['what', 'gzip', 'mcpauth total ÷ this'],
    [
      ['mcpauth: wasm', `${thousands(wasm)} B`, ''],
      ['mcpauth: JS', `${thousands(js)} B`, ''],
      ['**mcpauth: total**', `**${thousands(total)} B**`, ''],
      ...peers.map(([what, bytes]) => [what, `${thousands(bytes)} B`, ratio(bytes)]),
    ],
  ),
  '',
  `Target: a total under the SDK's \`client/auth.js\` (${thousands(peers[1][1])} B here): ${total < peers[1][1] ? 'met' : 'not met'}.`,
  '',
  `\`@modelcontextprotocol/client\`: the registry serves 2.x; the newest, ${client2}, is pinned in tests/bench/package-lock.json.`,
  '',
  ...twiggySection(),
  `versions: esbuild ${peerVersion('esbuild')}, oauth4webapi ${peerVersion('oauth4webapi')}, @modelcontextprotocol/sdk ${peerVersion('@modelcontextprotocol/sdk')}, @modelcontextprotocol/client ${client2}, Node ${process.version}`,
];
console.log(lines.join('\n'));

/**
 * What the module is made of, by twiggy over the release build before wasm-bindgen and
 * wasm-opt (the one with function names): bytes per crate and the 20 largest items.
 */
function twiggySection() {
  const module = join(target, 'wasm32-unknown-unknown', 'release', 'mcpauth_wasm.wasm');
  const probe = spawnSync('twiggy', ['--version'], { encoding: 'utf8' });
  if (probe.status !== 0) return ['(twiggy is not installed: no breakdown of the module.)', ''];
  if (!existsSync(module)) return [`(no ${module}: no breakdown of the module.)`, ''];
  const csv = spawnSync('twiggy', ['top', '-n', '100000', '--format', 'csv', module], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (csv.status !== 0) throw new Error(`twiggy: ${csv.stderr}`);
  // Code and data only: the custom sections (names, debug info) are not shipped, wasm-opt drops them.
  const items = csv.stdout
    .trim()
    .split('\n')
    .slice(1)
    .map(parseCsvRow)
    .map(([name, size]) => ({ name, size: Number(size) }))
    .filter((item) => Number.isFinite(item.size) && !/^custom section |^"function names" subsection/.test(item.name));
  const whole = items.reduce((sum, item) => sum + item.size, 0);
  const perCrate = new Map();
  for (const item of items) perCrate.set(crateOf(item.name), (perCrate.get(crateOf(item.name)) ?? 0) + item.size);
  const pct = (n) => `${((100 * n) / whole).toFixed(1)}%`;
  const crates = [...perCrate].sort((a, b) => b[1] - a[1]);
  return [
    `What the module is made of (${probe.stdout.trim()} over the release build before wasm-bindgen and wasm-opt: its code and`,
    `data, ${thousands(whole)} B uncompressed, without the custom sections; an item counts for the first crate its name mentions):`,
    '',
    table(['crate', 'bytes', 'share'], crates.slice(0, 15).map(([crate, n]) => [crate, thousands(n), pct(n)])),
    '',
    'The 20 largest items:',
    '',
    table(['item', 'bytes', 'share'], items.slice(0, 20).map((item) => [`\`${item.name.replaceAll('|', '\\|').slice(0, 100)}\``, thousands(item.size), pct(item.size)])),
    '',
  ];
}

/** The name and size of one row of twiggy's CSV (a quoted name may hold commas and `""`). */
function parseCsvRow(line) {
  const match = line.match(/^("(?:[^"]|"")*"|[^,]*),(\d+),/);
  if (!match) return [line, NaN];
  const name = match[1].startsWith('"') ? match[1].slice(1, -1).replaceAll('""', '"') : match[1];
  return [name, match[2]];
}

/** The crate an item belongs to, from its demangled name (`core[0123abcd]::` counts as `core`). */
function crateOf(name) {
  const path = name.replace(/\[[0-9a-f]+\]::/g, '::').match(/([A-Za-z_][A-Za-z0-9_]*)::/);
  if (path) return path[1];
  if (name.startsWith('data segment')) return '(data segments)';
  return '(no crate in the name: exports, shims, tables)';
}
