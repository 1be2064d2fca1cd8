//! Client quotas (the controller's half of AlterClientQuotas, as Kafka's
//! `ClientQuotaControlManager`): validate each entity and its changes, and
//! write a `ClientQuota` record for every value that actually changes.

use std::collections::BTreeMap;
use std::net::IpAddr;

use strom_metadata::{
    ClientQuotaEntity, MetadataImage, MetadataRecord, QuotaValue, QUOTA_ENTITY_CLIENT_ID,
    QUOTA_ENTITY_IP, QUOTA_ENTITY_USER,
};

use crate::error::ControllerError;

/// The changes for one entity, as the request lists them: `None` removes
/// the key. Entity parts come as (type, name) with `None` for the default,
/// in request order (a type named twice is refused).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ClientQuotaAlteration {
    pub entity: Vec<(String, Option<String>)>,
    pub ops: Vec<(String, Option<f64>)>,
}

/// The result for one entity of the request.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ClientQuotaOutcome {
    pub entity: Vec<(String, Option<String>)>,
    pub error: Option<ControllerError>,
}

/// How a quota key's value is typed (Kafka's `QuotaConfig` definitions):
/// byte rates and the connection rate are integers, the others doubles.
#[derive(Clone, Copy, PartialEq, Eq)]
enum QuotaType {
    Long,
    Int,
    Double,
}

/// The keys a user and/or client-id entity takes.
const USER_CLIENT_KEYS: &[(&str, QuotaType)] = &[
    ("producer_byte_rate", QuotaType::Long),
    ("consumer_byte_rate", QuotaType::Long),
    ("request_percentage", QuotaType::Double),
    ("controller_mutation_rate", QuotaType::Double),
];

/// The keys an ip entity takes.
const IP_KEYS: &[(&str, QuotaType)] = &[("connection_creation_rate", QuotaType::Int)];

/// Decides the alterations against `image`: one outcome per entity, in
/// request order, each with its records.
pub fn alter_client_quotas(
    image: &MetadataImage,
    alterations: &[ClientQuotaAlteration],
) -> Vec<(ClientQuotaOutcome, Vec<MetadataRecord>)> {
    let mut seen: Vec<Option<ClientQuotaEntity>> = Vec::new();
    alterations
        .iter()
        .map(|alteration| {
            let validated = validate_entity(&alteration.entity);
            let duplicate = validated
                .as_ref()
                .ok()
                .is_some_and(|e| seen.contains(&Some(e.clone())));
            seen.push(validated.clone().ok());
            let decided = if duplicate {
                Err(ControllerError::InvalidRequest(format!(
                    "Ignoring duplicate entity {}",
                    display(&alteration.entity)
                )))
            } else {
                validated.and_then(|entity| alter_entity(image, entity, &alteration.ops))
            };
            let (error, records) = match decided {
                Ok(records) => (None, records),
                Err(error) => (Some(error), Vec::new()),
            };
            (
                ClientQuotaOutcome {
                    entity: alteration.entity.clone(),
                    error,
                },
                records,
            )
        })
        .collect()
}

fn display(entity: &[(String, Option<String>)]) -> String {
    let parts: Vec<String> = entity
        .iter()
        .map(|(t, n)| format!("{t}={}", n.as_deref().unwrap_or("<default>")))
        .collect();
    format!("ClientQuotaEntity(entries={{{}}})", parts.join(", "))
}

/// Kafka's `validateEntity` and `configKeysForEntityType`, with its messages.
fn validate_entity(
    parts: &[(String, Option<String>)],
) -> Result<ClientQuotaEntity, ControllerError> {
    if parts.is_empty() {
        return Err(invalid("Invalid empty client quota entity"));
    }
    let mut entity = BTreeMap::new();
    for (entity_type, name) in parts {
        if entity.contains_key(entity_type) {
            return Err(invalid(format!(
                "Invalid client quota entity, duplicate entity entry {entity_type}"
            )));
        }
        if ![QUOTA_ENTITY_USER, QUOTA_ENTITY_CLIENT_ID, QUOTA_ENTITY_IP]
            .contains(&entity_type.as_str())
        {
            return Err(invalid(format!(
                "Unhandled client quota entity type: {entity_type}"
            )));
        }
        if name.as_deref() == Some("") {
            return Err(invalid(format!("Empty {entity_type} not supported")));
        }
        entity.insert(entity_type.clone(), name.clone());
    }
    let entity = ClientQuotaEntity(entity);
    if let Some(ip) = entity.get(QUOTA_ENTITY_IP) {
        if entity.0.len() > 1 {
            // Kafka's message, missing space included.
            return Err(invalid(
                "Invalid quota entity combination, IP entity shouldnot be combined with User or ClientId",
            ));
        }
        if let Some(ip) = ip {
            if ip.parse::<IpAddr>().is_err() {
                return Err(invalid(format!(
                    "{ip} is not a valid IP or resolvable host."
                )));
            }
        }
    }
    Ok(entity)
}

