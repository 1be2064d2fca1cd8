//! Broker heartbeats, fencing and controlled shutdown, decided as Kafka's
//! KRaft controller decides them (`BrokerHeartbeatManager`'s state machine,
//! `ReplicationControlManager.handleBrokerFenced` / `handleBrokerUnfenced`
//! / `handleBrokerInControlledShutdown`, `PartitionChangeBuilder`'s
//! election).
//!
//! A broker is in one of three states, read from its registration in the
//! image: fenced, unfenced, or in controlled shutdown. A heartbeat moves it
//! between them:
//!
//! - **fenced**: asking to shut down is granted at once; otherwise, unless it
//!   asks to stay fenced, it is unfenced once it has caught up with the
//!   metadata log (its metadata offset has reached the entry that
//!   registered it), and unfencing elects it leader of the leaderless
//!   partitions whose ISR holds it;
//! - **unfenced**: asking to be fenced fences it; asking to shut down while
//!   it leads partitions enters controlled shutdown (leadership moves away
//!   first), and while it leads nothing fences it and lets it shut down;
//! - **in controlled shutdown**: once it leads nothing, it is fenced and may
//!   shut down. This takes the next heartbeat after the one that moved its
//!   leadership, so the other brokers have had a heartbeat's time to learn
//!   the new leaders (Kafka waits until every active broker's metadata
//!   offset has passed the move; the image does not hold those offsets).
//!
//! Fencing (a missed session, a broker asking for it, or the end of a
//! controlled shutdown) and controlled shutdown take the broker out of the
//! ISR of every partition that has it, unless it is the last member (an
//! empty ISR would forget who has the data), and move leadership to the
//! first live ISR member in replica order, or, where
//! `unclean.leader.election.enable` holds, to the first live replica
//! (alone in the ISR), or to nobody (-1). Unfencing runs the election of
//! every leaderless partition the broker is a replica of. Every change is
//! a full `Partition` record built by [`super::partition_change`].

use strom_metadata::{
    BrokerRegistration, ConfigResource, MetadataImage, MetadataRecord, PartitionImage, TopicImage,
};

use super::create_topics::ControllerDefaults;
use super::partition_change::{
    unclean_enabled, Changed, Election, PartitionChange, UNCLEAN_LEADER_ELECTION_ENABLE,
};
use crate::error::ControllerError;

/// One BrokerHeartbeat request (Kafka's `BrokerHeartbeatRequestData`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerHeartbeat {
    pub broker_id: i32,
    /// The epoch of the registration the broker believes is current.
    pub broker_epoch: i64,
    /// The offset of the last metadata log entry the broker has applied.
    pub current_metadata_offset: i64,
    /// The broker wants to be (or stay) fenced.
    pub want_fence: bool,
    /// The broker wants to shut down.
    pub want_shut_down: bool,
}

/// The answer to a heartbeat (Kafka's `BrokerHeartbeatReply`), as things are
/// once the heartbeat's records are applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerHeartbeatOutcome {
    /// The broker has applied the metadata log up to its registration.
    pub is_caught_up: bool,
    pub is_fenced: bool,
    /// The broker may stop now: it leads nothing and is fenced.
    pub should_shut_down: bool,
}

/// The broker's state as the heartbeat state machine sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum BrokerState {
    Fenced,
    Unfenced,
    ControlledShutdown,
    ShutDownNow,
}

impl BrokerState {
    fn of(registration: &BrokerRegistration) -> BrokerState {
        if registration.fenced {
            BrokerState::Fenced
        } else if registration.in_controlled_shutdown {
            BrokerState::ControlledShutdown
        } else {
            BrokerState::Unfenced
        }
    }
}

/// Decides a heartbeat: the answer and the records that carry it out
/// (none when the heartbeat changes nothing).
///
/// Errors as Kafka's controller answers them: a broker that is not
/// registered gets `BROKER_ID_NOT_REGISTERED`, a heartbeat from another run
/// of the broker (not the registration's epoch) `STALE_BROKER_EPOCH`.
pub fn broker_heartbeat(
    image: &MetadataImage,
    hb: &BrokerHeartbeat,
    defaults: &ControllerDefaults,
) -> Result<(BrokerHeartbeatOutcome, Vec<MetadataRecord>), ControllerError> {
    let Some(registration) = image.broker(hb.broker_id) else {
        return Err(ControllerError::BrokerIdNotRegistered(format!(
            "Broker ID {} is not currently registered",
            hb.broker_id
        )));
    };
    if registration.epoch != hb.broker_epoch {
        return Err(ControllerError::StaleBrokerEpoch(format!(
            "Expected broker epoch {}, but got broker epoch {}",
            registration.epoch, hb.broker_epoch
        )));
    }
    let is_caught_up = hb.current_metadata_offset >= registration.epoch;
    let current = BrokerState::of(registration);
    let next = next_state(image, registration, hb, is_caught_up);
    let records = if next == current {
        Vec::new()
    } else {
        match next {
            BrokerState::Fenced | BrokerState::ShutDownNow => {
                fence_broker(image, hb.broker_id, defaults)
            }
            BrokerState::Unfenced => unfence(image, registration, defaults),
            BrokerState::ControlledShutdown => {
                enter_controlled_shutdown(image, registration, defaults)
            }
        }
    };
    let outcome = BrokerHeartbeatOutcome {
        is_caught_up,
        is_fenced: matches!(next, BrokerState::Fenced | BrokerState::ShutDownNow),
        should_shut_down: next == BrokerState::ShutDownNow,
    };
    Ok((outcome, records))
}

