/**
 * The driver loop: {@link runMachine} does the I/O of any machine of the core, the one loop of
 * the package (as `native/` has one for tokio). It decides nothing about OAuth:
 *
 * 1. drain the machine;
 * 2. send each transmit with `fetch`, concurrently, each under its own deadline, after signing
 *    the JWTs it carries (DPoP proofs, client assertions: `signing.ts`), and feed back the
 *    response or the failure;
 * 3. act on each event in order: storage, a lock, a credential to read, a listener, the user
 *    agent, hooks;
 *    a save or delete the storage refused fails the operation, even one the machine has
 *    already finished (a refreshed grant that was not stored must not look stored);
 * 4. sleep until the machine's `timeout`, or until something is fed; then again from 1,
 *    until `done`.
 *
 * With a {@link DebugHook} it tells what it does, as the Rust driver logs it with `tracing`:
 * each request (method, URL with query parameter names but no values, request id), each
 * response (status, content type, body length), each failure and time-out, each event by its
 * kind, each storage operation by the kind of its key. Nothing else: records, bodies, headers,
 * authorization URLs and storage keys can hold secrets, so no field that could is passed.
 *
 * @module
 */

import * as core from './core.js';
import { readCredential } from './credentials.js';
import { describe, fromWire, McpAuthError, wrap } from './errors.js';
import { type Signer, signTransmit } from './signing.js';
import type { Storage } from './storage.js';
import type { CredentialSource, DevicePrompt, MachineEvent, Transmit } from './wire.js';

/**
 * Hears what the driver does, for debugging a login (`McpAuthOptions.debug`): a short message
 * and fields that cannot hold a secret (`request`, `method`, `url` without query values,
 * `status`, `contentType`, `bodyLength`, `event`, `key` as its kind, `code`, ...). A hook that
 * throws is ignored.
 */
export type DebugHook = (message: string, fields?: Record<string, unknown>) => void;

/** The `fetch` the loop sends with; `globalThis.fetch` fits. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** Steers a running machine from outside the loop (a listener, a popup, a timer). */
export interface MachineControl {
  /** Hands a callback URL to the login: `false` when it carries another login's `state` (answer it with an error page; the login goes on). */
  callback(url: string): boolean;
  /** Ends the operation: the machine aborts, and the run rejects with `reason` (default: the core's `ABORTED`). */
  abort(reason?: unknown): void;
  /** Stops driving now: the run resolves with `value` and the machine stays as it is (a redirect login, resumed after the page load). */
  detach(value: unknown): void;
}

/** A loopback listener to start (the `listen` event). */
export interface ListenRequest {
  /** Bind this port first (the one the reused registration lists, or the caller's). */
  port: number | null;
  /** Only that port. */
  required: boolean;
  /** The callback path. */
  path: string;
}

/**
 * A lock shared by processes (replicas of a gateway over one Redis, say): the lock event's
 * name (`refresh#<server>[#<profile>]`, the core's) in, a release out. Taken after this
 * process's own queue for the same name, so at most one caller per process waits on it.
 */
export interface SharedLock {
  /**
   * Takes the lock `name`, waiting as long as the implementation allows; rejects when it
   * cannot (the operation then fails with that error, `STORE` unless it is an `McpAuthError`).
   * Resolves to the release, which is called once, when the operation that took the lock ends.
   */
  acquire(name: string): Promise<() => Promise<void>>;
}

