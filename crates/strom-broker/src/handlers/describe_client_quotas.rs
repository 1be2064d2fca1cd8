//! DescribeClientQuotas (KIP-546): the client quotas of the metadata image
//! whose entity matches the filter, as Kafka's `ClientQuotasImage.describe`.
// Authorized by authz_apis (the table in authz.rs).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_client_quotas_response::{EntityData, EntryData, ValueData};
use kafka_protocol::messages::{DescribeClientQuotasRequest, DescribeClientQuotasResponse};
use kafka_protocol::ResponseError;
use strom_metadata::{ClientQuotas, QUOTA_ENTITY_CLIENT_ID, QUOTA_ENTITY_IP, QUOTA_ENTITY_USER};

use super::str_bytes;
use crate::broker::BrokerState;

const MATCH_TYPE_EXACT: i8 = 0;
const MATCH_TYPE_DEFAULT: i8 = 1;
const MATCH_TYPE_SPECIFIED: i8 = 2;

pub(crate) fn handle(
    state: &Arc<BrokerState>,
    req: DescribeClientQuotasRequest,
) -> DescribeClientQuotasResponse {
    let image = state.image();
    let mut resp = DescribeClientQuotasResponse::default();
    match describe(image.client_quotas(), &req) {
        Ok(entries) => resp.entries = Some(entries),
        Err((error, message)) => {
            resp.error_code = error.code();
            resp.error_message = Some(str_bytes(&message));
            resp.entries = None;
        }
    }
    resp
}

/// The filter as Kafka checks it: exact names (`Some(None)` for the
/// default) and types that must merely be present.
struct Filter {
    exact: BTreeMap<String, Option<String>>,
    specified: Vec<String>,
    strict: bool,
}

fn filter_of(req: &DescribeClientQuotasRequest) -> Result<Filter, (ResponseError, String)> {
    let invalid = |m: String| (ResponseError::InvalidRequest, m);
    let mut filter = Filter {
        exact: BTreeMap::new(),
        specified: Vec::new(),
        strict: req.strict,
    };
    for c in &req.components {
        let entity_type = c.entity_type.as_str();
        if entity_type.is_empty() {
            return Err(invalid("Invalid empty entity type.".into()));
        }
        if filter.exact.contains_key(entity_type)
            || filter.specified.iter().any(|t| t == entity_type)
        {
            return Err(invalid(format!(
                "Entity type {entity_type} cannot appear more than once in the filter."
            )));
        }
        if ![QUOTA_ENTITY_IP, QUOTA_ENTITY_USER, QUOTA_ENTITY_CLIENT_ID].contains(&entity_type) {
            return Err((
                ResponseError::UnsupportedVersion,
                format!("Unsupported entity type {entity_type}"),
            ));
        }
        let matched = c._match.as_ref().map(|m| m.as_str().to_owned());
        match c.match_type {
            MATCH_TYPE_EXACT => {
                let Some(name) = matched else {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_EXACT, but set match string to null.".into(),
                    ));
                };
                filter.exact.insert(entity_type.to_owned(), Some(name));
            }
            MATCH_TYPE_DEFAULT => {
                if matched.is_some() {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_DEFAULT, but also specified a match string."
                            .into(),
                    ));
                }
                filter.exact.insert(entity_type.to_owned(), None);
            }
            MATCH_TYPE_SPECIFIED => {
                if matched.is_some() {
                    return Err(invalid(
                        "Request specified MATCH_TYPE_SPECIFIED, but also specified a match string."
                            .into(),
                    ));
                }
                filter.specified.push(entity_type.to_owned());
            }
            other => return Err(invalid(format!("Unknown match type {other}"))),
        }
    }
    let has = |t: &str| filter.exact.contains_key(t) || filter.specified.iter().any(|s| s == t);
    if has(QUOTA_ENTITY_IP) && (has(QUOTA_ENTITY_USER) || has(QUOTA_ENTITY_CLIENT_ID)) {
        return Err(invalid(
            "Invalid entity filter component combination. IP filter component should not be used with user or clientId filter component."
                .into(),
        ));
    }
    Ok(filter)
}

