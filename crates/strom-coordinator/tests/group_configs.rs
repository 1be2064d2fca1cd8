//! Group configurations (KIP-848): a consumer group's own `consumer.heartbeat.interval.ms` is
//! what its members are told, and its own `consumer.session.timeout.ms` is when a silent
//! member is removed; other groups keep the shard's defaults.

use std::collections::HashMap;

use strom_coordinator::api::*;
use strom_coordinator::{GroupConfig, GroupShard, TopicMetadata};
use uuid::Uuid;

const TOPIC: Uuid = Uuid::from_u128(7);
const UNKNOWN_MEMBER_ID: ErrorCode = 25;

struct Topics;

impl TopicMetadata for Topics {
    fn topic(&self, name: &str) -> Option<(Uuid, i32)> {
        (name == "t").then_some((TOPIC, 2))
    }
}

fn heartbeat(
    shard: &mut GroupShard,
    group: &str,
    member: &str,
    epoch: i32,
    now: i64,
) -> ConsumerHeartbeatResponse {
    let req = ConsumerHeartbeatRequest {
        group_id: group.into(),
        member_id: member.into(),
        member_epoch: epoch,
        instance_id: None,
        rack_id: None,
        rebalance_timeout_ms: if epoch == 0 { 30_000 } else { -1 },
        subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
        subscribed_topic_regex: None,
        server_assignor: None,
        topic_partitions: (epoch == 0).then(Vec::new),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
    };
    shard.consumer_group_heartbeat(ReplyId(now as u64 + 1), req, &Topics, now);
    shard.tick(now);
    shard
        .take_output()
        .replies
        .into_iter()
        .find_map(|(_, reply)| match reply {
            Reply::ConsumerGroupHeartbeat(r) => Some(r),
            _ => None,
        })
        .expect("a heartbeat response")
}

fn shard_with(timeouts: &[(&str, (i32, i32))]) -> GroupShard {
    let mut shard = GroupShard::new(GroupConfig::default());
    shard.set_consumer_group_timeouts(
        timeouts
            .iter()
            .map(|(g, t)| (g.to_string(), *t))
            .collect::<HashMap<_, _>>(),
    );
    shard.load_complete(0);
    shard
}

#[test]
fn members_get_their_groups_heartbeat_interval() {
    let mut shard = shard_with(&[("tuned", (50_000, 7_000))]);
    let tuned = heartbeat(&mut shard, "tuned", "m1", 0, 0);
    assert_eq!((tuned.error_code, tuned.heartbeat_interval_ms), (0, 7_000));
    let plain = heartbeat(&mut shard, "plain", "m2", 0, 0);
    assert_eq!((plain.error_code, plain.heartbeat_interval_ms), (0, 5_000));
    // A change applies from the next heartbeat.
    shard.set_consumer_group_timeouts(HashMap::from([("plain".to_string(), (45_000, 9_000))]));
    let epoch = plain.member_epoch;
    assert_eq!(
        heartbeat(&mut shard, "plain", "m2", epoch, 1_000).heartbeat_interval_ms,
        9_000
    );
    assert_eq!(
        heartbeat(&mut shard, "tuned", "m1", tuned.member_epoch, 1_000).heartbeat_interval_ms,
        5_000
    );
}

#[test]
fn a_silent_member_expires_after_its_groups_session_timeout() {
    let mut shard = shard_with(&[("short", (46_000, 5_000)), ("long", (60_000, 5_000))]);
    let short = heartbeat(&mut shard, "short", "a", 0, 0);
    let long = heartbeat(&mut shard, "long", "b", 0, 0);
    // 50 s later: past the short group's 46 s, within the long group's 60 s.
    shard.tick(50_000);
    let _ = shard.take_output();
    assert_eq!(
        heartbeat(&mut shard, "short", "a", short.member_epoch, 50_000).error_code,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        heartbeat(&mut shard, "long", "b", long.member_epoch, 50_000).error_code,
        0
    );
}
