// Starts the interop servers as child processes, for Node test suites (the npm package's
// tests and harness.test.mjs). The Rust tests do the same by hand: spawn `node <script>`,
// read one JSON line from stdout, kill the child when done.
//
//   const oidc = await startServer('oidc.mjs', { env: { OIDC_AT_TTL: '2' } });
//   oidc.info.issuer; oidc.startupMs; await oidc.stop();

import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';

const here = import.meta.dirname;

// The deadline catches a server that hangs; it is generous because the gate starts servers
// from several test files at once on two cores, where oidc-provider (an RSA key, then its
// module graph) has once taken over 20 s instead of its usual second.
export async function startServer(script, { args = [], env = {}, timeoutMs = 60000 } = {}) {
  const started = performance.now();
  const child = spawn(process.execPath, [join(here, script), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Keep stderr for the error message; echo it live with INTEROP_DEBUG=1.
  let stderr = '';
  child.stderr.on('data', (d) => {
    stderr += d;
    if (process.env.INTEROP_DEBUG) process.stderr.write(d);
  });
  const firstLine = new Promise((resolve, reject) => {
    createInterface({ input: child.stdout }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before ready:\n${stderr}`)));
    setTimeout(() => reject(new Error(`${script} not ready after ${timeoutMs} ms:\n${stderr}`)), timeoutMs).unref();
  });
  let line;
  try {
    line = await firstLine;
  } catch (err) {
    child.kill();
    throw err;
  }
  const startupMs = Math.round(performance.now() - started);
  const stop = () =>
    new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', resolve);
      child.kill('SIGTERM');
    });
  return { info: JSON.parse(line), startupMs, stop, child, stderr: () => stderr };
}

// A fetch that counts the requests it sends, to measure what a flow costs on the wire.
export function countingFetch(inner = globalThis.fetch) {
  const counted = (...args) => {
    counted.count++;
    return inner(...args);
  };
  counted.count = 0;
  return counted;
}
