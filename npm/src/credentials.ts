/**
 * Reading the credentials a machine login presents (a workload's identity token, an
 * employee's ID token) from where the configuration says: the `credential` event. The core
 * asks each time it obtains a token, so a token the platform rotates in its file is picked up
 * on expiry.
 *
 * In Node (Deno, Bun), a file (surrounding whitespace trimmed) or an environment variable; a
 * browser has neither, so there the answer is always an error. An error message never
 * contains the credential.
 *
 * @module
 */

import type { CredentialSource } from './wire.js';

/** `node:fs/promises`, named through a variable so bundlers do not try to resolve it. */
const NODE_FS = 'node:fs/promises';

interface NodeFs {
  readFile(path: string, encoding: 'utf8'): Promise<string>;
}

interface NodeProcess {
  env: Record<string, string | undefined>;
  versions?: { node?: string };
}

function nodeProcess(): NodeProcess | undefined {
  const process = (globalThis as { process?: NodeProcess }).process;
  return process?.versions?.node ? process : undefined;
}

/**
 * Reads the credential `source` names. Resolves to the value, or rejects with a message that
 * says why it cannot be read (for the core's `CREDENTIAL_UNAVAILABLE`) and never holds it.
 */
export async function readCredential(source: CredentialSource): Promise<string> {
  if (source.kind === 'value') return source.value;
  const process = nodeProcess();
  if (!process) throw new Error(`a ${source.kind === 'file' ? 'file' : 'environment variable'} cannot be read here (no Node.js: a browser?); pass the credential itself ({kind: "value"})`);
  if (source.kind === 'env') {
    const value = process.env[source.name];
    if (value === undefined) throw new Error(`the environment variable ${source.name} is not set`);
    const trimmed = value.trim();
    if (!trimmed) throw new Error(`the environment variable ${source.name} is empty`);
    return trimmed;
  }
  const fs = (await import(/* webpackIgnore: true */ /* @vite-ignore */ NODE_FS)) as NodeFs;
  let text: string;
  try {
    text = await fs.readFile(source.path, 'utf8');
  } catch (error) {
    // Node's messages name the path and the errno, never content.
    const code = (error as { code?: string }).code;
    throw new Error(`cannot read ${source.path}${code ? ` (${code})` : ''}`);
  }
  const trimmed = text.trim();
  if (!trimmed) throw new Error(`${source.path} is empty`);
  return trimmed;
}
