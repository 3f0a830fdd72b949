//! The event loop's connections by key (a key names a connection's two
//! tokens): a vector whose free slots are reused, but only once the loop
//! has acted on every event of the round in which they were freed, so that
//! an event meant for a closed connection never reaches a new one.

pub(super) struct Slab<T> {
    entries: Vec<Option<T>>,
    /// Keys free to take.
    free: Vec<usize>,
    /// Keys freed this round, free after `release`.
    freed: Vec<usize>,
    len: usize,
}

impl<T> Slab<T> {
    pub(super) fn new() -> Slab<T> {
        Slab {
            entries: Vec::new(),
            free: Vec::new(),
            freed: Vec::new(),
            len: 0,
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key the next `insert` takes.
    pub(super) fn vacant_key(&self) -> usize {
        self.free.last().copied().unwrap_or(self.entries.len())
    }

    pub(super) fn insert(&mut self, value: T) -> usize {
        self.len += 1;
        match self.free.pop() {
            Some(key) => {
                self.entries[key] = Some(value);
                key
            }
            None => {
                self.entries.push(Some(value));
                self.entries.len() - 1
            }
        }
    }

    pub(super) fn get_mut(&mut self, key: usize) -> Option<&mut T> {
        self.entries.get_mut(key)?.as_mut()
    }

    /// Drops the value at `key`.
    pub(super) fn remove(&mut self, key: usize) {
        if let Some(entry) = self.entries.get_mut(key) {
            if entry.take().is_some() {
                self.len -= 1;
                self.freed.push(key);
            }
        }
    }

    /// Keeps the values for which `keep` says so, drops the others.
    pub(super) fn retain(&mut self, mut keep: impl FnMut(&mut T) -> bool) {
        for key in 0..self.entries.len() {
            if let Some(value) = self.entries[key].as_mut() {
                if !keep(value) {
                    self.remove(key);
                }
            }
        }
    }

    /// Ends the round: the keys freed in it can be taken again.
    pub(super) fn release(&mut self) {
        self.free.append(&mut self.freed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freed_key_is_taken_again_only_after_the_round() {
        let mut slab = Slab::new();
        let a = slab.insert("a");
        let b = slab.insert("b");
        slab.remove(a);
        assert_eq!(slab.get_mut(a), None);
        assert_eq!(slab.vacant_key(), 2, "not reused within the round");
        assert_eq!(slab.insert("c"), 2);
        slab.release();
        assert_eq!(slab.vacant_key(), a);
        assert_eq!(slab.insert("d"), a);
        slab.retain(|v| *v != "b");
        assert_eq!(slab.get_mut(b), None);
        assert!(!slab.is_empty());
        slab.retain(|_| false);
        assert!(slab.is_empty());
    }
}
