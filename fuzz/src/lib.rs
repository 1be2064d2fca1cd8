//! Input formats shared by the fuzz targets and by the seed generator
//! (`examples/make_seeds.rs`), so seeds are real encodings in exactly the layout the
//! targets read.

use std::path::{Path, PathBuf};

use strom_records::layout::*;
use strom_records::Compression;

/// Sets `batchLength` to the buffer's size and recomputes the CRC, so a mutated batch gets
/// past framing and CRC checks to the fields behind them. Short inputs are padded to a
/// whole header.
pub fn fix_batch_framing(bytes: &[u8]) -> Vec<u8> {
    let mut b = bytes.to_vec();
    if b.len() < RECORD_BATCH_OVERHEAD {
        b.resize(RECORD_BATCH_OVERHEAD, 0);
    }
    b[MAGIC_OFFSET] = CURRENT_MAGIC as u8;
    let length = (b.len() - LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES_OFFSET..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// A batch whose records section is `section` compressed with `codec`, with
/// `recordsCount = count`, `lastOffsetDelta = count - 1` and a correct CRC; `None` if
/// the codec refuses the input.
pub fn batch_with_section(codec: Compression, count: i32, section: &[u8]) -> Option<Vec<u8>> {
    let body = match codec {
        Compression::None => section.to_vec(),
        codec => codec.compress(section).ok()?,
    };
    let mut b = vec![0u8; RECORD_BATCH_OVERHEAD];
    b.extend_from_slice(&body);
    b[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&100i64.to_be_bytes());
    b[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&0i32.to_be_bytes());
    b[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2]
        .copy_from_slice(&i16::from(codec.id()).to_be_bytes());
    b[LAST_OFFSET_DELTA_OFFSET..LAST_OFFSET_DELTA_OFFSET + 4]
        .copy_from_slice(&count.wrapping_sub(1).to_be_bytes());
    b[BASE_TIMESTAMP_OFFSET..BASE_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&1_700_000_000_000i64.to_be_bytes());
    b[PRODUCER_ID_OFFSET..PRODUCER_ID_OFFSET + 8].copy_from_slice(&(-1i64).to_be_bytes());
    b[PRODUCER_EPOCH_OFFSET..PRODUCER_EPOCH_OFFSET + 2].copy_from_slice(&(-1i16).to_be_bytes());
    b[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4].copy_from_slice(&(-1i32).to_be_bytes());
    b[RECORDS_COUNT_OFFSET..RECORDS_COUNT_OFFSET + 4].copy_from_slice(&count.to_be_bytes());
    Some(fix_batch_framing(&b))
}

/// Length-prefixed pieces: `[u16 big-endian length][bytes]...`; a last piece shorter than
/// its length takes what is left.
pub fn split_pieces(mut data: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    while let Some((len, rest)) = data.split_first_chunk::<2>() {
        let len = usize::from(u16::from_be_bytes(*len)).min(rest.len());
        let (piece, tail) = rest.split_at(len);
        out.push(piece);
        data = tail;
    }
    out
}

/// The inverse of [`split_pieces`].
pub fn join_pieces<'a>(pieces: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    for p in pieces {
        let len = p.len().min(usize::from(u16::MAX));
        out.extend_from_slice(&(len as u16).to_be_bytes());
        out.extend_from_slice(&p[..len]);
    }
    out
}

/// The partition directory the log-loader target writes its files into.
pub const LOG_DIR: &str = "/data/fuzz-0";

/// File name suffixes the log loader knows, plus a stray one.
pub const LOG_FILE_SUFFIXES: [&str; 9] = [
    ".log",
    ".index",
    ".timeindex",
    ".log.deleted",
    ".log.swap",
    ".index.swap",
    ".log.cleaned",
    ".tmp",
    ".snapshot",
];

/// One file of a log-loader input: `[suffix index u8][base offset u8][u16 length][bytes]`;
/// the base offset is one of a few values, so segments line up with each other's
/// contents often enough.
pub fn log_file_path(suffix: u8, base: u8) -> PathBuf {
    const BASES: [i64; 4] = [0, 5, 100, 4096];
    let suffix = LOG_FILE_SUFFIXES[usize::from(suffix) % LOG_FILE_SUFFIXES.len()];
    let base = BASES[usize::from(base) % BASES.len()];
    Path::new(LOG_DIR).join(strom_log::segment_file_name(base, suffix))
}

