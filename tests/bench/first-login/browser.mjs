// The "browser" of the first-login benchmark: the MCP SDK's demo authorization server
// approves at once with a 302 to the client's redirect URI, so following that one redirect is
// the whole user interaction. Also the MCP SDK, loaded from tests/interop's install.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pathToFileURL } from 'node:url';

export const repo = join(import.meta.dirname, '..', '..', '..');
const run = promisify(execFile);

/**
 * The browser every client gets, so that none is charged more for it than another: curl, a
 * process of its own with connections of its own, as the mcpauth clients get through
 * `MCPAUTH_BROWSER`.
 */
export const BROWSER = 'curl -fsSL -o /dev/null';

/** GETs the authorization URL (no redirects followed) and returns where it redirects to. */
export async function approve(authorizeUrl) {
  const { stdout } = await run('curl', ['-fsS', '-o', '/dev/null', '-w', '%{redirect_url}', authorizeUrl]);
  if (!stdout) throw new Error(`no redirect from ${authorizeUrl}`);
  return stdout;
}

/** Opens the authorization URL and follows its redirect to the client's loopback listener. */
export async function browse(authorizeUrl) {
  const [command, ...args] = BROWSER.split(' ');
  await run(command, [...args, authorizeUrl]);
}

/** A module of the MCP SDK (`client/index.js` and so on) from tests/interop/node_modules. */
export function sdk(path) {
  return import(pathToFileURL(join(repo, 'tests/interop/node_modules/@modelcontextprotocol/sdk/dist/esm', path)).href);
}
