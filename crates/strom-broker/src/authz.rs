//! Authorization: one authority for every API. With `authorizer.class.name`
//! set to Kafka's StandardAuthorizer, each request's principal and client
//! address are checked against the ACLs of the current metadata image
//! (`strom_metadata::acl`); without it everything is allowed, as in Kafka.
//!
//! [`API_AUTHORIZATION`] says, for every advertised API, which operation on
//! which resource it checks; ARCHITECTURE.md has the same table and a test
//! keeps the three (this table, `api_table.rs`, the document) in step.

use std::sync::Arc;

use kafka_protocol::messages::ApiKey;
use strom_config::AuthorizationConfig;
use strom_metadata::acl::{AclMatch, AclOperation, ResourceType, CLUSTER_RESOURCE_NAME};
use strom_metadata::MetadataImage;

use crate::session::Session;

/// What one request may do: the session's principal and address against
/// one image's ACLs. Built per request; cheap (an `Arc` and two borrows).
pub(crate) struct Authz<'a> {
    config: &'a AuthorizationConfig,
    image: Arc<MetadataImage>,
    session: &'a Session,
    principal: String,
    super_user: bool,
}

impl<'a> Authz<'a> {
    pub fn new(
        config: &'a AuthorizationConfig,
        image: Arc<MetadataImage>,
        session: &'a Session,
    ) -> Self {
        let principal = session.principal.to_string();
        let super_user = config.super_users.contains(&principal);
        Authz {
            config,
            image,
            session,
            principal,
            super_user,
        }
    }

    /// Whether an authorizer is configured (the ACL APIs answer
    /// SECURITY_DISABLED without one).
    pub fn enabled(&self) -> bool {
        self.config.enabled
    }

    /// Whether the principal may do `op` on the resource.
    pub fn allowed(&self, op: AclOperation, resource_type: ResourceType, name: &str) -> bool {
        if !self.config.enabled || self.super_user {
            return true;
        }
        match self.image.acls().decide(
            &self.principal,
            self.session.client_address.ip(),
            op,
            resource_type,
            name,
        ) {
            AclMatch::Allowed => true,
            AclMatch::Denied | AclMatch::NoMatchingAcl => false,
            AclMatch::NoResourceAcls => self.config.allow_everyone_if_no_acl_found,
        }
    }

    pub fn cluster(&self, op: AclOperation) -> bool {
        self.allowed(op, ResourceType::Cluster, CLUSTER_RESOURCE_NAME)
    }

