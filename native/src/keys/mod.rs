//! The keys the native driver signs with: the client's own key for `private_key_jwt` (RFC 7523
//! §2.2) and the DPoP keys of DPoP-bound grants (RFC 9449).
//!
//! The core writes every JWT and leaves only the signature to the driver (see
//! [`mcpauth_core::jws`]); this module is that signature:
//!
//! - ES256 with the `p256` crate: deterministic ECDSA (RFC 6979), the signature the raw 64-byte
//!   `r || s` that JOSE and WebCrypto use;
//! - RS256 with the `rsa` crate: RSASSA-PKCS1-v1_5 with SHA-256.
//!
//! A [`ClientKey`] is loaded from a PEM file (PKCS#8 `PRIVATE KEY` holding a P-256 or RSA key,
//! SEC1 `EC PRIVATE KEY`, PKCS#1 `RSA PRIVATE KEY`) or a private JWK (EC P-256 or RSA), and
//! its [`JwsAlg`] follows from the key. A DPoP key is a fresh P-256 key per login
//! ([`generate_dpop_key`]), whose private scalar the grant's record keeps, encrypted like the
//! tokens beside it ([`KeyHandle::Jwk`]). A [`KeyHandle::Stored`] key lives in a browser's
//! IndexedDB and cannot sign here: `NO_SIGNING_KEY`.
//!
//! No key material reaches `Debug` output or an error message.

mod load;

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use mcpauth_core::jws::{DpopKey, EcPublicJwk, JwsAlg, KeyHandle, PrivateKeyValue, SigningKey};
use mcpauth_core::{Entropy, HttpRequest, Time, UsageError};
use p256::ecdsa::signature::{SignatureEncoding as _, Signer as _};

use crate::error::Result;

/// The client's private key for `private_key_jwt`, with the algorithm it signs with.
///
/// `Debug` shows the algorithm and key id only.
#[derive(Clone)]
pub struct ClientKey {
    alg: JwsAlg,
    key_id: Option<String>,
    private: Private,
}

/// The key itself.
#[derive(Clone)]
enum Private {
    /// A P-256 key: ES256.
    Ec(p256::ecdsa::SigningKey),
    /// An RSA key: RS256.
    Rsa(Box<rsa::pkcs1v15::SigningKey<sha2::Sha256>>),
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey")
            .field("alg", &self.alg)
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

impl ClientKey {
    /// Parses a private key in PEM: PKCS#8 (`PRIVATE KEY`, P-256 or RSA), SEC1 (`EC PRIVATE
    /// KEY`) or PKCS#1 (`RSA PRIVATE KEY`).
    ///
    /// # Errors
    /// [`Error::InvalidKey`](crate::Error::InvalidKey) for anything else: a public key, an
    /// encrypted key, another curve, text that is no PEM.
    pub fn from_pem(pem: &str) -> Result<Self> {
        load::pem(pem).map_err(|reason| load::invalid("the PEM key", reason))
    }

    /// Parses a private JWK (RFC 7517): `kty` `EC` with `crv` `P-256`, or `kty` `RSA`, with
    /// the private members. Its `kid`, if any, becomes the assertions' `kid`.
    ///
    /// # Errors
    /// [`Error::InvalidKey`](crate::Error::InvalidKey) for a public JWK, another key type or
    /// curve, or members that do not form a key.
    pub fn from_jwk(jwk: &str) -> Result<Self> {
        load::jwk(jwk).map_err(|reason| load::invalid("the JWK", reason))
    }

    /// Parses a private key in either form: a JWK when the text is a JSON object, else PEM.
    ///
    /// # Errors
    /// As [`from_pem`](Self::from_pem) and [`from_jwk`](Self::from_jwk).
    pub fn parse(text: &str) -> Result<Self> {
        load::any(text).map_err(|reason| load::invalid("the key", reason))
    }

    /// Reads a private key file, PEM or JWK (see [`parse`](Self::parse)).
    ///
    /// # Errors
    /// [`Error::InvalidKey`](crate::Error::InvalidKey) naming the path when the file cannot
    /// be read or holds no usable private key.
    pub fn from_file(path: &Path) -> Result<Self> {
        let from = format!("key file {}", path.display());
        let text = std::fs::read_to_string(path)
            .map_err(|e| load::invalid(&from, format!("cannot be read: {e}")))?;
        load::any(&text).map_err(|reason| load::invalid(&from, reason))
    }

    /// The algorithm this key signs with: ES256 for P-256, RS256 for RSA.
    #[must_use]
    pub fn alg(&self) -> JwsAlg {
        self.alg
    }

    /// The `kid` of a JWK that had one.
    #[must_use]
    pub fn key_id(&self) -> Option<&str> {
        self.key_id.as_deref()
    }

    /// The same key, known to the server as `kid` (the assertions' `kid` header).
    #[must_use]
    pub fn with_key_id(mut self, kid: impl Into<String>) -> Self {
        self.key_id = Some(kid.into());
        self
    }

    /// The JWS signature of `input` with [`alg`](Self::alg): raw `r || s` for ES256,
    /// PKCS#1 v1.5 for RS256.
    ///
    /// # Errors
    /// [`UsageError::InvalidSignature`] should the signing library fail (it does not for a
    /// valid key).
    pub fn sign(&self, input: &[u8]) -> mcpauth_core::Result<Vec<u8>> {
        let failed = || UsageError::InvalidSignature {
            alg: self.alg.as_str(),
            len: 0,
        };
        match &self.private {
            Private::Ec(key) => {
                let signature: p256::ecdsa::Signature =
                    key.try_sign(input).map_err(|_| failed())?;
                Ok(signature.to_bytes().to_vec())
            }
            Private::Rsa(key) => {
                let signature = key.try_sign(input).map_err(|_| failed())?;
                Ok(signature.to_vec())
            }
        }
    }