/** What {@link runMachine} does the I/O with. */
export interface MachineIo {
  fetch: FetchLike;
  /** The clock, in milliseconds since the epoch (tests move it ahead). Default `Date.now`. */
  now?(): number;
  /** Waits out a pause of the machine's while nothing is in flight, no lock is awaited and no user agent was sent (`McpAuthOptions.sleep`). Default: `setTimeout`. */
  sleep?(ms: number): Promise<void>;
  /** The storage for `key` (pending logins may live apart from grants). */
  storage(key: string): Storage;
  /** Cancels the operation; its `reason`, if an `McpAuthError`, is the error. */
  signal?: AbortSignal;
  /** The lock across processes, instead of the Web Locks API (`McpAuthOptions.lock`). */
  lock?: SharedLock;
  /** A failure that does not fail the operation (a refused revocation, a refresh that failed while the token still works). */
  onWarning?(error: McpAuthError): void;
  /** A callback for another login arrived and was ignored. */
  onForeignCallback?(): void;
  /** Show the user the device code. */
  onPrompt?(prompt: DevicePrompt): unknown;
  /** Start a loopback listener that hands requests to `control.callback`; resolves to the redirect URI. */
  listen?(request: ListenRequest, control: MachineControl): Promise<string>;
  /** Send the user agent to `url`. Not awaited: the login goes on meanwhile; a rejection ends it. */
  authorize?(url: string, control: MachineControl): unknown;
  /** Hears what the loop does ({@link DebugHook}). */
  debug?: DebugHook;
  /** Signs the JWTs a request carries. Without it, a request that carries one fails with `NO_SIGNING_KEY`. */
  sign?: Signer;
  /** Reads a credential a machine login presents (the `credential` event). Default: a file or an environment variable in Node, nothing in browsers. */
  readCredential?(source: CredentialSource): Promise<string>;
}

/**
 * Drives machine `handle` until its `done` and resolves with what `done` carries (or rejects
 * with its error as an {@link McpAuthError}). The machine is not freed: its outcome stays
 * readable (`protectedStep` takes it) until the caller frees it.
 */
export async function runMachine(handle: number, io: MachineIo): Promise<unknown> {
  const run = new Run(handle, io);
  try {
    return await run.loop();
  } finally {
    run.close();
  }
}

/** Marks an `AbortController` abort as a request deadline, not a shutdown. */
const DEADLINE = Symbol('deadline');

/** `setTimeout` takes at most 2^31-1 ms; a longer wait wakes early and sleeps again. */
const MAX_DELAY = 0x7fffffff;

