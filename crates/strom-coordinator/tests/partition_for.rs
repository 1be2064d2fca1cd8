//! Group → `__consumer_offsets` partition, checked against what Kafka computes
//! (`Utils.abs(groupId.hashCode()) % partitions`). The expected values are
//! Java's `String.hashCode()` of each name, computed with 32-bit wrapping arithmetic over UTF-16 code units.

use strom_coordinator::partition_for;

#[test]
fn a_positive_hash_is_taken_modulo_the_partition_count() {
    // "group".hashCode() == 98629247.
    assert_eq!(partition_for("group", 50), 98_629_247 % 50);
    assert_eq!(partition_for("", 50), 0);
}

#[test]
fn a_negative_hash_uses_its_absolute_value_as_kafka_does() {
    // "my-group".hashCode() == -1906497762: Kafka puts it on 12 of 50,
    // masking the sign bit would put it on 36.
    assert_eq!(partition_for("my-group", 50), 12);
    assert_eq!(partition_for("my-group", 7), 1_906_497_762 % 7);
}

#[test]
fn a_hash_of_integer_min_value_lands_on_partition_zero() {
    // These three names hash to Integer.MIN_VALUE, whose Math.abs is itself
    // (negative); Kafka's Utils.abs maps it to 0.
    for name in ["polygenelubricants", "GydZG_", "DESIGNING WORKHOUSES"] {
        for partitions in [1, 7, 50, 1000] {
            assert_eq!(partition_for(name, partitions), 0, "{name} of {partitions}");
        }
    }
}

#[test]
fn names_outside_the_basic_multilingual_plane_hash_utf16_code_units() {
    // "grüppe-😀".hashCode() == -1039948164 (the emoji is a surrogate pair):
    // 14 of 50 in Kafka, 34 with the sign bit masked.
    assert_eq!(partition_for("grüppe-😀", 50), 14);
}

#[test]
fn every_name_lands_in_range() {
    for name in [
        "a",
        "zz",
        "my-group",
        "polygenelubricants",
        "😀😀😀",
        "x".repeat(300).as_str(),
    ] {
        for partitions in [1, 3, 50] {
            let p = partition_for(name, partitions);
            assert!((0..partitions).contains(&p), "{name}: {p} of {partitions}");
        }
    }
}
