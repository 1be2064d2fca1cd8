//! [`OffsetMap`]: key -> last offset over the dirty section of a log, in bounded memory
//! (`log.cleaner.dedupe.buffer.size`).
//!
//! Kafka's `SkimpyOffsetMap` stores a 16-byte MD5 of each key (24 bytes an entry) and
//! accepts the rare collision, which could drop a record wrongly. This map stores the keys
//! themselves, so it never confuses two keys, and charges each entry its key length plus
//! [`ENTRY_OVERHEAD_BYTES`] against the bound. When a new key does not fit, the map is
//! full: the cleaner cleans up to the offset before that record and leaves the rest dirty
//! for the next clean, as Kafka does.

use std::collections::HashMap;

/// What one entry costs besides its key: the offset, the boxed slice's pointer and
/// length, and the hash table's slot and control byte, rounded up.
pub(crate) const ENTRY_OVERHEAD_BYTES: usize = 48;

#[derive(Debug)]
pub(crate) struct OffsetMap {
    offsets: HashMap<Box<[u8]>, i64>,
    used_bytes: usize,
    max_bytes: usize,
}

impl OffsetMap {
    pub fn new(max_bytes: usize) -> OffsetMap {
        OffsetMap {
            offsets: HashMap::new(),
            used_bytes: 0,
            max_bytes,
        }
    }

    /// Records `offset` as the latest of `key`. Returns false, changing nothing, when the
    /// key is new and does not fit.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        if let Some(latest) = self.offsets.get_mut(key) {
            *latest = (*latest).max(offset);
            return true;
        }
        let cost = key.len() + ENTRY_OVERHEAD_BYTES;
        if self.used_bytes + cost > self.max_bytes {
            return false;
        }
        self.used_bytes += cost;
        self.offsets.insert(key.into(), offset);
        true
    }

    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.offsets.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.offsets.len()
    }

    pub fn used_bytes(&self) -> usize {
        self.used_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_keeps_the_latest_offset_and_refuses_new_keys_when_full() {
        let mut map = OffsetMap::new(2 * (ENTRY_OVERHEAD_BYTES + 2));
        assert!(map.put(b"k1", 1));
        assert!(map.put(b"k2", 2));
        assert!(map.put(b"k1", 5));
        assert!(!map.put(b"k3", 6));
        assert_eq!(map.get(b"k1"), Some(5));
        assert_eq!(map.get(b"k3"), None);
        assert_eq!(map.len(), 2);
        assert_eq!(map.used_bytes(), 2 * (ENTRY_OVERHEAD_BYTES + 2));
    }
}
