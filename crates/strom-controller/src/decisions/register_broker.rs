//! Broker registration: a broker announces its listeners when it starts.

use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord};

use super::broker_lifecycle::move_leadership_away;
use crate::error::ControllerError;

/// The records that register `registration`: none when the broker is
/// already registered exactly so (a retried registration is a no-op).
///
/// A new registration is fenced until the broker catches up. When it
/// replaces an earlier one (the broker restarted), the partitions that
/// registration led or had in their ISR are first changed as fencing
/// changes them, so a fenced broker never leads: the restarted broker is
/// elected again when it is unfenced, with a new leader epoch. (Kafka
/// leaves the leadership in place until the broker comes back; the
/// partitions are unavailable in between either way.)
pub fn register_broker(
    image: &MetadataImage,
    registration: &BrokerRegistration,
) -> Result<Vec<MetadataRecord>, ControllerError> {
    if registration.broker_id < 0 {
        return Err(ControllerError::InvalidRequest(format!(
            "Invalid broker id {}: broker ids must not be negative.",
            registration.broker_id
        )));
    }
    if image
        .broker(registration.broker_id)
        .is_some_and(|b| b.same_registration(registration))
    {
        return Ok(Vec::new());
    }
    // Clean elections only: a restart is no reason to lose records; the
    // broker's unfencing runs the unclean ones a topic allows.
    let mut records = move_leadership_away(image, registration.broker_id, None);
    records.push(registration.to_new_record());
    Ok(records)
}
