//! AlterClientQuotas (KIP-546): sets or removes client quotas through the
//! active controller (`ClientQuota` records), which validates as Kafka's
//! `ClientQuotaControlManager`.
// Authorized by authz_apis (the table in authz.rs).

use std::sync::Arc;

use kafka_protocol::messages::alter_client_quotas_response::{EntityData, EntryData};
use kafka_protocol::messages::{AlterClientQuotasRequest, AlterClientQuotasResponse};
use strom_controller::ClientQuotaAlteration;

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &Arc<BrokerState>,
    req: AlterClientQuotasRequest,
) -> AlterClientQuotasResponse {
    let alterations: Vec<ClientQuotaAlteration> = req
        .entries
        .iter()
        .map(|e| ClientQuotaAlteration {
            entity: e
                .entity
                .iter()
                .map(|p| {
                    (
                        p.entity_type.as_str().to_owned(),
                        p.entity_name.as_ref().map(|n| n.as_str().to_owned()),
                    )
                })
                .collect(),
            ops: e
                .ops
                .iter()
                .map(|op| (op.key.as_str().to_owned(), (!op.remove).then_some(op.value)))
                .collect(),
        })
        .collect();
    let outcomes = state
        .controller
        .alter_client_quotas(alterations, req.validate_only)
        .await;
    let mut resp = AlterClientQuotasResponse::default();
    resp.entries = outcomes
        .into_iter()
        .map(|o| {
            let mut entry = EntryData::default();
            entry.entity = o
                .entity
                .iter()
                .map(|(t, n)| {
                    EntityData::default()
                        .with_entity_type(str_bytes(t))
                        .with_entity_name(n.as_deref().map(str_bytes))
                })
                .collect();
            if let Some(error) = o.error {
                entry.error_code = error.code();
                entry.error_message = Some(str_bytes(&error.to_string()));
            }
            entry
        })
        .collect();
    resp
}