/// The inverse of [`log_file_path`] for the names the seed generator writes.
pub fn log_file_code(name: &str) -> Option<(u8, u8)> {
    const BASES: [i64; 4] = [0, 5, 100, 4096];
    for (s, suffix) in LOG_FILE_SUFFIXES.iter().enumerate() {
        for (b, base) in BASES.iter().enumerate() {
            if strom_log::segment_file_name(*base, suffix) == name {
                return Some((s as u8, b as u8));
            }
        }
    }
    None
}

/// The `sasl` target's input: a selector byte, then the input it names.
pub mod sasl {
    pub const JAAS_AND_SCRAM_CLIENT: u8 = 0;
    pub const SCRAM_SERVER: u8 = 1;
    pub const OAUTH_INITIAL: u8 = 2;
    pub const JWKS_AND_TOKEN: u8 = 3;
    pub const CLAIMS: u8 = 4;
    pub const JWKS_HTTP: u8 = 5;
    pub const SELECTORS: u8 = 6;

    /// The key set `OAUTH_INITIAL` tokens are checked against: the public half of
    /// crates/strom-broker/tests/fixtures/jwt-rsa-2048.pem (kid rsa-1, RS256) and of a
    /// P-256 key (kid ec-1), written with `openssl rsa -modulus` / `openssl ec -pubout`.
    pub const FIXED_JWKS: &str = r#"{"keys":[{"kty":"RSA","kid":"rsa-1","use":"sig","alg":"RS256","n":"jqTOT7lcodK8OKNTalr7CQD1ve-ssjasvgN5PvPyv1Nj4OBqoXrkriH2jK34QtTzrql3MX56aENLXfrhGnsxNVq56qGxkxxfSalfdRRXpRS7i2COVoeH_ambC3gIGTBwF0NP1pvExidSsXH1tg_B5w9A2umzW71hs8pkssooxI1I6ZRFZ-xb3nykokdsDEJ1vMiwcg8s90b9VtcjtL6ga9pWKBxMN98W4bbQ6APlXFEDXXeMWcAdxWECHM1dmXuH-VPA5cVPmV1TpS01Bay_7lQZcyJp2rfF7B2GiThkZGgZ6Fff4rZQXe-6jUGr6X2b6Q6Jkf4gyo9hbrjo21x1FQ","e":"AQAB"},{"kty":"EC","kid":"ec-1","crv":"P-256","x":"bOHUR0XrmZqRiDakCzw43KxtMIZjZJx-kXg36Wu4cdk","y":"swkUjcPY0F5WrtY-V14ipyQReYqd8HwyOAEkBpM7BSM"}]}"#;

    /// An RS256 token signed with the rsa-1 key (`openssl dgst -sha256 -sign`): sub
    /// alice, iss https://idp, aud kafka, iat 1699999990, exp 1700003600 (valid at the
    /// target's clock, 1700000000 s).
    pub const SIGNED_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYS0xIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhbGljZSIsImlzcyI6Imh0dHBzOi8vaWRwIiwiYXVkIjoia2Fma2EiLCJpYXQiOjE2OTk5OTk5OTAsImV4cCI6MTcwMDAwMzYwMCwic2NvcGUiOiJyZWFkIHdyaXRlIn0.bX8_nfLQ8N0IMGgr1viTPAlfEPE7m-VuwBQRuA5x0cPoUQNwO6Tmv8TRfkv1YastWkEPI4kiH70WR1o2994d-6jqwowTBwGUQdtKIdeFDqsZfAM1LidGINxJBEF9AFMZUmpq6r3E4t_ypbcSg1g9JYKITM9e5liqIdK7baeEl_vFAwI8CHZH3ProU7PLS3cbpTCK-5WMfgyMn_cD3HvHW-LDDJqTuGbqGg2vyOLscBbOZmw-Zu5c8K_lTxf2_p8gW_zAOzZgj4dIR5HK4-CRjjxI5HT_Jci_Ekw0VJylh-Zfailg3Dt6pLeMWJppcEasN-oiSB8MpNhDsBHhhQHjQg";
}
