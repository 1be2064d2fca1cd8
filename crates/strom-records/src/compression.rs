//! The five codecs of `compression.type`, byte-compatible with what Kafka's Java client and
//! librdkafka put in a v2 batch.
//!
//! - gzip: an RFC 1952 stream (Java `GZIPOutputStream`, librdkafka zlib); several members
//!   are accepted when reading.
//! - snappy: Java's `SnappyOutputStream` writes the xerial framing (an 8-byte magic
//!   `82 'SNAPPY' 00`, two big-endian i32 versions, then blocks of `i32 length + raw snappy`);
//!   librdkafka writes one raw snappy block. Both are read; the xerial framing is written,
//!   because every client reads it (xerial's reader falls back to raw snappy, librdkafka
//!   detects the magic).
//! - lz4: the LZ4 frame format (magic `04 22 4d 18`), 64 KiB independent blocks, no
//!   checksums, as Kafka's `Lz4BlockOutputStream` writes it for magic 2.
//! - zstd: standard frames, level 3 (Kafka's default).
//!
//! Decompression always takes an output limit: a 1 MB batch of zeros can expand a
//! thousandfold, and a broker must refuse that rather than allocate it.

use std::fmt;
use std::io::{Read, Write};
use std::str::FromStr;

use crate::RecordsError;

/// Default bound on the decompressed size of one batch's records section.
pub const DEFAULT_MAX_DECOMPRESSED_BYTES: usize = 64 * 1024 * 1024;

const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
const XERIAL_HEADER_LEN: usize = 16;
/// Java's `SnappyOutputStream` default block size.
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
const ZSTD_LEVEL: i32 = 3;

/// Compression codec of a record batch: attribute bits 0..2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    /// 0: records stored as they are.
    #[default]
    None,
    /// 1: gzip.
    Gzip,
    /// 2: snappy (raw or xerial-framed).
    Snappy,
    /// 3: LZ4 frame format.
    Lz4,
    /// 4: zstd.
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0..2.
    pub fn from_id(id: u8) -> Result<Compression, RecordsError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            _ => Err(RecordsError::UnknownCompression { id }),
        }
    }

    /// The id stored in attribute bits 0..2.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }

    /// Kafka's `compression.type` name.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Snappy => "snappy",
            Compression::Lz4 => "lz4",
            Compression::Zstd => "zstd",
        }
    }

    /// Compresses a records section.
    pub fn compress(self, input: &[u8]) -> Result<Vec<u8>, RecordsError> {
        let fail = |e: &dyn fmt::Display| RecordsError::Compression {
            codec: self,
            reason: e.to_string(),
        };
        match self {
            Compression::None => Ok(input.to_vec()),
            Compression::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(
                    Vec::with_capacity(input.len() / 2 + 64),
                    flate2::Compression::default(),
                );
                encoder.write_all(input).map_err(|e| fail(&e))?;
                encoder.finish().map_err(|e| fail(&e))
            }
            Compression::Snappy => {
                let mut out = Vec::with_capacity(XERIAL_HEADER_LEN + input.len() / 2 + 64);
                out.extend_from_slice(&XERIAL_MAGIC);
                out.extend_from_slice(&1i32.to_be_bytes());
                out.extend_from_slice(&1i32.to_be_bytes());
                let mut encoder = snap::raw::Encoder::new();
                for block in input.chunks(XERIAL_BLOCK_SIZE) {
                    let compressed = encoder.compress_vec(block).map_err(|e| fail(&e))?;
                    let len = i32::try_from(compressed.len()).map_err(|e| fail(&e))?;
                    out.extend_from_slice(&len.to_be_bytes());
                    out.extend_from_slice(&compressed);
                }
                Ok(out)
            }
            Compression::Lz4 => {
                let info = lz4_flex::frame::FrameInfo::new()
                    .block_size(lz4_flex::frame::BlockSize::Max64KB)
                    .block_mode(lz4_flex::frame::BlockMode::Independent);
                let mut encoder = lz4_flex::frame::FrameEncoder::with_frame_info(
                    info,
                    Vec::with_capacity(input.len() / 2 + 64),
                );
                encoder.write_all(input).map_err(|e| fail(&e))?;
                encoder.finish().map_err(|e| fail(&e))
            }
            Compression::Zstd => zstd::bulk::compress(input, ZSTD_LEVEL).map_err(|e| fail(&e)),
        }
    }

    /// Decompresses a records section, refusing output larger than `max_output` bytes.
    pub fn decompress(self, input: &[u8], max_output: usize) -> Result<Vec<u8>, RecordsError> {
        match self {
            Compression::None => {
                if input.len() > max_output {
                    return Err(RecordsError::DecompressedTooLarge {
                        codec: self,
                        limit: max_output,
                    });
                }
                Ok(input.to_vec())
            }
            Compression::Gzip => {
                read_bounded(self, flate2::read::MultiGzDecoder::new(input), max_output)
            }
            Compression::Snappy => {
                if input.len() >= XERIAL_HEADER_LEN && input[..8] == XERIAL_MAGIC {
                    decompress_xerial(input, max_output)
                } else {
                    let mut out = Vec::new();
                    decompress_raw_snappy(input, max_output, &mut out)?;
                    Ok(out)
                }
            }
            Compression::Lz4 => {
                read_bounded(self, lz4_flex::frame::FrameDecoder::new(input), max_output)
            }
            Compression::Zstd => {
                let decoder = zstd::stream::read::Decoder::with_buffer(input).map_err(|e| {
                    RecordsError::Decompression {
                        codec: self,
                        reason: e.to_string(),
                    }
                })?;
                read_bounded(self, decoder, max_output)
            }
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Compression {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" | "uncompressed" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "lz4" => Ok(Compression::Lz4),
            "zstd" => Ok(Compression::Zstd),
            other => Err(format!(
                "unknown compression type '{other}': expected none, gzip, snappy, lz4 or zstd"
            )),
        }
    }
}

