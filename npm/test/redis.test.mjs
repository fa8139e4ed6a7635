// mcpauth/redis against a real Redis: Debian's redis-server on 127.0.0.1, on a free port with a
// temporary directory, stopped by pid. Records and their sealed format (checked against an
// independent XChaCha20-Poly1305 built from node:crypto, and against a record the Rust file
// store sealed), the lock (exclusion, renewal, compare-and-delete, fencing), and one refresh
// for several processes sharing a grant on the dev server.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

import { createClient } from 'redis';

import { McpAuth, McpAuthError } from './helpers.mjs';
import { login, redisForThisFile, startDevserver } from './redis-servers.mjs';

const dist = process.env.MCPAUTH_NPM_DIST ? pathToFileURL(`${process.env.MCPAUTH_NPM_DIST}/`) : new URL('../dist/', import.meta.url);
const { RedisStorage, sealRecord, openRecord, guardedRecord } = await import(new URL('redis.js', dist).href);

const STORE_KEY = randomBytes(32);
const MAGIC = Buffer.from('MCPAUTH\x01', 'latin1');

const redis = redisForThisFile();

/** A RedisStorage on its own connection (as a replica would have). */
async function openStore(namespace, options = {}) {
  const client = await createClient({ url: redis.url }).connect();
  const store = new RedisStorage({ client, namespace, key: STORE_KEY, ...options });
  return { store, client, close: () => client.close() };
}

/** The raw bytes under a Redis key. */
const rawGet = (key) => redis.raw.withTypeMapping({ 36: Buffer }).get(key);

// ----- an independent XChaCha20-Poly1305 (draft-irtf-cfrg-xchacha): HChaCha20 here, then
// node:crypto's ChaCha20-Poly1305 (RFC 8439) with the subkey. Not the code under test. -----------

function hchacha20(key, nonce16) {
  const s = new Uint32Array(16);
  s.set([0x61707865, 0x3320646e, 0x79622d32, 0x6b206574]);
  for (let i = 0; i < 8; i++) s[4 + i] = key.readUInt32LE(4 * i);
  for (let i = 0; i < 4; i++) s[12 + i] = nonce16.readUInt32LE(4 * i);
  const rotl = (v, n) => ((v << n) | (v >>> (32 - n))) >>> 0;
  const qr = (a, b, c, d) => {
    s[a] += s[b]; s[d] = rotl(s[d] ^ s[a], 16);
    s[c] += s[d]; s[b] = rotl(s[b] ^ s[c], 12);
    s[a] += s[b]; s[d] = rotl(s[d] ^ s[a], 8);
    s[c] += s[d]; s[b] = rotl(s[b] ^ s[c], 7);
  };
  for (let i = 0; i < 10; i++) {
    qr(0, 4, 8, 12); qr(1, 5, 9, 13); qr(2, 6, 10, 14); qr(3, 7, 11, 15);
    qr(0, 5, 10, 15); qr(1, 6, 11, 12); qr(2, 7, 8, 13); qr(3, 4, 9, 14);
  }
  const out = Buffer.alloc(32);
  [0, 1, 2, 3, 12, 13, 14, 15].forEach((w, i) => out.writeUInt32LE(s[w], 4 * i));
  return out;
}

function xchachaOpen(key, nonce24, aad, sealed) {
  const subkey = hchacha20(Buffer.from(key), nonce24.subarray(0, 16));
  const nonce12 = Buffer.concat([Buffer.alloc(4), nonce24.subarray(16)]);
  const decipher = createDecipheriv('chacha20-poly1305', subkey, nonce12, { authTagLength: 16 });
  decipher.setAAD(aad, { plaintextLength: sealed.length - 16 });
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
}

/** Splits a record by the file store's format rules (native/src/store/file.rs). */
function fields(record) {
  const keyLen = record.readUInt32BE(8);
  return {
    magic: record.subarray(0, 8),
    key: record.subarray(12, 12 + keyLen).toString('utf8'),
    nonce: record.subarray(12 + keyLen, 12 + keyLen + 24),
    ciphertext: record.subarray(12 + keyLen + 24),
  };
}

