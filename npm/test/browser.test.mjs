// The package in a real browser: headless Chromium (Debian's, driven by playwright-core) loads
// a page that imports npm/dist as ES modules (the .wasm fetched next to them), logs in at the
// project's development authorization server (auto-approve, permissive CORS) with a full-page
// redirect and with a popup, and calls the protected MCP endpoint with the token; and a DPoP
// login whose key the page cannot export, surviving a page reload.
// Screenshots go to tests/artifacts/ (git-ignored).
//
// Needs /usr/bin/chromium (scripts/setup installs it) and the devserver binary (built by the
// cargo steps of scripts/test; built here on demand otherwise).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';

import { startDevserver } from './devserver.mjs';

const CHROMIUM = process.env.MCPAUTH_CHROMIUM ?? '/usr/bin/chromium';
const root = fileURLToPath(new URL('../..', import.meta.url));
const dist = process.env.MCPAUTH_NPM_DIST ?? join(root, 'npm/dist');
const pages = join(root, 'npm/test/browser');
const artifacts = join(root, 'tests/artifacts');

let chromium;
try {
  ({ chromium } = await import('playwright-core'));
} catch {
  chromium = undefined;
}
const skip = !existsSync(CHROMIUM) ? `no ${CHROMIUM}` : !chromium ? 'playwright-core is not installed' : false;

let devserver;
let devApi;
let mcpUrl;
let site;
let siteOrigin;

const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm', '.json': 'application/json', '.map': 'application/json' };

/** The app's origin: /pkg/* from npm/dist, the test pages, and /config.json. */
async function startSite() {
  const server = createServer((req, res) => {
    const { pathname } = new URL(req.url, 'http://x');
    let file;
    if (pathname === '/config.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      return res.end(JSON.stringify({ mcp: mcpUrl }));
    }
    if (pathname.startsWith('/pkg/')) file = normalize(join(dist, pathname.slice(5)));
    else if (pathname === '/' || pathname === '/callback') file = join(pages, 'index.html');
    else file = normalize(join(pages, pathname));
    if (!(file.startsWith(dist) || file.startsWith(pages)) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    res.end(readFileSync(file));
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return server;
}

let browser;
let userDataDir;

before(async () => {
  if (skip) return;
  ({ child: devserver, mcp: mcpUrl, dev: devApi } = await startDevserver());
  site = await startSite();
  siteOrigin = `http://127.0.0.1:${site.address().port}`;
  userDataDir = mkdtempSync(join(tmpdir(), 'mcpauth-chromium-'));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  mkdirSync(artifacts, { recursive: true });
});

after(async () => {
  await browser?.close();
  if (userDataDir) rmSync(userDataDir, { recursive: true, force: true });
  site?.closeAllConnections();
  site?.close();
  devserver?.kill();
});

/** Collects the page's console errors, to show them when a test fails. */
function watch(page) {
  const log = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  return log;
}

test('full-page redirect: login, callback, token exchange, MCP tool call', { skip }, async () => {
  const page = await browser.newPage();
  const log = watch(page);
  await page.goto(`${siteOrigin}/?flow=redirect`);
  await page.waitForFunction(() => window.mcpauthResult, null, { timeout: 20000 }).catch(() => {});
  const result = await page.evaluate(() => window.mcpauthResult);
  await page.screenshot({ path: join(artifacts, 'browser-redirect.png') });
  assert.ok(result, `no result; page log:\n${log.join('\n')}`);
  assert.equal(result.error, undefined, log.join('\n'));
  assert.equal(result.status, 200);
  assert.equal(result.text, 'hello from redirect');
  assert.equal(result.refreshed, true, 'refreshed in the page');
  assert.equal(result.afterRefresh, 'after refresh');
  assert.equal(new URL(page.url()).search, '', 'code and state removed from the address bar');
  const stored = await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('mcpauth:')));
  assert.ok(stored.some((k) => k.includes('grant')), `grant persisted in localStorage: ${stored}`);
  const pendingLeft = await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes('pending#')));
  assert.deepEqual(pendingLeft, [], 'the pending authorization was used up');
  await page.close();
});

