//! DescribeUserScramCredentials (from this broker's metadata image) and
//! AlterUserScramCredentials (decided by the active controller), KIP-554.
//! The client sends a salted password; the broker turns it into the stored
//! and server keys before asking the controller, so neither the password
//! nor the salted password is ever stored or sent on.

use std::collections::BTreeMap;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use strom_client::scram::{ScramCredential, ScramMechanism};
use strom_controller::{ScramDeletion, ScramUpsertion};

use super::{str_bytes, string};
use crate::broker::BrokerState;

const RESOURCE_NOT_FOUND: i16 = 91;
const DUPLICATE_RESOURCE: i16 = 92;

// Authorized by authz_apis (the table in authz.rs).
pub(crate) fn describe(
    state: &BrokerState,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let image = state.image();
    let mut by_user: BTreeMap<&str, Vec<CredentialInfo>> = BTreeMap::new();
    for ((user, mechanism), c) in image.scram_credentials() {
        let mut info = CredentialInfo::default();
        info.mechanism = *mechanism;
        info.iterations = c.iterations;
        by_user.entry(user.as_str()).or_default().push(info);
    }
    let mut resp = DescribeUserScramCredentialsResponse::default();
    let result = |user: &str, code: i16, message: Option<String>, infos: Vec<CredentialInfo>| {
        let mut r = DescribeUserScramCredentialsResult::default();
        r.user = str_bytes(user);
        r.error_code = code;
        r.error_message = message.map(StrBytes::from_string);
        r.credential_infos = infos;
        r
    };
    match req.users.filter(|u| !u.is_empty()) {
        None => {
            resp.results = by_user
                .into_iter()
                .map(|(user, infos)| result(user, 0, None, infos))
                .collect();
        }
        Some(users) => {
            let names: Vec<String> = users.iter().map(|u| string(&u.name)).collect();
            let mut seen = std::collections::HashSet::new();
            let duplicates: std::collections::HashSet<&String> =
                names.iter().filter(|n| !seen.insert(*n)).collect();
            let mut done = std::collections::HashSet::new();
            for name in &names {
                if !done.insert(name) {
                    continue;
                }
                resp.results.push(if duplicates.contains(name) {
                    result(
                        name,
                        DUPLICATE_RESOURCE,
                        Some(format!("Cannot describe SCRAM credentials for the same user twice in a single request: {name}")),
                        Vec::new(),
                    )
                } else {
                    match by_user.get(name.as_str()) {
                        Some(infos) => result(name, 0, None, infos.clone()),
                        None => result(
                            name,
                            RESOURCE_NOT_FOUND,
                            Some(format!(
                                "Attempt to describe a user credential that does not exist: {name}"
                            )),
                            Vec::new(),
                        ),
                    }
                });
            }
        }
    }
    resp
}

// Authorized by authz_apis (the table in authz.rs).
pub(crate) async fn alter(
    state: &BrokerState,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    let deletions = req
        .deletions
        .iter()
        .map(|d| ScramDeletion {
            name: string(&d.name),
            mechanism: d.mechanism,
        })
        .collect();
    let upsertions = req
        .upsertions
        .iter()
        .map(|u| {
            // An unknown mechanism has no keys; the controller refuses it
            // with UNSUPPORTED_SASL_MECHANISM.
            let credential = ScramMechanism::from_type(u.mechanism).map(|m| {
                ScramCredential::from_salted_password(
                    m,
                    &u.salted_password,
                    &u.salt,
                    u.iterations.max(0) as u32,
                )
            });
            let (stored_key, server_key) = credential
                .map(|c| (c.stored_key, c.server_key))
                .unwrap_or_default();
            ScramUpsertion {
                name: string(&u.name),
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: u.salt.to_vec(),
                stored_key,
                server_key,
            }
        })
        .collect();
    let outcomes = state
        .controller
        .alter_scram_credentials(deletions, upsertions)
        .await;
    let mut resp = AlterUserScramCredentialsResponse::default();
    resp.results = outcomes
        .into_iter()
        .map(|o| {
            let mut r = AlterUserScramCredentialsResult::default();
            r.user = str_bytes(&o.user);
            r.error_code = o.error_code;
            r.error_message = o.error_message.map(StrBytes::from_string);
            r
        })
        .collect();
    resp
}
