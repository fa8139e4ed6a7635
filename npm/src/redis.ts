/**
 * `mcpauth/redis`: grants on Redis, shared by the replicas of a gateway, with one refresh per
 * grant across all of them. The same keys, record format and lock as the Rust crate's Redis
 * store, so Node and Rust processes can share one Redis.
 *
 * ```ts
 * import { createClient } from "redis";
 * import { McpAuth } from "mcpauth";
 * import { RedisStorage } from "mcpauth/redis";
 *
 * const client = await createClient({ url: process.env.REDIS_URL }).connect();
 * const store = new RedisStorage({ client, namespace: "tenant-42" }); // key: MCPAUTH_STORE_KEY
 * const auth = new McpAuth({ storage: store, lock: store, profile: userProfile });
 * ```
 *
 * # Layout
 * - a record: `mcpauth:<namespace>:<record key>` (`grant#<server>[#<profile>]`, ...), its value
 *   sealed as the file store's records are: `MCPAUTH\x01`, the record key's length (u32, big
 *   endian), the record key, a 24-byte random nonce, then the XChaCha20-Poly1305 ciphertext
 *   of the record with the record key as associated data. A value copied to another key, or
 *   altered in any byte, fails to decrypt.
 * - a lock: `mcpauth:<namespace>:lock:<lock name>` (`refresh#<server>[#<profile>]`), holding
 *   the holder's random token for a lease.
 *
 * # The lock
 * Taken with `SET key token NX PX lease`, retried with a bounded backoff until
 * `acquireTimeoutMs`; renewed every third of the lease while held (only if it still holds our
 * token); released by compare-and-delete. A holder whose lease lapsed (a paused process) cannot
 * overwrite what the next holder stored: while this object holds `refresh#X`, the save (or
 * delete) of `grant#X` is one Lua script that writes only if the lock still holds its token,
 * and fails with `STORE` otherwise.
 *
 * Needs a single Redis (or a primary with replicas): a fenced save names two keys in one
 * script, which Redis Cluster refuses unless they share a slot. The client is node-redis 5 or
 * later (`redis` on npm), created and connected by the caller; the cipher is `@noble/ciphers`,
 * an optional peer dependency of this package that this entry needs.
 *
 * @module
 */

import { randomBytes } from 'node:crypto';

import { xchacha20poly1305 } from '@noble/ciphers/chacha.js';

import { McpAuthError } from './errors.js';
import type { SharedLock } from './pump.js';
import type { Storage } from './storage.js';

/**
 * What {@link RedisStorage} needs of a Redis client: node-redis's `sendCommand`, whose
 * `typeMapping` option makes bulk strings come back as `Buffer`s (records are binary).
 */
export interface RedisCommandClient {
  sendCommand(args: ReadonlyArray<string | Buffer>, options?: { typeMapping?: Record<number, unknown> }): Promise<unknown>;
}

/** Options of {@link RedisStorage}. */
export interface RedisStorageOptions {
  /** A connected node-redis client (`await createClient({...}).connect()`); the caller closes it. */
  client: RedisCommandClient;
  /**
   * Keeps one tenant's records and locks apart from another's: 1 to 64 ASCII letters, digits,
   * `.`, `_` or `-` (map tenant ids that are not, e.g. to a hash). Processes that share grants
   * use the same namespace.
   */
  namespace: string;
  /**
   * The store key: 32 bytes, or their base64. Default: `MCPAUTH_STORE_KEY` from the
   * environment, as the Rust crate reads it. Every process sharing the namespace needs the
   * same key.
   */
  key?: Uint8Array | string;
  /**
   * How long a lock holds without renewal, in milliseconds (renewed every third; at least 30).
   * A process that dies holding a lock blocks that grant's refreshes for at most this long.
   * Default 15 000.
   */
  leaseMs?: number;
  /** How long {@link RedisStorage.acquire} waits for a lock held elsewhere, in milliseconds. Default 60 000. */
  acquireTimeoutMs?: number;
  /**
   * Grants (`grant#…` records) expire this long after their last save (each refresh saves), so
   * that the grants of users who stopped coming do not stay forever. Choose it longer than the
   * authorization server's refresh-token lifetime. Default: grants never expire.
   */
  grantTtlMs?: number;
}