fn describe(
    quotas: &ClientQuotas,
    req: &DescribeClientQuotasRequest,
) -> Result<Vec<EntryData>, (ResponseError, String)> {
    let filter = filter_of(req)?;
    Ok(quotas
        .iter()
        .filter(|(entity, _)| {
            let parts = &entity.0;
            if filter.strict && parts.len() != filter.exact.len() + filter.specified.len() {
                return false;
            }
            filter
                .exact
                .iter()
                .all(|(t, name)| parts.get(t).is_some_and(|n| n == name))
                && filter.specified.iter().all(|t| parts.contains_key(t))
        })
        .map(|(entity, values)| {
            let mut entry = EntryData::default();
            entry.entity = entity
                .0
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(str_bytes(t))
                        .with_entity_name(n.as_deref().map(str_bytes))
                })
                .collect();
            entry.values = values
                .iter()
                .map(|(k, v)| ValueData::default().with_key(str_bytes(k)).with_value(v.0))
                .collect();
            entry
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
    use strom_metadata::{ClientQuotaEntity, QuotaValue};

    fn quotas() -> ClientQuotas {
        let mut q = ClientQuotas::new();
        for (entity, v) in [
            (ClientQuotaEntity::new([("user", Some("alice"))]), 1.0),
            (ClientQuotaEntity::new([("user", None)]), 2.0),
            (
                ClientQuotaEntity::new([("user", Some("alice")), ("client-id", Some("app"))]),
                3.0,
            ),
            (ClientQuotaEntity::new([("client-id", None)]), 4.0),
            (ClientQuotaEntity::new([("ip", Some("10.0.0.1"))]), 5.0),
        ] {
            q.entry(entity)
                .or_default()
                .insert("producer_byte_rate".into(), QuotaValue(v));
        }
        q
    }

    fn component(t: &str, match_type: i8, m: Option<&str>) -> ComponentData {
        ComponentData::default()
            .with_entity_type(str_bytes(t))
            .with_match_type(match_type)
            .with_match(m.map(str_bytes))
    }

    fn values(components: Vec<ComponentData>, strict: bool) -> Vec<f64> {
        let req = DescribeClientQuotasRequest::default()
            .with_components(components)
            .with_strict(strict);
        let mut v: Vec<f64> = describe(&quotas(), &req)
            .unwrap()
            .iter()
            .map(|e| e.values[0].value)
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn filters_match_exact_default_and_any_names_strictly_or_not() {
        assert_eq!(
            values(vec![component("user", 0, Some("alice"))], false),
            [1.0, 3.0]
        );
        assert_eq!(
            values(vec![component("user", 0, Some("alice"))], true),
            [1.0]
        );
        assert_eq!(values(vec![component("user", 1, None)], false), [2.0]);
        assert_eq!(
            values(vec![component("user", 2, None)], false),
            [1.0, 2.0, 3.0]
        );
        assert_eq!(values(vec![component("client-id", 2, None)], true), [4.0]);
        assert_eq!(values(vec![], false), [1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(values(vec![component("ip", 2, None)], false), [5.0]);
    }

    #[test]
    fn bad_filters_are_refused_with_kafkas_errors() {
        let err = |components: Vec<ComponentData>| {
            let req = DescribeClientQuotasRequest::default().with_components(components);
            describe(&quotas(), &req).unwrap_err()
        };
        assert_eq!(
            err(vec![component("user", 0, None)]).0,
            ResponseError::InvalidRequest
        );
        assert_eq!(
            err(vec![component("user", 1, Some("x"))]).0,
            ResponseError::InvalidRequest
        );
        assert_eq!(
            err(vec![component("user", 2, None), component("user", 2, None)]).0,
            ResponseError::InvalidRequest
        );
        assert_eq!(
            err(vec![component("group", 2, None)]).0,
            ResponseError::UnsupportedVersion
        );
        assert_eq!(
            err(vec![component("ip", 2, None), component("user", 2, None)]).0,
            ResponseError::InvalidRequest
        );
    }
}
