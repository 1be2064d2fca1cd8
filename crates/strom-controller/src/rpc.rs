//! Controller requests as data: what a node asks the active controller,
//! locally or forwarded over the quorum transport, and the answers.

use serde::{Deserialize, Serialize};
use strom_metadata::acl::{
    AclBinding, AclBindingFilter, AclOperation, AclPermission, PatternType, ResourceType,
};
use strom_metadata::BrokerRegistration;

use crate::decisions::{
    AlterConfigs, AlterConfigsOutcome, AlterPartitionItem, AlterPartitionOutcome,
    AlterScramOutcome, BrokerHeartbeat, BrokerHeartbeatOutcome, ClientQuotaAlteration,
    ClientQuotaOutcome, CreatePartitions, CreatePartitionsOutcome, CreateTopic, CreateTopicOutcome,
    DeleteTopic, DeleteTopicOutcome, ElectLeadersOutcome, ElectLeadersTarget, ElectionType,
    OngoingReassignment, ProducerIdsBlock, ReassignPartition, ReassignPartitionOutcome,
    ScramDeletion, ScramUpsertion,
};
use crate::error::ControllerError;

/// One request to the active controller.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum ControllerRequest {
    CreateTopics {
        topics: Vec<CreateTopic>,
        validate_only: bool,
    },
    DeleteTopics {
        topics: Vec<DeleteTopic>,
    },
    CreatePartitions {
        topics: Vec<CreatePartitions>,
        validate_only: bool,
    },
    AlterConfigs {
        resources: Vec<AlterConfigs>,
        validate_only: bool,
    },
    RegisterBroker {
        registration: BrokerRegistration,
    },
    AllocateProducerIds {
        broker_id: i32,
        count: u32,
    },
    BrokerHeartbeat(BrokerHeartbeat),
    /// Commit an empty entry: the answer's offset covers everything committed
    /// before the request (a read barrier).
    Barrier,
    DescribeQuorum,
    /// The committed image, if the active controller's is newer than
    /// `after_offset` (how a broker that is not a controller follows the
    /// metadata).
    FetchImage {
        after_offset: i64,
    },
    /// KIP-853 AddRaftVoter: the node catches up as a learner, then votes.
    AddVoter {
        voter_id: i32,
        address: String,
    },
    /// KIP-853 RemoveRaftVoter.
    RemoveVoter {
        voter_id: i32,
    },
    /// A partition leader's ISR changes (Kafka's AlterPartition). Not
    /// repeatable: asked twice, the second finds the partition epoch moved.
    AlterPartition {
        broker_id: i32,
        broker_epoch: i64,
        items: Vec<AlterPartitionItem>,
    },
    AlterPartitionReassignments {
        items: Vec<ReassignPartition>,
    },
    ListPartitionReassignments {
        topics: Option<Vec<(String, Vec<i32>)>>,
    },
    ElectLeaders {
        election_type: ElectionType,
        partitions: ElectLeadersTarget,
    },
    AlterUserScramCredentials {
        deletions: Vec<ScramDeletion>,
        upsertions: Vec<ScramUpsertion>,
    },
    AlterClientQuotas {
        alterations: Vec<ClientQuotaAlteration>,
        validate_only: bool,
    },
    CreateAcls {
        acls: Vec<AclBinding>,
    },
    DeleteAcls {
        filters: Vec<AclFilter>,
    },
}

/// An [`AclBindingFilter`](strom_metadata::acl::AclBindingFilter) as it
/// travels to the active controller.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct AclFilter {
    pub resource_type: ResourceType,
    pub resource_name: Option<String>,
    pub pattern_type: PatternType,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: AclOperation,
    pub permission: AclPermission,
}

impl From<AclBindingFilter> for AclFilter {
    fn from(f: AclBindingFilter) -> Self {
        AclFilter {
            resource_type: f.resource_type,
            resource_name: f.resource_name,
            pattern_type: f.pattern_type,
            principal: f.principal,
            host: f.host,
            operation: f.operation,
            permission: f.permission,
        }
    }
}

impl From<AclFilter> for AclBindingFilter {
    fn from(f: AclFilter) -> Self {
        AclBindingFilter {
            resource_type: f.resource_type,
            resource_name: f.resource_name,
            pattern_type: f.pattern_type,
            principal: f.principal,
            host: f.host,
            operation: f.operation,
            permission: f.permission,
        }
    }
}

impl ControllerRequest {
    /// Whether asking twice does no harm (reads, heartbeats, a barrier):
    /// such a request may be abandoned at a silent peer and asked again.
    pub(crate) fn may_repeat(&self) -> bool {
        matches!(
            self,
            ControllerRequest::BrokerHeartbeat(_)
                | ControllerRequest::Barrier
                | ControllerRequest::DescribeQuorum
                | ControllerRequest::FetchImage { .. }
                | ControllerRequest::ListPartitionReassignments { .. }
        )
    }

