// The dev server (tests/devserver) from the Rust build, for the npm tests: started on a free
// 127.0.0.1 port, its MCP URL read from the banner, and its /_dev/* endpoints at hand.

import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

/** The repository's root. */
export const root = join(import.meta.dirname, '../..');

/** Where cargo puts what it builds: `$CARGO_TARGET_DIR` or `target/`. */
export const targetDir = process.env.CARGO_TARGET_DIR ?? join(root, 'target');

/**
 * Starts the dev server with `args` (its command-line switches; `--port 0 --quiet` are added)
 * and resolves to `{ child, mcp, dev }`: the process, the MCP endpoint's URL, and
 * `dev(path, body?)`, which GETs `/_dev/<path>` (or POSTs `body` as JSON) and returns the
 * parsed answer. Stop it with `child.kill()`.
 */
export async function startDevserver(args = ['--auto-approve']) {
  const binary = join(targetDir, 'debug/mcpauth-devserver');
  if (!existsSync(binary)) execFileSync('cargo', ['build', '-q', '-p', 'mcpauth-devserver'], { cwd: root, stdio: 'inherit' });
  const child = spawn(binary, ['--port', '0', '--quiet', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const mcp = await new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).on('line', (line) => {
      const m = line.match(/^MCP endpoint:\s+(\S+)/);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`devserver exited (${code})`)));
  });
  const base = new URL(mcp).origin;
  const dev = async (path, body) => {
    const init = body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
    const r = await fetch(`${base}/_dev/${path}`, init);
    const text = await r.text();
    assert.ok(r.ok, `/_dev/${path}: ${r.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  };
  return { child, mcp, dev };
}