    /// A P-256 client key from its signing key (tests and JWK loading).
    fn ec(key: p256::ecdsa::SigningKey, key_id: Option<String>) -> Self {
        Self {
            alg: JwsAlg::ES256,
            key_id,
            private: Private::Ec(key),
        }
    }

    /// An RSA client key.
    fn rsa(key: rsa::RsaPrivateKey, key_id: Option<String>) -> Self {
        Self {
            alg: JwsAlg::RS256,
            key_id,
            private: Private::Rsa(Box::new(rsa::pkcs1v15::SigningKey::new(key))),
        }
    }
}

/// A fresh P-256 DPoP key from `entropy`: the public JWK the proofs carry, and the private
/// scalar as [`KeyHandle::Jwk`], for the grant's record.
///
/// # Errors
/// [`Error::Entropy`](mcpauth_core::Error::Entropy) when the entropy source fails.
pub fn generate_dpop_key(entropy: &mut dyn Entropy) -> mcpauth_core::Result<DpopKey> {
    let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
    let secret = loop {
        entropy.fill(bytes.as_mut())?;
        // Fails only for zero or a value past the group order: about 2^-128 of draws.
        if let Ok(secret) = p256::SecretKey::from_slice(bytes.as_ref()) {
            break secret;
        }
    };
    let point =
        p256::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&secret.public_key(), false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        // An uncompressed point always has both coordinates.
        return Err(UsageError::InvalidState("a P-256 public key without coordinates").into());
    };
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let d = zeroize::Zeroizing::new(b64(&secret.to_bytes()));
    Ok(DpopKey::new(
        EcPublicJwk::p256(b64(x), b64(y)),
        KeyHandle::Jwk {
            d: PrivateKeyValue::new(d.as_str()),
        },
    ))
}

/// The ES256 signature of `input` by the DPoP key whose private scalar is `d`.
fn sign_with_dpop_scalar(d: &PrivateKeyValue, input: &[u8]) -> mcpauth_core::Result<Vec<u8>> {
    let damaged = || UsageError::NoSigningKey {
        what: "DPoP key",
        hint: "the stored DPoP key is damaged; log in again",
    };
    let scalar = zeroize::Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(d.secret())
            .map_err(|_| damaged())?,
    );
    let key = p256::ecdsa::SigningKey::from_slice(&scalar).map_err(|_| damaged())?;
    let signature: p256::ecdsa::Signature = key.try_sign(input).map_err(|_| damaged())?;
    Ok(signature.to_bytes().to_vec())
}

/// Signs the JWTs of the requests a run sends: DPoP proofs with the key the proof names, client
/// assertions with the configured [`ClientKey`]. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct Signer {
    /// The `private_key_jwt` key, if one was configured.
    client: Option<Arc<ClientKey>>,
}

impl Signer {
    /// A signer with the client key `client`.
    pub(crate) fn new(client: Option<Arc<ClientKey>>) -> Self {
        Self { client }
    }

    /// The client key, if one was configured.
    pub(crate) fn client(&self) -> Option<&ClientKey> {
        self.client.as_deref()
    }

    /// The signature of `input` by `key` with `alg`.
    ///
    /// # Errors
    /// [`UsageError::NoSigningKey`] for a client assertion without a configured client key, or
    /// a DPoP key this platform cannot use; [`UsageError::InvalidParameter`] when the key's
    /// algorithm is not the one asked for.
    pub(crate) fn sign(
        &self,
        key: &SigningKey,
        alg: JwsAlg,
        input: &[u8],
    ) -> mcpauth_core::Result<Vec<u8>> {
        let mismatch = |have: JwsAlg| {
            if have == alg {
                Ok(())
            } else {
                Err(UsageError::InvalidParameter {
                    name: "key_alg".into(),
                    reason: "names another algorithm than the key signs with",
                })
            }
        };
        match key {
            SigningKey::Dpop {
                key: KeyHandle::Jwk { d },
            } => {
                mismatch(JwsAlg::ES256)?;
                sign_with_dpop_scalar(d, input)
            }
            SigningKey::Dpop { .. } => Err(UsageError::NoSigningKey {
                what: "DPoP key",
                hint: "the grant's DPoP key is kept by a browser and cannot sign here; log in again",
            }
            .into()),
            SigningKey::Client => {
                let client = self.client.as_deref().ok_or(UsageError::NoSigningKey {
                    what: "client key",
                    hint: "give the private_key_jwt key: --private-key FILE, private_key in \
                           config.toml, or the client_key option",
                })?;
                mismatch(client.alg())?;
                client.sign(input)
            }
            _ => Err(UsageError::NoSigningKey {
                what: "key of this kind",
                hint: "this version of mcpauth cannot sign with it",
            }
            .into()),
        }
    }

    /// Dates, signs and attaches every JWT `request` carries (nothing for most requests).
    ///
    /// # Errors
    /// As [`sign`](Self::sign); [`Error::Entropy`](mcpauth_core::Error::Entropy).
    pub(crate) fn sign_request(
        &self,
        request: &mut HttpRequest,
        now: Time,
    ) -> mcpauth_core::Result<()> {
        if request.signatures.is_empty() {
            return Ok(());
        }
        request.sign_with(now, &mut mcpauth_core::OsEntropy, &mut |key, alg, input| {
            self.sign(key, alg, input)
        })
    }
}

#[cfg(test)]
mod tests;
