//! The encrypted file store.

use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use mcpauth_core::{Entropy as _, OsEntropy};

use super::{StoreLock, TokenStore, hashed_name, io_error};
use crate::error::{Error, Result};

/// The environment variable holding the store key (base64 of 32 bytes), which then replaces
/// the key file.
pub const STORE_KEY_ENV: &str = "MCPAUTH_STORE_KEY";

const MAGIC: &[u8; 8] = b"MCPAUTH\x01";
const KEY_FILE: &str = "key";
const RECORDS: &str = "records";
const LOCKS: &str = "locks";
const RECORD_EXT: &str = ".rec";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 24;

/// One encrypted file per record under a directory.
///
/// # Layout
/// ```text
/// <dir>/key                     32 random bytes, 0600 (absent when MCPAUTH_STORE_KEY is set)
/// <dir>/records/<sha256>.rec    one record per key, 0600
/// <dir>/locks/<sha256>.lock     lock files
/// ```
/// File names are the SHA-256 of the record key, so a key holding `/`, `:` or `..` cannot
/// name a file outside the directory. A record is `MCPAUTH\x01`, the key's length (u32, big
/// endian), the key, a 24-byte random nonce, and the XChaCha20-Poly1305 ciphertext of the
/// value with the key as associated data: a record moved to another key's file, or altered in
/// any byte, fails to decrypt. Writes go to a temporary file in the same directory, are
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
    cipher: XChaCha20Poly1305,
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
    /// [`Error::Store`] when the directory or key file cannot be created or read, or the key
    /// is malformed.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        let key = match std::env::var(STORE_KEY_ENV) {
            Ok(value) if !value.is_empty() => key_from_base64(&value)?,
            _ => load_or_create_key(&dir.join(KEY_FILE))?,
        };
        Ok(Self::new(dir, &key))
    }

    /// Opens the store in the [data directory](crate::config::data_dir), like [`open`](Self::open).
    ///
    /// # Errors
    /// As [`open`](Self::open), and [`Error::Config`] when there is no data directory.
    pub fn open_default() -> Result<Self> {
        Self::open(crate::config::data_dir()?)
    }

    /// Opens the store in `dir` with an explicit key, ignoring the key file and the
    /// environment.
    ///
    /// # Errors
    /// [`Error::Store`] when the directory cannot be created.
    pub fn with_key(dir: impl Into<PathBuf>, key: &[u8; 32]) -> Result<Self> {
        let dir = dir.into();
        create_private_dir(&dir)?;
        Ok(Self::new(dir, key))
    }

    fn new(dir: PathBuf, key: &[u8; KEY_LEN]) -> Self {
        Self {
            dir,
            cipher: XChaCha20Poly1305::new(key.into()),
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

    fn decrypt(&self, key: &str, path: &Path, bytes: &[u8]) -> Result<Vec<u8>> {
        let record = Record::decode(bytes).ok_or_else(|| Error::Store {
            reason: format!("{} is not a mcpauth record (damaged?)", path.display()),
        })?;
        if record.key != key {
            return Err(Error::Store {
                reason: format!(
                    "{} holds the record of another key; it was moved or tampered with",
                    path.display()
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
                    "cannot decrypt the record for `{key}` ({}): the store key is not the one it \
                     was written with, or the file was tampered with",
                    path.display()
                ),
            })
    }
}

impl TokenStore for FileStore {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let path = self.record_path(key);
        match fs::read(&path) {
            Ok(bytes) => self.decrypt(key, &path, &bytes).map(Some),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_error("read", &path, &e)),
        }
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
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
                reason: format!("cannot encrypt the record for `{key}`"),
            })?;
        let bytes = Record {
            key,
            nonce: &nonce,
            ciphertext: &ciphertext,
        }
        .encode();
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
        let dir = self.dir.join(RECORDS);
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("list", &dir, &e)),
        };
        let mut keys = Vec::new();
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
            if let Some(record) = Record::decode(&bytes) {
                if self.record_path(record.key) == path {
                    keys.push(record.key.to_owned());
                }
            }
        }
        keys.sort();
        Ok(keys)
    }

    fn lock(&self, key: &str) -> Result<StoreLock> {
        StoreLock::exclusive(&self.dir.join(LOCKS), key)
    }
}

/// A record file's parts.
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
fn private_file(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Makes a rename durable. Best effort: some file systems refuse to fsync directories, and
/// the rename has happened either way.
fn sync_dir(dir: &Path) {
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

fn key_from_base64(value: &str) -> Result<[u8; KEY_LEN]> {
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
mod tests;
