//! Which partition a record goes to, as Kafka's Java producer chooses:
//! keyed records by the murmur2 hash of the key (Kafka's
//! `BuiltInPartitioner.partitionForKey`, librdkafka's `murmur2_random`),
//! keyless records to one "sticky" partition until its batch is sent
//! (KIP-480), records with an explicit partition where they say.

/// Kafka's murmur2 (`Utils.murmur2`): seed 0x9747b28c, little-endian 4-byte
/// blocks, the tail mixed in as Java's switch fall-through does.
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let length = data.len() as u32;
    let mut h: u32 = SEED ^ length;
    let mut chunks = data.chunks_exact(4);
    for chunk in &mut chunks {
        let mut k = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// Kafka's `Utils.toPositive`: the sign bit cleared (not `abs`).
pub fn to_positive(n: i32) -> i32 {
    n & 0x7fff_ffff
}

/// The partition of a keyed record among `partitions` (> 0).
pub fn partition_for_key(key: &[u8], partitions: i32) -> i32 {
    to_positive(murmur2(key)) % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Kafka's own vectors (clients' UtilsTest.testMurmur2).
    #[test]
    fn murmur2_matches_kafkas_published_vectors() {
        let cases: &[(&[u8], i32)] = &[
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for &(data, expected) in cases {
            assert_eq!(
                murmur2(data),
                expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    /// Vectors other Kafka-compatible clients check against Kafka's
    /// implementation (every tail length: 1, 2, 3 and 0 bytes).
    #[test]
    fn murmur2_handles_every_tail_length() {
        let cases: &[(&[u8], i32)] = &[
            (b"1", -1_993_445_489),
            (b"12", 126_087_238),
            (b"123", -267_702_483),
            (b"1234", -1_614_185_708),
            (b"12345", -1_188_365_604),
        ];
        for &(data, expected) in cases {
            assert_eq!(
                murmur2(data),
                expected,
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn partitions_come_from_the_hash_with_the_sign_bit_cleared() {
        // -973932308 & 0x7fffffff = 1173551340; not |h|, which is 973932308.
        assert_eq!(to_positive(-973_932_308), 1_173_551_340);
        assert_eq!(partition_for_key(b"21", 7), 1_173_551_340 % 7);
        assert_eq!(to_positive(i32::MIN), 0);
        for p in 1..20 {
            let chosen = partition_for_key(b"foobar", p);
            assert!((0..p).contains(&chosen));
        }
    }
}
