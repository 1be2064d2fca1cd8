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

/// The server's SASL parsers, for the `sasl` fuzz target (fuzz/fuzz_targets/sasl.rs):
/// SCRAM client-first/client-final, the OAUTHBEARER initial response, JWKS documents
/// and the HTTP responses they come in, and signed-JWT validation. Not an API.
#[doc(hidden)]
pub mod fuzzing {
    use std::sync::OnceLock;

    use crate::sasl::{jwks, jwt, oauthbearer, scram};
    use strom_client::scram::ScramMechanism;
    use strom_metadata::ScramCredentialImage;

    /// A SCRAM-SHA-256 exchange with the server: `first` as the client-first message,
    /// then `last` as the client-final one, for a known user `u` (password `p`, 4096
    /// iterations) and any other name. Whether it authenticated.
    pub fn scram_exchange(first: &[u8], last: &[u8]) -> bool {
        static CREDENTIAL: OnceLock<ScramCredentialImage> = OnceLock::new();
        let known = CREDENTIAL.get_or_init(|| {
            let c = ScramMechanism::Sha256.credential(b"p", b"0123456789abcdef", 4096);
            ScramCredentialImage {
                salt: c.salt,
                stored_key: c.stored_key,
                server_key: c.server_key,
                iterations: c.iterations as i32,
            }
        });
        if let Ok(text) = std::str::from_utf8(first) {
            let _ = scram::parse_client_first(text);
        }
        let mut server = scram::ScramServer::new(ScramMechanism::Sha256);
        let lookup = |u: &str| (u == "u").then(|| known.clone());
        if server.step(first, lookup).is_err() {
            return false;
        }
        matches!(
            server.step(last, |_| Some(known.clone())),
            Ok(scram::ScramStep::Done { .. })
        )
    }

    /// The OAUTHBEARER initial response; on success its token.
    pub fn oauthbearer_initial_response(bytes: &[u8]) -> Option<String> {
        oauthbearer::parse_initial_response(bytes)
            .ok()
            .map(|r| r.token)
    }

    /// A JWKS document: the number of usable keys.
    pub fn jwks(bytes: &[u8]) -> Result<usize, String> {
        jwt::parse_jwks(bytes).map(|j| j.keys.len())
    }

    /// A JWKS endpoint's HTTP response: the body.
    pub fn jwks_http_response(bytes: &[u8]) -> Result<Vec<u8>, String> {
        strom_client::http::parse_response(bytes, jwks::MAX_JWKS_BYTES)
            .and_then(strom_client::http::Response::ok_body)
    }

    /// Validates `token` against the keys of `jwks_json` (Kafka's defaults for the claims,
    /// an expected audience and issuer); the principal when it passes.
    pub fn validate_jwt(token: &str, jwks_json: &[u8], now_ms: i64) -> Option<String> {
        let keys = jwt::parse_jwks(jwks_json).ok()?;
        let _ = jwt::token_kid(token);
        jwt::validate_signed(token, &keys, &policy(), now_ms)
            .ok()
            .map(|v| v.principal)
    }

    /// The claim checks alone (a fuzzer cannot forge a signature to reach them).
    pub fn check_claims(claims_json: &[u8], now_ms: i64) -> Option<String> {
        let serde_json::Value::Object(claims) = serde_json::from_slice(claims_json).ok()? else {
            return None;
        };
        jwt::check_claims(&claims, &policy(), now_ms)
            .ok()
            .map(|v| v.principal)
    }

    fn policy() -> jwt::ClaimPolicy {
        jwt::ClaimPolicy {
            expected_audience: vec!["kafka".into()],
            expected_issuer: Some("https://idp".into()),
            sub_claim_name: "sub".into(),
            scope_claim_name: "scope".into(),
            clock_skew_seconds: 30,
        }
    }
}
