//! The Kafka API server.
//!
//! `server` accepts connections; `connection` reads frames and keeps replies
//! in request order; `dispatch` checks the API key and version against the
//! table in `api_versions` and calls one handler per API key under
//! `handlers/`. Partition state lives in `replica_manager` / `partition`,
//! which own the logs; metadata comes from the controller as an immutable
//! image.

// In-crate tests share tests/support, which names this crate.
#[cfg(test)]
extern crate self as strom_broker;

mod api_table;
mod authz;
mod authz_apis;
mod broker;
mod connection;
mod connection_quotas;
mod controller_node;
mod dispatch;
mod error;
mod fetch_session;
mod group_coordinator;
mod handlers;
mod lifecycle;
mod metrics;
mod open_files;
mod partition;
mod quota;
mod replica_manager;
mod replication;
mod sasl;
mod server;
mod session;
mod tls;
mod txn_coordinator;
mod txn_verification;

pub use broker::{Broker, BrokerOptions};
pub use controller_node::ControllerNode;
pub use error::BrokerError;
