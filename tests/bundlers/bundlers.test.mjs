// The npm package in real web builds: the app in app/ built by each of Vite, webpack 5, esbuild
// and Rollup (builds.mjs) and, with no bundler, imported by a plain <script type="module"> page.
// Each build is served at its own 127.0.0.1 origin and loaded in headless Chromium, which signs
// in with a full-page redirect at the dev server (auto-approve) and calls its MCP endpoint with
// the token. The page shows the tool's answer and the access token it used; the dev server must
// have issued that token and answered the call.
//
// Prints per build the time it took, the time from loading the page to the call's answer (the
// login included), and the JS and wasm the page loaded (gzip -9); none of it asserted.
// Run by tests/bundlers/run, which installs the pinned bundlers first; needs npm/dist (the
// package build), /usr/bin/chromium and the dev server binary (built on demand).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';
import { execFileSync } from 'node:child_process';

import { chromium } from 'playwright-core';

import { startDevserver, root, targetDir } from '../../npm/test/devserver.mjs';
import { builds } from './builds.mjs';

const CHROMIUM = process.env.MCPAUTH_CHROMIUM ?? '/usr/bin/chromium';
const scratch = join(targetDir, 'bundlers');
const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json' };

let devserver;
let mcpUrl;
let devApi;
let browser;
let userDataDir;
const rows = [];

before(async () => {
  assert.ok(existsSync(join(root, 'npm/dist/index.js')), 'npm/dist is missing: build the package first (npm/build.sh)');
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing (scripts/setup installs it)`);
  // `mcpauth` for the bundlers: a link to the package, as `npm link` makes (npm ci removes it).
  const link = join(import.meta.dirname, 'node_modules/mcpauth');
  rmSync(link, { force: true });
  symlinkSync(join(root, 'npm'), link, 'dir');
  ({ child: devserver, mcp: mcpUrl, dev: devApi } = await startDevserver());
  userDataDir = mkdtempSync(join(tmpdir(), 'mcpauth-bundlers-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run'],
  });
});

after(async () => {
  await browser?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  devserver?.kill();
  if (rows.length > 0) {
    const lines = rows.map((r) =>
      [r.name.padEnd(8), `${r.ms} ms`.padStart(9), `${r.loginMs} ms`.padStart(9), `${r.js}`.padStart(8), `${r.wasm}`.padStart(8), `${r.js + r.wasm}`.padStart(8)].join(' '),
    );
    const header = 'build        build    login    JS gz  wasm gz total gz   (bytes: gzip -9 of what the page loaded)';
    console.log(['', header, ...lines].join('\n'));
  }
});

/**
 * Serves `dir` at a fresh 127.0.0.1 origin: its files, index.html for `/` and `/callback`, and
 * /config.json naming the MCP server. Records every .js and .wasm file it sends.
 */
async function serve(dir, label) {
  const sent = new Set();
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    if (pathname === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ mcp: mcpUrl, label }));
    }
    const file = pathname === '/' || pathname === '/callback' ? join(dir, 'index.html') : normalize(join(dir, pathname));
    if (!file.startsWith(dir + sep) || !existsSync(file) || !statSync(file).isFile()) return res.writeHead(404).end();
    if (['.js', '.wasm'].includes(extname(file))) sent.add(file);
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, sent, origin: `http://127.0.0.1:${server.address().port}` };
}

/** The summed sizes of `files` after `gzip -9` (`-n`: without the file name, which differs by build). */
const gzipped = (files) => files.reduce((sum, f) => sum + execFileSync('gzip', ['-9', '-n', '-c', f]).length, 0);

for (const [name, build] of Object.entries(builds)) {
  test(`${name}: the built app signs in with a redirect at the dev server and makes an authorized MCP call`, async () => {
    const out = join(scratch, name);
    const started = performance.now();
    await build(out);
    const ms = Math.round(performance.now() - started);

    const { server, sent, origin } = await serve(out, name);
    const page = await browser.newPage();
    const log = [];
    page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
    const loading = performance.now();
    let loginMs;
    try {
      await page.goto(`${origin}/`);
      await page.waitForFunction(() => window.mcpauthResult, null, { timeout: 20000 }).catch(() => {});
      const result = await page.evaluate(() => window.mcpauthResult);
      loginMs = Math.round(performance.now() - loading);
      assert.ok(result, `no result; page log:\n${log.join('\n')}`);
      assert.equal(result.error, undefined, `${result.message}\n${log.join('\n')}`);
      assert.equal(new URL(page.url()).pathname, '/callback', 'the page came back from the authorization server');
      assert.equal(result.status, 200);
      assert.equal(result.text, `hello from ${name}`, 'the tool answered the call');
      assert.match(await page.textContent('#result'), new RegExp(`hello from ${name}`), 'the page shows the answer');
      assert.ok((await devApi('secrets')).includes(result.accessToken), 'the dev server issued the token the page used');
    } finally {
      await page.close();
      server.closeAllConnections();
      server.close();
    }
    const js = gzipped([...sent].filter((f) => f.endsWith('.js')));
    const wasm = gzipped([...sent].filter((f) => f.endsWith('.wasm')));
    assert.ok(wasm > 0, 'the page loaded the wasm module');
    rows.push({ name, ms, loginMs, js, wasm });
  });
}
