//! The OS keychain store: macOS Keychain, Windows Credential Manager, or the Secret Service
//! (GNOME Keyring, KWallet) over D-Bus on Linux and the BSDs, through the `keyring` crate.
//!
//! Each record is one keychain entry: service `mcpauth`, account = the record key, so users
//! can find and remove them in their keychain's UI. Keychains cannot list entries, so an index
//! entry (account `mcpauth:index`) lists the keys, updated under a lock file.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use mcpauth_core::{Entropy as _, OsEntropy};

use super::{StoreLock, TokenStore};
use crate::error::{Error, Result};

/// The keychain service name of every entry.
const SERVICE: &str = "mcpauth";
/// The account of the entry listing the stored keys.
const INDEX: &str = "mcpauth:index";
/// The account written and removed by [`KeyringStore::probe`].
const PROBE: &str = "mcpauth:probe";
/// How long [`KeyringStore::probe`] waits: a D-Bus activation of an absent keyring daemon can
/// otherwise hang for the bus's 25 s default.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Records in the OS keychain, with lock files in a directory for the cross-process locks.
pub struct KeyringStore {
    backend: Arc<dyn Backend>,
    locks: PathBuf,
    probe_timeout: Duration,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyringStore")
            .field("locks", &self.locks)
            .finish_non_exhaustive()
    }
}

/// The three operations the store needs from a keychain; a map stands in for it in tests.
trait Backend: Send + Sync {
    /// Why the keychain cannot answer here, when that is known without asking it (the probe
    /// then fails at once instead of setting up a connection that cannot succeed).
    fn unreachable(&self) -> Option<String> {
        None
    }
    fn get(&self, account: &str) -> Result<Option<Vec<u8>>>;
    fn set(&self, account: &str, value: &[u8]) -> Result<()>;
    fn delete(&self, account: &str) -> Result<()>;
}

/// The platform keychain.
struct System {
    service: String,
}

impl System {
    fn entry(&self, account: &str) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, account).map_err(keychain_error)
    }
}

impl Backend for System {
    fn unreachable(&self) -> Option<String> {
        secret_service::unreachable()
    }

    fn get(&self, account: &str) -> Result<Option<Vec<u8>>> {
        match self.entry(account)?.get_secret() {
            Ok(secret) => Ok(Some(secret)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(keychain_error(e)),
        }
    }

    fn set(&self, account: &str, value: &[u8]) -> Result<()> {
        self.entry(account)?
            .set_secret(value)
            .map_err(keychain_error)
    }

    fn delete(&self, account: &str) -> Result<()> {
        match self.entry(account)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(keychain_error(e)),
        }
    }
}

/// Whether the Secret Service can be reached at all, on the platforms where it is the keychain.
#[cfg(all(unix, not(target_vendor = "apple"), not(target_os = "android")))]
mod secret_service {
    use std::path::PathBuf;

    /// Why no session bus can be reached: D-Bus names none (`DBUS_SESSION_BUS_ADDRESS` unset)
    /// and the socket where the bus library looks instead (`$XDG_RUNTIME_DIR/bus`, else
    /// `/run/user/<uid>/bus`) does not exist. Then no Secret Service can answer, and the
    /// probe need not start a D-Bus connection (a thread and an executor) to learn it.
    /// `None` when a bus may be there, or when that cannot be told (the probe decides).
    pub(super) fn unreachable() -> Option<String> {
        if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|a| !a.is_empty()) {
            return None;
        }
        let socket = runtime_dir()?.join("bus");
        match std::fs::symlink_metadata(&socket) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(format!(
                "OS keychain: no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is unset and {} does not exist)",
                socket.display()
            )),
            _ => None,
        }
    }

    /// Where the bus library looks for the session bus socket without an address.
    fn runtime_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR") {
            return Some(dir.into());
        }
        // The effective uid is the owner of this process's /proc entry (Linux); elsewhere
        // the probe decides.
        use std::os::unix::fs::MetadataExt as _;
        let uid = std::fs::metadata("/proc/self").ok()?.uid();
        Some(PathBuf::from(format!("/run/user/{uid}")))
    }
}