/** The environment variable holding the store key (base64 of 32 bytes), as for the Rust crate. */
export const STORE_KEY_ENV = 'MCPAUTH_STORE_KEY';

const MAGIC = Buffer.from('MCPAUTH\x01', 'latin1');
const KEY_LEN = 32;
const NONCE_LEN = 24;
/** node-redis's `RESP_TYPES.BLOB_STRING` (`$`): the bulk strings GET returns. */
const BLOB_STRING = 36;
const AS_BUFFERS = { typeMapping: { [BLOB_STRING]: Buffer } };
const NAMESPACE = /^[A-Za-z0-9._-]{1,64}$/;
/** What follows `mcpauth:<namespace>:` in a lock's Redis key; no record key starts with it. */
const LOCK_INFIX = 'lock:';

/** Extends the lock's lease if it still holds our token. */
const RENEW = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;
/** Deletes the lock if it still holds our token. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
/**
 * Sets record KEYS[2] to ARGV[2] (expiring after ARGV[3] ms unless that is 0) only while lock
 * KEYS[1] holds our token ARGV[1]; the Rust store's script, argument for argument.
 */
const FENCED_SAVE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[3] ~= '0' then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) else redis.call('SET', KEYS[2], ARGV[2]) end
return 1`;
/** Deletes record KEYS[2] only while lock KEYS[1] holds our token ARGV[1]. */
const FENCED_DELETE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
return 1`;

/**
 * The record a lock guards: the core takes `refresh#<server>[#<profile>]` to refresh
 * `grant#<server>[#<profile>]` (`refresh_lock` and `grant_key` in core/src/flow/store.rs). The
 * one place this package knows that rule (the Rust crate's is `grant_key_for_lock`).
 */
export function guardedRecord(lockName: string): string | undefined {
  const prefix = 'refresh#';
  return lockName.startsWith(prefix) && lockName.length > prefix.length ? `grant#${lockName.slice(prefix.length)}` : undefined;
}

/** A lock this object holds. */
interface Held {
  token: string;
  timer: ReturnType<typeof setInterval>;
}

/**
 * Records in Redis, sealed with the store key, and the lock across processes: pass the same
 * object as `storage` and `lock` of {@link McpAuth}.
 *
 * @security Records hold refresh tokens and client secrets: they are encrypted, but whoever has
 * the store key and the Redis can read them. Keep the key in a secret manager, not next to the
 * Redis credentials. Record keys (server URLs, profiles) are stored in clear.
 */
export class RedisStorage implements Storage, SharedLock {
  readonly #client: RedisCommandClient;
  readonly #prefix: string;
  readonly #key: Uint8Array;
  readonly #leaseMs: number;
  readonly #acquireTimeoutMs: number;
  readonly #grantTtlMs: number;
  /** Locks held by this object, by lock name. */
  readonly #held = new Map<string, Held>();

  /** @throws `CONFIG` when the namespace, the key or a duration is malformed. */
  constructor(options: RedisStorageOptions) {
    if (!NAMESPACE.test(options.namespace)) {
      throw new McpAuthError('CONFIG', `"namespace" must be 1 to 64 of A-Z, a-z, 0-9, ".", "_" or "-"; map tenant ids that are not, e.g. to a hash (got ${JSON.stringify(options.namespace)})`);
    }
    this.#client = options.client;
    this.#prefix = `mcpauth:${options.namespace}:`;
    this.#key = storeKey(options.key);
    this.#leaseMs = duration('leaseMs', options.leaseMs ?? 15_000, 30);
    this.#acquireTimeoutMs = duration('acquireTimeoutMs', options.acquireTimeoutMs ?? 60_000, 0);
    this.#grantTtlMs = options.grantTtlMs === undefined ? 0 : duration('grantTtlMs', options.grantTtlMs, 1);
  }

