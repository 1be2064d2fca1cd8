//! Record values and keys, generated once before the run.
//!
//! Like Kafka's `kafka-producer-perf-test`, values are random uppercase letters (about 4.7 bits of
//! entropy per byte, so codecs do some work but not absurdly well). Unlike it, records are not all
//! the same bytes: each value is a window into a larger pool at a different offset, so a batch of
//! identical records cannot make lz4 or zstd look unrealistically fast. No allocation per record.

/// Extra pool bytes beyond one record; the number of distinct windows is `POOL_SLACK + 1`.
const POOL_SLACK: usize = 64 * 1024;
/// Step between the windows of consecutive records; prime, so offsets cycle through the pool.
const WINDOW_STRIDE: usize = 7919;

pub struct Payload {
    pool: Vec<u8>,
    record_size: usize,
}

impl Payload {
    pub fn new(record_size: usize, seed: u64) -> Payload {
        let mut random = XorShift::new(seed);
        let pool = (0..record_size + POOL_SLACK)
            .map(|_| random.letter())
            .collect();
        Payload { pool, record_size }
    }

    /// The value of record `index`: `record_size` bytes.
    pub fn value(&self, index: u64) -> &[u8] {
        let windows = (POOL_SLACK + 1) as u64;
        let offset = (index.wrapping_mul(WINDOW_STRIDE as u64) % windows) as usize;
        &self.pool[offset..offset + self.record_size]
    }
}

/// A reused key buffer: random letters with the record index written into its tail, so keys are
/// distinct and hash across partitions.
pub struct Keys {
    buffer: Vec<u8>,
}

impl Keys {
    pub fn new(key_size: usize, seed: u64) -> Keys {
        let mut random = XorShift::new(seed ^ 0x5bd1_e995);
        Keys {
            buffer: (0..key_size).map(|_| random.letter()).collect(),
        }
    }

    /// The key of record `index`; valid until the next call.
    pub fn key(&mut self, index: u64) -> &[u8] {
        let bytes = index.to_be_bytes();
        let n = bytes.len().min(self.buffer.len());
        let tail = self.buffer.len() - n;
        self.buffer[tail..].copy_from_slice(&bytes[bytes.len() - n..]);
        &self.buffer
    }
}

/// xorshift64*: enough randomness for filler bytes, and deterministic for a seed.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> XorShift {
        XorShift(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn letter(&mut self) -> u8 {
        b'A' + (self.next() % 26) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_have_the_record_size_and_are_uppercase_letters() {
        let payload = Payload::new(100, 42);
        for index in [0, 1, 2, 999_999, u64::MAX] {
            let value = payload.value(index);
            assert_eq!(value.len(), 100);
            assert!(value.iter().all(u8::is_ascii_uppercase));
        }
    }

    #[test]
    fn consecutive_records_differ() {
        let payload = Payload::new(100, 42);
        assert_ne!(payload.value(0), payload.value(1));
        assert_ne!(payload.value(1), payload.value(2));
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        assert_eq!(Payload::new(16, 7).value(3), Payload::new(16, 7).value(3));
    }

    #[test]
    fn zero_sized_values_are_empty() {
        assert!(Payload::new(0, 1).value(12345).is_empty());
    }

    #[test]
    fn keys_carry_the_record_index_in_their_tail() {
        let mut keys = Keys::new(12, 1);
        let first = keys.key(1).to_vec();
        let second = keys.key(2).to_vec();
        assert_eq!(first.len(), 12);
        assert_ne!(first, second);
        assert_eq!(&second[4..], &2u64.to_be_bytes());
        assert_eq!(&first[..4], &second[..4]);
    }

    #[test]
    fn short_keys_keep_the_low_bytes_of_the_index() {
        let mut keys = Keys::new(2, 1);
        assert_eq!(keys.key(0x0102_0304), &[0x03, 0x04]);
        assert!(Keys::new(0, 1).key(5).is_empty());
    }
}