/// On macOS and Windows the keychain is a system service, always there.
#[cfg(not(all(unix, not(target_vendor = "apple"), not(target_os = "android"))))]
mod secret_service {
    pub(super) fn unreachable() -> Option<String> {
        None
    }
}

fn keychain_error(e: keyring::Error) -> Error {
    Error::Store {
        reason: format!("OS keychain: {e}"),
    }
}

impl KeyringStore {
    /// The platform keychain under service `mcpauth`, with lock files in `lock_dir`.
    ///
    /// Nothing is checked until used; call [`probe`](Self::probe) to know whether the
    /// keychain works here.
    #[must_use]
    pub fn new(lock_dir: impl Into<PathBuf>) -> Self {
        Self::with_backend(
            Arc::new(System {
                service: SERVICE.to_owned(),
            }),
            lock_dir.into(),
        )
    }

    /// The platform keychain, with lock files in `<data dir>/locks`.
    ///
    /// # Errors
    /// [`Error::Config`] when there is no data directory.
    pub fn open_default() -> Result<Self> {
        Ok(Self::new(crate::config::data_dir()?.join("locks")))
    }

    fn with_backend(backend: Arc<dyn Backend>, locks: PathBuf) -> Self {
        Self {
            backend,
            locks,
            probe_timeout: PROBE_TIMEOUT,
        }
    }

    /// Checks that the keychain works: writes, reads back and deletes a random probe entry,
    /// giving up after 5 seconds. Where the keychain is the Secret Service (Linux, the BSDs),
    /// it fails at once, without a D-Bus connection, when there is no session bus to ask.
    ///
    /// # Errors
    /// [`Error::Store`] when any step fails, the value read differs, or the keychain does not
    /// answer in time (no D-Bus session, no Secret Service daemon, a locked keychain that
    /// nobody unlocks).
    pub fn probe(&self) -> Result<()> {
        if let Some(reason) = self.backend.unreachable() {
            tracing::debug!("the OS keychain is out of reach; not probing it");
            return Err(Error::Store { reason });
        }
        let backend = Arc::clone(&self.backend);
        let (tx, rx) = std::sync::mpsc::channel();
        // A thread, so that a hanging keychain costs a timeout and not the caller.
        std::thread::spawn(move || {
            let _ = tx.send(probe(backend.as_ref()));
        });
        rx.recv_timeout(self.probe_timeout).unwrap_or_else(|_| {
            Err(Error::Store {
                reason: format!(
                    "the OS keychain did not answer within {}s",
                    self.probe_timeout.as_secs_f32()
                ),
            })
        })
    }

    fn index(&self) -> Result<Vec<String>> {
        match self.backend.get(INDEX)? {
            None => Ok(Vec::new()),
            Some(bytes) => serde_json::from_slice(&bytes).map_err(|e| Error::Store {
                reason: format!("the keychain's mcpauth index is damaged: {e}"),
            }),
        }
    }

    /// Applies `change` to the index under its lock, writing only if it changed.
    fn update_index(&self, change: impl FnOnce(&mut Vec<String>)) -> Result<()> {
        let _lock = StoreLock::exclusive(&self.locks, INDEX)?;
        let before = self.index()?;
        let mut keys = before.clone();
        change(&mut keys);
        keys.sort();
        keys.dedup();
        if keys == before {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&keys).map_err(|e| Error::Store {
            reason: format!("cannot encode the keychain index: {e}"),
        })?;
        self.backend.set(INDEX, &bytes)
    }
}

fn probe(backend: &dyn Backend) -> Result<()> {
    let mut value = [0u8; 16];
    OsEntropy.fill(&mut value)?;
    backend.set(PROBE, &value)?;
    let read = backend.get(PROBE);
    let deleted = backend.delete(PROBE);
    if read?.as_deref() != Some(&value[..]) {
        return Err(Error::Store {
            reason: "the OS keychain returned another value than the one written".into(),
        });
    }
    deleted
}