    /// Kafka's name of the request, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ControllerRequest::CreateTopics { .. } => "CreateTopics",
            ControllerRequest::DeleteTopics { .. } => "DeleteTopics",
            ControllerRequest::CreatePartitions { .. } => "CreatePartitions",
            ControllerRequest::AlterConfigs { .. } => "AlterConfigs",
            ControllerRequest::RegisterBroker { .. } => "BrokerRegistration",
            ControllerRequest::AllocateProducerIds { .. } => "AllocateProducerIds",
            ControllerRequest::BrokerHeartbeat(_) => "BrokerHeartbeat",
            ControllerRequest::Barrier => "Barrier",
            ControllerRequest::DescribeQuorum => "DescribeQuorum",
            ControllerRequest::FetchImage { .. } => "FetchImage",
            ControllerRequest::AddVoter { .. } => "AddRaftVoter",
            ControllerRequest::RemoveVoter { .. } => "RemoveRaftVoter",
            ControllerRequest::AlterPartition { .. } => "AlterPartition",
            ControllerRequest::AlterPartitionReassignments { .. } => "AlterPartitionReassignments",
            ControllerRequest::ListPartitionReassignments { .. } => "ListPartitionReassignments",
            ControllerRequest::ElectLeaders { .. } => "ElectLeaders",
            ControllerRequest::AlterUserScramCredentials { .. } => "AlterUserScramCredentials",
            ControllerRequest::AlterClientQuotas { .. } => "AlterClientQuotas",
            ControllerRequest::CreateAcls { .. } => "CreateAcls",
            ControllerRequest::DeleteAcls { .. } => "DeleteAcls",
        }
    }
}

/// The answer to a [`ControllerRequest`], of the same kind.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) enum ControllerReply {
    CreateTopics(Vec<CreateTopicOutcome>),
    DeleteTopics(Vec<DeleteTopicOutcome>),
    CreatePartitions(Vec<CreatePartitionsOutcome>),
    AlterConfigs(Vec<AlterConfigsOutcome>),
    /// The registration's broker epoch.
    RegisterBroker(Result<i64, ControllerError>),
    AllocateProducerIds(Result<ProducerIdsBlock, ControllerError>),
    BrokerHeartbeat(Result<BrokerHeartbeatOutcome, ControllerError>),
    Barrier(Result<(), ControllerError>),
    DescribeQuorum(Result<QuorumDescription, ControllerError>),
    /// The node asked is not the active controller (a forwarded request is
    /// never forwarded again; the sender finds the leader and retries).
    NotController {
        leader: Option<u64>,
        /// The leader's controller endpoint (`host:port`), when known.
        address: Option<String>,
    },
    /// The image as records at its offset, or `None` when the asker's is
    /// already as new.
    Image(Option<(i64, Vec<strom_metadata::MetadataRecord>)>),
    /// The answer to AddVoter / RemoveVoter.
    Voters(Result<(), ControllerError>),
    AlterPartition(Result<Vec<AlterPartitionOutcome>, ControllerError>),
    AlterPartitionReassignments(Result<Vec<ReassignPartitionOutcome>, ControllerError>),
    ListPartitionReassignments(Result<Vec<OngoingReassignment>, ControllerError>),
    ElectLeaders(Result<Vec<ElectLeadersOutcome>, ControllerError>),
    AlterUserScramCredentials(Vec<AlterScramOutcome>),
    AlterClientQuotas(Vec<ClientQuotaOutcome>),
    /// Each creation's result, in request order.
    CreateAcls(Vec<Result<(), ControllerError>>),
    /// Each filter's deleted ACLs, in request order.
    DeleteAcls(Vec<Result<Vec<AclBinding>, ControllerError>>),
    /// The request could not be decided at all (no quorum in time, the
    /// controller stopped): every item of it fails with this.
    Failed(ControllerError),
}

/// A reply and the metadata offset the active controller had applied when
/// it answered: the asking node waits until its own image reaches it, so
/// what the reply says is visible there too.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct ControllerResponse {
    pub reply: ControllerReply,
    pub offset: i64,
}

/// The quorum as DescribeQuorum reports it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuorumDescription {
    pub leader_id: i32,
    /// The Raft term (Kafka's leader epoch of the metadata partition).
    pub leader_epoch: i32,
    /// The committed offset of the metadata log.
    pub high_watermark: i64,
    pub voters: Vec<ReplicaProgress>,
    /// Non-voting members that follow the log.
    pub observers: Vec<ReplicaProgress>,
    /// Every member's controller endpoint (`host:port`), by id.
    pub endpoints: Vec<(i32, String)>,
}

/// How far one member of the quorum has the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicaProgress {
    pub replica_id: i32,
    /// The next offset the member needs (-1 when unknown).
    pub log_end_offset: i64,
    /// When the leader last heard from it, ms since the epoch (-1 unknown).
    pub last_fetch_timestamp: i64,
    /// When it last had everything the leader had, ms since the epoch (-1 unknown).
    pub last_caught_up_timestamp: i64,
}
