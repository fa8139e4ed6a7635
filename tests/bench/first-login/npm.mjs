// A first login with the mcpauth npm package in Node: `authFetch` sends `initialize` with no
// token, its 401 hands the challenge to `onAuthorizationRequired`, which logs in through a
// loopback redirect (`loopbackLogin`), and the request is sent again. Then
// `notifications/initialized` (not waited on) and one `tools/call`.
//
//   node npm.mjs <mcp url>

import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

import { browse, repo } from './browser.mjs';

const dist = (file) => import(pathToFileURL(join(repo, 'npm/dist', file)).href);
const { McpAuth, MemoryStorage } = await dist('index.js');
const { loopbackLogin } = await dist('node.js');

const server = process.argv[2];
const auth = new McpAuth({ clientName: 'mcpauth npm bench', storage: new MemoryStorage() });
const mcp = auth.authFetch(undefined, {
  onAuthorizationRequired: (ctx) => loopbackLogin(auth, ctx.serverUrl, { ...ctx.options, openBrowser: browse }),
});

let negotiated = {};
const post = async (message) => {
  const res = await mcp(server, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...negotiated },
    body: JSON.stringify(message),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${message.method}: ${res.status} ${text}`);
  return { res, body: text ? JSON.parse(text) : null };
};

const init = await post({
  jsonrpc: '2.0', id: 1, method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'npm bench', version: '0' } },
});
negotiated = { 'mcp-protocol-version': init.body.result.protocolVersion };
const session = init.res.headers.get('mcp-session-id');
if (session) negotiated['mcp-session-id'] = session;
// The call goes first, to take the connection already open; the notification is not waited on.
const calling = post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } });
const notified = post({ jsonrpc: '2.0', method: 'notifications/initialized' });
const call = await calling;
await notified;
console.log(JSON.stringify(call.body.result.content));
