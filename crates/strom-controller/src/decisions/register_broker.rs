//! Broker registration: a broker announces its listeners when it starts.

use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord};

use crate::error::ControllerError;

/// The records that register `registration`: none when the broker is
/// already registered exactly so (a retried registration is a no-op).
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
    Ok(vec![registration.to_new_record()])
}
