// The JWTs a test signs by hand to talk to oidc-provider without mcpauth, and to check what
// mcpauth sent: DPoP proofs (RFC 9449 §4), client assertions (RFC 7523 §2.2), JWK thumbprints
// (RFC 7638). node:crypto only.
//
//   const key = dpopKey();                       // a fresh P-256 key
//   const proof = dpopProof(key, { htm: 'POST', htu: tokenEndpoint, nonce });
//   thumbprint(key.jwk) === decodeJwt(accessToken).payload.cnf.jkt

import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';

const b64 = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** The header and claims of a compact JWT, unverified. */
export function decodeJwt(jwt) {
  const [header, payload] = jwt.split('.').slice(0, 2).map((part) => JSON.parse(Buffer.from(part, 'base64url')));
  return { header, payload };
}

/** The RFC 7638 thumbprint of a public EC or RSA JWK (base64url SHA-256 of its required members). */
export function thumbprint(jwk) {
  const members = jwk.kty === 'EC' ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y } : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return createHash('sha256').update(JSON.stringify(members)).digest('base64url');
}

/** Signs `header.payload` with `privateKey` as `alg` (ES256 as raw r||s, RS256 as PKCS#1 v1.5). */
export function signJwt(privateKey, alg, header, payload) {
  const input = `${b64({ ...header, alg })}.${b64(payload)}`;
  const options = alg === 'ES256' ? { key: privateKey, dsaEncoding: 'ieee-p1363' } : privateKey;
  return `${input}.${sign('sha256', Buffer.from(input), options).toString('base64url')}`;
}

/** A fresh P-256 key for DPoP: `{ privateKey, jwk }` (the public JWK). */
export function dpopKey() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
  return { privateKey, jwk: { kty, crv, x, y } };
}

/** A DPoP proof for `htm htu`, with `nonce` and, for a resource request, `accessToken`'s `ath`. */
export function dpopProof(key, { htm, htu, nonce, accessToken, iat = Math.floor(Date.now() / 1000) }) {
  const payload = { htm, htu, iat, jti: randomUUID() };
  if (nonce) payload.nonce = nonce;
  if (accessToken) payload.ath = createHash('sha256').update(accessToken).digest('base64url');
  return signJwt(key.privateKey, 'ES256', { typ: 'dpop+jwt', jwk: key.jwk }, payload);
}

/**
 * A private_key_jwt client assertion at `audience` for one of oidc.mjs's `clients` (its
 * `client_id`, `alg`, `kid`, and the PEM in `key_file`); `clientId` signs as another client.
 */
export function clientAssertion(client, audience, { clientId = client.client_id, lifetime = 60 } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const key = createPrivateKey(readFileSync(client.key_file));
  const claims = { iss: clientId, sub: clientId, aud: audience, jti: randomUUID(), iat: now, exp: now + lifetime };
  return signJwt(key, client.alg, { typ: 'JWT', kid: client.kid }, claims);
}

/** The public JWK of a private JWK or key file, for comparisons. */
export function publicJwk(privateJwk) {
  return createPublicKey({ key: privateJwk, format: 'jwk' }).export({ format: 'jwk' });
}

/** oidc.mjs's request log (`GET /_interop/requests`), optionally only one path's entries. */
export async function serverLog(issuer, path) {
  const entries = await (await fetch(`${issuer}/_interop/requests`)).json();
  return path ? entries.filter((e) => e.path === path) : entries;
}
