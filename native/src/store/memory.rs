//! A store that keeps records in memory, for tests and short-lived embedders.

use std::collections::BTreeMap;
use std::sync::Mutex;

use mcpauth_core::flow::store::key_for_messages;

use super::{StoreLock, TokenStore};
use crate::error::Result;

/// Records in a map; nothing survives the process. Its locks are no-ops (a single process
/// serializes refreshes with its own in-process locks).
#[derive(Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<String, Vec<u8>>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn records(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-updated: each operation
        // is a single map call.
        self.records.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Values are secrets: `Debug` shows the keys only, and of a pending login's key (which holds
/// its `state`) only the kind.
impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let records = self.records();
        let keys: Vec<&str> = records.keys().map(|key| key_for_messages(key)).collect();
        f.debug_struct("MemoryStore").field("keys", &keys).finish()
    }
}

impl TokenStore for MemoryStore {
    fn load(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.records().get(key).cloned())
    }

    fn save(&self, key: &str, value: &[u8]) -> Result<()> {
        self.records().insert(key.to_owned(), value.to_vec());
        Ok(())
    }

    fn delete(&self, key: &str) -> Result<()> {
        self.records().remove(key);
        Ok(())
    }

    fn keys(&self) -> Result<Vec<String>> {
        Ok(self.records().keys().cloned().collect())
    }

    fn lock(&self, _key: &str) -> Result<StoreLock> {
        Ok(StoreLock::none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_lists_sorted_keys() {
        let store = MemoryStore::new();
        assert_eq!(store.load("a").unwrap(), None);
        store.save("b", b"2").unwrap();
        store.save("a", b"1").unwrap();
        store.save("a", b"3").unwrap();
        assert_eq!(store.load("a").unwrap().as_deref(), Some(&b"3"[..]));
        assert_eq!(store.keys().unwrap(), ["a", "b"]);
        store.delete("a").unwrap();
        store.delete("a").unwrap();
        assert_eq!(store.keys().unwrap(), ["b"]);
        assert!(!format!("{store:?}").contains('2'));
    }
}