/// Reads at most `max_output` bytes; one byte more means the limit was exceeded.
fn read_bounded(
    codec: Compression,
    reader: impl Read,
    max_output: usize,
) -> Result<Vec<u8>, RecordsError> {
    let mut out = Vec::new();
    let limit = u64::try_from(max_output)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    reader
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|e| RecordsError::Decompression {
            codec,
            reason: e.to_string(),
        })?;
    if out.len() > max_output {
        return Err(RecordsError::DecompressedTooLarge {
            codec,
            limit: max_output,
        });
    }
    Ok(out)
}

fn decompress_raw_snappy(
    block: &[u8],
    max_output: usize,
    out: &mut Vec<u8>,
) -> Result<(), RecordsError> {
    let codec = Compression::Snappy;
    let fail = |e: snap::Error| RecordsError::Decompression {
        codec,
        reason: e.to_string(),
    };
    let len = snap::raw::decompress_len(block).map_err(fail)?;
    if out.len().saturating_add(len) > max_output {
        return Err(RecordsError::DecompressedTooLarge {
            codec,
            limit: max_output,
        });
    }
    let start = out.len();
    out.resize(start + len, 0);
    let written = snap::raw::Decoder::new()
        .decompress(block, &mut out[start..])
        .map_err(fail)?;
    out.truncate(start + written);
    Ok(())
}

