// Signing the JWTs the core writes, with WebCrypto (npm/src/signing.ts): DPoP keys made in
// Node (extractable, their private scalar in the record) and read back from a record, client
// keys from PEM and JWK (ES256, RS256), the compact JWS placed in a header or appended to the
// form as the core says, and the refusals (a DER-sized ES256 signature, keys that cannot sign).
// Every signature is verified with the public key.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';

const dist = process.env.MCPAUTH_NPM_DIST ?? new URL('../dist', import.meta.url).pathname;
const { compactJws, importClientKey, newDpopKey, signTransmit, webCryptoSigner } = await import(`${dist}/signing.js`);
const { McpAuthError } = await import(`${dist}/errors.js`);

const { subtle } = globalThis.crypto;
const b64url = (bytes) => Buffer.from(bytes).toString('base64url');
const json = (part) => JSON.parse(Buffer.from(part, 'base64url').toString());
const P256 = { name: 'ECDSA', namedCurve: 'P-256' };

/** A dated JWT as the boundary hands it over. */
function signing(key, alg, place, header = { typ: 'JWT' }, claims = { iss: 'c', jti: 'j', iat: 1 }) {
  const input = `${b64url(JSON.stringify({ alg, ...header }))}.${b64url(JSON.stringify(claims))}`;
  return { key, alg, input, place };
}

/** Verifies a compact JWS with a public key; resolves to its header and claims. */
async function verify(jws, publicKey) {
  const [h, c, s] = jws.split('.');
  const header = json(h);
  const params = header.alg === 'ES256' ? { name: 'ECDSA', hash: 'SHA-256' } : { name: 'RSASSA-PKCS1-v1_5' };
  const ok = await subtle.verify(params, publicKey, Buffer.from(s, 'base64url'), new TextEncoder().encode(`${h}.${c}`));
  assert.ok(ok, 'the signature verifies with the public key');
  return { header, claims: json(c) };
}

const noClientKey = webCryptoSigner(async () => undefined);

test('a DPoP key made in Node keeps its private scalar in the record, and its proofs verify with its public JWK', async () => {
  const key = await newDpopKey();
  assert.equal(key.jwk.crv, 'P-256');
  assert.equal(key.private.kind, 'jwk');
  assert.equal(Buffer.from(key.private.d, 'base64url').length, 32);
  const proof = signing({ kind: 'dpop', key: key.private }, 'ES256', { kind: 'header', name: 'dpop' }, { typ: 'dpop+jwt' });
  const transmit = { headers: [['accept', 'application/json']], body: 'grant_type=x', signings: [proof] };
  const signed = await signTransmit(transmit, noClientKey);
  assert.equal(signed.body, 'grant_type=x', 'a header JWS leaves the body alone');
  assert.deepEqual(signed.headers[0], ['accept', 'application/json']);
  const [name, jws] = signed.headers[1];
  assert.equal(name, 'dpop');
  assert.ok(jws.startsWith(`${proof.input}.`), 'the core wrote the header and claims; only the signature is added');
  const publicKey = await subtle.importKey('jwk', { kty: 'EC', ...key.jwk }, P256, false, ['verify']);
  const { header } = await verify(jws, publicKey);
  assert.equal(header.typ, 'dpop+jwt');
  assert.equal(Buffer.from(jws.split('.')[2], 'base64url').length, 64, 'ES256 is the raw r || s');
});

test('a DPoP key read back from a record (its scalar only, as after a restart) signs as the key it was made as', async () => {
  const pair = await subtle.generateKey(P256, true, ['sign', 'verify']);
  const { d } = await subtle.exportKey('jwk', pair.privateKey);
  const proof = signing({ kind: 'dpop', key: { kind: 'jwk', d } }, 'ES256', { kind: 'header', name: 'dpop' });
  const jws = await compactJws(proof, noClientKey);
  await verify(jws, pair.publicKey);
});

