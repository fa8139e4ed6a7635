//! The guard of a store lock: a lock file (`flock` on Unix, `LockFileEx` on Windows) or a
//! store's own guard (a Redis lease).

use std::fs::{File, OpenOptions};
use std::path::Path;

use super::{hashed_name, io_error};
use crate::error::Result;

/// A held store lock; dropping it releases the lock.
#[derive(Debug)]
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct StoreLock {
    /// The locked file; closing it releases the OS lock. `None` for stores that need no lock
    /// file.
    _file: Option<File>,
    /// A store's own guard, released by its `Drop` (a Redis lease and its renewal thread).
    _guard: Option<Box<dyn Guard>>,
}

/// What a store that locks elsewhere than in a file hands to [`StoreLock::with_guard`].
pub trait Guard: Send + Sync + std::fmt::Debug {}

impl<T: Send + Sync + std::fmt::Debug> Guard for T {}

impl StoreLock {
    /// A guard that holds nothing, for stores that only live in one process.
    pub fn none() -> Self {
        Self {
            _file: None,
            _guard: None,
        }
    }

    /// A lock held by `guard`, which releases it when dropped: for stores whose locks live
    /// elsewhere than in a lock file (a server).
    pub fn with_guard(guard: impl Guard + 'static) -> Self {
        Self {
            _file: None,
            _guard: Some(Box::new(guard)),
        }
    }

    /// Locks `<dir>/<sha256(key)>.lock` exclusively, creating the directory and the file as
    /// needed, and blocks until the lock is granted.
    pub(crate) fn exclusive(dir: &Path, key: &str) -> Result<Self> {
        super::file::create_private_dir(dir)?;
        let path = dir.join(format!("{}.lock", hashed_name(key)));
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&path)
            .map_err(|e| io_error("open lock file", &path, &e))?;
        // Called through the trait: std's inherent `File::lock` needs Rust 1.89.
        fs4::FileExt::lock(&file).map_err(|e| io_error("lock", &path, &e))?;
        Ok(Self {
            _file: Some(file),
            _guard: None,
        })
    }
}
