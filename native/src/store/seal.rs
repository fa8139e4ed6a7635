//! Sealed records: the at-rest encryption shared by the file store and the Redis store, and
//! where its key comes from.
//!
//! A sealed record is `MCPAUTH\x01`, the record key's length (u32, big endian), the record key,
//! a 24-byte random nonce, and the XChaCha20-Poly1305 ciphertext of the value with the record
//! key as associated data. A record moved to another key, or altered in any byte, fails to
//! open. The format is the file store's on-disk format and the npm package's, so it must not
//! change without a new magic.

use std::fs;
use std::io::Write as _;
use std::path::Path;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mcpauth_core::flow::store::key_for_messages;
use mcpauth_core::{Entropy as _, OsEntropy};

use super::file::{private_file, sync_dir};
use super::io_error;
use crate::error::{Error, Result};

/// The environment variable holding the store key (base64 of 32 bytes), which then replaces
/// the key file.
pub const STORE_KEY_ENV: &str = "MCPAUTH_STORE_KEY";

pub(crate) const MAGIC: &[u8; 8] = b"MCPAUTH\x01";
pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// The 32-byte key that seals a store's records. `Debug` never shows it.
#[derive(Clone)]
pub struct StoreKey([u8; KEY_LEN]);

impl std::fmt::Debug for StoreKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StoreKey([redacted])")
    }
}

impl StoreKey {
    /// A key from its bytes (from a secret manager, say).
    #[must_use]
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// The key in `MCPAUTH_STORE_KEY` ([`STORE_KEY_ENV`]). Processes that share a store on a
    /// server (the replicas of a gateway) must share its key, so there is no fallback here.
    ///
    /// # Errors
    /// [`Error::Store`] when the variable is unset, empty, or not the base64 of 32 bytes.
    pub fn from_env() -> Result<Self> {
        match std::env::var(STORE_KEY_ENV) {
            Ok(value) if !value.is_empty() => key_from_base64(&value).map(Self),
            _ => Err(Error::Store {
                reason: format!(
                    "{STORE_KEY_ENV} is not set; set it to the base64 of {KEY_LEN} random bytes \
                     (the same in every process that shares the store)"
                ),
            }),
        }
    }

    /// The key in the file at `path`, created with 32 random bytes and mode 0600 if absent.
    ///
    /// # Errors
    /// [`Error::Store`] when the file cannot be read or created, or is not 32 bytes long.
    pub fn from_file(path: &Path) -> Result<Self> {
        load_or_create_key(path).map(Self)
    }

    pub(crate) fn bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }
}

/// Seals and opens records with one store key.
pub(crate) struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl Sealer {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// `value` sealed for `key`, with a fresh random nonce.
    pub(crate) fn seal(&self, key: &str, value: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        OsEntropy.fill(&mut nonce)?;
        let payload = Payload {
            msg: value,
            aad: key.as_bytes(),
        };
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), payload)
            .map_err(|_| Error::Store {
                reason: format!("cannot encrypt the record for `{}`", key_for_messages(key)),
            })?;
        Ok(Record {
            key,
            nonce: &nonce,
            ciphertext: &ciphertext,
        }
        .encode())
    }

    /// The value sealed in `bytes`, which were read for `key` from `place` (a path, a Redis
    /// key: named in errors).
    pub(crate) fn open(&self, key: &str, place: &str, bytes: &[u8]) -> Result<Vec<u8>> {
        let record = Record::decode(bytes).ok_or_else(|| Error::Store {
            reason: format!("{place} is not a mcpauth record (damaged?)"),
        })?;
        if record.key != key {
            return Err(Error::Store {
                reason: format!(
                    "{place} holds the record of another key; it was moved or tampered with"
                ),
            });
        }
        let payload = Payload {
            msg: record.ciphertext,
            aad: key.as_bytes(),
        };
        self.cipher
            .decrypt(XNonce::from_slice(record.nonce), payload)
            .map_err(|_| Error::Store {
                reason: format!(
                    "cannot decrypt the record for `{}` ({place}): the store key is not the \
                     one it was written with, or the record was tampered with",
                    key_for_messages(key)
                ),
            })
    }
}

