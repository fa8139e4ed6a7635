// A first login with the mcpauth CLI, as an MCP host uses it: `mcpauth login <url>` (the
// browser is curl, following the authorization server's redirect to the loopback callback),
// then the stdio bridge `mcpauth proxy <url>` carries `initialize`,
// `notifications/initialized` and one `tools/call`. With --first-use there is no
// `mcpauth login`: the bridge logs in when `initialize` gets its 401.
//
//   MCPAUTH_BIN=... node cli.mjs [--first-use] <mcp url>   (a throwaway store, removed afterwards)

import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';

import { BROWSER } from './browser.mjs';

const firstUse = process.argv.includes('--first-use');
const server = process.argv.at(-1);
const bin = process.env.MCPAUTH_BIN;
const dir = await mkdtemp(join(tmpdir(), 'mcpauth-bench-'));
const env = {
  ...process.env,
  MCPAUTH_STORE: 'file',
  MCPAUTH_DATA_DIR: join(dir, 'data'),
  MCPAUTH_CONFIG_DIR: join(dir, 'config'),
  MCPAUTH_BROWSER: BROWSER,
};
try {
  if (!firstUse) await promisify(execFile)(bin, ['login', server], { env, timeout: 30000 });

  const bridge = spawn(bin, ['proxy', server], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const answers = new Map();
  const waiting = new Map();
  createInterface({ input: bridge.stdout }).on('line', (line) => {
    const msg = JSON.parse(line);
    if (msg.id === undefined) return;
    answers.set(msg.id, msg);
    waiting.get(msg.id)?.(msg);
  });
  const answer = (id) => answers.get(id) ?? new Promise((ok) => waiting.set(id, ok));
  const send = (msg) => bridge.stdin.write(`${JSON.stringify(msg)}\n`);

  send({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'cli bench', version: '0' } } });
  const init = await answer(1);
  if (!init.result) throw new Error(`initialize: ${JSON.stringify(init)}`);
  send({ jsonrpc: '2.0', method: 'notifications/initialized' });
  send({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'echo', arguments: { text: 'hello' } } });
  const call = await answer(2);
  if (!call.result) throw new Error(`tools/call: ${JSON.stringify(call)}`);
  console.log(JSON.stringify(call.result.content));
  bridge.stdin.end();
  await new Promise((ok) => bridge.once('exit', ok));
} finally {
  await rm(dir, { recursive: true, force: true });
}