  /** @throws `STORE` when the value is not a record sealed for `key` with this store key. */
  async get(key: string): Promise<string | undefined> {
    const value = await this.#client.sendCommand(['GET', this.#prefix + key], AS_BUFFERS);
    if (value === null || value === undefined) return undefined;
    if (!Buffer.isBuffer(value)) {
      throw new McpAuthError('CONFIG', 'the Redis client returned text, not bytes: RedisStorage needs node-redis 5 or later');
    }
    return new TextDecoder().decode(openRecord(this.#key, key, value));
  }

  /**
   * @throws `STORE` when `key` is guarded by a lock this object held and has lost since, or
   * names a lock (`lock:…`).
   */
  async set(key: string, value: string): Promise<void> {
    if (key.startsWith(LOCK_INFIX)) throw new McpAuthError('STORE', `record key ${key}: keys starting with "${LOCK_INFIX}" name locks`);
    const sealed = sealRecord(this.#key, key, new TextEncoder().encode(value));
    await this.#write(key, sealed);
  }

  /** @throws `STORE` as {@link set}. */
  async delete(key: string): Promise<void> {
    await this.#write(key, undefined);
  }

  /**
   * Takes the lock `name` across every process on this Redis and namespace, renewing its lease
   * until released.
   *
   * @throws `STORE` when another holder keeps it past `acquireTimeoutMs`.
   */
  async acquire(name: string): Promise<() => Promise<void>> {
    const lockKey = this.#lockKey(name);
    const token = randomBytes(16).toString('hex');
    const deadline = Date.now() + this.#acquireTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      const taken = await this.#client.sendCommand(['SET', lockKey, token, 'NX', 'PX', String(this.#leaseMs)]);
      if (taken !== null && taken !== undefined) break;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new McpAuthError('STORE', `the lock ${name} stayed held elsewhere for ${this.#acquireTimeoutMs} ms (acquireTimeoutMs)`);
      }
      // 5, 10, 20, ... up to 200 ms, with jitter so that waiters do not retry in step.
      const backoff = Math.min(200, 5 * 2 ** Math.min(attempt, 6));
      await sleep(Math.min(left, backoff / 2 + Math.random() * backoff));
    }
    const timer = setInterval(() => void this.#renew(name, lockKey, token), Math.max(1, Math.floor(this.#leaseMs / 3)));
    timer.unref?.();
    this.#held.set(name, { token, timer });
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      clearInterval(timer);
      if (this.#held.get(name)?.token === token) this.#held.delete(name);
      await this.#client.sendCommand(['EVAL', RELEASE, '1', lockKey, token]);
    };
  }

  /** Renews a held lease; a lease found lost stops renewing (the fenced save then fails). */
  async #renew(name: string, lockKey: string, token: string): Promise<void> {
    const held = this.#held.get(name);
    if (held?.token !== token) return;
    try {
      const renewed = await this.#client.sendCommand(['EVAL', RENEW, '1', lockKey, token, String(this.#leaseMs)]);
      if (Number(renewed) !== 1) clearInterval(held.timer);
    } catch {
      // A failed renewal is retried at the next tick; the lease may still run out, and then
      // the fenced save refuses to write.
    }
  }

  /** SET or DEL `key`, fenced by the lock guarding it when this object holds that lock. */
  async #write(key: string, sealed: Buffer | undefined): Promise<void> {
    const recordKey = this.#prefix + key;
    const ttl = this.#grantTtlMs > 0 && key.startsWith('grant#') ? String(this.#grantTtlMs) : '0';
    const guard = [...this.#held].find(([name]) => guardedRecord(name) === key);
    if (!guard) {
      if (!sealed) await this.#client.sendCommand(['DEL', recordKey]);
      else await this.#client.sendCommand(ttl === '0' ? ['SET', recordKey, sealed] : ['SET', recordKey, sealed, 'PX', ttl]);
      return;
    }
    const [name, { token }] = guard;
    const lockKey = this.#lockKey(name);
    const args = sealed ? ['EVAL', FENCED_SAVE, '2', lockKey, recordKey, token, sealed, ttl] : ['EVAL', FENCED_DELETE, '2', lockKey, recordKey, token];
    const written = await this.#client.sendCommand(args);
    if (Number(written) !== 1) {
      throw new McpAuthError(
        'STORE',
        `the lock ${name} was lost (its lease ran out, and another process may hold it) before ${key} was ${sealed ? 'saved' : 'deleted'}: not overwriting what the new holder stores (raise leaseMs if this repeats)`,
      );
    }
  }

  #lockKey(name: string): string {
    return `${this.#prefix}${LOCK_INFIX}${name}`;
  }
}

