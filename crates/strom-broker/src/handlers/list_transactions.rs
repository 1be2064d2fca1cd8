//! ListTransactions (api key 66): the transactions of every
//! `__transaction_state` partition this broker leads, filtered by state,
//! producer id, duration (v1+) and transactional id pattern (v2+, a Java
//! regular expression that must match the whole id).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};

use strom_coordinator::txn::{ListFilter, TxnState};

use super::str_bytes;
use crate::broker::BrokerState;

pub(crate) async fn handle(
    state: &BrokerState,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let mut resp = ListTransactionsResponse::default();
    if state.txns.any_loading() {
        resp.error_code = ResponseError::CoordinatorLoadInProgress.code();
        return resp;
    }
    let mut states = Vec::new();
    for name in &req.state_filters {
        match TxnState::ALL
            .into_iter()
            .find(|s| s.name() == name.as_str())
        {
            Some(s) => states.push(s),
            None => resp.unknown_state_filters.push(name.clone()),
        }
    }
    if !req.state_filters.is_empty() && states.is_empty() {
        return resp;
    }
    let pattern = match req
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(_) => {
                resp.error_code = ResponseError::InvalidRegularExpression.code();
                return resp;
            }
        },
    };
    let producer_ids: Vec<i64> = req.producer_id_filters.iter().map(|p| p.0).collect();
    let duration_ms = req.duration_filter;
    let states = std::sync::Arc::new(states);
    let producer_ids = std::sync::Arc::new(producer_ids);
    let pattern = std::sync::Arc::new(pattern);
    for index in state.txns.loaded_partitions() {
        let (states, producer_ids, pattern) =
            (states.clone(), producer_ids.clone(), pattern.clone());
        let listed = state
            .txns
            .call(index, move |shard, now| {
                let matches = |id: &str| pattern.as_ref().as_ref().is_none_or(|r| r.is_match(id));
                shard.list(
                    &ListFilter {
                        states: &states,
                        producer_ids: &producer_ids,
                        duration_ms,
                        transactional_id: &matches,
                    },
                    now,
                )
            })
            .await;
        if let Ok(listed) = listed {
            for (id, pid, st) in listed {
                let mut ts = TransactionState::default();
                ts.transactional_id = TransactionalId(str_bytes(&id));
                ts.producer_id = ProducerId(pid);
                ts.transaction_state = str_bytes(st.name());
                resp.transaction_states.push(ts);
            }
        }
    }
    resp
}