fn decompress_xerial(input: &[u8], max_output: usize) -> Result<Vec<u8>, RecordsError> {
    let truncated = || RecordsError::Decompression {
        codec: Compression::Snappy,
        reason: "xerial snappy stream is truncated inside a block".to_string(),
    };
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < input.len() {
        // Concatenated streams repeat the header; xerial's reader skips it, and so do we.
        if input.len() - pos >= XERIAL_HEADER_LEN && input[pos..pos + 8] == XERIAL_MAGIC {
            pos += XERIAL_HEADER_LEN;
            continue;
        }
        let len_bytes = input.get(pos..pos + 4).ok_or_else(truncated)?;
        let len = i32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]);
        pos += 4;
        let len = usize::try_from(len).map_err(|_| RecordsError::Decompression {
            codec: Compression::Snappy,
            reason: format!("xerial snappy block has negative length {len}"),
        })?;
        let block = input.get(pos..pos + len).ok_or_else(truncated)?;
        decompress_raw_snappy(block, max_output, &mut out)?;
        pos += len;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    fn sample() -> Vec<u8> {
        (0..200_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect()
    }

    #[test]
    fn every_codec_round_trips() {
        let data = sample();
        for codec in ALL {
            let compressed = codec.compress(&data).unwrap();
            let back = codec.decompress(&compressed, data.len()).unwrap();
            assert_eq!(back, data, "{codec}");
        }
    }

    #[test]
    fn every_codec_round_trips_empty_input() {
        for codec in ALL {
            let compressed = codec.compress(&[]).unwrap();
            assert_eq!(
                codec.decompress(&compressed, 0).unwrap(),
                Vec::<u8>::new(),
                "{codec}"
            );
        }
    }

    #[test]
    fn output_above_the_limit_is_refused_by_every_codec() {
        let zeros = vec![0u8; 1 << 20];
        for codec in ALL {
            let compressed = codec.compress(&zeros).unwrap();
            let err = codec.decompress(&compressed, 4096).unwrap_err();
            assert_eq!(
                err,
                RecordsError::DecompressedTooLarge { codec, limit: 4096 },
                "{codec}"
            );
        }
    }

    #[test]
    fn snappy_reads_raw_blocks_as_librdkafka_writes_them() {
        let data = sample();
        let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
        assert_ne!(raw[..8], XERIAL_MAGIC);
        assert_eq!(
            Compression::Snappy.decompress(&raw, data.len()).unwrap(),
            data
        );
    }

    #[test]
    fn snappy_writes_xerial_framing_as_java_does() {
        let compressed = Compression::Snappy.compress(b"hello").unwrap();
        assert_eq!(compressed[..8], XERIAL_MAGIC);
        assert_eq!(compressed[8..16], [0, 0, 0, 1, 0, 0, 0, 1]);
        let block_len = i32::from_be_bytes(compressed[16..20].try_into().unwrap());
        assert_eq!(block_len as usize, compressed.len() - 20);
    }

    #[test]
    fn snappy_reads_concatenated_xerial_streams() {
        let mut both = Compression::Snappy.compress(b"first ").unwrap();
        both.extend(Compression::Snappy.compress(b"second").unwrap());
        assert_eq!(
            Compression::Snappy.decompress(&both, 100).unwrap(),
            b"first second"
        );
    }

    #[test]
    fn lz4_writes_a_standard_frame_with_64k_blocks() {
        let compressed = Compression::Lz4.compress(b"hello").unwrap();
        assert_eq!(compressed[..4], [0x04, 0x22, 0x4d, 0x18]);
        // FLG: version 01, block independence; BD: 64 KiB max block size.
        assert_eq!(compressed[4], 0b0110_0000);
        assert_eq!(compressed[5], 0x40);
    }

    #[test]
    fn garbage_input_is_an_error_not_a_panic() {
        let garbage = [
            0x82u8, b'S', b'N', b'A', b'P', b'P', b'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1, 0x7f, 0xff,
            0xff, 0xff, 1, 2,
        ];
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            assert!(codec.decompress(&garbage, 1 << 20).is_err(), "{codec}");
            assert!(codec.decompress(&garbage[..3], 1 << 20).is_err(), "{codec}");
        }
    }

    #[test]
    fn names_parse_back() {
        for codec in ALL {
            assert_eq!(codec.name().parse::<Compression>().unwrap(), codec);
            assert_eq!(Compression::from_id(codec.id()).unwrap(), codec);
        }
        assert_eq!(
            Compression::from_id(5),
            Err(RecordsError::UnknownCompression { id: 5 })
        );
    }
}