test('popup: the callback page posts to the opener, which completes the login', { skip }, async () => {
  const page = await browser.newPage();
  const log = watch(page);
  await page.evaluate(() => localStorage.clear()).catch(() => {});
  await page.goto(`${siteOrigin}/?flow=popup`);
  await page.evaluate(() => localStorage.clear());
  await page.waitForSelector('#popup:not([hidden])');
  const popupOpened = page.waitForEvent('popup');
  await page.click('#popup');
  const popup = await popupOpened;
  const popupClosed = popup.waitForEvent('close', { timeout: 20000 });
  await page.waitForFunction(() => window.mcpauthResult, null, { timeout: 20000 }).catch(() => {});
  const result = await page.evaluate(() => window.mcpauthResult);
  await page.screenshot({ path: join(artifacts, 'browser-popup.png') });
  assert.ok(result, `no result; page log:\n${log.join('\n')}`);
  assert.equal(result.error, undefined, log.join('\n'));
  assert.equal(result.text, 'hello from popup');
  await popupClosed;
  assert.equal(new URL(page.url()).pathname, '/', 'the app page never navigated');
  await page.close();
});

test('popup: a message from anything but the popup is ignored, and closing the popup rejects with POPUP_CLOSED', { skip }, async () => {
  const page = await browser.newPage();
  const log = watch(page);
  // Hold the authorization request, so the popup stays open until the test closes it.
  const hold = (route) => void route;
  await browser.route('**/authorize?**', hold);
  try {
    await page.goto(`${siteOrigin}/?flow=popup`);
    await page.waitForSelector('#popup:not([hidden])');
    const popupOpened = page.waitForEvent('popup');
    await page.click('#popup');
    const popup = await popupOpened;
    // A forged callback posted by the page itself: right shape, right origin, wrong source.
    await page.evaluate(() =>
      window.postMessage({ type: 'mcpauth:callback', url: `${location.origin}/callback?code=forged&state=forged` }, location.origin),
    );
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.mcpauthResult), undefined, 'the forged message was ignored');
    await popup.close();
    await page.waitForFunction(() => window.mcpauthResult, null, { timeout: 5000 });
    const result = await page.evaluate(() => window.mcpauthResult);
    assert.equal(result.error, 'POPUP_CLOSED', log.join('\n'));
    const pendingLeft = await page.evaluate(() => Object.keys(sessionStorage).filter((k) => k.includes('pending#')));
    assert.deepEqual(pendingLeft, [], 'the abandoned login was forgotten');
  } finally {
    await browser.unroute('**/authorize?**', hold);
    await page.close();
  }
});

test('DPoP redirect login: the key in IndexedDB cannot be exported, and after a page reload it still signs proofs the server accepts', { skip }, async () => {
  const page = await browser.newPage();
  const log = watch(page);
  const result = async () => {
    await page.waitForFunction(() => window.mcpauthResult, null, { timeout: 20000 }).catch(() => {});
    const r = await page.evaluate(() => window.mcpauthResult);
    assert.ok(r, `no result; page log:\n${log.join('\n')}`);
    assert.equal(r.error, undefined, log.join('\n'));
    return r;
  };
  const accepted = async () => (await devApi('stats')).dpop_proofs_accepted;
  const before = await accepted();

  await page.goto(`${siteOrigin}/?flow=dpop`);
  const first = await result();
  await page.screenshot({ path: join(artifacts, 'browser-dpop.png') });
  assert.equal(first.stage, 'after login');
  assert.equal(first.tokenType, 'DPoP', 'the server bound the token to the key');
  assert.equal(first.keyKind, 'stored', 'the grant record holds only the key id');
  assert.equal(first.extractable, false);
  assert.equal(first.exported, null, 'crypto.subtle.exportKey refuses the stored private key');
  assert.equal(first.status, 200);
  assert.equal(first.text, 'dpop after login');
  const afterLogin = await accepted();
  assert.ok(afterLogin >= before + 2, `proofs at the token endpoint and the MCP endpoint (${before} -> ${afterLogin})`);

  // A new page load, then a reload: the module starts from nothing but the storage and IndexedDB.
  await page.goto(`${siteOrigin}/?flow=dpop-call`);
  const loaded = await result();
  await page.reload();
  const reloaded = await result();
  for (const r of [loaded, reloaded]) {
    assert.equal(r.stage, 'after a page load');
    assert.equal(r.keyId, first.keyId, 'the same key');
    assert.equal(r.exported, null);
    assert.equal(r.status, 200, 'the server accepted the proof');
    assert.equal(r.text, 'dpop after a page load');
  }
  assert.ok((await accepted()) >= afterLogin + 4, 'each MCP request of both page loads carried an accepted proof');
  await page.close();
});
