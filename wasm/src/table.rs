//! Handles: the objects JavaScript refers to by number live in tables here, one per kind.

use std::collections::BTreeMap;

/// Values by handle. Handles start at 1 and are not reused while the module lives (a
/// stale handle finds nothing rather than someone else's machine).
#[derive(Debug)]
pub(crate) struct Table<T> {
    next: u32,
    items: BTreeMap<u32, T>,
}

impl<T> Table<T> {
    pub(crate) const fn new() -> Self {
        Self {
            next: 1,
            items: BTreeMap::new(),
        }
    }

    pub(crate) fn insert(&mut self, item: T) -> u32 {
        let handle = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.items.insert(handle, item);
        handle
    }

    pub(crate) fn get(&self, handle: u32) -> Option<&T> {
        self.items.get(&handle)
    }

    pub(crate) fn get_mut(&mut self, handle: u32) -> Option<&mut T> {
        self.items.get_mut(&handle)
    }

    pub(crate) fn remove(&mut self, handle: u32) {
        self.items.remove(&handle);
    }
}