    pub fn topic(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::Topic, name)
    }

    pub fn group(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::Group, name)
    }

    pub fn transactional_id(&self, op: AclOperation, name: &str) -> bool {
        self.allowed(op, ResourceType::TransactionalId, name)
    }

    /// Kafka's `authorizeByResourceType`: some resource of the type allows
    /// `op` (idempotent producers without IDEMPOTENT_WRITE on the cluster).
    pub fn any_of_type(&self, op: AclOperation, resource_type: ResourceType) -> bool {
        if !self.config.enabled || self.super_user {
            return true;
        }
        self.image.acls().allows_some_of_type(
            &self.principal,
            self.session.client_address.ip(),
            op,
            resource_type,
        ) || (self.config.allow_everyone_if_no_acl_found
            && !self
                .image
                .acls()
                .iter()
                .any(|(_, a)| a.resource_type == resource_type))
    }

    /// Kafka's `authorized_operations` bit field for a resource: bit `code`
    /// set for each operation of the type the principal may do.
    pub fn operations(&self, resource_type: ResourceType, name: &str) -> i32 {
        AclOperation::supported_for(resource_type)
            .iter()
            .filter(|op| self.allowed(**op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

/// For each advertised API: the operation and resource it checks, as
/// Kafka's KafkaApis / ControllerApis / coordinators do. One line per API;
/// the text is what ARCHITECTURE.md's table says.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const API_AUTHORIZATION: &[(ApiKey, &str)] = &[
    (ApiKey::Produce, "WRITE on each TOPIC (TOPIC_AUTHORIZATION_FAILED per partition); with a transactional id, WRITE on TRANSACTIONAL_ID (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)"),
    (ApiKey::Fetch, "consumers: READ on each TOPIC (per partition); followers: CLUSTER_ACTION on CLUSTER"),
    (ApiKey::ListOffsets, "DESCRIBE on each TOPIC (per partition)"),
    (ApiKey::Metadata, "DESCRIBE on each TOPIC (unlisted when not asked for by name, TOPIC_AUTHORIZATION_FAILED when asked for); auto-creation CREATE on CLUSTER or the TOPIC; authorized operations"),
    (ApiKey::OffsetForLeaderEpoch, "CLUSTER_ACTION on CLUSTER covers all, else DESCRIBE on each TOPIC (per partition)"),
    (ApiKey::FindCoordinator, "DESCRIBE on the GROUP or TRANSACTIONAL_ID"),
    (ApiKey::ApiVersions, "none"),
    (ApiKey::CreateTopics, "CREATE on CLUSTER or the TOPIC; DESCRIBE_CONFIGS on the TOPIC for its configs in the answer"),
    (ApiKey::DeleteTopics, "DELETE on each TOPIC (DESCRIBE to learn it exists)"),
    (ApiKey::DescribeConfigs, "DESCRIBE_CONFIGS on each TOPIC / on CLUSTER for brokers / on each GROUP"),
    (ApiKey::CreatePartitions, "ALTER on each TOPIC"),
    (ApiKey::ElectLeaders, "ALTER on CLUSTER (top level and per partition)"),
    (ApiKey::AlterPartitionReassignments, "ALTER on CLUSTER"),
    (ApiKey::ListPartitionReassignments, "DESCRIBE on CLUSTER"),
    (ApiKey::DescribeCluster, "DESCRIBE on CLUSTER; authorized operations"),
    (ApiKey::DescribeTopicPartitions, "DESCRIBE on each TOPIC (unlisted / TOPIC_AUTHORIZATION_FAILED as Metadata); authorized operations"),
    (ApiKey::DescribeQuorum, "DESCRIBE on CLUSTER"),
    (ApiKey::AddRaftVoter, "ALTER on CLUSTER"),
    (ApiKey::RemoveRaftVoter, "ALTER on CLUSTER"),
    (ApiKey::InitProducerId, "transactional: WRITE on the TRANSACTIONAL_ID; idempotent: IDEMPOTENT_WRITE on CLUSTER or WRITE on some TOPIC"),
    (ApiKey::JoinGroup, "READ on the GROUP"),
    (ApiKey::SyncGroup, "READ on the GROUP"),
    (ApiKey::Heartbeat, "READ on the GROUP"),
    (ApiKey::LeaveGroup, "READ on the GROUP"),
    (ApiKey::OffsetCommit, "READ on the GROUP, READ on each TOPIC (per partition)"),
    (ApiKey::OffsetFetch, "DESCRIBE on the GROUP, DESCRIBE on each TOPIC (unlisted when all are asked for)"),
    (ApiKey::DescribeGroups, "DESCRIBE on each GROUP; authorized operations"),
    (ApiKey::ListGroups, "DESCRIBE on CLUSTER lists all, otherwise the GROUPs with DESCRIBE"),
    (ApiKey::DeleteGroups, "DELETE on each GROUP"),
    (ApiKey::OffsetDelete, "DELETE on the GROUP, READ on each TOPIC"),
    (ApiKey::TxnOffsetCommit, "WRITE on the TRANSACTIONAL_ID, READ on the GROUP, READ on each TOPIC (the others are committed)"),
    (ApiKey::DeleteRecords, "DELETE on each TOPIC"),
    (ApiKey::DescribeLogDirs, "DESCRIBE on CLUSTER"),
    (ApiKey::AlterConfigs, "ALTER_CONFIGS on each TOPIC / on CLUSTER for brokers / on each GROUP"),
    (ApiKey::IncrementalAlterConfigs, "ALTER_CONFIGS on each TOPIC / on CLUSTER for brokers / on each GROUP"),
    (ApiKey::ConsumerGroupHeartbeat, "READ on the GROUP, DESCRIBE on each subscribed TOPIC (one denied: TOPIC_AUTHORIZATION_FAILED, nothing joined)"),
    (ApiKey::ConsumerGroupDescribe, "DESCRIBE on each GROUP, DESCRIBE on each TOPIC of its assignments (else TOPIC_AUTHORIZATION_FAILED); authorized operations"),
    (ApiKey::WriteTxnMarkers, "CLUSTER_ACTION on CLUSTER"),
    (ApiKey::DescribeProducers, "READ on each TOPIC"),
    (ApiKey::AddPartitionsToTxn, "v0-3: WRITE on the TRANSACTIONAL_ID and each TOPIC; v4+ (brokers): CLUSTER_ACTION on CLUSTER"),
    (ApiKey::AddOffsetsToTxn, "WRITE on the TRANSACTIONAL_ID, READ on the GROUP"),
    (ApiKey::EndTxn, "WRITE on the TRANSACTIONAL_ID"),
    (ApiKey::DescribeTransactions, "DESCRIBE on each TRANSACTIONAL_ID; its TOPICs without DESCRIBE left out"),
    (ApiKey::ListTransactions, "the TRANSACTIONAL_IDs with DESCRIBE"),
    (ApiKey::SaslHandshake, "none (before authentication)"),
    (ApiKey::SaslAuthenticate, "none (before authentication)"),
    (ApiKey::DescribeUserScramCredentials, "DESCRIBE on CLUSTER"),
    (ApiKey::AlterUserScramCredentials, "ALTER on CLUSTER"),
    (ApiKey::DescribeClientQuotas, "DESCRIBE_CONFIGS on CLUSTER"),
    (ApiKey::AlterClientQuotas, "ALTER_CONFIGS on CLUSTER"),
    (ApiKey::CreateAcls, "ALTER on CLUSTER"),
    (ApiKey::DescribeAcls, "DESCRIBE on CLUSTER"),
    (ApiKey::DeleteAcls, "ALTER on CLUSTER"),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api_table::SUPPORTED_APIS;

    #[test]
    fn every_advertised_api_has_an_authorization_row_here_and_in_architecture_md() {
        let doc = include_str!("../../../ARCHITECTURE.md");
        let section = doc
            .split("### Authorization of each API")
            .nth(1)
            .expect("ARCHITECTURE.md has the authorization table");
        let rows: Vec<(String, String)> = section
            .lines()
            .skip_while(|l| !l.starts_with("| API"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                (cells[0].to_owned(), cells[1].to_owned())
            })
            .collect();
        for (api, _, _) in SUPPORTED_APIS {
            let Some((_, check)) = API_AUTHORIZATION.iter().find(|(k, _)| k == api) else {
                panic!("{api:?} is advertised without an authorization decision in authz.rs");
            };
            let name = format!("{api:?}");
            let Some((_, documented)) = rows.iter().find(|(n, _)| *n == name) else {
                panic!("{name} has no row in ARCHITECTURE.md's authorization table");
            };
            assert_eq!(documented, check, "ARCHITECTURE.md's row for {name}");
        }
        assert_eq!(
            rows.len(),
            SUPPORTED_APIS.len(),
            "rows for APIs not advertised"
        );
    }
}
