#!/usr/bin/env node
// The MCP conformance suite's client, built on the npm package: connect, list tools, call
// `test-tool`, at the wire version the runner asks for. Every OAuth step goes through mcpauth
// (McpAuth.authFetch and its onAuthorizationRequired); this file only speaks the MCP transport
// and plays the user, who approves at once: the mock's /authorize redirects immediately, so the
// "browser" is one fetch that reads the Location header.
//
//   conformance client --command "node npm/test/conformance-client.mjs" --scenario auth/metadata-default
//
// The runner appends the server URL as the last argument and sets MCP_CONFORMANCE_SCENARIO,
// MCP_CONFORMANCE_PROTOCOL_VERSION and (for auth/pre-registration and the extension scenarios)
// MCP_CONFORMANCE_CONTEXT. Exit 0 when the tool call succeeded, 1 otherwise (refusing is right
// in some scenarios).
//
// The extension scenarios are mapped to McpAuth options (the same names as the Rust options),
// and the rest is the same client: authFetch logs in by itself when a machine grant is set.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const dist = process.env.MCPAUTH_NPM_DIST ?? new URL('../dist', import.meta.url).pathname;
const { McpAuth } = await import(`${dist}/index.js`);

const serverUrl = process.argv.at(-1);
const wire = process.env.MCP_CONFORMANCE_PROTOCOL_VERSION || '2025-11-25';
const scenario = process.env.MCP_CONFORMANCE_SCENARIO ?? '';
const context = process.env.MCP_CONFORMANCE_CONTEXT ? JSON.parse(process.env.MCP_CONFORMANCE_CONTEXT) : {};
const log = (...args) => console.error('[mcpauth-conformance]', ...args);

/** A scratch directory for the workload token file, removed at exit. */
let scratch;
process.on('exit', () => scratch && rmSync(scratch, { recursive: true, force: true }));

/** The McpAuth options of the extension scenarios: machine grants, private_key_jwt, DPoP. */
function extensionOptions() {
  switch (scenario) {
    case 'auth/client-credentials-basic':
      return { grant: { kind: 'client_credentials' }, preRegistered: [{ clientId: context.client_id, clientSecret: context.client_secret }] };
    case 'auth/client-credentials-jwt':
      return {
        grant: { kind: 'client_credentials' },
        preRegistered: [{ clientId: context.client_id, keyAlg: context.signing_algorithm }],
        clientKey: context.private_key_pem,
      };
    case 'auth/enterprise-managed-authorization':
      return {
        grant: {
          kind: 'enterprise_managed',
          id_token: { kind: 'value', value: context.idp_id_token },
          idp: { tokenEndpoint: context.idp_token_endpoint, clientId: context.idp_client_id },
        },
        preRegistered: [{ clientId: context.client_id, clientSecret: context.client_secret }],
      };
    case 'auth/wif-jwt-bearer': {
      // As a workload reads it: a file the platform writes (and rotates), read at each token.
      scratch = mkdtempSync(join(tmpdir(), 'mcpauth-wif-'));
      const path = join(scratch, 'token');
      writeFileSync(path, `${context.valid_jwt}\n`);
      return { grant: { kind: 'jwt_bearer', assertion: { kind: 'file', path } }, preRegistered: [{ clientId: context.client_id }] };
    }
    case 'auth/dpop':
    case 'auth/dpop-nonce':
      return { dpop: true };
    default:
      return undefined;
  }
}

// A client ID metadata document URL the suite expects for auth/basic-cimd (it never fetches it).
const CIMD_URL = 'https://conformance-test.local/client-metadata.json';
const REDIRECT_URI = 'http://localhost:8976/callback'; // nothing listens: the mock redirects at once