fn keys_for(entity: &ClientQuotaEntity) -> &'static [(&'static str, QuotaType)] {
    if entity.get(QUOTA_ENTITY_IP).is_some() {
        IP_KEYS
    } else {
        USER_CLIENT_KEYS
    }
}

/// Kafka's `validateQuotaKeyValue`.
pub fn validate_quota_value(ip_entity: bool, key: &str, value: f64) -> Result<(), ControllerError> {
    let keys = if ip_entity { IP_KEYS } else { USER_CLIENT_KEYS };
    let Some((_, kind)) = keys.iter().find(|(k, _)| *k == key) else {
        return Err(invalid(format!("Invalid configuration key {key}")));
    };
    // NaN is not greater than 0 either.
    if value.is_nan() || value <= 0.0 {
        return Err(invalid(format!("Quota {key} must be greater than 0")));
    }
    let integral = |max: f64, kind: &str| {
        if value > max {
            Err(invalid(format!(
                "Proposed value for {key} is too large for {kind}."
            )))
        } else if (value % 1.0).abs() > 1e-6 {
            Err(invalid(format!("{key} cannot be a fractional value.")))
        } else {
            Ok(())
        }
    };
    match kind {
        QuotaType::Double => Ok(()),
        QuotaType::Int => integral(f64::from(i32::MAX), "an INT"),
        QuotaType::Long => integral(i64::MAX as f64, "a LONG"),
    }
}

fn alter_entity(
    image: &MetadataImage,
    entity: ClientQuotaEntity,
    ops: &[(String, Option<f64>)],
) -> Result<Vec<MetadataRecord>, ControllerError> {
    let mut changes: BTreeMap<&str, Option<f64>> = BTreeMap::new();
    for (key, value) in ops {
        if changes.insert(key.as_str(), *value).is_some() {
            return Err(invalid(format!(
                "Duplicate quota key {key} not updating quota for this entity {entity}"
            )));
        }
    }
    let ip_entity = keys_for(&entity) == IP_KEYS;
    let current = image.client_quotas().get(&entity);
    let mut records = Vec::new();
    for (key, value) in changes {
        let existing = current.and_then(|c| c.get(key));
        match value {
            None => {
                if existing.is_some() {
                    records.push(MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        key: key.to_owned(),
                        value: QuotaValue(0.0),
                        remove: true,
                    });
                }
            }
            Some(value) => {
                validate_quota_value(ip_entity, key, value)?;
                if existing != Some(&QuotaValue(value)) {
                    records.push(MetadataRecord::ClientQuota {
                        entity: entity.clone(),
                        key: key.to_owned(),
                        value: QuotaValue(value),
                        remove: false,
                    });
                }
            }
        }
    }
    Ok(records)
}

