//! Handles: the objects JavaScript refers to by number live in tables here, one per kind.

/// Values by handle. Handles start at 1 and are not reused while the module lives (a
/// stale handle finds nothing rather than someone else's machine).
///
/// A vector searched from the end, not a map: a table holds the machines and requests in
/// flight, a handful, and the newest is the one most often asked for; a `BTreeMap` cost the
/// module its node code once per kind of value.
#[derive(Debug)]
pub(crate) struct Table<T> {
    next: u32,
    items: Vec<(u32, T)>,
}

impl<T> Table<T> {
    pub(crate) const fn new() -> Self {
        Self {
            next: 1,
            items: Vec::new(),
        }
    }

    pub(crate) fn insert(&mut self, item: T) -> u32 {
        let handle = self.next;
        self.next = self.next.wrapping_add(1).max(1);
        self.items.push((handle, item));
        handle
    }

    fn position(&self, handle: u32) -> Option<usize> {
        self.items.iter().rposition(|(h, _)| *h == handle)
    }

    pub(crate) fn get(&self, handle: u32) -> Option<&T> {
        self.items
            .iter()
            .rev()
            .find(|(h, _)| *h == handle)
            .map(|(_, item)| item)
    }

    pub(crate) fn get_mut(&mut self, handle: u32) -> Option<&mut T> {
        self.items
            .iter_mut()
            .rev()
            .find(|(h, _)| *h == handle)
            .map(|(_, item)| item)
    }

    pub(crate) fn remove(&mut self, handle: u32) {
        if let Some(at) = self.position(handle) {
            self.items.swap_remove(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Table;

    #[test]
    fn a_handle_finds_its_value_until_removed_and_is_never_reused() {
        let mut table = Table::new();
        let a = table.insert("a");
        let b = table.insert("b");
        let c = table.insert("c");
        assert_eq!(
            (table.get(a), table.get(b), table.get(c)),
            (Some(&"a"), Some(&"b"), Some(&"c"))
        );
        table.remove(a);
        assert_eq!(
            (table.get(a), table.get(b), table.get(c)),
            (None, Some(&"b"), Some(&"c"))
        );
        if let Some(value) = table.get_mut(c) {
            *value = "c2";
        }
        assert_eq!(table.get(c), Some(&"c2"));
        table.remove(a);
        let d = table.insert("d");
        assert!(![a, b, c].contains(&d));
        assert_eq!((table.get(b), table.get(d)), (Some(&"b"), Some(&"d")));
        assert_eq!(table.get(0), None);
    }
}
