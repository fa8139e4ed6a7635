/**
 * Signing the JWTs the core writes (DPoP proofs, RFC 9449; `private_key_jwt` client assertions,
 * RFC 7523 §2.2) with WebCrypto, and the DPoP keys they are signed with.
 *
 * The core decides everything about a JWT: its header and claims, its date and `jti` (stamped
 * by the boundary at the drain), the key, the algorithm, and where the result goes. Each
 * transmit carries them as `signings`; this module only signs each `input` and puts the compact
 * JWS where `place` says ({@link signTransmit}).
 *
 * Keys:
 * - DPoP, in browsers: a P-256 key generated non-extractable, its `CryptoKeyPair` kept in
 *   IndexedDB under a random id (`{kind: "stored", id}` in the grant record). It survives page
 *   loads, and no script can read the private key back.
 * - DPoP, elsewhere (Node, which has no IndexedDB): WebCrypto too, but extractable, so that
 *   the private scalar goes into the grant record (`{kind: "jwk", d}`), as the Rust crate keeps
 *   it. Encrypt the storage as you would for the tokens beside it.
 * - The `private_key_jwt` client key ({@link ClientKey}): PKCS#8 PEM, a JWK, or a `CryptoKey`.
 *
 * @module
 */

import { McpAuthError } from './errors.js';
import type { DpopKey, JwsAlg, Signing, SigningKey, Transmit } from './wire.js';

/**
 * The key of a `private_key_jwt` client (`McpAuthOptions.clientKey`): a PKCS#8 PEM string
 * (`-----BEGIN PRIVATE KEY-----`), a private JWK, or a WebCrypto `CryptoKey`; P-256 (ES256) or
 * RSA (RS256).
 */
export type ClientKey = string | JsonWebKey | CryptoKey;

/** A signer of the JWTs of one `McpAuth`: the DPoP keys of its grants, and its client key. */
export type Signer = (key: SigningKey, alg: JwsAlg, input: Uint8Array<ArrayBuffer>) => Promise<Uint8Array>;

const P256 = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' } as const;
const RSA_SHA256 = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as const;

function subtle(): SubtleCrypto {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new McpAuthError('NO_SIGNING_KEY', 'WebCrypto (crypto.subtle) is not available here; DPoP and private_key_jwt need it');
  return s;
}

