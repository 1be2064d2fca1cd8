//! Producer id blocks: consecutive, never overlapping, only for registered
//! brokers.

use strom_controller::decisions::{allocate_producer_ids, MAX_PRODUCER_ID_BLOCK_SIZE};
use strom_controller::{ProducerIdsBlock, PRODUCER_ID_BLOCK_SIZE};
use strom_metadata::MetadataRecord;

use super::cluster;

#[test]
fn blocks_follow_each_other_once_their_records_apply() {
    let mut image = cluster(&[1, 2]);
    let mut expected_first = 0;
    for broker_id in [1, 2, 1] {
        let (block, records) =
            allocate_producer_ids(&image, broker_id, PRODUCER_ID_BLOCK_SIZE).expect("allocates");
        assert_eq!(
            block,
            ProducerIdsBlock {
                broker_id,
                first_producer_id: expected_first,
                size: PRODUCER_ID_BLOCK_SIZE
            }
        );
        assert_eq!(
            records,
            vec![MetadataRecord::ProducerIds {
                broker_id,
                broker_epoch: -1,
                next_producer_id: expected_first + 1000
            }]
        );
        image = image
            .apply(&records, image.offset() + 1)
            .expect("the record applies");
        expected_first = block.next_block_first_id();
    }
    assert_eq!(image.next_producer_id(), 3000);
}

#[test]
fn an_unregistered_broker_gets_no_ids() {
    let image = cluster(&[1]);
    let err = allocate_producer_ids(&image, 7, 10).expect_err("broker 7 is not registered");
    assert_eq!(err.code(), 102, "BROKER_ID_NOT_REGISTERED");
}

#[test]
fn block_sizes_outside_the_bounds_are_invalid_requests() {
    let image = cluster(&[1]);
    for count in [0, MAX_PRODUCER_ID_BLOCK_SIZE + 1] {
        let err = allocate_producer_ids(&image, 1, count).expect_err("size out of bounds");
        assert_eq!(err.code(), 42, "INVALID_REQUEST for {count}");
    }
}

#[test]
fn the_id_space_running_out_is_an_error_not_a_wrap() {
    let image = cluster(&[1])
        .apply(
            &[MetadataRecord::ProducerIds {
                broker_id: 1,
                broker_epoch: -1,
                next_producer_id: i64::MAX - 5,
            }],
            1,
        )
        .expect("applies");
    let err = allocate_producer_ids(&image, 1, 10).expect_err("would pass i64::MAX");
    assert_eq!(err.code(), -1);
    let (block, _) = allocate_producer_ids(&image, 1, 5).expect("the last ids still fit");
    assert_eq!(block.first_producer_id, i64::MAX - 5);
}