test('the test XChaCha20 is right: HChaCha20 gives the draft-irtf-cfrg-xchacha §2.2.1 vector', () => {
  const key = Buffer.from([...Array(32).keys()]);
  const nonce = Buffer.from('000000090000004a0000000031415927', 'hex');
  assert.equal(hchacha20(key, nonce).toString('hex'), '82413b4227b27bfed30e42508a877d73a0f9e4d58a74a853c12ec41326d3ecdc');
});

// ----- records -----------------------------------------------------------------------------------

test('records round-trip under mcpauth:<namespace>:<key>, and namespaces keep tenants apart', async () => {
  const a = await openStore('tenant-a');
  const b = await openStore('tenant-b');
  try {
    const key = 'grant#https://mcp.example/mcp#alice';
    assert.equal(await a.store.get(key), undefined);
    await a.store.set(key, '{"v":1,"who":"alice ✓"}');
    assert.equal(await a.store.get(key), '{"v":1,"who":"alice ✓"}');
    assert.equal(await b.store.get(key), undefined, 'another namespace sees nothing');
    assert.ok(await rawGet(`mcpauth:tenant-a:${key}`), 'stored under mcpauth:<namespace>:<record key>');
    await b.store.set(key, '{"v":1,"who":"bob"}');
    assert.equal(await a.store.get(key), '{"v":1,"who":"alice ✓"}');
    await a.store.delete(key);
    await a.store.delete(key); // deleting a missing key is not an error
    assert.equal(await a.store.get(key), undefined);
    assert.equal(await b.store.get(key), '{"v":1,"who":"bob"}');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a stored value is sealed: header, key, nonce, ciphertext; a copy under another key or another store key fails with STORE', async () => {
  const { store, close } = await openStore('sealed');
  try {
    const key = 'grant#https://mcp.example/mcp';
    const value = '{"v":1,"refresh_token":"rt-very-secret"}';
    await store.set(key, value);
    const record = await rawGet(`mcpauth:sealed:${key}`);
    const f = fields(record);
    assert.deepEqual(f.magic, MAGIC);
    assert.equal(f.key, key);
    assert.equal(f.ciphertext.length, Buffer.byteLength(value) + 16, 'the ciphertext and a 16-byte tag');
    assert.ok(!record.includes(Buffer.from('rt-very-secret')), 'no plaintext in Redis');
    assert.equal(xchachaOpen(STORE_KEY, f.nonce, Buffer.from(key), f.ciphertext).toString(), value, 'opens with the format rules');

    await store.set(key, value);
    assert.notDeepEqual(fields(await rawGet(`mcpauth:sealed:${key}`)).nonce, f.nonce, 'a fresh nonce per save');

    const other = 'grant#https://other.example/mcp';
    await redis.raw.set(`mcpauth:sealed:${other}`, record);
    await assert.rejects(store.get(other), (e) => e instanceof McpAuthError && e.code === 'STORE' && /record of another key/.test(e.message));

    // The header rewritten to the other key: the associated data no longer matches.
    const len = Buffer.alloc(4);
    len.writeUInt32BE(Buffer.byteLength(other));
    await redis.raw.set(`mcpauth:sealed:${other}`, Buffer.concat([MAGIC, len, Buffer.from(other), f.nonce, f.ciphertext]));
    await assert.rejects(store.get(other), (e) => e.code === 'STORE' && /cannot decrypt/.test(e.message));

    const flipped = Buffer.from(record);
    flipped[flipped.length - 1] ^= 1;
    await redis.raw.set(`mcpauth:sealed:${key}`, flipped);
    await assert.rejects(store.get(key), (e) => e.code === 'STORE' && /cannot decrypt/.test(e.message));

    await store.set(key, value);
    const wrongKey = new RedisStorage({ client: redis.raw, namespace: 'sealed', key: randomBytes(32) });
    await assert.rejects(wrongKey.get(key), (e) => e.code === 'STORE' && /store key/.test(e.message));

    await redis.raw.set(`mcpauth:sealed:${key}`, 'not a record');
    await assert.rejects(store.get(key), (e) => e.code === 'STORE' && /not a mcpauth record/.test(e.message));
  } finally {
    await close();
  }
});

// Printed by a scratch program calling FileStore::with_key(dir, &[7; 32]) and save(key, value)
// on the native crate at the commit this test was written on; any change to the format breaks it.
const RUST_RECORD =
  '4d43504155544801000000226772616e742368747470733a2f2f6d63702e6578616d706c652f6d637023776f726ba7f7e30a39f272d2c13c47671846f05622f2a9b1177e376f17da83d2d309c6b306cd4d6399bc16785fe6635127fa49a0b3f5ace35ae3a64da43fdcf4f2096412f930';

test('a record sealed by the Rust file store opens here, and one sealed here opens by its format rules', () => {
  // native/src/store/file.rs (FileStore::with_key, key = 32 bytes of 7) saved this record.
  const rustKey = Buffer.alloc(32, 7);
  const fromRust = Buffer.from(RUST_RECORD, 'hex');
  const key = 'grant#https://mcp.example/mcp#work';
  assert.equal(new TextDecoder().decode(openRecord(rustKey, key, fromRust)), '{"v":1,"sealed_by":"rust"}');

  const sealed = sealRecord(rustKey, key, Buffer.from('{"v":1,"sealed_by":"node"}'));
  const f = fields(sealed);
  assert.deepEqual(f.magic, MAGIC);
  assert.equal(sealed.readUInt32BE(8), Buffer.byteLength(key));
  assert.equal(f.key, key);
  assert.equal(f.nonce.length, 24);
  assert.equal(xchachaOpen(rustKey, f.nonce, Buffer.from(key), f.ciphertext).toString(), '{"v":1,"sealed_by":"node"}');
});

test('a malformed store key or namespace is refused with CONFIG, naming the field', () => {
  const bad = (options, pattern) =>
    assert.throws(() => new RedisStorage({ client: redis.raw, namespace: 'n', key: STORE_KEY, ...options }), (e) => e.code === 'CONFIG' && pattern.test(e.message));
  bad({ key: randomBytes(16) }, /"key" must be 32 bytes/);
  bad({ key: 'not*base64*at*all*but*long*enough*to*be*32*bytes=' }, /"key" must be 32 bytes in base64/);
  bad({ namespace: 'a:b' }, /"namespace"/);
  bad({ namespace: 'n'.repeat(65) }, /"namespace"/);
  bad({ leaseMs: 29 }, /"leaseMs" .* at least 30/);
  bad({ namespace: '' }, /"namespace"/);
  assert.ok(new RedisStorage({ client: redis.raw, namespace: 'n', key: STORE_KEY.toString('base64') }));
});

test('with grantTtlMs, grants expire after their last save, fenced or not; other records do not', async () => {
  const { store, close } = await openStore('ttl', { grantTtlMs: 60_000 });
  try {
    await store.set('grant#https://mcp.example/mcp', '{"v":1}');
    await store.set('client#https://as.example#code', '{"v":1}');
    const ttl = (key) => redis.raw.pTTL(`mcpauth:ttl:${key}`);
    assert.ok((await ttl('grant#https://mcp.example/mcp')) > 50_000);
    assert.equal(await ttl('client#https://as.example#code'), -1, 'no expiry');
    const release = await store.acquire('refresh#https://mcp.example/mcp#bob');
    await store.set('grant#https://mcp.example/mcp#bob', '{"v":1}');
    assert.ok((await ttl('grant#https://mcp.example/mcp#bob')) > 50_000, 'a fenced save expires too');
    await release();
    await assert.rejects(store.set('lock:refresh#x', '{}'), (e) => e.code === 'STORE' && /name locks/.test(e.message));
  } finally {
    await close();
  }
});

// ----- the lock ----------------------------------------------------------------------------------

test('the lock excludes other holders, times out with STORE, and is released only by its holder', async () => {
  const a = await openStore('locks', { acquireTimeoutMs: 150 });
  const b = await openStore('locks', { acquireTimeoutMs: 150 });
  const lockKey = 'mcpauth:locks:lock:refresh#https://mcp.example/mcp';
  try {
    const releaseA = await a.store.acquire('refresh#https://mcp.example/mcp');
    const token = await redis.raw.get(lockKey);
    assert.match(token, /^[0-9a-f]{32}$/);
    assert.ok((await redis.raw.pTTL(lockKey)) > 0, 'a lease, not a forever lock');
    await assert.rejects(b.store.acquire('refresh#https://mcp.example/mcp'), (e) => e.code === 'STORE' && /acquireTimeoutMs/.test(e.message));
    const releaseOther = await b.store.acquire('refresh#https://other.example/mcp');
    await releaseOther();

    // Compare-and-delete: once the lock is someone else's, A's release leaves it alone.
    await redis.raw.set(lockKey, 'someone-else');
    await releaseA();
    assert.equal(await redis.raw.get(lockKey), 'someone-else');
    await redis.raw.del(lockKey);

    const releaseB = await b.store.acquire('refresh#https://mcp.example/mcp');
    await releaseB();
    assert.equal(await redis.raw.exists(lockKey), 0, 'released by its holder');
  } finally {
    await a.close();
    await b.close();
  }
});

test('a waiting holder gets the lock once it is released, and a held lease is renewed', async () => {
  // Real time: Redis expires keys on its own clock. A 150 ms lease, renewed every 50 ms.
  const a = await openStore('renew', { leaseMs: 150 });
  const b = await openStore('renew', { leaseMs: 150, acquireTimeoutMs: 5_000 });
  try {
    const releaseA = await a.store.acquire('refresh#https://mcp.example/mcp');
    let bHolds = false;
    const waiting = b.store.acquire('refresh#https://mcp.example/mcp').then((release) => ((bHolds = true), release));
    await delay(450); // three leases
    assert.equal(bHolds, false, 'the renewed lease still excludes B');
    await releaseA();
    const releaseB = await waiting;
    await releaseB();
  } finally {
    await a.close();
    await b.close();
  }
});

test('fencing: after its lease lapsed, a holder cannot overwrite the grant the next holder saved', async () => {
  const a = await openStore('fence', { leaseMs: 60_000 });
  const b = await openStore('fence');
  const server = 'https://mcp.example/mcp#alice';
  const grant = `grant#${server}`;
  assert.equal(guardedRecord(`refresh#${server}`), grant);
  try {
    const releaseA = await a.store.acquire(`refresh#${server}`);
    await a.store.set(grant, '{"v":1,"by":"a, holding"}');
    assert.equal(await b.store.get(grant), '{"v":1,"by":"a, holding"}', 'a holder saves');

    // A pauses past its lease: the lock expires, and B takes it and saves.
    await redis.raw.pExpire(`mcpauth:fence:lock:refresh#${server}`, 1);
    const releaseB = await b.store.acquire(`refresh#${server}`);
    await b.store.set(grant, '{"v":1,"by":"b"}');

    await assert.rejects(a.store.set(grant, '{"v":1,"by":"a, late"}'), (e) => e instanceof McpAuthError && e.code === 'STORE' && /lock .* was lost/.test(e.message));
    await assert.rejects(a.store.delete(grant), (e) => e.code === 'STORE');
    assert.equal(await b.store.get(grant), '{"v":1,"by":"b"}', "B's grant stands");
    await a.store.set('client#https://as.example#code', '{"v":1}'); // records no lock guards are not fenced

    await releaseA();
    await releaseB();
  } finally {
    await a.close();
    await b.close();
  }
});

// ----- McpAuth over Redis, with the dev server ---------------------------------------------------

const EXPIRED_MS = 2 * 3600 * 1000;

// Four replicas, twenty-five callers each, on one expired grant, at token lifetimes of 2 s, 20 s
// and 1 h. The workers' clocks stand still at one instant just past the token's expiry, so a
// slow machine cannot age a 2 s token further while they wait for the lock.
for (const lifetimeMs of [2_000, 20_000, 3_600_000]) {
  test(`four processes over one Redis, twenty-five concurrent callers each, make one refresh of an expired grant (${lifetimeMs / 1000} s tokens)`, { timeout: 60_000 }, async () => {
    const server = await startDevserver();
    const namespace = `replicas${lifetimeMs}`;
    const { store, close } = await openStore(namespace);
    try {
      await server.dev('faults', { access_token_ttl_ms: lifetimeMs });
      const start = Date.now();
      const grant = await login(new McpAuth({ storage: store, lock: store, now: () => start }), server.mcp);
      const pastExpiry = lifetimeMs + 1_000;
      await server.dev('clock', { advance_ms: pastExpiry });
      const config = {
        redisUrl: redis.url,
        namespace,
        key: STORE_KEY.toString('base64'),
        mcp: server.mcp,
        nowMs: start + pastExpiry,
        concurrent: 25,
        dist: dist.href,
      };
      const workers = Array.from({ length: 4 }, () => fork(join(import.meta.dirname, 'redis-worker.mjs'), [JSON.stringify(config)], { stdio: 'inherit' }));
      const answers = workers.map((w) => new Promise((resolve, reject) => {
        const messages = [];
        w.on('message', (m) => messages.push(m));
        w.once('exit', (code) => (code === 0 ? resolve(messages) : reject(new Error(`worker exited ${code}`))));
      }));
      // Start them together: each says ready once connected.
      await Promise.all(workers.map((w) => new Promise((ok) => w.once('message', ok))));
      for (const w of workers) w.send('go');
      const results = (await Promise.all(answers)).map((messages) => messages.at(-1));
      for (const r of results) assert.equal(r.error, undefined, r.error);
      const tokens = results.flatMap((r) => r.tokens);
      assert.equal(tokens.length, 100);
      assert.ok(tokens.every((t) => t === tokens[0]), 'every caller in every process got the one refreshed token');
      assert.notEqual(tokens[0], grant.tokens.access_token, 'a new token');
      const stats = await server.dev('stats');
      assert.equal(stats.refreshes, 1, 'one refresh');
      assert.equal(stats.refresh_reuse_detected, 0);
      assert.equal((await redis.raw.keys(`mcpauth:${namespace}:lock:*`)).length, 0, 'every lock released');
    } finally {
      await close();
      server.child.kill();
    }
  });
}

test('a refresh whose lock was lost before the save fails with STORE and leaves the new holder\'s grant', { timeout: 30_000 }, async () => {
  const server = await startDevserver();
  const { store, close } = await openStore('lost');
  try {
    await login(new McpAuth({ storage: store, lock: store }), server.mcp);
    await server.dev('clock', { advance_ms: EXPIRED_MS });
    const [grantKey] = await redis.raw.keys('mcpauth:lost:grant#*');
    const before = await rawGet(grantKey);
    let stolen;
    // Another holder takes over the moment this one has the lock, as after a lapsed lease.
    const thief = {
      acquire: async (name) => {
        const release = await store.acquire(name);
        stolen = `mcpauth:lost:lock:${name}`;
        await redis.raw.set(stolen, 'another-holder');
        return release;
      },
    };
    const auth = new McpAuth({ storage: store, lock: thief, now: () => Date.now() + EXPIRED_MS });
    await assert.rejects(auth.accessToken(server.mcp), (e) => e instanceof McpAuthError && e.code === 'STORE' && /was lost/.test(e.message));
    assert.equal((await server.dev('stats')).refreshes, 1, 'the refresh was made');
    assert.deepEqual(await rawGet(grantKey), before, 'the grant is not overwritten by the holder that lost the lock');
    assert.equal(await redis.raw.get(stolen), 'another-holder', "the other holder's lock is not released");
  } finally {
    await close();
    server.child.kill();
  }
});