fn invalid(message: impl Into<String>) -> ControllerError {
    ControllerError::InvalidRequest(message.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alteration(
        entity: &[(&str, Option<&str>)],
        ops: &[(&str, Option<f64>)],
    ) -> ClientQuotaAlteration {
        ClientQuotaAlteration {
            entity: entity
                .iter()
                .map(|(t, n)| (t.to_string(), n.map(str::to_owned)))
                .collect(),
            ops: ops.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    fn error_of(a: ClientQuotaAlteration) -> Option<String> {
        let decided = alter_client_quotas(&MetadataImage::empty(), &[a]);
        decided[0].0.error.as_ref().map(|e| e.to_string())
    }

    #[test]
    fn a_user_quota_is_one_record_and_setting_it_again_writes_nothing() {
        let set = alteration(
            &[("user", Some("alice"))],
            &[("producer_byte_rate", Some(1024.0))],
        );
        let decided = alter_client_quotas(&MetadataImage::empty(), std::slice::from_ref(&set));
        assert_eq!(decided[0].0.error, None);
        assert_eq!(decided[0].1.len(), 1);
        let image = MetadataImage::empty().apply(&decided[0].1, 0).unwrap();
        let entity = ClientQuotaEntity::new([("user", Some("alice"))]);
        assert_eq!(
            image.client_quotas()[&entity]["producer_byte_rate"],
            QuotaValue(1024.0)
        );
        assert!(alter_client_quotas(&image, &[set])[0].1.is_empty());
        let remove = alteration(&[("user", Some("alice"))], &[("producer_byte_rate", None)]);
        let decided = alter_client_quotas(&image, &[remove]);
        let image = image.apply(&decided[0].1, 1).unwrap();
        assert!(image.client_quotas().is_empty());
    }

    #[test]
    fn kafkas_validations_refuse_bad_keys_values_and_entities() {
        type Case<'a> = (
            &'a [(&'a str, Option<&'a str>)],
            &'a [(&'a str, Option<f64>)],
            &'a str,
        );
        let cases: &[Case] = &[
            (
                &[("user", Some("a"))],
                &[("bogus", Some(1.0))],
                "Invalid configuration key bogus",
            ),
            (
                &[("user", Some("a"))],
                &[("producer_byte_rate", Some(-1.0))],
                "Quota producer_byte_rate must be greater than 0",
            ),
            (
                &[("user", Some("a"))],
                &[("producer_byte_rate", Some(1.5))],
                "producer_byte_rate cannot be a fractional value.",
            ),
            (
                &[("user", Some("a"))],
                &[("connection_creation_rate", Some(1.0))],
                "Invalid configuration key connection_creation_rate",
            ),
            (
                &[("ip", Some("10.0.0.1"))],
                &[("producer_byte_rate", Some(1.0))],
                "Invalid configuration key producer_byte_rate",
            ),
            (
                &[("ip", Some("not an ip"))],
                &[("connection_creation_rate", Some(1.0))],
                "not an ip is not a valid IP or resolvable host.",
            ),
            (
                &[("ip", Some("10.0.0.1")), ("user", Some("a"))],
                &[("connection_creation_rate", Some(1.0))],
                "Invalid quota entity combination",
            ),
            (
                &[("group", Some("g"))],
                &[("producer_byte_rate", Some(1.0))],
                "Unhandled client quota entity type: group",
            ),
            (
                &[("user", Some(""))],
                &[("producer_byte_rate", Some(1.0))],
                "Empty user not supported",
            ),
            (
                &[],
                &[("producer_byte_rate", Some(1.0))],
                "Invalid empty client quota entity",
            ),
            (
                &[("user", Some("a"))],
                &[
                    ("producer_byte_rate", Some(1.0)),
                    ("producer_byte_rate", Some(2.0)),
                ],
                "Duplicate quota key producer_byte_rate",
            ),
        ];
        for (entity, ops, expected) in cases {
            let error = error_of(alteration(entity, ops)).unwrap_or_default();
            assert!(error.starts_with(expected), "{entity:?} {ops:?}: {error:?}");
        }
        assert_eq!(
            error_of(alteration(
                &[("ip", None)],
                &[("connection_creation_rate", Some(10.0))]
            )),
            None
        );
        assert_eq!(
            error_of(alteration(
                &[("user", None), ("client-id", None)],
                &[("request_percentage", Some(0.5))]
            )),
            None
        );
    }

    #[test]
    fn an_entity_named_twice_fails_the_second_time() {
        let a = alteration(
            &[("client-id", Some("c"))],
            &[("consumer_byte_rate", Some(10.0))],
        );
        let decided = alter_client_quotas(&MetadataImage::empty(), &[a.clone(), a]);
        assert_eq!(decided[0].0.error, None);
        assert!(decided[1].0.error.is_some());
        assert!(decided[1].1.is_empty());
    }
}