class Run {
  readonly #handle: number;
  readonly #io: MachineIo;
  readonly #control: MachineControl;
  readonly #inFlight = new Map<number, AbortController>();
  readonly #held: (() => void)[] = [];
  #wake: (() => void) | undefined;
  /** A listener was started or a user agent sent: a callback may come any time, so waits stay on real time. */
  #userAgent = false;
  /** Locks asked for and not yet granted or refused. */
  #lockWaits = 0;
  #closed = false;
  #detached: { value: unknown } | undefined;
  #abortReason: unknown;
  /** A save or delete that failed: the operation's error, whatever the machine concluded. */
  #storeFailure: { error: unknown } | undefined;
  /** The caller's signal: its reason if that is an `McpAuthError`, else the core's `ABORTED`. */
  readonly #onAbort = () => {
    const reason: unknown = this.#io.signal?.reason;
    this.#control.abort(reason instanceof McpAuthError ? reason : undefined);
  };

  constructor(handle: number, io: MachineIo) {
    this.#handle = handle;
    this.#io = io;
    this.#control = {
      callback: (url) => {
        const belongs = this.#feed({ kind: 'callback', url }).belongs === true;
        this.#debug(belongs ? 'callback received' : "callback ignored: not this login's");
        return belongs;
      },
      abort: (reason) => {
        this.#abortReason ??= reason;
        this.#feed({ kind: 'abort' });
      },
      detach: (value) => {
        this.#detached = { value };
        this.#wake?.();
      },
    };
  }

  async loop(): Promise<unknown> {
    if (this.#io.signal?.aborted) this.#onAbort();
    this.#io.signal?.addEventListener('abort', this.#onAbort, { once: true });
    for (;;) {
      const { transmits, events, timeout } = core.machineDrain(this.#handle, this.#now());
      for (const transmit of transmits) this.#send(transmit);
      for (const event of events) {
        this.#debug('event', { event: event.kind });
        if (event.kind === 'done') return this.#done(event);
        await this.#perform(event);
        const detached = this.#stopped();
        if (detached) return detached.value;
      }
      // Feeding may have made more to drain; sleep only once a drain is empty.
      if (transmits.length === 0 && events.length === 0) await this.#sleep(timeout);
      const detached = this.#stopped();
      if (detached) return detached.value;
    }
  }

  /** Set by `detach`, at any await. */
  #stopped(): { value: unknown } | undefined {
    return this.#detached;
  }

  close(): void {
    this.#closed = true;
    this.#io.signal?.removeEventListener('abort', this.#onAbort);
    for (const controller of this.#inFlight.values()) controller.abort();
    this.#inFlight.clear();
    for (const release of this.#held.splice(0)) release();
  }

  /** Tells the caller's {@link DebugHook}, which must not break the run. */
  #debug(message: string, fields?: Record<string, unknown>): void {
    try {
      this.#io.debug?.(message, fields);
    } catch {
      // Debug output is best effort.
    }
  }

  #done(event: Extract<MachineEvent, { kind: 'done' }>): unknown {
    this.#debug('ok' in event ? 'done' : 'failed', 'ok' in event ? undefined : { code: event.error.code });
    if (this.#storeFailure) throw this.#storeFailure.error;
    if ('ok' in event) return event.ok;
    // The machine ended because this run aborted it: the reason given is the error.
    if (event.error.code === 'ABORTED' && this.#abortReason !== undefined) throw this.#abortReason;
    throw fromWire(event.error);
  }

  /** Feeds the machine now (inputs may come at any time) and wakes the loop to drain it. */
  #now(): number {
    return this.#io.now?.() ?? Date.now();
  }

  #feed(input: Parameters<typeof core.machineInput>[1]): { belongs?: boolean } {
    if (this.#closed) return {};
    const answer = core.machineInput(this.#handle, input, this.#now());
    this.#wake?.();
    return answer;
  }

  async #sleep(timeout: number | null): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let due = false;
    await new Promise<void>((resolve) => {
      this.#wake = resolve;
      if (timeout !== null) {
        const delay = Math.min(Math.max(0, timeout - this.#now()), MAX_DELAY);
        const fire = () => {
          due = true;
          resolve();
        };
        // Only a pure pause goes to `io.sleep`: a response or a callback could come any time, and their deadlines are real.
        const sleep = this.#io.sleep;
        if (sleep && this.#inFlight.size === 0 && this.#lockWaits === 0 && !this.#userAgent) {
          sleep(delay).then(fire, (error: unknown) => this.#control.abort(error));
        } else {
          timer = setTimeout(fire, delay);
        }
      }
    });
    this.#wake = undefined;
    clearTimeout(timer);
    if (due) {
      this.#debug('timeout');
      core.machineInput(this.#handle, { kind: 'timeout' }, this.#now());
    }
  }

  /** Sends one request and feeds back what came of it; never throws. */
  #send(transmit: Transmit): void {
    const controller = new AbortController();
    const request = transmit.id;
    this.#debug('sending request', {
      request,
      method: transmit.method,
      url: redactedUrl(transmit.url),
      bodyLength: transmit.body?.length ?? 0,
    });
    this.#inFlight.set(transmit.id, controller);
    const deadline = setTimeout(() => controller.abort(DEADLINE), transmit.timeoutMs);
    const fed = (feed: () => void) => {
      clearTimeout(deadline);
      this.#inFlight.delete(transmit.id);
      if (this.#closed) return;
      feed();
      this.#wake?.();
    };
    const failed = (reason: string) => {
      this.#debug('request failed', { request, reason });
      fed(() => this.#feed({ kind: 'failure', id: transmit.id, failure: { kind: 'transport', reason } }));
    };
    void (async () => {
      let signed: { headers: [string, string][]; body: string | null };
      try {
        signed = transmit.signings.length === 0 ? transmit : await this.#sign(transmit);
      } catch (error) {
        // Not a transport failure: without its signature the request cannot be made at all.
        clearTimeout(deadline);
        this.#inFlight.delete(transmit.id);
        this.#debug('signing failed', { request });
        this.#control.abort(wrap(error, 'NO_SIGNING_KEY', 'signing the request failed'));
        return;
      }
      try {
        await settled();
        const response = await this.#io.fetch(transmit.url, {
          method: transmit.method,
          headers: signed.headers,
          body: signed.body ?? undefined,
          redirect: transmit.followRedirects ? 'follow' : 'manual',
          signal: controller.signal,
        });
        // A browser hides a redirect it did not follow behind status 0.
        if (response.type === 'opaqueredirect') {
          return failed('answered with a redirect, which is not followed for OAuth endpoints');
        }
        const body = await readCapped(response, transmit.maxResponseBytes + 1);
        const headers = [...response.headers] as [string, string][];
        const contentType = response.headers.get('content-type') ?? '';
        this.#debug('response', { request, status: response.status, contentType, bodyLength: body.length });
        fed(() => core.machineResponse(this.#handle, transmit.id, response.status, headers, body, this.#now()));
      } catch (error) {
        if (controller.signal.reason === DEADLINE) {
          this.#debug('request timed out', { request });
          fed(() => this.#feed({ kind: 'failure', id: transmit.id, failure: { kind: 'timeout' } }));
        } else {
          failed(describe(error));
        }
      }
    })();
  }

  /** Signs the JWTs of `transmit` and places them. */
  async #sign(transmit: Transmit): Promise<{ headers: [string, string][]; body: string | null }> {
    const sign = this.#io.sign;
    if (!sign) throw new McpAuthError('NO_SIGNING_KEY', 'this request carries a JWT to sign, and the driver has no signer');
    this.#debug('signing', { request: transmit.id, count: transmit.signings.length });
    return signTransmit(transmit, sign);
  }

  /** Acts on one event; what takes long (a lock, a listener, the user) goes on in the background. */
  async #perform(event: Exclude<MachineEvent, { kind: 'done' }>): Promise<void> {
    const io = this.#io;
    try {
      switch (event.kind) {
        case 'load': {
          const record = await this.#store(event.key, (s) => s.get(event.key));
          this.#debug('store load', { key: keyKind(event.key), found: record != null });
          this.#feed({ kind: 'loaded', key: event.key, record: record ?? null });
          return;
        }
        case 'save':
          this.#debug('store save', { key: keyKind(event.key), length: event.record.length });
          return await this.#store(event.key, (s) => s.set(event.key, event.record));
        case 'delete':
          this.#debug('store delete', { key: keyKind(event.key) });
          return await this.#store(event.key, (s) => s.delete(event.key));
        case 'lock': {
          this.#debug('taking lock', { key: keyKind(event.key) });
          const warn = (error: unknown) => io.onWarning?.(wrap(error, 'STORE', `releasing the lock ${event.key} failed`));
          this.#lockWaits++;
          return void acquire(event.key, io.lock, warn).finally(() => this.#lockWaits--).then(
            (release) => {
              if (this.#closed) return release();
              this.#held.push(release);
              this.#debug('lock held');
              this.#feed({ kind: 'locked' });
            },
            (error: unknown) => this.#control.abort(wrap(error, 'STORE', `cannot take the lock ${event.key}`)),
          );
        }
        case 'listen': {
          this.#userAgent = true;
          if (!io.listen) throw new McpAuthError('INVALID_STATE', 'this login needs a loopback listener (mcpauth/node)');
          const { port, required, path } = event;
          return void io.listen({ port, required, path }, this.#control).then(
            (uri) => this.#feed({ kind: 'redirect_uri', uri }),
            (error: unknown) => this.#control.abort(error),
          );
        }
        case 'authorize':
          this.#userAgent = true;
          if (!io.authorize) throw new McpAuthError('INVALID_STATE', 'this login has no way to send the user agent to the authorization server');
          return this.#hook(io.authorize(event.url, this.#control));
        case 'foreign_callback':
          return this.#hook(io.onForeignCallback?.());
        case 'credential': {
          this.#debug('reading credential', { source: event.source.kind });
          const read = io.readCredential ?? readCredential;
          // The reason goes to the core, which makes it CREDENTIAL_UNAVAILABLE; it never holds the value.
          const answer = await read(event.source).then(
            (value) => ({ value }),
            (error: unknown) => ({ error: describe(error) }),
          );
          this.#feed({ kind: 'credential', ...answer });
          return;
        }
        case 'device_code': {
          const { kind: _, ...prompt } = event;
          return this.#hook(io.onPrompt?.(prompt));
        }
        case 'warning':
          return this.#hook(io.onWarning?.(fromWire(event.error)));
      }
    } catch (error) {
      if (event.kind === 'save' || event.kind === 'delete') this.#storeFailure ??= { error };
      this.#control.abort(error);
    }
  }

  /** A hook's result: a rejection ends the operation with its error. */
  #hook(result: unknown): void {
    if (result instanceof Promise) result.catch((error: unknown) => this.#control.abort(error));
  }

  async #store<T>(key: string, op: (storage: Storage) => Promise<T>): Promise<T> {
    try {
      return await op(this.#io.storage(key));
    } catch (error) {
      throw wrap(error, 'STORE', `the storage failed on ${keyForMessages(key)}`);
    }
  }
}

/**
 * The URL as debug output may show it: origin and path, then the query's parameter names only
 * (as the core's `HttpRequest::redacted_url`); no values, user info or fragment.
 */
function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const names = [...parsed.searchParams.keys()];
    return `${parsed.origin}${parsed.pathname}${names.length ? `?${names.join('&')}` : ''}`;
  } catch {
    return '(not a URL)';
  }
}

/** What kind of record or lock a storage key names (the core's `key_kind`): a pending login's key holds its `state`. */
function keyKind(key: string): string {
  const kind = key.split('#', 1)[0] ?? '';
  return ['grant', 'refresh', 'client', 'pending', 'discovery'].includes(kind) ? kind : 'other';
}

/** A key as messages may show it (the core's `key_for_messages`). */
function keyForMessages(key: string): string {
  return keyKind(key) === 'pending' ? 'pending#[redacted]' : key;
}

/**
 * Waits one turn of the event loop where there is `setImmediate` (Node, Bun). A request the
 * machine sends right after reading a response would otherwise find that response's
 * connection still busy: undici hands a connection back to its pool only after the body's
 * end has reached the reader, so the request would open a new connection (TCP and TLS
 * set-up, a round trip or more) instead of reusing the idle one. Browsers pool on their own.
 */
export function settled(): Promise<void> {
  const immediate = (globalThis as { setImmediate?: (callback: () => void) => unknown }).setImmediate;
  return immediate ? new Promise((resolve) => void immediate(resolve)) : Promise.resolve();
}

/** Reads at most `limit` bytes of the body, then stops the download. */
async function readCapped(response: Response, limit: number): Promise<Uint8Array> {
  if (!response.body) return new Uint8Array(await response.arrayBuffer()).subarray(0, limit);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (size < limit) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    size += value.byteLength;
  }
  if (size >= limit) await reader.cancel().catch(() => {});
  const body = new Uint8Array(Math.min(size, limit));
  let at = 0;
  for (const chunk of chunks) {
    const take = chunk.subarray(0, body.length - at);
    body.set(take, at);
    at += take.length;
  }
  return body;
}

// ----- locks -------------------------------------------------------------------------------------

/** The tail of each lock's queue in this process. */
const queues = new Map<string, Promise<void>>();

/**
 * Takes the lock `key`: in this process through a queue of promises, then across processes
 * through `shared` when given, else across tabs and workers through the Web Locks API
 * (`navigator.locks`) where the host has it. Resolves to the release; a shared lock is released
 * before the next caller in this process goes on, and a failed release goes to `warn` (its
 * lease ends it anyway).
 */
async function acquire(key: string, shared: SharedLock | undefined, warn: (error: unknown) => void): Promise<() => void> {
  const before = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const mine = new Promise<void>((resolve) => (release = resolve));
  const tail = before.then(() => mine);
  queues.set(key, tail);
  await before;
  const done = () => {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  };
  if (shared) {
    let releaseShared: () => Promise<void>;
    try {
      releaseShared = await shared.acquire(key);
    } catch (error) {
      done();
      throw error;
    }
    return () => void releaseShared().catch(warn).finally(done);
  }
  const locks = webLocks();
  if (!locks) return done;
  let releaseShared!: () => void;
  await new Promise<void>((held) => {
    locks
      .request(`mcpauth ${key}`, () => {
        held();
        return new Promise<void>((resolve) => (releaseShared = resolve));
      })
      .catch(() => held());
  });
  return () => {
    releaseShared?.();
    done();
  };
}

/** The Web Locks API where the host has one: browsers, some server runtimes. */
function webLocks(): { request(name: string, callback: () => Promise<void>): Promise<void> } | undefined {
  const nav = (globalThis as { navigator?: { locks?: { request?: unknown } } }).navigator;
  return typeof nav?.locks?.request === 'function' ? (nav.locks as ReturnType<typeof webLocks>) : undefined;
}