/// The broker's session expired (no heartbeat within
/// broker.session.timeout.ms): fence it. Nothing for a broker that is not
/// registered; for one already fenced, only the partition changes that
/// fencing implies and the image lacks (none, normally).
pub fn fence_broker(
    image: &MetadataImage,
    broker_id: i32,
    defaults: &ControllerDefaults,
) -> Vec<MetadataRecord> {
    let Some(registration) = image.broker(broker_id) else {
        return Vec::new();
    };
    // As Kafka: the partitions first, then the registration change.
    let mut records = move_leadership_away(image, broker_id, Some(defaults));
    if !registration.fenced {
        records.push(MetadataRecord::BrokerRegistrationChange {
            broker_id,
            broker_epoch: registration.epoch,
            fenced: Some(true),
            in_controlled_shutdown: None,
        });
    }
    records
}

/// Fences several brokers whose sessions expired together, as one batch.
/// Each broker is decided against the image as the previous ones' records
/// leave it, so a partition whose leader and next ISR member both expire
/// does not get the second as its new leader (deciding each against the
/// same image would). Kafka fences one broker per controller event for the
/// same reason.
pub fn fence_brokers(
    image: &MetadataImage,
    broker_ids: &[i32],
    defaults: &ControllerDefaults,
) -> Vec<MetadataRecord> {
    let mut working = image.clone();
    let mut records = Vec::new();
    for broker_id in broker_ids {
        let fence = fence_broker(&working, *broker_id, defaults);
        if fence.is_empty() {
            continue;
        }
        // The records were decided against `working`, so they apply; if
        // they did not, what is decided so far is still a valid batch.
        match working.apply(&fence, working.offset().saturating_add(1)) {
            Ok(next) => working = next,
            Err(_) => break,
        }
        records.extend(fence);
    }
    records
}

fn next_state(
    image: &MetadataImage,
    registration: &BrokerRegistration,
    hb: &BrokerHeartbeat,
    is_caught_up: bool,
) -> BrokerState {
    let leads_partitions = || leads_any_partition(image, registration.broker_id);
    match BrokerState::of(registration) {
        BrokerState::Fenced => {
            if hb.want_shut_down {
                BrokerState::ShutDownNow
            } else if !hb.want_fence && is_caught_up {
                BrokerState::Unfenced
            } else {
                BrokerState::Fenced
            }
        }
        BrokerState::Unfenced => {
            if hb.want_fence {
                if hb.want_shut_down {
                    BrokerState::ShutDownNow
                } else {
                    BrokerState::Fenced
                }
            } else if hb.want_shut_down {
                if leads_partitions() {
                    BrokerState::ControlledShutdown
                } else {
                    BrokerState::ShutDownNow
                }
            } else {
                BrokerState::Unfenced
            }
        }
        BrokerState::ControlledShutdown | BrokerState::ShutDownNow => {
            if leads_partitions() {
                BrokerState::ControlledShutdown
            } else {
                BrokerState::ShutDownNow
            }
        }
    }
}

/// Unfencing: the registration change first, then the leaderless
/// partitions that may have a leader now: from their ISR (this broker may
/// be the live member they lacked), or, where the topic allows unclean
/// elections, from any live replica (Kafka's `handleBrokerUnfenced`).
fn unfence(
    image: &MetadataImage,
    registration: &BrokerRegistration,
    defaults: &ControllerDefaults,
) -> Vec<MetadataRecord> {
    let broker_id = registration.broker_id;
    let change = MetadataRecord::BrokerRegistrationChange {
        broker_id,
        broker_epoch: registration.epoch,
        fenced: Some(false),
        // A broker fenced in the middle of a controlled shutdown that comes
        // back without asking to shut down serves again.
        in_controlled_shutdown: registration.in_controlled_shutdown.then_some(false),
    };
    // Decide the elections on the image where the broker is alive.
    let Ok(unfenced) = image.apply(
        std::slice::from_ref(&change),
        image.offset().saturating_add(1),
    ) else {
        return vec![change];
    };
    let mut records = vec![change];
    records.extend(elect_leaderless(&unfenced, defaults, |state| {
        state.replicas.contains(&broker_id)
    }));
    records
}

