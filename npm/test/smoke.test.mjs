// The built package loads in Node through its own exports map ("mcpauth", "mcpauth/core"),
// instantiates the WebAssembly core from disk, and answers: the RFC 7636 vector, a discovery
// against a stub fetch, and an error that is an McpAuthError. scripts/test builds npm/dist first.

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { McpAuthError } from 'mcpauth';
import { discover, pkceChallenge, processAuthorizationServerMetadataResponse } from 'mcpauth/core';

const SERVER = 'https://mcp.example.com/mcp';
const ISSUER = 'https://auth.example.com';
const metadata = (issuer) => ({
  issuer,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  code_challenge_methods_supported: ['S256'],
});

test('pkce challenge matches RFC 7636 Appendix B', () => {
  assert.equal(
    pkceChallenge('dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk'),
    'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
  );
});

test('discovery runs against a stub fetch, every request with redirect: manual', async () => {
  const documents = {
    'https://mcp.example.com/.well-known/oauth-protected-resource/mcp': { resource: SERVER, authorization_servers: [ISSUER] },
    'https://auth.example.com/.well-known/oauth-authorization-server': metadata(ISSUER),
  };
  const seen = [];
  const fetch = async (url, init) => {
    seen.push({ url, redirect: init.redirect });
    const doc = documents[url];
    return doc ? Response.json(doc) : new Response('not found', { status: 404 });
  };
  const discovered = await discover(SERVER, { fetch });
  assert.equal(discovered.issuer, ISSUER);
  assert.equal(discovered.metadata.token_endpoint, `${ISSUER}/token`);
  assert.ok(seen.length >= 2);
  assert.ok(seen.every((call) => call.redirect === 'manual'));
});

test('a refused document throws an McpAuthError with a stable code', () => {
  const response = { status: 200, body: JSON.stringify(metadata('https://evil.example.com')) };
  assert.throws(
    () => processAuthorizationServerMetadataResponse(ISSUER, `${ISSUER}/.well-known/oauth-authorization-server`, response),
    (err) => err instanceof McpAuthError && err.name === 'McpAuthError' && err.code === 'ISSUER_MISMATCH',
  );
});
