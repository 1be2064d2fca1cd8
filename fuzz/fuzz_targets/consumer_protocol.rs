//! The consumer embedded protocol (`ConsumerProtocolSubscription` in JoinGroup metadata,
//! `ConsumerProtocolAssignment` in SyncGroup), which the coordinator decodes from client
//! bytes to describe and convert groups. Decoding never panics; what decodes re-encodes at
//! the highest version to bytes that decode to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use strom_coordinator::consumer_protocol::{Assignment, Subscription, HIGHEST_VERSION};

fuzz_target!(|data: &[u8]| {
    if let Ok(subscription) = Subscription::decode(data) {
        let encoded = subscription.encode(HIGHEST_VERSION);
        assert_eq!(Subscription::decode(&encoded), Ok(subscription));
    }
    if let Ok(assignment) = Assignment::decode(data) {
        let encoded = assignment.encode(HIGHEST_VERSION);
        assert_eq!(Assignment::decode(&encoded), Ok(assignment));
    }
});
