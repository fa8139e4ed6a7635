//! Where logins are kept between runs.
//!
//! A [`TokenStore`] maps record keys to opaque bytes. Which keys and records there are is the
//! core's ([`mcpauth_core::flow::store`]): `grant#{server}` for the one grant of each MCP
//! server, `client#{issuer}#{flow}` for dynamic registrations; the records are versioned JSON
//! that the npm package reads too.
//!
//! - [`KeyringStore`] (feature `keychain`, on by default): the OS keychain.
//! - [`FileStore`]: one encrypted file per record in the data directory.
//! - [`MemoryStore`]: nothing persists; for tests and short-lived embedders.
//! - `RedisStore` (feature `redis`): records on a Redis server, namespaced by tenant, for
//!   gateways whose replicas share their users' grants; its locks work across machines.
//!
//! The file and Redis stores seal records alike ([`seal`]), with one [`StoreKey`].
//!
//! [`default_store`] picks the keychain when it works and the file store otherwise.
//!
//! Every method is synchronous and may block (on disk, on D-Bus, on a lock): from async code,
//! call it through `tokio::task::spawn_blocking`.

mod file;
#[cfg(feature = "keychain")]
mod keychain;
mod lock;
mod memory;
#[cfg(feature = "redis")]
pub mod redis;
pub mod seal;

use std::sync::Arc;

pub use file::FileStore;
#[cfg(feature = "keychain")]
pub use keychain::KeyringStore;
pub use lock::StoreLock;
pub use memory::MemoryStore;
#[cfg(feature = "redis")]
pub use redis::RedisStore;
pub use seal::{STORE_KEY_ENV, StoreKey};

use crate::error::{Error, Result};

/// Selects the store [`default_store`] returns: `keyring`, `file` or `memory`.
pub const STORE_ENV: &str = "MCPAUTH_STORE";

/// Key-value storage for login records, safe to share between threads.
pub trait TokenStore: Send + Sync + std::fmt::Debug {
    /// The value stored under `key`, if any.
    ///
    /// # Errors
    /// [`Error::Store`] when the record exists but cannot be read, decrypted or verified.
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>>;

    /// Stores `value` under `key`, replacing any previous value atomically: a reader (or a
    /// crash) sees the old value or the new one, never a mix.
    ///
    /// # Errors
    /// [`Error::Store`] when it cannot be written.
    fn save(&self, key: &str, value: &[u8]) -> Result<()>;

    /// Removes `key`; removing a missing key is not an error.
    ///
    /// # Errors
    /// [`Error::Store`] when it cannot be removed.
    fn delete(&self, key: &str) -> Result<()>;

    /// Every stored key, sorted.
    ///
    /// # Errors
    /// [`Error::Store`] when the store cannot be listed.
    fn keys(&self) -> Result<Vec<String>>;

    /// Every record whose key starts with `prefix`, with its key, sorted by key: what
    /// `status` reads. The default lists the keys and loads each; a store that can read a
    /// record and its key in one go (the file store reads each file once, not twice) does so.
    ///
    /// # Errors
    /// As [`keys`](Self::keys) and [`load`](Self::load).
    fn load_prefixed(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut records = Vec::new();
        for key in self.keys()? {
            if !key.starts_with(prefix) {
                continue;
            }
            if let Some(value) = self.load(&key)? {
                records.push((key, value));
            }
        }
        Ok(records)
    }

    /// Takes the cross-process lock for `key`, blocking until it is free. Hold it across a
    /// load, a refresh and the save of its result, so that two processes never use the same
    /// refresh token. Released when the guard drops.
    ///
    /// A lock that can be lost while held (a lease on a server) must fence: while it holds
    /// [`refresh_lock`](mcpauth_core::flow::store::refresh_lock) `X`, the store saves or
    /// deletes the grant it guards
    /// ([`grant_key_for_lock`](mcpauth_core::flow::store::grant_key_for_lock)) only if the lock
    /// is still its own, and fails otherwise, as the Redis store (feature `redis`) does.
    ///
    /// # Errors
    /// [`Error::Store`] when the lock cannot be taken (a lock file that cannot be opened, a
    /// Redis server that does not answer or a lock not granted in time).
    fn lock(&self, key: &str) -> Result<StoreLock>;
}

/// The OS keychain if it works here (a write, read and delete of a probe entry succeed),
/// otherwise the [`FileStore`] in the [data directory](crate::config::data_dir).
///
/// `MCPAUTH_STORE` ([`STORE_ENV`]) forces a choice: `keyring` (an error if it does not work),
/// `file` or `memory`.
///
/// # Errors
/// [`Error::Store`] or [`Error::Config`] when the chosen store cannot be opened.
pub fn default_store() -> Result<Arc<dyn TokenStore>> {
    let choice = std::env::var(STORE_ENV).unwrap_or_default();
    match choice.as_str() {
        "file" => Ok(Arc::new(FileStore::open_default()?)),
        "memory" => Ok(Arc::new(MemoryStore::new())),
        #[cfg(feature = "keychain")]
        "keyring" => {
            let store = KeyringStore::open_default()?;
            store.probe()?;
            Ok(Arc::new(store))
        }
        "" => {
            #[cfg(feature = "keychain")]
            if let Ok(store) = KeyringStore::open_default() {
                if store.probe().is_ok() {
                    return Ok(Arc::new(store));
                }
            }
            Ok(Arc::new(FileStore::open_default()?))
        }
        other => Err(Error::Config {
            reason: format!(
                "{STORE_ENV}=`{other}` is not a store; use {}",
                if cfg!(feature = "keychain") {
                    "keyring, file or memory"
                } else {
                    "file or memory (this build has no keychain support)"
                }
            ),
        }),
    }
}

/// A file name for `key` that cannot escape its directory, whatever the key holds
/// (`/`, `:`, `..`): the SHA-256 of the key, in hex.
pub(crate) fn hashed_name(key: &str) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// An I/O failure as a store error naming what was done to which path.
pub(crate) fn io_error(action: &str, path: &std::path::Path, e: &std::io::Error) -> Error {
    Error::Store {
        reason: format!("cannot {action} {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_names_are_fixed_length_hex() {
        for key in [
            "",
            "a",
            "https://x/mcp#https://as",
            "../../etc/passwd",
            "c:\\x",
        ] {
            let name = hashed_name(key);
            assert_eq!(name.len(), 64);
            assert!(name.bytes().all(|b| b.is_ascii_hexdigit()), "{name}");
        }
        assert_ne!(hashed_name("a"), hashed_name("b"));
    }
}
