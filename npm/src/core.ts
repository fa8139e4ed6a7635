/**
 * `mcpauth/core`: the WebAssembly boundary, typed. A handful of synchronous calls create a
 * machine of the Rust core, feed it, and drain it; {@link runMachine} (in `mcpauth`) is the
 * loop that does the I/O around them. Everything about OAuth is decided inside.
 *
 * JSON crosses as text; these functions parse and stringify it and turn a `{error}` answer
 * into a thrown {@link McpAuthError}. The shapes are in `./wire.js`.
 *
 * Importing this module instantiates nothing: the first call does (synchronously in Node). In
 * browsers, `await ready()` once before the first call.
 *
 * @module
 */

import { fromWire } from './errors.js';
import { bindings as wasm } from './wasm.js';

export { ready } from './wasm.js';
import type {
  Action,
  Constants,
  Drained,
  LoginStatus,
  MachineConfigs,
  MachineInput,
  MachineKind,
  Reuse,
  StepInput,
  StoredGrant,
} from './wire.js';

/** Parses an answer of the boundary; `{error}` throws. */
function answer<T>(text: string): T {
  const value = JSON.parse(text) as T | { error?: Parameters<typeof fromWire>[0] };
  if (typeof value === 'object' && value !== null && 'error' in value && value.error) throw fromWire(value.error);
  return value as T;
}

// ----- machines ----------------------------------------------------------------------------------

/**
 * Starts a machine and returns its handle; free it with {@link machineFree}. Never throws: a
 * configuration the core refuses ends the machine with that error on its first drain.
 */
export function machineNew<K extends MachineKind>(kind: K, config: MachineConfigs[K], now = Date.now()): number {
  // A login draws its PKCE verifier and `state` from these bytes; without Web Crypto the core
  // ends the login with ENTROPY_UNAVAILABLE.
  const random = kind === 'login' && typeof globalThis.crypto?.getRandomValues === 'function';
  const seed = random ? globalThis.crypto.getRandomValues(new Uint8Array(64)) : new Uint8Array(0);
  return wasm.machine_new(kind, JSON.stringify(config), now, seed);
}

/**
 * Everything the machine asks for now. Call it after {@link machineNew} and after every feed.
 * The JWTs the transmits carry are dated `now`.
 */
export function machineDrain(handle: number, now = Date.now()): Drained {
  return answer<Drained>(wasm.machine_drain(handle, now));
}

/** The response to transmit `id`; `body` holds at most `maxResponseBytes + 1` bytes. */
export function machineResponse(
  handle: number,
  id: number,
  status: number,
  headers: [string, string][],
  body: Uint8Array,
  now = Date.now(),
): void {
  answer<object>(wasm.machine_response(handle, id, status, JSON.stringify(headers), body, now));
}

/** Feeds anything but a response; a `callback` answers whether it belongs to the login. */
export function machineInput(handle: number, input: MachineInput, now = Date.now()): { belongs?: boolean } {
  return answer<{ belongs?: boolean }>(wasm.machine_input(handle, JSON.stringify(input), now));
}

/** Forgets a machine and its outcome. */
export function machineFree(handle: number): void {
  wasm.machine_free(handle);
}

// ----- the protected request ---------------------------------------------------------------------

/** A step-up tracker (one per `McpAuth`); free it with {@link trackerFree}. */
export function trackerNew(): number {
  return wasm.tracker_new();
}

/** Forgets a tracker. */
export function trackerFree(handle: number): void {
  wasm.tracker_free(handle);
}

/** Starts the decisions around one MCP request to `server` with these request headers and this HTTP method (its DPoP proofs name it). */
export function protectedNew(server: string, headers: [string, string][], loginAllowed: boolean, method = 'POST'): number {
  return wasm.protected_new(server, JSON.stringify(headers), loginAllowed, method);
}

/** The next decision; a failure throws. A DPoP proof in a `send` is dated `now`. */
export function protectedStep(handle: number, tracker: number, input: StepInput, now = Date.now()): Action {
  return answer<Action>(wasm.protected_step(handle, tracker, JSON.stringify(input), now));
}

/** Forgets a protected request. */
export function protectedFree(handle: number): void {
  wasm.protected_free(handle);
}

// ----- helpers -----------------------------------------------------------------------------------

/** The canonical MCP server URI (lowercase scheme and host, no default port, no trailing slash). */
export function canonicalServer(url: string): string {
  return answer<{ server: string }>(wasm.canonical_server(url)).server;
}

/** The store key of `server`'s grant, for `profile` if given. */
export function grantKey(server: string, profile?: string): string {
  return answer<{ key: string }>(wasm.grant_key(server, profile)).key;
}

/** The store key of the web login a callback URL answers, or `undefined` without a `state`. */
export function pendingKeyForCallback(url: string): string | undefined {
  return answer<{ key: string | null }>(wasm.pending_key_for_callback(url)).key ?? undefined;
}

/** The grant in a stored record. */
export function storedGrant(key: string, record: string): StoredGrant {
  return answer<StoredGrant>(wasm.stored_grant(key, record));
}

/** What a status display shows of a stored record at `now`. */
export function loginStatus(key: string, record: string, now = Date.now()): LoginStatus {
  return answer<{ status: LoginStatus }>(wasm.login_status(key, record, now)).status;
}

let constantsRead: Constants | undefined;

/**
 * The store layout's prefixes, the callback path and the core's error codes, read from the core
 * on first use (importing this module instantiates nothing).
 */
export const constants: Constants = new Proxy({} as Constants, {
  get: (_, name) => Reflect.get((constantsRead ??= answer<Constants>(wasm.constants())), name) as unknown,
  has: (_, name) => Reflect.has((constantsRead ??= answer<Constants>(wasm.constants())), name),
  ownKeys: () => Reflect.ownKeys((constantsRead ??= answer<Constants>(wasm.constants()))),
  getOwnPropertyDescriptor: (_, name) => {
    const value = (constantsRead ??= answer<Constants>(wasm.constants()));
    const found = Reflect.getOwnPropertyDescriptor(value, name);
    return found && { ...found, configurable: true };
  },
});

// ----- the fast path -----------------------------------------------------------------------------

/** The core's answer on reusing the token of finished `access` machine `machine` from `now` on. */
export function machineReuse(machine: number, now = Date.now()): Reuse {
  return answer<Reuse>(wasm.machine_reuse(machine, now));
}

/**
 * The server's answer to a request sent with the token of `access` machine `machine` (from
 * {@link machineReuse}), to its server: `undefined` when the answer goes to the caller as it is,
 * else the next action of the protected request the core now keeps under `request` (step it
 * with {@link protectedStep}, free it with {@link protectedFree}). A failure throws.
 */
export function protectedReused(
  machine: number,
  tracker: number,
  method: string,
  operation: { mcpMethod: string | null; mcpName: string | null },
  loginAllowed: boolean,
  answered: { status: number; wwwAuthenticate: string | null; dpopNonce: string | null },
  now = Date.now(),
): (Action & { request: number }) | undefined {
  const text = wasm.protected_reused(
    machine,
    tracker,
    method,
    operation.mcpMethod ?? undefined,
    operation.mcpName ?? undefined,
    loginAllowed,
    answered.status,
    answered.wwwAuthenticate ?? undefined,
    answered.dpopNonce ?? undefined,
    now,
  );
  return text === undefined ? undefined : answer<Action & { request: number }>(text);
}