test('two DPoP keys are two keys: a fresh one per login', async () => {
  const [a, b] = await Promise.all([newDpopKey(), newDpopKey()]);
  assert.notEqual(a.jwk.x, b.jwk.x);
  assert.notEqual(a.private.d, b.private.d);
});

test('private_key_jwt: a PKCS#8 PEM P-256 key signs ES256 and an RSA JWK signs RS256, appended to the form as the core places them', async () => {
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = ec.privateKey.export({ type: 'pkcs8', format: 'pem' });
  const jwk = rsa.privateKey.export({ format: 'jwk' });
  for (const [clientKey, alg, publicKey] of [
    [pem, 'ES256', await subtle.importKey('spki', ec.publicKey.export({ type: 'spki', format: 'der' }), P256, false, ['verify'])],
    [jwk, 'RS256', await subtle.importKey('jwk', rsa.publicKey.export({ format: 'jwk' }), { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify'])],
  ]) {
    const imported = await importClientKey(clientKey);
    assert.equal(imported.alg, alg);
    assert.equal(imported.key.extractable, false, 'imported non-extractable');
    const sign = webCryptoSigner(async () => imported);
    const assertion = signing({ kind: 'client' }, alg, { kind: 'form', name: 'client_assertion' });
    const signed = await signTransmit({ headers: [], body: 'grant_type=client_credentials', signings: [assertion] }, sign);
    const form = new URLSearchParams(signed.body);
    assert.equal(form.get('grant_type'), 'client_credentials');
    const { header } = await verify(form.get('client_assertion'), publicKey);
    assert.equal(header.alg, alg);
    // Into an empty body, the field is the whole form.
    const alone = await signTransmit({ headers: [], body: null, signings: [assertion] }, sign);
    assert.match(alone.body, /^client_assertion=[\w-]+\.[\w-]+\.[\w-]+$/);
  }
});

test('a client key that cannot sign ES256 or RS256, or is not private, is refused with NO_SIGNING_KEY', async () => {
  const ed = generateKeyPairSync('ed25519');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  for (const bad of [
    ed.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    ec.privateKey.export({ type: 'sec1', format: 'pem' }),
    ec.publicKey.export({ format: 'jwk' }),
    { ...ec.privateKey.export({ format: 'jwk' }), crv: 'P-384' },
  ]) {
    await assert.rejects(importClientKey(bad), (e) => e instanceof McpAuthError && e.code === 'NO_SIGNING_KEY');
  }
  // A client assertion asked for with no client key configured.
  const assertion = signing({ kind: 'client' }, 'ES256', { kind: 'form', name: 'client_assertion' });
  await assert.rejects(compactJws(assertion, noClientKey), (e) => e.code === 'NO_SIGNING_KEY');
  // A key of another algorithm than the client is registered for.
  const es = await importClientKey(ec.privateKey.export({ type: 'pkcs8', format: 'pem' }));
  const rs256 = signing({ kind: 'client' }, 'RS256', { kind: 'form', name: 'client_assertion' });
  await assert.rejects(compactJws(rs256, webCryptoSigner(async () => es)), (e) => e.code === 'NO_SIGNING_KEY');
});

test('an ES256 signature that is not the raw 64 bytes (a DER encoding) is refused with INVALID_SIGNATURE, as the core refuses it', async () => {
  const der = async () => new Uint8Array(70).fill(1);
  const proof = signing({ kind: 'dpop', key: { kind: 'jwk', d: 'x' } }, 'ES256', { kind: 'header', name: 'dpop' });
  await assert.rejects(compactJws(proof, der), (e) => e instanceof McpAuthError && e.code === 'INVALID_SIGNATURE');
});

test('a stored key handle (a browser key) that is not here fails with NO_SIGNING_KEY, not a crash', async () => {
  const proof = signing({ kind: 'dpop', key: { kind: 'stored', id: 'gone' } }, 'ES256', { kind: 'header', name: 'dpop' });
  await assert.rejects(compactJws(proof, noClientKey), (e) => e.code === 'NO_SIGNING_KEY');
});