fn check_key(key: &str) -> Result<()> {
    if key == INDEX || key == PROBE {
        return Err(Error::Store {
            reason: format!("`{key}` is reserved by the keychain store"),
        });
    }
    Ok(())
}

impl TokenStore for KeyringStore {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        check_key(key)?;
        self.backend.get(key)
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        check_key(key)?;
        self.backend.set(key, value)?;
        self.update_index(|keys| keys.push(key.to_owned()))
    }

    fn delete(&self, key: &str) -> Result<()> {
        check_key(key)?;
        self.backend.delete(key)?;
        self.update_index(|keys| keys.retain(|k| k != key))
    }

    fn keys(&self) -> Result<Vec<String>> {
        self.index()
    }

    fn lock(&self, key: &str) -> Result<StoreLock> {
        StoreLock::exclusive(&self.locks, key)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use super::*;

    #[derive(Default)]
    struct Map(Mutex<HashMap<String, Vec<u8>>>);

    impl Backend for Map {
        fn get(&self, account: &str) -> Result<Option<Vec<u8>>> {
            Ok(self.0.lock().unwrap().get(account).cloned())
        }
        fn set(&self, account: &str, value: &[u8]) -> Result<()> {
            self.0.lock().unwrap().insert(account.into(), value.into());
            Ok(())
        }
        fn delete(&self, account: &str) -> Result<()> {
            self.0.lock().unwrap().remove(account);
            Ok(())
        }
    }

    struct Broken;

    impl Backend for Broken {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>> {
            Err(Error::Store {
                reason: "no keychain".into(),
            })
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<()> {
            Err(Error::Store {
                reason: "no keychain".into(),
            })
        }
        fn delete(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    struct Hangs;

    impl Backend for Hangs {
        fn get(&self, _: &str) -> Result<Option<Vec<u8>>> {
            std::thread::sleep(Duration::from_secs(2));
            Ok(None)
        }
        fn set(&self, _: &str, _: &[u8]) -> Result<()> {
            std::thread::sleep(Duration::from_secs(2));
            Ok(())
        }
        fn delete(&self, _: &str) -> Result<()> {
            Ok(())
        }
    }

    fn store(backend: Arc<dyn Backend>) -> (KeyringStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        (
            KeyringStore::with_backend(backend, dir.path().join("locks")),
            dir,
        )
    }

    #[test]
    fn records_round_trip_and_the_index_lists_them() {
        let (store, _dir) = store(Arc::new(Map::default()));
        store.save("b#https://as", b"2").unwrap();
        store.save("a#https://as", b"1").unwrap();
        store.save("a#https://as", b"3").unwrap();
        assert_eq!(
            store.load("a#https://as").unwrap().as_deref(),
            Some(&b"3"[..])
        );
        assert_eq!(store.keys().unwrap(), ["a#https://as", "b#https://as"]);
        store.delete("a#https://as").unwrap();
        assert_eq!(store.load("a#https://as").unwrap(), None);
        assert_eq!(store.keys().unwrap(), ["b#https://as"]);
    }

    #[test]
    fn reserved_accounts_cannot_be_used_as_keys() {
        let (store, _dir) = store(Arc::new(Map::default()));
        assert!(store.save(INDEX, b"x").is_err());
        assert!(store.load(PROBE).is_err());
    }

    #[test]
    fn probe_succeeds_on_a_working_keychain_and_leaves_nothing() {
        let map = Arc::new(Map::default());
        let (store, _dir) = store(map.clone());
        store.probe().unwrap();
        assert!(map.0.lock().unwrap().is_empty());
    }

    #[test]
    fn probe_fails_on_a_broken_or_hanging_keychain() {
        let (broken, _dir) = store(Arc::new(Broken));
        assert_eq!(broken.probe().unwrap_err().code(), "STORE");
        let (mut hangs, _dir2) = store(Arc::new(Hangs));
        hangs.probe_timeout = Duration::from_millis(100);
        let err = hangs.probe().unwrap_err();
        assert!(err.to_string().contains("did not answer"), "{err}");
    }
}
