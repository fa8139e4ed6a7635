// The fast path of authFetch, against the small local server of the benchmark
// (npm/bench/local-server.mjs: a client credentials token endpoint and a protected /mcp): a
// token the core lets the client send again is sent with one call into the core and no
// Request clone; a 401 still goes through the core (a new token, the same body sent again, a
// stream body included); a logout here drops the remembered token at once, one elsewhere is
// seen once the core's deadline has passed. And importing the package instantiates nothing.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';

import { McpAuth, MemoryStorage } from './helpers.mjs';
import { CLIENT, startLocalServer } from '../bench/local-server.mjs';

const distUrl = process.env.MCPAUTH_NPM_DIST ? pathToFileURL(`${process.env.MCPAUTH_NPM_DIST}/`) : new URL('../dist/', import.meta.url);
const { bindings } = await import(new URL('wasm.js', distUrl).href);

/** Every call into the WebAssembly core, by export name, while counting. */
const crossings = [];
for (const name of Object.keys(bindings)) {
  const inner = bindings[name];
  if (typeof inner !== 'function' || name === 'default' || name === 'initSync') continue;
  bindings[name] = (...args) => {
    crossings.push(name);
    return inner(...args);
  };
}

/** `Request.prototype.clone` calls, while counting. */
let clones = 0;
const clone = Request.prototype.clone;
Request.prototype.clone = function countedClone() {
  clones++;
  return clone.call(this);
};

let server;
before(async () => {
  server = await startLocalServer();
});
after(async () => {
  Request.prototype.clone = clone;
  await server?.close();
});

const BODY = '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}';
const post = (body = BODY) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body });

/** A client with a machine grant (it logs in by itself) and a clock the test moves. */
async function machineClient(storage = new MemoryStorage()) {
  const clock = { now: Date.now() };
  const auth = new McpAuth({ grant: { kind: 'client_credentials' }, preRegistered: CLIENT, storage, now: () => clock.now });
  await auth.login(server.mcp);
  return { auth, clock, storage };
}

/** Counts the crossings and clones of `run`. */
async function counted(run) {
  crossings.length = 0;
  clones = 0;
  const result = await run();
  return { result, crossings: [...crossings], clones };
}

test('a remembered token is sent with exactly one call into the core and no Request clone', async () => {
  const { auth } = await machineClient();
  const mcp = auth.authFetch();
  // The first request reads the grant through the core, which allows its token to be reused.
  const first = await counted(() => mcp(server.mcp, post()));
  assert.equal(first.result.status, 200);
  assert.ok(first.crossings.includes('machine_reuse'), 'the core says until when the token may be reused');
  for (let i = 0; i < 3; i++) {
    const next = await counted(() => mcp(server.mcp, post()));
    assert.equal(next.result.status, 200);
    assert.deepEqual(next.crossings, ['protected_reused'], 'one crossing: the core judges the answer');
    assert.equal(next.clones, 0, 'a string body is not cloned');
  }
  const seen = server.seen.at(-1);
  assert.equal(seen.body, BODY);
  assert.equal(seen.authorization, `Bearer ${await auth.accessToken(server.mcp)}`);
});

test('a 401 to a remembered token goes to the core: a new token, and the same body sent again without a clone', async () => {
  const { auth } = await machineClient();
  const mcp = auth.authFetch();
  await mcp(server.mcp, post());
  const before = server.tokenCalls;
  const old = server.seen.at(-1).authorization;
  server.revokeAll();
  const body = new URLSearchParams({ a: '1', b: 'two' });
  const { result, clones: cloned } = await counted(() => mcp(server.mcp, { method: 'POST', body }));
  assert.equal(result.status, 200);
  assert.equal(server.tokenCalls, before + 1, 'one new token, obtained without a user');
  const [refused, resent] = server.seen.slice(-2);
  assert.equal(refused.authorization, old);
  assert.notEqual(resent.authorization, old);
  assert.equal(refused.body, 'a=1&b=two');
  assert.equal(resent.body, 'a=1&b=two', 'the same body, sent again');
  assert.equal(cloned, 0, 'a body that can be sent twice is not cloned');
  // The new token is the remembered one now.
  const next = await counted(() => mcp(server.mcp, post()));
  assert.deepEqual(next.crossings, ['protected_reused']);
  assert.equal(server.seen.at(-1).authorization, resent.authorization);
});

