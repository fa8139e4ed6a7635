//! The encrypted file store.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use mcpauth_core::{Entropy as _, OsEntropy};

use super::seal::{STORE_KEY_ENV, Sealer, StoreKey, key_from_base64, record_key};
use super::{StoreLock, TokenStore, hashed_name, io_error};
use crate::error::Result;

const KEY_FILE: &str = "key";
const RECORDS: &str = "records";
const LOCKS: &str = "locks";
const RECORD_EXT: &str = ".rec";

/// One encrypted file per record under a directory.
///
/// # Layout
/// ```text
/// <dir>/key                     32 random bytes, 0600 (absent when MCPAUTH_STORE_KEY is set)
/// <dir>/records/<sha256>.rec    one record per key, 0600
/// <dir>/locks/<sha256>.lock     lock files
/// ```
/// File names are the SHA-256 of the record key, so a key holding `/`, `:` or `..` cannot
/// name a file outside the directory. A record is sealed as every store seals them
/// ([`seal`](super::seal)): `MCPAUTH\x01`, the key's length (u32, big endian), the key, a
/// 24-byte random nonce, and the XChaCha20-Poly1305 ciphertext of the value with the key as
/// associated data: a record moved to another key's file, or altered in any byte, fails to
/// decrypt. Writes go to a temporary file in the same directory, are
/// fsynced, then renamed over the record, so a crash leaves the old record or the new one.
///
/// # Threat model
/// The encryption protects tokens from casual disclosure: a backup, a synced or shared folder,
/// or a support bundle that has the records but not the key file (keep `key` out of backups,
/// or set `MCPAUTH_STORE_KEY` from a secret manager instead). It does **not** protect against
/// malware or another program running as the same user, which can read the key as easily as
/// the records; on a shared machine it relies on the 0700/0600 permissions like any dotfile.
/// Record keys (server URL and issuer) are kept in clear in each file's header, so that
/// [`keys`](TokenStore::keys) works without the store key: they show which servers a user
/// logs in to, never a token. Prefer the OS keychain where there is one.
pub struct FileStore {
    dir: PathBuf,
    sealer: Sealer,
}

/// The cipher holds the key: `Debug` shows the directory only.
impl std::fmt::Debug for FileStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileStore")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl FileStore {
    /// Opens the store in `dir`, creating it (0700) as needed. The key comes from
    /// `MCPAUTH_STORE_KEY` ([`STORE_KEY_ENV`]) if set, else from `<dir>/key`, which is created
    /// with 32 random bytes and mode 0600 on first use.
    ///
    /// # Errors
    /// [`Error::Store`](crate::Error::Store) when the directory or key file cannot be created or read, or the key
    /// is malformed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        let key = match std::env::var(STORE_KEY_ENV) {
            Ok(value) if !value.is_empty() => StoreKey::from_bytes(key_from_base64(&value)?),
            _ => StoreKey::from_file(&dir.join(KEY_FILE))?,
        };
        Ok(Self::new(dir, &key))
    }

    /// Opens the store in the [data directory](crate::config::data_dir), like [`open`](Self::open).
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`Error::Config`](crate::Error::Config) when there is no data directory.
    pub fn open_default() -> Result<Self> {
        Self::open(crate::config::data_dir()?)
    }

    /// Opens the store in `dir` with an explicit key, ignoring the key file and the
    /// environment.
    ///
    /// # Errors
    /// [`Error::Store`](crate::Error::Store) when the directory cannot be created.
    pub fn with_key(dir: impl Into<PathBuf>, key: &[u8; 32]) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(Self::new(dir, &StoreKey::from_bytes(*key)))
    }

    fn new(dir: PathBuf, key: &StoreKey) -> Self {
        Self {
            dir,
            sealer: Sealer::new(key.bytes()),
        }
    }

    /// The store's directory.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn record_path(&self, key: &str) -> PathBuf {
        self.dir
            .join(RECORDS)
            .join(format!("{}{RECORD_EXT}", hashed_name(key)))
    }
}

impl FileStore {
    /// Calls `each` with the key, path and bytes of every record file (read once each);
    /// files that are not records (temporary files of interrupted writes, strangers, a record
    /// whose header names another key than its file name says) are skipped.
    fn each_record(&self, mut each: impl FnMut(&str, &Path, &[u8]) -> Result<()>) -> Result<()> {
        let dir = self.dir.join(RECORDS);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error("list", &dir, &e)),
        };
        for entry in entries {
            let path = entry.map_err(|e| io_error("list", &dir, &e))?.path();
            let is_record = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(RECORD_EXT) && !n.starts_with('.'));
            if !is_record {
                continue;
            }
            let Ok(bytes) = fs::read(&path) else { continue };
            if let Some(key) = record_key(&bytes) {
                if self.record_path(key) == path {
                    each(key, &path, &bytes)?;
                }
            }
        }
        Ok(())
    }
}

impl TokenStore for FileStore {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.record_path(key);
        match fs::read(&path) {
            Ok(bytes) => {
                let place = path.display().to_string();
                self.sealer.open(key, &place, &bytes).map(Some)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        let bytes = self.sealer.seal(key, value)?;
        let dir = self.dir.join(RECORDS);
        create_private_dir(&dir)?;
        write_atomically(&dir, &self.record_path(key), &bytes)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.record_path(key);
        match fs::remove_file(&path) {
            Ok(()) => {
                sync_dir(&self.dir.join(RECORDS));
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_error("delete", &path, &e)),
        }
    }

    /// Lists keys from the records' headers, without decrypting; files that are not records
    /// (temporary files of interrupted writes, strangers) are skipped.
    fn keys(&self) -> Result<Vec<String>> {
        let mut keys = Vec::new();
        self.each_record(|key, _, _| {
            keys.push(key.to_owned());
            Ok(())
        })?;
        keys.sort();
        Ok(keys)
    }

    /// Reads each record file once: its header names the key, and the rest is decrypted
    /// only for keys under `prefix`.
    fn load_prefixed(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut records = Vec::new();
        self.each_record(|key, path, bytes| {
            if key.starts_with(prefix) {
                let value = self.sealer.open(key, &path.display().to_string(), bytes)?;
                records.push((key.to_owned(), value));
            }
            Ok(())
        })?;
        records.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(records)
    }

    fn lock(&self, key: &str) -> Result<StoreLock> {
        StoreLock::exclusive(&self.dir.join(LOCKS), key)
    }
}

/// Writes `bytes` to `target` through a fsynced temporary file in `dir` (the same file
/// system) and a rename, so that readers and crashes see the old content or the new.
fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> Result<()> {
    let mut suffix = [0u8; 8];
    OsEntropy.fill(&mut suffix)?;
    let suffix: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}-{suffix}.tmp", std::process::id()));
    let result = (|| {
        let mut file = private_file(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, target)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_error("write", target, &e));
    }
    sync_dir(dir);
    Ok(())
}

/// Creates a new file readable and writable by the owner only.
pub(super) fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a rename durable. Best effort: some file systems refuse to fsync directories, and
/// the rename has happened either way.
pub(super) fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

/// Creates `dir` and its parents; the directories created get mode 0700.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| io_error("create directory", dir, &e))
}

#[cfg(test)]
mod tests;