/// The record key in a sealed record's header, read without the store key.
pub(crate) fn record_key(bytes: &[u8]) -> Option<&str> {
    Record::decode(bytes).map(|r| r.key)
}

/// A sealed record's parts.
struct Record<'a> {
    key: &'a str,
    nonce: &'a [u8],
    ciphertext: &'a [u8],
}

impl<'a> Record<'a> {
    fn encode(&self) -> Vec<u8> {
        // Record keys are URLs, far below 4 GiB; saturate rather than wrap to stay total.
        let key_len = u32::try_from(self.key.len()).unwrap_or(u32::MAX);
        let mut out = Vec::with_capacity(
            MAGIC.len() + 4 + self.key.len() + self.nonce.len() + self.ciphertext.len(),
        );
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&key_len.to_be_bytes());
        out.extend_from_slice(self.key.as_bytes());
        out.extend_from_slice(self.nonce);
        out.extend_from_slice(self.ciphertext);
        out
    }

    fn decode(bytes: &'a [u8]) -> Option<Self> {
        let rest = bytes.strip_prefix(MAGIC.as_slice())?;
        let (len, rest) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
        let (key, rest) = rest.split_at_checked(len)?;
        let (nonce, ciphertext) = rest.split_at_checked(NONCE_LEN)?;
        Some(Self {
            key: std::str::from_utf8(key).ok()?,
            nonce,
            ciphertext,
        })
    }
}

pub(crate) fn key_from_base64(value: &str) -> Result<[u8; KEY_LEN]> {
    let invalid = || Error::Store {
        reason: format!("{STORE_KEY_ENV} must be the base64 encoding of {KEY_LEN} bytes"),
    };
    let engine = base64::engine::general_purpose::STANDARD;
    let bytes = engine.decode(value.trim()).map_err(|_| invalid())?;
    bytes.try_into().map_err(|_| invalid())
}

/// Reads the key file, or creates it. Creation writes a private temporary file and
/// hard-links it into place, so that two processes starting at once agree on one key and
/// neither ever reads a partial file.
fn load_or_create_key(path: &Path) -> Result<[u8; KEY_LEN]> {
    let read = |path: &Path| -> Result<Option<[u8; KEY_LEN]>> {
        match fs::read(path) {
            Ok(bytes) => bytes.try_into().map(Some).map_err(|_| Error::Store {
                reason: format!("key file {} is not {KEY_LEN} bytes long", path.display()),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read key file", path, &e)),
        }
    };
    if let Some(key) = read(path)? {
        return Ok(key);
    }
    let mut key = [0u8; KEY_LEN];
    OsEntropy.fill(&mut key)?;
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let mut suffix = [0u8; 8];
    OsEntropy.fill(&mut suffix)?;
    let tmp = dir.join(format!(
        ".key.{}-{}.tmp",
        std::process::id(),
        u64::from_le_bytes(suffix)
    ));
    let created = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(&key)?;
        file.sync_all()?;
        fs::hard_link(&tmp, path)
    })();
    let _ = fs::remove_file(&tmp);
    match created {
        Ok(()) => {
            sync_dir(dir);
            Ok(key)
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            read(path)?.ok_or_else(|| io_error("read key file", path, &e))
        }
        Err(e) => Err(io_error("create key file", path, &e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_record_opens_only_under_its_key_and_store_key() {
        let sealer = Sealer::new(&[7; KEY_LEN]);
        let sealed = sealer.seal("grant#a", b"secret-token").unwrap();
        assert!(sealed.starts_with(MAGIC));
        assert!(!sealed.windows(12).any(|w| w == b"secret-token"));
        assert_eq!(record_key(&sealed), Some("grant#a"));
        assert_eq!(
            sealer.open("grant#a", "x", &sealed).unwrap(),
            b"secret-token"
        );
        let moved = sealer.open("grant#b", "x", &sealed).unwrap_err();
        assert!(moved.to_string().contains("another key"), "{moved}");
        let other = Sealer::new(&[8; KEY_LEN]).open("grant#a", "x", &sealed);
        assert!(other.unwrap_err().to_string().contains("cannot decrypt"));
        assert!(!format!("{:?}", StoreKey::from_bytes([7; KEY_LEN])).contains('7'));
    }
}