function b64url(bytes: Uint8Array): string {
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

function fromB64url(text: string): Uint8Array<ArrayBuffer> {
  const b64 = text.replace(/-/g, '+').replace(/_/g, '/');
  return Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
}

// ----- placing -----------------------------------------------------------------------------------

/**
 * Signs every JWT of `transmit` and puts each compact JWS where the core says: a header of
 * that name, or a form field of that name appended to the body. Returns the headers and body
 * to send.
 *
 * @throws `NO_SIGNING_KEY` when a key is missing, `INVALID_SIGNATURE` for an ES256 signature that
 * is not the raw 64 bytes, or the signer's own error.
 */
export async function signTransmit(transmit: Transmit, sign: Signer): Promise<{ headers: [string, string][]; body: string | null }> {
  const headers = [...transmit.headers];
  let body = transmit.body;
  for (const signing of transmit.signings) {
    const jws = await compactJws(signing, sign);
    if (signing.place.kind === 'header') headers.push([signing.place.name, jws]);
    else body = `${body ? `${body}&` : ''}${signing.place.name}=${jws}`;
  }
  return { headers, body };
}

/** The compact JWS of one dated JWT: `input "." base64url(signature)`. */
export async function compactJws(signing: Signing, sign: Signer): Promise<string> {
  const signature = await sign(signing.key, signing.alg, new TextEncoder().encode(signing.input));
  // The same check as the core's `Signing::compact`: ES256 is the raw r || s, never DER.
  const valid = signing.alg === 'ES256' ? signature.length === 64 : signature.length > 0;
  if (!valid) throw new McpAuthError('INVALID_SIGNATURE', `a ${signing.alg} signature of ${signature.length} bytes is not valid`);
  return `${signing.input}.${b64url(signature)}`;
}

// ----- DPoP keys ---------------------------------------------------------------------------------

/**
 * A fresh P-256 DPoP key for one login, for `dpopKey` of its configuration: non-extractable in
 * IndexedDB where there is one (browsers), else extractable with its private scalar in the
 * record (Node).
 */
export async function newDpopKey(): Promise<DpopKey> {
  const crypto = subtle();
  const store = keyStore();
  const pair = (await crypto.generateKey(P256, store === undefined, ['sign', 'verify'])) as CryptoKeyPair;
  const { x, y } = await crypto.exportKey('jwk', pair.publicKey);
  if (!x || !y) throw new McpAuthError('NO_SIGNING_KEY', 'WebCrypto exported a P-256 public key without coordinates');
  const jwk = { crv: 'P-256', x, y };
  if (store) {
    const id = b64url(globalThis.crypto.getRandomValues(new Uint8Array(16)));
    await store.put(id, pair);
    cache.set(id, pair.privateKey);
    return { jwk, private: { kind: 'stored', id } };
  }
  const { d } = await crypto.exportKey('jwk', pair.privateKey);
  if (!d) throw new McpAuthError('NO_SIGNING_KEY', 'WebCrypto exported a P-256 private key without its scalar');
  cache.set(`d:${d}`, pair.privateKey);
  return { jwk, private: { kind: 'jwk', d } };
}

/** Private keys already imported or read, by `id` (stored) or `d:<scalar>` (in the record). */
const cache = new Map<string, CryptoKey>();

/** The private key of a DPoP key handle. */
async function dpopPrivateKey(handle: Extract<SigningKey, { kind: 'dpop' }>['key']): Promise<CryptoKey> {
  const name = handle.kind === 'stored' ? handle.id : `d:${handle.d}`;
  const cached = cache.get(name);
  if (cached) return cached;
  let key: CryptoKey | undefined;
  if (handle.kind === 'stored') {
    const store = keyStore();
    key = (await store?.get(handle.id))?.privateKey;
    if (!key) throw new McpAuthError('NO_SIGNING_KEY', 'the DPoP key of this grant is not in this browser\'s IndexedDB (cleared, or another origin)');
  } else {
    // A scalar alone is a complete PKCS#8 P-256 key (RFC 5915, the public key is optional), so
    // the record needs no more than `d`.
    key = await subtle().importKey('pkcs8', p256Pkcs8(fromB64url(handle.d)), P256, false, ['sign']);
  }
  cache.set(name, key);
  return key;
}

/** DER of a PKCS#8 `PrivateKeyInfo` holding an RFC 5915 `ECPrivateKey` on P-256 with scalar `d`. */
function p256Pkcs8(d: Uint8Array): Uint8Array<ArrayBuffer> {
  if (d.length !== 32) throw new McpAuthError('NO_SIGNING_KEY', 'the DPoP key in the record is not a P-256 private key');
  const prefix = '308141020100301306072a8648ce3d020106082a8648ce3d030107042730250201010420';
  const der = new Uint8Array(prefix.length / 2 + 32);
  for (let i = 0; i < prefix.length / 2; i++) der[i] = parseInt(prefix.slice(2 * i, 2 * i + 2), 16);
  der.set(d, prefix.length / 2);
  return der;
}

// ----- IndexedDB ---------------------------------------------------------------------------------

/** Where browsers keep DPoP key pairs: structured clones of non-extractable `CryptoKey`s. */
interface KeyStore {
  put(id: string, pair: CryptoKeyPair): Promise<void>;
  get(id: string): Promise<CryptoKeyPair | undefined>;
}

const DB_NAME = 'mcpauth-keys';
const STORE = 'dpop';

/** The IndexedDB key store, where the host has IndexedDB. */
function keyStore(): KeyStore | undefined {
  const idb = (globalThis as { indexedDB?: IDBFactory }).indexedDB;
  if (!idb) return undefined;
  const open = () =>
    new Promise<IDBDatabase>((resolve, reject) => {
      const request = idb.open(DB_NAME, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  const run = async <T>(mode: IDBTransactionMode, op: (store: IDBObjectStore) => IDBRequest): Promise<T> => {
    const db = await open();
    try {
      return await new Promise<T>((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const request = op(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(request.result as T);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  };
  return {
    put: async (id, pair) => void (await run('readwrite', (s) => s.put(pair, id))),
    get: (id) => run<CryptoKeyPair | undefined>('readonly', (s) => s.get(id)),
  };
}

// ----- client keys -------------------------------------------------------------------------------

/** A client key imported for signing, and the algorithm it signs with. */
export interface ImportedClientKey {
  key: CryptoKey;
  alg: JwsAlg;
}

/**
 * Imports a `private_key_jwt` client key: a P-256 key signs ES256, an RSA key RS256.
 *
 * @throws `NO_SIGNING_KEY` when it is neither, or not a private key.
 */
export async function importClientKey(key: ClientKey): Promise<ImportedClientKey> {
  const crypto = subtle();
  const fail = (why: string, cause?: unknown) =>
    new McpAuthError('NO_SIGNING_KEY', `the client key cannot sign: ${why}`, cause === undefined ? {} : { cause });
  if (typeof key === 'string') {
    const match = /-----BEGIN PRIVATE KEY-----([\s\S]+?)-----END PRIVATE KEY-----/.exec(key);
    if (!match?.[1]) throw fail('a PEM client key must be PKCS#8 (-----BEGIN PRIVATE KEY-----)');
    const der = Uint8Array.from(atob(match[1].replace(/\s+/g, '')), (c) => c.charCodeAt(0));
    try {
      return { key: await crypto.importKey('pkcs8', der, P256, false, ['sign']), alg: 'ES256' };
    } catch {
      try {
        return { key: await crypto.importKey('pkcs8', der, RSA_SHA256, false, ['sign']), alg: 'RS256' };
      } catch (error) {
        throw fail('the PEM is neither a P-256 nor an RSA private key', error);
      }
    }
  }
  if (isCryptoKey(key)) {
    if (key.type !== 'private' || !key.usages.includes('sign')) throw fail('the CryptoKey is not a private signing key');
    if (key.algorithm.name === 'ECDSA' && (key.algorithm as EcKeyAlgorithm).namedCurve === 'P-256') return { key, alg: 'ES256' };
    if (key.algorithm.name === 'RSASSA-PKCS1-v1_5') return { key, alg: 'RS256' };
    throw fail(`a ${key.algorithm.name} CryptoKey signs neither ES256 nor RS256`);
  }
  if (!key.d) throw fail('the JWK has no private part (d)');
  try {
    if (key.kty === 'EC' && key.crv === 'P-256') {
      const { alg: _, key_ops: __, use: ___, ...jwk } = key;
      return { key: await crypto.importKey('jwk', jwk, P256, false, ['sign']), alg: 'ES256' };
    }
    if (key.kty === 'RSA') {
      const { alg: _, key_ops: __, use: ___, ...jwk } = key;
      return { key: await crypto.importKey('jwk', jwk, RSA_SHA256, false, ['sign']), alg: 'RS256' };
    }
  } catch (error) {
    throw fail('WebCrypto refused the JWK', error);
  }
  throw fail(`a JWK of kty ${key.kty ?? '(none)'}${key.crv ? ` and crv ${key.crv}` : ''} signs neither ES256 nor RS256`);
}

function isCryptoKey(key: JsonWebKey | CryptoKey): key is CryptoKey {
  return typeof CryptoKey === 'function' ? key instanceof CryptoKey : 'algorithm' in key && 'usages' in key;
}

// ----- the signer --------------------------------------------------------------------------------

/**
 * The signer of an `McpAuth`: DPoP keys by their handle, and `client` with the client key
 * (imported on first use).
 */
export function webCryptoSigner(clientKey: () => Promise<ImportedClientKey | undefined>): Signer {
  return async (key, alg, input) => {
    let privateKey: CryptoKey;
    if (key.kind === 'client') {
      const client = await clientKey();
      if (!client) throw new McpAuthError('NO_SIGNING_KEY', 'this client authenticates with private_key_jwt, but no clientKey is configured');
      if (client.alg !== alg) throw new McpAuthError('NO_SIGNING_KEY', `the client key signs ${client.alg}, the client is registered for ${alg}`);
      privateKey = client.key;
    } else {
      privateKey = await dpopPrivateKey(key.key);
    }
    const params = alg === 'ES256' ? ECDSA_SHA256 : RSA_SHA256;
    return new Uint8Array(await subtle().sign(params, privateKey, input));
  };
}
