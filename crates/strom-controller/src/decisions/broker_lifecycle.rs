//! Broker heartbeats and fencing (Kafka's `BrokerHeartbeatManager` and the
//! fencing part of `ReplicationControlManager`).

use strom_metadata::{MetadataImage, MetadataRecord};

use crate::error::ControllerError;

/// One BrokerHeartbeat request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerHeartbeat {
    pub broker_id: i32,
    pub broker_epoch: i64,
    /// The newest metadata offset the broker has applied.
    pub current_metadata_offset: i64,
    pub want_fence: bool,
    pub want_shut_down: bool,
}

/// The answer: the broker's state after the heartbeat's records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerHeartbeatOutcome {
    pub is_caught_up: bool,
    pub is_fenced: bool,
    pub should_shut_down: bool,
}

/// Decides one heartbeat against `image`.
pub fn broker_heartbeat(
    image: &MetadataImage,
    hb: &BrokerHeartbeat,
) -> Result<(BrokerHeartbeatOutcome, Vec<MetadataRecord>), ControllerError> {
    let Some(broker) = image.broker(hb.broker_id) else {
        return Err(ControllerError::BrokerIdNotRegistered(format!(
            "Broker {} is not registered.",
            hb.broker_id
        )));
    };
    if broker.epoch != hb.broker_epoch {
        return Err(ControllerError::BrokerIdNotRegistered(format!(
            "Broker {} has epoch {}, not {}.",
            hb.broker_id, broker.epoch, hb.broker_epoch
        )));
    }
    let caught_up = hb.current_metadata_offset >= broker.epoch;
    let mut records = Vec::new();
    let mut fenced = broker.fenced;
    let mut shut_down = broker.in_controlled_shutdown;
    if hb.want_shut_down || hb.want_fence {
        if !broker.fenced {
            records.extend(fence_broker(image, hb.broker_id));
            fenced = true;
        }
        shut_down = hb.want_shut_down;
    } else if broker.fenced && caught_up {
        records.push(MetadataRecord::BrokerRegistrationChange {
            broker_id: hb.broker_id,
            broker_epoch: broker.epoch,
            fenced: Some(false),
            in_controlled_shutdown: None,
        });
        fenced = false;
    }
    Ok((
        BrokerHeartbeatOutcome {
            is_caught_up: caught_up,
            is_fenced: fenced,
            should_shut_down: shut_down,
        },
        records,
    ))
}

/// The records that fence `broker_id` (its session expired).
pub fn fence_broker(image: &MetadataImage, broker_id: i32) -> Vec<MetadataRecord> {
    match image.broker(broker_id) {
        Some(b) if !b.fenced => vec![MetadataRecord::BrokerRegistrationChange {
            broker_id,
            broker_epoch: b.epoch,
            fenced: Some(true),
            in_controlled_shutdown: None,
        }],
        _ => Vec::new(),
    }
}
