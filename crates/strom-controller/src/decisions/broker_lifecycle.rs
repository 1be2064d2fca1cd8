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
//! first live ISR member in replica order, or to nobody (-1). Every change
//! is a full `Partition` record: leader_epoch + 1 when the leader changes,
//! partition_epoch + 1 on any change.

use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord, TopicImage};

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
            BrokerState::Fenced | BrokerState::ShutDownNow => fence_broker(image, hb.broker_id),
            BrokerState::Unfenced => unfence(image, registration),
            BrokerState::ControlledShutdown => enter_controlled_shutdown(image, registration),
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
pub fn fence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let Some(registration) = image.broker(broker_id) else {
        return Vec::new();
    };
    // As Kafka: the partitions first, then the registration change.
    let mut records = move_leadership_away(image, broker_id);
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
pub fn fence_brokers(image: &MetadataImage, broker_ids: &[i32]) -> Vec<MetadataRecord> {
    let mut working = image.clone();
    let mut records = Vec::new();
    for broker_id in broker_ids {
        let fence = fence_broker(&working, *broker_id);
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
/// partitions whose ISR has a broker that may lead now, this one included.
fn unfence(image: &MetadataImage, registration: &BrokerRegistration) -> Vec<MetadataRecord> {
    let broker_id = registration.broker_id;
    let mut records = vec![MetadataRecord::BrokerRegistrationChange {
        broker_id,
        broker_epoch: registration.epoch,
        fenced: Some(false),
        // A broker fenced in the middle of a controlled shutdown that comes
        // back without asking to shut down serves again.
        in_controlled_shutdown: registration.in_controlled_shutdown.then_some(false),
    }];
    let can_lead = |id: i32| id == broker_id || is_alive(image, id);
    for topic in image.topics() {
        for (partition, state) in &topic.partitions {
            if state.leader != -1 || !state.isr.contains(&broker_id) {
                continue;
            }
            let Some(leader) = first_in_replica_order(&state.replicas, &state.isr, can_lead) else {
                continue;
            };
            records.push(partition_record(
                topic,
                *partition,
                state,
                state.isr.clone(),
                leader,
            ));
        }
    }
    records
}

/// Controlled shutdown: the registration change first, then leadership and
/// ISR membership move away as for fencing.
fn enter_controlled_shutdown(
    image: &MetadataImage,
    registration: &BrokerRegistration,
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
    records.extend(move_leadership_away(image, registration.broker_id));
    records
}

/// The `Partition` records that take `broker_id` out of every ISR (unless
/// it is the last member) and out of leadership, in topic name and
/// partition order.
pub(crate) fn move_leadership_away(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    let can_lead = |id: i32| id != broker_id && is_alive(image, id);
    let mut records = Vec::new();
    for topic in image.topics() {
        for (partition, state) in &topic.partitions {
            if state.leader != broker_id && !state.isr.contains(&broker_id) {
                continue;
            }
            let mut isr: Vec<i32> = state
                .isr
                .iter()
                .copied()
                .filter(|id| *id != broker_id)
                .collect();
            if isr.is_empty() {
                isr = state.isr.clone();
            }
            // The current leader stays if it still may lead (Kafka's
            // election keeps a valid leader); otherwise the first live ISR
            // member in replica order.
            let leader =
                if state.leader != -1 && isr.contains(&state.leader) && can_lead(state.leader) {
                    state.leader
                } else {
                    first_in_replica_order(&state.replicas, &isr, can_lead).unwrap_or(-1)
                };
            if leader == state.leader && isr == state.isr {
                continue;
            }
            records.push(partition_record(topic, *partition, state, isr, leader));
        }
    }
    records
}

fn partition_record(
    topic: &TopicImage,
    partition: i32,
    state: &strom_metadata::PartitionImage,
    isr: Vec<i32>,
    leader: i32,
) -> MetadataRecord {
    let leader_epoch = if leader == state.leader {
        state.leader_epoch
    } else {
        state.leader_epoch.saturating_add(1)
    };
    MetadataRecord::Partition {
        topic_id: topic.topic_id,
        partition,
        replicas: state.replicas.clone(),
        isr,
        leader,
        leader_epoch,
        partition_epoch: state.partition_epoch.saturating_add(1),
    }
}

fn first_in_replica_order(
    replicas: &[i32],
    isr: &[i32],
    can_lead: impl Fn(i32) -> bool,
) -> Option<i32> {
    replicas
        .iter()
        .copied()
        .find(|id| isr.contains(id) && can_lead(*id))
}

fn is_alive(image: &MetadataImage, broker_id: i32) -> bool {
    image
        .broker(broker_id)
        .is_some_and(BrokerRegistration::is_alive)
}

fn leads_any_partition(image: &MetadataImage, broker_id: i32) -> bool {
    image
        .topics()
        .any(|t| t.partitions.values().any(|p| p.leader == broker_id))
}
