// Proves mcpauth-core runs on wasm32 in Node: hashing, getrandom's crypto.getRandomValues
// backend, and metadata validation with its errors crossing into JavaScript.
//
// scripts/test builds the module and runs wasm-bindgen --target nodejs into
// MCPAUTH_WASM_PROOF_DIR (default target/wasm-proof) before running this file.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = process.env.MCPAUTH_WASM_PROOF_DIR
  ?? fileURLToPath(new URL('../../target/wasm-proof', import.meta.url));
// --target nodejs emits CommonJS.
const wasm = createRequire(import.meta.url)(resolve(dir, 'mcpauth_wasm.js'));

const ISSUER = 'https://as.example';
const URL_ = 'https://as.example/.well-known/oauth-authorization-server';
const doc = (issuer) => JSON.stringify({
  issuer,
  authorization_endpoint: `${issuer}/authorize`,
  token_endpoint: `${issuer}/token`,
  code_challenge_methods_supported: ['S256'],
});

test('pkce challenge matches RFC 7636 Appendix B', () => {
  assert.equal(
    wasm.pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  );
});

test('generated pkce has a 43-char verifier whose challenge matches', () => {
  const a = wasm.generatePkce();
  const b = wasm.generatePkce();
  assert.match(a.verifier, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(a.challenge, wasm.pkceChallenge(a.verifier));
  assert.notEqual(a.verifier, b.verifier, 'entropy must not repeat');
});

test('valid authorization server metadata parses', () => {
  const metadata = JSON.parse(
    wasm.parseAuthorizationServerMetadata(ISSUER, URL_, 200, doc(ISSUER)),
  );
  assert.equal(metadata.issuer, ISSUER);
  assert.equal(metadata.token_endpoint, 'https://as.example/token');
});

test('metadata for another issuer is refused with an error naming the issuer', () => {
  assert.throws(
    () => wasm.parseAuthorizationServerMetadata(ISSUER, URL_, 200, doc('https://evil.example')),
    (err) => err instanceof Error && /issuer/.test(err.message),
  );
});
