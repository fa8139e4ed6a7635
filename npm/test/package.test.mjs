// The package as users get it: `npm pack` in npm/, the tarball installed into a scratch project
// under target/ (not committed), imported from plain Node ESM by its public names, and a usage
// file type-checked with the pinned TypeScript. Needs npm/dist (the package build).

import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, symlinkSync, writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const npmDir = fileURLToPath(new URL('..', import.meta.url));
const root = join(npmDir, '..');
const scratch = join(process.env.CARGO_TARGET_DIR ?? join(root, 'target'), 'npm-package-check');
const consumer = join(scratch, 'consumer');
const run = (cmd, args, cwd) => execFileSync(cmd, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

let tarball;

before(() => {
  assert.ok(existsSync(join(npmDir, 'dist/index.js')), 'npm/dist is missing: build the package first (npm/build.sh)');
  rmSync(scratch, { recursive: true, force: true });
  mkdirSync(consumer, { recursive: true });
  const packed = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', scratch], npmDir));
  tarball = packed[0];
  writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // No network: mcpauth has no dependencies, and its one peer (the MCP SDK) is optional.
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--loglevel=error', join(scratch, tarball.filename)], consumer);
});

test('the tarball holds the built package and nothing else', () => {
  const files = tarball.files.map((f) => f.path).sort();
  assert.ok(files.includes('package.json') && files.includes('README.md'));
  assert.ok(files.includes('dist/wasm/mcpauth_wasm_bg.wasm'), 'the .wasm ships');
  assert.ok(files.includes('dist/cjs/package.json') && files.includes('dist/cjs/wasm.js'), 'the CommonJS build ships');
  assert.ok(!files.some((f) => f.startsWith('dist/cjs/') && f.endsWith('.wasm')), 'one .wasm, shared by both builds');
  for (const entry of ['index', 'node', 'sdk', 'core', 'redis']) {
    assert.ok(files.includes(`dist/${entry}.js`) && files.includes(`dist/${entry}.d.ts`), `dist/${entry}`);
  }
  const stray = files.filter((f) => !f.startsWith('dist/') && !['package.json', 'README.md', 'LICENSE'].includes(f));
  assert.deepEqual(stray, [], 'no sources, tests or lockfiles in the tarball');
  const installed = JSON.parse(readFileSync(join(consumer, 'node_modules/mcpauth/package.json'), 'utf8'));
  assert.deepEqual(installed.dependencies ?? {}, {}, 'no runtime dependencies');
});

test('plain Node ESM imports every public entry, and the core answers', () => {
  const script = `
    const m = await import('mcpauth');
    const node = await import('mcpauth/node');
    const sdk = await import('mcpauth/sdk');
    const core = await import('mcpauth/core');
    const auth = new m.McpAuth();
    let login;
    try { await auth.accessToken('https://mcp.example/mcp'); } catch (e) { login = e; }
    let error;
    try { core.canonicalServer('not a url'); } catch (e) { error = e; }
    console.log(JSON.stringify({
      exports: Object.keys(m).sort(),
      node: Object.keys(node).sort(),
      sdk: Object.keys(sdk).sort(),
      core: Object.keys(core).sort(),
      loginCode: login.code,
      canonical: core.canonicalServer('HTTPS://MCP.Example:443/mcp/'),
      errorIsMcpAuthError: error instanceof m.McpAuthError,
      errorCode: error.code,
    }));
  `;
  const out = JSON.parse(run(process.execPath, ['--input-type=module', '-e', script], consumer));
  for (const name of ['McpAuth', 'McpAuthError', 'MemoryStorage', 'WebStorage', 'redirectLogin', 'completeRedirectLogin', 'popupLogin', 'postCallbackToOpener', 'runMachine']) {
    assert.ok(out.exports.includes(name), `mcpauth exports ${name}`);
  }
  assert.deepEqual(out.node, ['loopbackLogin']);
  assert.deepEqual(out.sdk, ['McpAuthProvider']);
  for (const name of ['machineNew', 'machineDrain', 'machineResponse', 'machineInput', 'machineFree', 'protectedStep', 'constants']) {
    assert.ok(out.core.includes(name), `mcpauth/core exports ${name}`);
  }
  assert.equal(out.loginCode, 'LOGIN_REQUIRED');
  assert.equal(out.canonical, 'https://mcp.example/mcp');
  assert.equal(out.errorIsMcpAuthError, true);
  assert.equal(out.errorCode, 'INVALID_URL');
});

test('plain Node CommonJS requires every public entry from the CommonJS build, sharing one core', () => {
  const script = `
    const m = require('mcpauth');
    const core = require('mcpauth/core');
    let error;
    try { core.canonicalServer('not a url'); } catch (e) { error = e; }
    console.log(JSON.stringify({
      resolved: ['mcpauth', 'mcpauth/node', 'mcpauth/sdk', 'mcpauth/core'].map((name) => require.resolve(name)),
      exports: Object.keys(m).sort(),
      node: Object.keys(require('mcpauth/node')).sort(),
      sdk: Object.keys(require('mcpauth/sdk')).sort(),
      errorIsMcpAuthError: error instanceof m.McpAuthError,
      errorCode: error.code,
    }));
  `;
  const out = JSON.parse(run(process.execPath, ['-e', script], consumer));
  for (const file of out.resolved) assert.match(file, /node_modules\/mcpauth\/dist\/cjs\/\w+\.js$/);
  const esm = JSON.parse(run(process.execPath, ['--input-type=module', '-e', 'console.log(JSON.stringify(Object.keys(await import("mcpauth")).sort()))'], consumer));
  assert.deepEqual(out.exports, esm, 'the same names as the ES module');
  assert.deepEqual(out.node, ['loopbackLogin']);
  assert.deepEqual(out.sdk, ['McpAuthProvider']);
  assert.equal(out.errorIsMcpAuthError, true, 'mcpauth/core throws the McpAuthError that mcpauth exports');
  assert.equal(out.errorCode, 'INVALID_URL');
});

test('a TypeScript usage file type-checks against the published declarations', () => {
  // The types the usage file needs besides mcpauth's own: Node's and the (optional peer) SDK's,
  // linked from npm/node_modules rather than downloaded again.
  for (const dep of ['@types', '@modelcontextprotocol']) {
    symlinkSync(join(npmDir, 'node_modules', dep), join(consumer, 'node_modules', dep), 'dir');
  }
  writeFileSync(join(consumer, 'usage.ts'), USAGE);
  writeFileSync(join(consumer, 'usage.cts'), USAGE_CJS);
  writeFileSync(
    join(consumer, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        lib: ['ES2022', 'DOM', 'DOM.Iterable'],
        types: ['node'],
        strict: true,
        noEmit: true,
      },
      files: ['usage.ts', 'usage.cts'],
    }),
  );
  try {
    const files = run(join(npmDir, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--listFiles'], consumer);
    assert.match(files, /mcpauth\/dist\/index\.d\.ts/, 'the ES module usage reads the ES declarations');
    assert.match(files, /mcpauth\/dist\/cjs\/index\.d\.ts/, 'the CommonJS usage reads the CommonJS declarations');
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.fail(`tsc --noEmit failed:\n${err.stdout}${err.stderr}`);
  }
});

const USAGE = `
import { McpAuth, McpAuthError, MemoryStorage, WebStorage, popupLogin, type Discovered, type Grant, type Storage } from 'mcpauth';
import { loopbackLogin } from 'mcpauth/node';
import { McpAuthProvider } from 'mcpauth/sdk';
import { canonicalServer } from 'mcpauth/core';
import type { OAuthClientProvider } from '@modelcontextprotocol/sdk/client/auth.js';

const storage: Storage = new MemoryStorage();
const auth = new McpAuth({
  clientName: 'usage',
  storage,
  policy: { legacy20250326Fallbacks: true },
  timeout: 120_000,
  onWarning: (warning: McpAuthError) => console.warn(warning.code, warning.message),
});
const server = canonicalServer('https://mcp.example.com/mcp');

async function cli(): Promise<string> {
  const grant: Grant = await loopbackLogin(auth, server, { openBrowser: true, timeout: 60_000 });
  const issuer: string = grant.issuer;
  const discovered: Discovered = await auth.discover(server);
  void discovered.metadata.token_endpoint;
  return issuer + (await auth.accessToken(server));
}

const mcpFetch: typeof fetch = auth.authFetch(undefined, {
  onAuthorizationRequired: (required) => loopbackLogin(auth, required.serverUrl, required.options),
});

const provider: OAuthClientProvider = new McpAuthProvider(auth, server, {
  login: (ctx) => loopbackLogin(auth, ctx.serverUrl, ctx.options),
});

function web(): Promise<Grant> {
  const webAuth = new McpAuth({ redirectUri: 'https://app.example/cb', sessionStorage: new WebStorage(sessionStorage) });
  return popupLogin(webAuth, server);
}

function handle(err: unknown): string | undefined {
  return err instanceof McpAuthError ? err.code + (err.error ?? '') : undefined;
}

async function device(): Promise<boolean> {
  await auth.deviceLogin(server, { onPrompt: ({ user_code, verification_uri }) => console.log(user_code, verification_uri) });
  return (await auth.logout(server, { revoke: true })).revoked;
}

// @ts-expect-error redirectUri is a string
new McpAuth({ redirectUri: 42 });
// @ts-expect-error Storage needs get/set/delete
const notStorage: Storage = { get: async () => undefined };

export { cli, mcpFetch, provider, web, handle, device, notStorage };
`;

/** A CommonJS module (`.cts`) using the package through `require`. */
const USAGE_CJS = `
import mcpauth = require('mcpauth');
import node = require('mcpauth/node');

const auth = new mcpauth.McpAuth({ clientName: 'usage', storage: new mcpauth.MemoryStorage() });

async function cli(server: string): Promise<string> {
  const grant: mcpauth.Grant = await node.loopbackLogin(auth, server, { openBrowser: true });
  return grant.issuer + (await auth.accessToken(server));
}

function handle(err: unknown): string | undefined {
  return err instanceof mcpauth.McpAuthError ? err.code : undefined;
}

// @ts-expect-error redirectUri is a string
new mcpauth.McpAuth({ redirectUri: 42 });

export = { cli, handle };
`;
