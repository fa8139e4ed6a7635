// Logins without a user, in Node, against the dev server (tests/devserver): the client
// credentials grant with a secret and with a private_key_jwt client key (PEM, its algorithm
// taken from the key), the jwt-bearer grant with a workload token read from a file (read again
// for each new token, so a rotated token is used) or an environment variable, DPoP with the
// key's private scalar in the record and server nonces on both endpoints, and how options and
// credentials that cannot work fail. authFetch logs in by itself when a machine grant is
// configured.

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomUUID, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { McpAuth, McpAuthError } from 'mcpauth';
import { startDevserver } from './devserver.mjs';

const dist = process.env.MCPAUTH_NPM_DIST ?? new URL('../dist', import.meta.url).pathname;
const { readCredential } = await import(`${dist}/credentials.js`);

let server;
let scratch;
const WORKLOAD_ISSUER = 'https://workload-idp.example';
const workloadKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

before(async () => {
  server = await startDevserver();
  scratch = mkdtempSync(join(tmpdir(), 'mcpauth-machine-'));
  await server.dev('issuers', { issuer: WORKLOAD_ISSUER, jwk: workloadKey.publicKey.export({ format: 'jwk' }) });
});

after(() => {
  server?.child.kill();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const issuer = () => new URL(server.mcp).origin;

/** A workload identity token from the trusted issuer, for the dev server's token endpoint. */
function workloadToken(subject = 'workload-1') {
  const now = Math.floor(Date.now() / 1000);
  const part = (value) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${part({ alg: 'ES256', typ: 'JWT' })}.${part({ iss: WORKLOAD_ISSUER, sub: subject, aud: issuer(), iat: now, exp: now + 300, jti: randomUUID() })}`;
  const signature = nodeSign('sha256', Buffer.from(input), { key: workloadKey.privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** One MCP tool call through `auth.authFetch()`; resolves to the echoed text. */
async function echo(auth, text) {
  const f = auth.authFetch();
  const res = await f(server.mcp, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', 'mcp-protocol-version': '2025-11-25' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { text } } }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  return (await res.json()).result.content[0].text;
}

test('client credentials with a secret: authFetch gets a token without a user and calls the server', async () => {
  await server.dev('clients', { client_id: 'svc-secret', token_endpoint_auth_method: 'client_secret_basic', client_secret: 's3cret' });
  const auth = new McpAuth({ grant: { kind: 'client_credentials' }, preRegistered: { clientId: 'svc-secret', clientSecret: 's3cret' } });
  assert.equal(await echo(auth, 'hello, machine'), 'hello, machine');
  const grant = await auth.grant(server.mcp);
  assert.equal(grant.tokens.refresh_token ?? null, null, 'no refresh token: the grant is obtained again instead');
  assert.deepEqual(grant.acquire, { kind: 'client_credentials' }, 'the record says how to get tokens again');
});

test('client credentials with private_key_jwt: a PEM key signs the client assertion, and its algorithm is the key\'s own', async () => {
  const client = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  await server.dev('clients', { client_id: 'svc-jwt', token_endpoint_auth_method: 'private_key_jwt', jwk: client.publicKey.export({ format: 'jwk' }) });
  const auth = new McpAuth({
    grant: { kind: 'client_credentials' },
    preRegistered: { clientId: 'svc-jwt' },
    clientKey: client.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  });
  const grant = await auth.login(server.mcp);
  assert.equal(grant.client.key_alg, 'ES256');
  assert.equal(grant.client.auth_method, 'private_key_jwt');
  assert.equal(await echo(auth, 'signed'), 'signed');
  // Another key than the registered one: the server refuses the assertion.
  const other = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const wrong = new McpAuth({ grant: { kind: 'client_credentials' }, preRegistered: { clientId: 'svc-jwt' }, clientKey: other.privateKey.export({ format: 'jwk' }) });
  await assert.rejects(wrong.login(server.mcp), (e) => e instanceof McpAuthError && e.code === 'OAUTH_ERROR' && e.error === 'invalid_client');
});

test('workload identity: the token is read from its file for each new token, so a rotated one is used', async () => {
  await server.dev('clients', { client_id: 'workload', token_endpoint_auth_method: 'none' });
  const path = join(scratch, 'token');
  writeFileSync(path, `  ${workloadToken()}\n`);
  const auth = new McpAuth({ grant: { kind: 'jwt_bearer', assertion: { kind: 'file', path } }, preRegistered: { clientId: 'workload' } });
  const first = await auth.login(server.mcp);
  assert.equal(await echo(auth, 'from a file'), 'from a file');
  // The platform rotates the token; getting a token again reads the new one.
  writeFileSync(path, workloadToken('workload-2'));
  const second = await auth.refresh(server.mcp);
  assert.notEqual(second.tokens.access_token, first.tokens.access_token);
  // A token the server does not trust, after the next rotation, is refused: it was read.
  writeFileSync(path, workloadToken().replace(/\.[^.]+$/, `.${Buffer.alloc(64).toString('base64url')}`));
  await assert.rejects(auth.refresh(server.mcp), (e) => e instanceof McpAuthError && e.code === 'OAUTH_ERROR' && e.error === 'invalid_grant');
});

test('workload identity from an environment variable', async () => {
  await server.dev('clients', { client_id: 'workload-env', token_endpoint_auth_method: 'none' });
  const name = `MCPAUTH_TEST_WORKLOAD_${process.pid}`;
  process.env[name] = workloadToken();
  try {
    const auth = new McpAuth({ grant: { kind: 'jwt_bearer', assertion: { kind: 'env', name } }, preRegistered: { clientId: 'workload-env' } });
    assert.equal(await echo(auth, 'from the environment'), 'from the environment');
  } finally {
    delete process.env[name];
  }
});

test('a credential that cannot be read fails the login with CREDENTIAL_UNAVAILABLE, naming where it looked', async () => {
  await server.dev('clients', { client_id: 'workload-missing', token_endpoint_auth_method: 'none' });
  for (const [assertion, named] of [
    [{ kind: 'file', path: join(scratch, 'no-such-token') }, 'no-such-token'],
    [{ kind: 'env', name: 'MCPAUTH_TEST_UNSET_VARIABLE' }, 'MCPAUTH_TEST_UNSET_VARIABLE'],
  ]) {
    const auth = new McpAuth({ grant: { kind: 'jwt_bearer', assertion }, preRegistered: { clientId: 'workload-missing' } });
    await assert.rejects(auth.login(server.mcp), (e) => e instanceof McpAuthError && e.code === 'CREDENTIAL_UNAVAILABLE' && e.message.includes(named));
  }
});

test('reading credentials: a file trimmed, a variable; no value in any error; nothing readable without Node', async () => {
  const path = join(scratch, 'cred');
  writeFileSync(path, '\n  the-credential \t\n');
  assert.equal(await readCredential({ kind: 'file', path }), 'the-credential');
  process.env.MCPAUTH_TEST_CREDENTIAL = ' value-from-env ';
  assert.equal(await readCredential({ kind: 'env', name: 'MCPAUTH_TEST_CREDENTIAL' }), 'value-from-env');
  process.env.MCPAUTH_TEST_CREDENTIAL = '  ';
  await assert.rejects(readCredential({ kind: 'env', name: 'MCPAUTH_TEST_CREDENTIAL' }), /is empty/);
  delete process.env.MCPAUTH_TEST_CREDENTIAL;
  writeFileSync(path, '   ');
  await assert.rejects(readCredential({ kind: 'file', path }), /is empty/);
  await assert.rejects(readCredential({ kind: 'file', path: scratch }), (e) => e.message.includes('EISDIR'));
  // A browser: no `process` with a Node version. The check is made before the first await.
  const real = Object.getOwnPropertyDescriptor(globalThis, 'process');
  Object.defineProperty(globalThis, 'process', { value: undefined, configurable: true, writable: true });
  let file;
  let env;
  try {
    file = readCredential({ kind: 'file', path });
    env = readCredential({ kind: 'env', name: 'PATH' });
  } finally {
    Object.defineProperty(globalThis, 'process', real);
  }
  await assert.rejects(file, /cannot be read here/);
  await assert.rejects(env, (e) => /cannot be read here/.test(e.message) && !e.message.includes(process.env.PATH));
});

test('DPoP in Node: the proofs the boundary dates verify with the grant\'s key, the token is bound, and nonces from both servers are answered', async () => {
  await server.dev('clients', { client_id: 'svc-dpop', token_endpoint_auth_method: 'client_secret_post', client_secret: 'dp0p' });
  await server.dev('faults', { dpop_nonce_token: true, dpop_nonce_resource: true });
  const sent = [];
  const capture = (input, init) => {
    sent.push({ url: String(input instanceof Request ? input.url : input), headers: new Headers(input instanceof Request ? input.headers : init?.headers) });
    return fetch(input, init);
  };
  try {
    const auth = new McpAuth({ grant: { kind: 'client_credentials' }, preRegistered: { clientId: 'svc-dpop', clientSecret: 'dp0p', authMethod: 'client_secret_post' }, dpop: true, fetch: capture });
    const stats = await server.dev('stats');
    const t0 = Date.now();
    const grant = await auth.login(server.mcp);
    assert.equal(grant.tokens.token_type, 'DPoP');
    assert.equal(grant.dpop_key.private.kind, 'jwk', 'in Node the private scalar is in the record');
    assert.equal(await echo(auth, 'proved'), 'proved');
    const after = await server.dev('stats');
    assert.ok(after.dpop_nonce_challenges >= stats.dpop_nonce_challenges + 2, 'a nonce was asked for by the token endpoint and the MCP endpoint');

    // Each proof the driver sent: signed by the grant's key, for its request, with a fresh jti.
    const publicKey = await crypto.subtle.importKey('jwk', { kty: 'EC', ...grant.dpop_key.jwk }, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['verify']);
    const proofs = sent.filter((r) => r.headers.has('dpop'));
    assert.ok(proofs.length >= 2, 'the token requests carried proofs');
    const jtis = new Set();
    for (const { url, headers } of proofs) {
      const [h, c, sig] = headers.get('dpop').split('.');
      const ok = await crypto.subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, publicKey, Buffer.from(sig, 'base64url'), new TextEncoder().encode(`${h}.${c}`));
      assert.ok(ok, `the proof to ${url} verifies with the grant's public key`);
      const header = JSON.parse(Buffer.from(h, 'base64url'));
      const claims = JSON.parse(Buffer.from(c, 'base64url'));
      assert.equal(header.typ, 'dpop+jwt');
      assert.deepEqual(header.jwk, { kty: 'EC', ...grant.dpop_key.jwk });
      assert.equal(claims.htu, url.split('?')[0]);
      assert.ok(Math.abs(claims.iat * 1000 - t0) < 60_000, 'dated by the driver\'s clock');
      assert.ok(!jtis.has(claims.jti), 'a fresh jti for each proof');
      jtis.add(claims.jti);
      if (url === server.mcp) assert.ok(claims.ath, 'a proof to the MCP server hashes the access token');
    }
    assert.ok(proofs.some((p) => p.url === server.mcp), 'the MCP requests carried proofs');
  } finally {
    await server.dev('faults', {});
  }
});

test('options that cannot work fail with the core\'s codes: an unknown grant, a client key that cannot sign', async () => {
  const bad = new McpAuth({ grant: { kind: 'password' }, preRegistered: { clientId: 'x' } });
  await assert.rejects(bad.login(server.mcp), (e) => e instanceof McpAuthError && e.code === 'INVALID_ARGUMENT' && /config/.test(e.message));
  const ed = generateKeyPairSync('ed25519');
  const unsigned = new McpAuth({
    grant: { kind: 'client_credentials' },
    preRegistered: { clientId: 'svc-jwt' },
    clientKey: ed.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  });
  await assert.rejects(unsigned.login(server.mcp), (e) => e instanceof McpAuthError && e.code === 'NO_SIGNING_KEY');
});