/// Elections for the leaderless partitions that `relevant` picks: clean
/// from the ISR, or unclean where the topic allows it. Each unclean one is
/// logged, since the records the new leader lacks are lost.
pub(crate) fn elect_leaderless(
    image: &MetadataImage,
    defaults: &ControllerDefaults,
    relevant: impl Fn(&PartitionImage) -> bool,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        let election = election_for(image, &topic.name, defaults);
        for (partition, state) in &topic.partitions {
            if state.leader != -1 || !relevant(state) {
                continue;
            }
            if let Some(changed) = PartitionChange::new(state).election(election).build(image) {
                log_election(topic, *partition, &changed);
                records.push(changed.state.to_record(topic.topic_id, *partition));
            }
        }
    }
    records
}

/// The election for partitions of `topic` whose leader must change:
/// unclean when `unclean.leader.election.enable` holds for it.
pub(crate) fn election_for(
    image: &MetadataImage,
    topic: &str,
    defaults: &ControllerDefaults,
) -> Election {
    if unclean_enabled(image, topic, defaults) {
        Election::Unclean
    } else {
        Election::Online
    }
}

/// After config changes: when one turns `unclean.leader.election.enable`
/// on (for a topic, a broker, or as the cluster-wide default), the leaderless
/// partitions it now allows an unclean election for get one. The election
/// records join the outcome that turned it on, so they commit with it.
pub fn elect_leaderless_after_config<O>(
    image: &MetadataImage,
    decided: &mut [(O, Vec<MetadataRecord>)],
    defaults: &ControllerDefaults,
) {
    let turns_on = |record: &MetadataRecord| {
        matches!(
            record,
            MetadataRecord::Config { resource: ConfigResource::Topic(_) | ConfigResource::Broker(_), name, value: Some(value) }
                if name == UNCLEAN_LEADER_ELECTION_ENABLE && value.trim().eq_ignore_ascii_case("true")
        )
    };
    let Some(index) = decided
        .iter()
        .position(|(_, records)| records.iter().any(turns_on))
    else {
        return;
    };
    let all: Vec<MetadataRecord> = decided
        .iter()
        .flat_map(|(_, records)| records.iter().cloned())
        .collect();
    let Ok(after) = image.apply(&all, image.offset().saturating_add(1)) else {
        return;
    };
    let elections = elect_leaderless(&after, defaults, |_| true);
    decided[index].1.extend(elections);
}

/// An unclean election loses the records its leader lacks: say so.
pub(crate) fn log_election(topic: &TopicImage, partition: i32, changed: &Changed) {
    if changed.unclean {
        tracing::warn!(
            topic = %topic.name,
            partition,
            leader = changed.state.leader,
            leader_epoch = changed.state.leader_epoch,
            "unclean leader election: no in-sync replica is alive, so replica {} leads {}-{partition} with only the records it has; records acknowledged by the old in-sync replicas may be lost",
            changed.state.leader,
            topic.name,
        );
    }
}

/// Controlled shutdown: the registration change first, then leadership and
/// ISR membership move away as for fencing.
fn enter_controlled_shutdown(
    image: &MetadataImage,
    registration: &BrokerRegistration,
    defaults: &ControllerDefaults,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    if !registration.in_controlled_shutdown {
        records.push(MetadataRecord::BrokerRegistrationChange {
            broker_id: registration.broker_id,
            broker_epoch: registration.epoch,
            fenced: None,
            in_controlled_shutdown: Some(true),
        });
    }
    records.extend(move_leadership_away(
        image,
        registration.broker_id,
        Some(defaults),
    ));
    records
}

/// The `Partition` records that take `broker_id` out of every ISR (unless
/// it is the last member) and out of leadership, in topic name and
/// partition order. A partition left without a live ISR member gets an
/// unclean leader where its topic allows it; with no `defaults`, elections
/// are clean only.
pub(crate) fn move_leadership_away(
    image: &MetadataImage,
    broker_id: i32,
    defaults: Option<&ControllerDefaults>,
) -> Vec<MetadataRecord> {
    let mut records = Vec::new();
    for topic in image.topics() {
        let election = defaults.map_or(Election::Online, |defaults| {
            election_for(image, &topic.name, defaults)
        });
        for (partition, state) in &topic.partitions {
            if state.leader != broker_id && !state.isr.contains(&broker_id) {
                continue;
            }
            let isr: Vec<i32> = state
                .isr
                .iter()
                .copied()
                .filter(|id| *id != broker_id)
                .collect();
            // The current leader stays if it still may lead (Kafka's
            // election keeps a valid leader); otherwise the first live ISR
            // member in replica order. An ISR of this broker alone stays.
            let Some(changed) = PartitionChange::new(state)
                .isr(isr)
                .election(election)
                .excluding(broker_id)
                .build(image)
            else {
                continue;
            };
            log_election(topic, *partition, &changed);
            records.push(changed.state.to_record(topic.topic_id, *partition));
        }
    }
    records
}

fn leads_any_partition(image: &MetadataImage, broker_id: i32) -> bool {
    image
        .topics()
        .any(|t| t.partitions.values().any(|p| p.leader == broker_id))
}