test('a stream body is cloned, and sent again whole after a 401', async () => {
  const { auth } = await machineClient();
  const mcp = auth.authFetch();
  await mcp(server.mcp, post());
  server.revokeAll();
  const stream = new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"part":1,'));
      controller.enqueue(new TextEncoder().encode('"part2":2}'));
      controller.close();
    },
  });
  const { result, clones: cloned } = await counted(() => mcp(server.mcp, { method: 'POST', body: stream, duplex: 'half' }));
  assert.equal(result.status, 200);
  const [refused, resent] = server.seen.slice(-2);
  assert.equal(refused.body, '{"part":1,"part2":2}');
  assert.equal(resent.body, '{"part":1,"part2":2}');
  assert.ok(cloned >= 1, 'a stream is cloned to be sent again');
});

test('a logout through the client drops the remembered token at once', async () => {
  const storage = new MemoryStorage();
  await machineClient(storage);
  // No machine grant and no hook: nothing logs in again behind the test's back.
  const user = new McpAuth({ storage });
  const mcp = user.authFetch();
  assert.equal((await mcp(server.mcp, post())).status, 200);
  await user.logout(server.mcp, { revoke: false });
  const sent = server.seen.length;
  await assert.rejects(mcp(server.mcp, post()), { code: 'LOGIN_REQUIRED' });
  assert.equal(server.seen.length, sent, 'the forgotten token is not sent');
});

test('a login through the client replaces the remembered token at once', async () => {
  const { auth } = await machineClient();
  const mcp = auth.authFetch();
  await mcp(server.mcp, post());
  const old = server.seen.at(-1).authorization;
  await auth.login(server.mcp);
  await mcp(server.mcp, post());
  const now = server.seen.at(-1).authorization;
  assert.notEqual(now, old);
  assert.equal(now, `Bearer ${await auth.accessToken(server.mcp)}`);
});

test("another client's logout is seen once the core's reuse deadline has passed", async () => {
  const storage = new MemoryStorage();
  await machineClient(storage);
  const clock = { now: Date.now() };
  const user = new McpAuth({ storage, now: () => clock.now });
  const mcp = user.authFetch();
  await mcp(server.mcp, post());
  await new McpAuth({ storage }).logout(server.mcp, { revoke: false });
  // Within the deadline the remembered token is still sent (the server still takes it)...
  const within = await counted(() => mcp(server.mcp, post()));
  assert.equal(within.result.status, 200);
  assert.deepEqual(within.crossings, ['protected_reused']);
  // ... past it (30 s at most), the core reads the store again, and finds the logout.
  clock.now += 30_001;
  const sent = server.seen.length;
  const past = counted(() => mcp(server.mcp, post()));
  await assert.rejects(past, { code: 'LOGIN_REQUIRED' });
  assert.ok(crossings.includes('machine_new'), 'the core ran the access decision again');
  assert.equal(server.seen.length, sent);
});

test('importing the package instantiates nothing; concurrent first uses share one instantiation', () => {
  const index = new URL('index.js', distUrl).href;
  const core = new URL('core.js', distUrl).href;
  const script = `
    let instances = 0;
    const Instance = WebAssembly.Instance;
    WebAssembly.Instance = new Proxy(Instance, { construct(target, args) { instances++; return Reflect.construct(target, args); } });
    const instantiate = WebAssembly.instantiate;
    WebAssembly.instantiate = (...args) => { instances++; return instantiate(...args); };
    const { McpAuth } = await import(${JSON.stringify(index)});
    const { ready } = await import(${JSON.stringify(core)});
    const atImport = instances;
    const auth = new McpAuth();
    await Promise.all([ready(), ready(), auth.status('https://mcp.example/mcp'), auth.grant('https://mcp.example/mcp')]);
    await ready();
    process.stdout.write(JSON.stringify({ atImport, after: instances }));
  `;
  const out = JSON.parse(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
  assert.deepEqual(out, { atImport: 0, after: 1 });
});

test('a request in flight with a remembered token is still judged after a login replaced the token', async () => {
  const { auth } = await machineClient();
  let hold;
  const mcp = auth.authFetch(async (input, init) => {
    if (hold) await hold;
    return fetch(input, init);
  });
  await mcp(server.mcp, post());
  let release;
  hold = new Promise((resolve) => (release = resolve));
  const inFlight = mcp(server.mcp, post());
  await auth.login(server.mcp); // saves a new grant: the remembered token is dropped meanwhile
  hold = undefined;
  release();
  assert.equal((await inFlight).status, 200);
  assert.equal((await mcp(server.mcp, post())).status, 200);
  assert.equal(server.seen.at(-1).authorization, `Bearer ${await auth.accessToken(server.mcp)}`);
});