const extension = extensionOptions();
const auth = new McpAuth({
  clientName: 'mcpauth-conformance',
  redirectUri: REDIRECT_URI,
  clientMetadataUrl: CIMD_URL,
  // Only at the issuer it was registered with (a list, not a single entry).
  preRegistered: context.client_id
    ? [{ issuer: context.issuer, clientId: context.client_id, clientSecret: context.client_secret }]
    : [],
  // The backcompat scenarios are 2025-03-26 servers: no protected resource metadata.
  policy: { legacy20250326Fallbacks: true },
  ...extension,
});

/** The headless user: follow the authorization URL once and hand the redirect to mcpauth. */
async function approve({ options }) {
  const { url } = await auth.authorizationUrl(serverUrl, options);
  const res = await fetch(url, { redirect: 'manual' });
  const location = res.headers.get('location');
  if (!location) throw new Error(`authorization endpoint answered ${res.status} without a redirect`);
  await auth.handleCallback(new URL(location, url).href);
}

// A machine grant logs in without a user: authFetch does it by itself.
const mcpFetch = auth.authFetch(undefined, {
  serverUrl,
  onAuthorizationRequired: extension?.grant
    ? undefined
    : async (required) => {
        log(`authorization required (${required.reason}), attempt ${required.attempt}, challenged scope ${required.challenge.scope ?? '(none)'}`);
        await approve(required);
      },
});

// ---- the MCP transport (streamable HTTP), both wires ----
const stateless = wire === '2026-07-28';
let sessionId;
let nextId = 1;

async function readMessage(res) {
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    const messages = text
      .split(/\n\n/)
      .map((event) => event.split('\n').filter((l) => l.startsWith('data:')).map((l) => l.slice(5).trim()).join('\n'))
      .filter(Boolean)
      .map((data) => JSON.parse(data));
    return messages.find((m) => m.id !== undefined) ?? messages[0];
  }
  return text ? JSON.parse(text) : undefined;
}

async function rpc(method, params = {}, { notification = false } = {}) {
  const message = { jsonrpc: '2.0', method, params: { ...params } };
  if (!notification) message.id = nextId++;
  if (stateless) {
    message.params._meta = {
      'io.modelcontextprotocol/protocolVersion': wire,
      'io.modelcontextprotocol/clientCapabilities': {},
      'io.modelcontextprotocol/clientInfo': { name: 'mcpauth-conformance', version: '0.0.0' },
    };
  }
  const headers = { 'content-type': 'application/json', accept: 'application/json, text/event-stream', 'mcp-method': method };
  if (stateless || method !== 'initialize') headers['mcp-protocol-version'] = wire;
  if (method === 'tools/call') headers['mcp-name'] = params.name;
  if (sessionId) headers['mcp-session-id'] = sessionId;
  const res = await mcpFetch(serverUrl, { method: 'POST', headers, body: JSON.stringify(message) });
  log('POST', method, '->', res.status);
  sessionId = res.headers.get('mcp-session-id') ?? sessionId;
  if (notification) {
    await res.text();
    return undefined;
  }
  if (!res.ok) throw new Error(`${method}: HTTP ${res.status} ${await res.text()}`);
  const reply = await readMessage(res);
  if (reply?.error) throw new Error(`${method}: ${JSON.stringify(reply.error)}`);
  return reply?.result;
}

try {
  log('scenario', process.env.MCP_CONFORMANCE_SCENARIO, 'wire', wire, 'server', serverUrl);
  if (!stateless) {
    await rpc('initialize', { protocolVersion: wire, capabilities: {}, clientInfo: { name: 'mcpauth-conformance', version: '0.0.0' } });
    await rpc('notifications/initialized', {}, { notification: true });
  }
  const { tools } = await rpc('tools/list');
  log('tools', tools.map((t) => t.name).join(', '));
  const result = await rpc('tools/call', { name: 'test-tool', arguments: {} });
  log('call', JSON.stringify(result));
  process.exit(0);
} catch (err) {
  log('ERROR', err.code ?? '', err.message);
  process.exit(1);
}
