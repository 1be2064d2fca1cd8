//! Client quotas (DescribeClientQuotas, AlterClientQuotas), as Kafka's
//! Admin `describeClientQuotas` / `alterClientQuotas`: to the bootstrap
//! broker, which forwards changes to the active controller.

use kafka_protocol::messages::*;

use crate::admin_client::{str_bytes, AdminClient};
use crate::error::{Error, ErrorCode};

/// An entity: (type, name) pairs with `None` for the type's default
/// (`user`, `client-id`, `ip`).
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// How a filter component matches its entity type (Kafka's match types).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuotaMatch {
    /// The entity of this name.
    Exact(String),
    /// The type's default entity.
    Default,
    /// Any entity that has this type.
    Any,
}

/// Kafka's `ClientQuotaFilter`: components, and whether entities with
/// other types are left out (`strict`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaFilter {
    pub components: Vec<(String, QuotaMatch)>,
    pub strict: bool,
}

impl AdminClient {
    /// The quotas of every entity matching `filter`.
    pub async fn describe_client_quotas(
        &mut self,
        filter: &QuotaFilter,
    ) -> Result<Vec<(QuotaEntity, Vec<(String, f64)>)>, Error> {
        let target = self.config().bootstrap_server.clone();
        let resp = self
            .send(&target, |_| {
                let mut req = DescribeClientQuotasRequest::default();
                req.strict = filter.strict;
                req.components = filter
                    .components
                    .iter()
                    .map(|(entity_type, m)| {
                        let (match_type, name) = match m {
                            QuotaMatch::Exact(n) => (0, Some(str_bytes(n))),
                            QuotaMatch::Default => (1, None),
                            QuotaMatch::Any => (2, None),
                        };
                        describe_client_quotas_request::ComponentData::default()
                            .with_entity_type(str_bytes(entity_type))
                            .with_match_type(match_type)
                            .with_match(name)
                    })
                    .collect();
                Ok(req)
            })
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::DescribeClientQuotas,
                code,
                message: resp.error_message.map(|m| m.to_string()),
            });
        }
        Ok(resp
            .entries
            .unwrap_or_default()
            .into_iter()
            .map(|e| {
                let entity = e
                    .entity
                    .into_iter()
                    .map(|p| {
                        (
                            p.entity_type.to_string(),
                            p.entity_name.map(|n| n.to_string()),
                        )
                    })
                    .collect();
                let values = e
                    .values
                    .into_iter()
                    .map(|v| (v.key.to_string(), v.value))
                    .collect();
                (entity, values)
            })
            .collect())
    }

    /// Sets (`Some`) or removes (`None`) quota keys of one entity.
    pub async fn alter_client_quotas(
        &mut self,
        entity: &QuotaEntity,
        ops: &[(String, Option<f64>)],
        validate_only: bool,
    ) -> Result<(), Error> {
        let target = self.config().bootstrap_server.clone();
        let resp = self
            .send(&target, |_| {
                let mut entry = alter_client_quotas_request::EntryData::default();
                entry.entity = entity
                    .iter()
                    .map(|(t, n)| {
                        alter_client_quotas_request::EntityData::default()
                            .with_entity_type(str_bytes(t))
                            .with_entity_name(n.as_deref().map(str_bytes))
                    })
                    .collect();
                entry.ops = ops
                    .iter()
                    .map(|(k, v)| {
                        alter_client_quotas_request::OpData::default()
                            .with_key(str_bytes(k))
                            .with_value(v.unwrap_or(0.0))
                            .with_remove(v.is_none())
                    })
                    .collect();
                let mut req = AlterClientQuotasRequest::default();
                req.entries = vec![entry];
                req.validate_only = validate_only;
                Ok(req)
            })
            .await?;
        for e in resp.entries {
            if let Some(code) = ErrorCode::from_code(e.error_code) {
                return Err(Error::Kafka {
                    api: ApiKey::AlterClientQuotas,
                    code,
                    message: e.error_message.map(|m| m.to_string()),
                });
            }
        }
        Ok(())
    }
}
