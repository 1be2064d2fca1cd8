//! Producer state rebuilt from batch headers of files trusted without recovery (after a
//! clean shutdown). Regression for a `cargo fuzz` finding (target `log_loader`): a header
//! with a producer id and a negative `lastOffsetDelta` overflowed the sequence arithmetic
//! (`attempt to subtract with overflow` in `increment_sequence`) while opening the log.

use std::path::{Path, PathBuf};

use strom_log::{FaultyFileSystem, Log, LogConfig};

/// The fuzzer's segment: one 75-byte batch whose header names a producer
/// (172654543060992767) with base sequence -16645630 and `lastOffsetDelta` -1.
const SEGMENT: &[u8] = &[
    0xfc, 0x00, 0x00, 0x00, 0xff, 0xfe, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02, 0x02,
    0x02, 0x02, 0x02, 0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x02, 0x02, 0x02, 0x29, 0x02, 0x65, 0x64, 0x64, 0x64,
    0x02, 0x02, 0xff, 0xff, 0xff, 0xff, 0x02, 0x02, 0x02, 0x02, 0x29, 0x02, 0x65, 0x64, 0x64, 0x64,
    0x02, 0x02, 0x02, 0x02, 0x95, 0x59, 0xb5, 0x02, 0xf1, 0x02, 0x02,
];

#[test]
fn a_trusted_segment_with_wild_sequence_fields_opens_without_panicking() {
    let fs = FaultyFileSystem::new();
    let dir = PathBuf::from("/data/orders-0");
    fs.shared().create_dir_all(&dir).unwrap();
    let file = |name: &str| Path::new("/data/orders-0").join(name);
    fs.put_file(&file("00000000000000000000.log"), SEGMENT)
        .unwrap();
    fs.put_file(&file("00000000000000000000.index"), &[])
        .unwrap();
    fs.put_file(&file("00000000000000000000.timeindex"), &[])
        .unwrap();
    fs.put_file(&file("00000000000000000100.log"), &[]).unwrap();
    let log = Log::open(fs.shared(), dir, LogConfig::default(), false, 0).unwrap();
    assert_eq!(log.segment_base_offsets(), vec![0, 100]);
    assert_eq!(log.log_end_offset(), 100);
}