// ----- the sealed record ---------------------------------------------------------------------------

/** Seals `value` for record `key`: the file store's format (native/src/store/file.rs). */
export function sealRecord(storeKey: Uint8Array, key: string, value: Uint8Array): Buffer {
  const keyBytes = Buffer.from(key, 'utf8');
  const nonce = randomBytes(NONCE_LEN);
  const ciphertext = xchacha20poly1305(storeKey, nonce, keyBytes).encrypt(value);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(keyBytes.length);
  return Buffer.concat([MAGIC, length, keyBytes, nonce, ciphertext]);
}

/**
 * Opens a record sealed for `key`.
 *
 * @throws `STORE` when it is not a record, belongs to another key, or does not decrypt.
 */
export function openRecord(storeKey: Uint8Array, key: string, sealed: Uint8Array): Uint8Array {
  const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
  const headerEnd = MAGIC.length + 4;
  if (bytes.length < headerEnd || !bytes.subarray(0, MAGIC.length).equals(MAGIC)) {
    throw new McpAuthError('STORE', `the value of ${key} is not a mcpauth record (damaged, or written by something else)`);
  }
  const keyEnd = headerEnd + bytes.readUInt32BE(MAGIC.length);
  if (bytes.length < keyEnd + NONCE_LEN) {
    throw new McpAuthError('STORE', `the value of ${key} is a truncated mcpauth record`);
  }
  const keyBytes = Buffer.from(key, 'utf8');
  if (!bytes.subarray(headerEnd, keyEnd).equals(keyBytes)) {
    throw new McpAuthError('STORE', `the value of ${key} holds the record of another key; it was copied or tampered with`);
  }
  const nonce = bytes.subarray(keyEnd, keyEnd + NONCE_LEN);
  try {
    return xchacha20poly1305(storeKey, nonce, keyBytes).decrypt(bytes.subarray(keyEnd + NONCE_LEN));
  } catch (error) {
    throw new McpAuthError(
      'STORE',
      `cannot decrypt the record of ${key}: the store key is not the one it was written with, or the value was tampered with`,
      { cause: error },
    );
  }
}

/** The 32-byte store key from the option or `MCPAUTH_STORE_KEY`. */
function storeKey(option: Uint8Array | string | undefined): Uint8Array {
  const source = option ?? process.env[STORE_KEY_ENV];
  const where = option === undefined ? STORE_KEY_ENV : '"key"';
  if (source === undefined || source === '') {
    throw new McpAuthError('CONFIG', `no store key: pass "key" (32 bytes, or their base64) or set ${STORE_KEY_ENV}`);
  }
  // Node's base64 decoder skips what is not base64; the Rust crate's refuses it, and so does this.
  const text = typeof source === 'string' ? source.trim() : undefined;
  const bytes = text === undefined ? (source as Uint8Array) : /^[A-Za-z0-9+/]*={0,2}$/.test(text) ? Buffer.from(text, 'base64') : Buffer.alloc(0);
  if (bytes.length !== KEY_LEN) {
    throw new McpAuthError('CONFIG', `${where} must be ${KEY_LEN} bytes${typeof source === 'string' ? ' in base64' : ''} (got ${bytes.length}); make one with \`openssl rand -base64 32\``);
  }
  return new Uint8Array(bytes);
}

function duration(field: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) throw new McpAuthError('CONFIG', `"${field}" must be a whole number of milliseconds, at least ${min} (got ${value})`);
  return value;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
