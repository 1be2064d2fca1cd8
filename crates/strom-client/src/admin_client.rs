//! Cluster administration over the wire: consumer groups, their committed
//! offsets, and the log end offsets lag is measured against.
//!
//! Requests about a group go to the group's coordinator, found with
//! FindCoordinator. Answers that say the coordinator is loading, moving or
//! not there yet (COORDINATOR_LOAD_IN_PROGRESS, COORDINATOR_NOT_AVAILABLE,
//! NOT_COORDINATOR) are retried, coordinator look-up included, every
//! `retry_backoff` until `api_timeout` has passed; then the last error is
//! returned. Transport errors are returned at once.

use std::collections::btree_map;
use std::collections::hash_map::{Entry, HashMap};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use tokio::time::Instant;

use crate::api::ApiRequest;
use crate::cluster::{
    BrokerAddress, ClusterMetadata, PartitionMetadata, TopicMetadata, TopicPartition,
};
use crate::connection::{Connection, ConnectionConfig};
use crate::error::{Error, ErrorCode};
use crate::group::{
    AssignedTopic, CommittedOffset, ConsumerGroupDescription, ConsumerMemberDescription,
    GroupDescription, GroupListing, MemberDescription,
};

/// Key type of group coordinators in FindCoordinator.
const KEY_TYPE_GROUP: i8 = 0;
/// FindCoordinator's key type of a transactional id (v1+).
pub(crate) const KEY_TYPE_TRANSACTION: i8 = 1;
/// ListOffsets' timestamp for "the log end offset".
const LATEST_TIMESTAMP: i64 = -1;

#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// `HOST:PORT` of any broker of the cluster.
    pub bootstrap_server: String,
    pub connection: ConnectionConfig,
    /// How long one operation may keep retrying retriable errors (default 60 s).
    pub api_timeout: Duration,
    /// Pause between retries (default 100 ms).
    pub retry_backoff: Duration,
}

impl AdminConfig {
    pub fn new(bootstrap_server: impl Into<String>) -> AdminConfig {
        AdminConfig {
            bootstrap_server: bootstrap_server.into(),
            connection: ConnectionConfig::default(),
            api_timeout: Duration::from_secs(60),
            retry_backoff: Duration::from_millis(100),
        }
    }
}

pub struct AdminClient {
    config: AdminConfig,
    /// Open connections by `host:port`.
    connections: HashMap<String, Connection>,
}

impl AdminClient {
    /// Connects to the bootstrap server (which checks that it speaks Kafka).
    pub async fn connect(config: AdminConfig) -> Result<AdminClient, Error> {
        let mut client = AdminClient {
            config,
            connections: HashMap::new(),
        };
        let bootstrap = client.config.bootstrap_server.clone();
        client.connection(&bootstrap).await?;
        Ok(client)
    }

    pub fn config(&self) -> &AdminConfig {
        &self.config
    }

    /// Brokers, and the given topics (`None`: every topic). Never creates
    /// topics.
    pub async fn metadata(&mut self, topics: Option<&[String]>) -> Result<ClusterMetadata, Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |version| {
                let mut req = MetadataRequest::default();
                req.topics = topics.map(|ts| {
                    ts.iter()
                        .map(|t| {
                            let mut topic = metadata_request::MetadataRequestTopic::default();
                            topic.name = Some(TopicName(str_bytes(t)));
                            topic
                        })
                        .collect()
                });
                if version >= 4 {
                    req.allow_auto_topic_creation = false;
                }
                Ok(req)
            })
            .await?;
        Ok(cluster_metadata(resp))
    }

    /// The controller quorum (DescribeQuorum on `__cluster_metadata-0`), as
    /// any broker reports it from the active controller.
    pub async fn describe_quorum(&mut self) -> Result<DescribeQuorumResponse, Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut partition = describe_quorum_request::PartitionData::default();
                partition.partition_index = 0;
                let mut topic = describe_quorum_request::TopicData::default();
                topic.topic_name = TopicName(str_bytes("__cluster_metadata"));
                topic.partitions = vec![partition];
                let mut req = DescribeQuorumRequest::default();
                req.topics = vec![topic];
                Ok(req)
            })
            .await?;
        let partition_error = resp
            .topics
            .first()
            .and_then(|t| t.partitions.first())
            .map_or(0, |p| p.error_code);
        for code in [resp.error_code, partition_error] {
            if let Some(code) = ErrorCode::from_code(code) {
                return Err(Error::Kafka {
                    api: ApiKey::DescribeQuorum,
                    code,
                    message: resp.error_message.as_ref().map(|m| m.to_string()),
                });
            }
        }
        Ok(resp)
    }

    /// Adds a voter to the controller quorum (AddRaftVoter, KIP-853): node
    /// `voter_id` with directory id `directory_id`, reachable at `host:port`
    /// on its controller listener `listener`.
    pub async fn add_raft_voter(
        &mut self,
        voter_id: i32,
        directory_id: uuid::Uuid,
        listener: &str,
        host: &str,
        port: u16,
    ) -> Result<(), Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let timeout_ms = self.config.api_timeout.as_millis().min(i32::MAX as u128) as i32;
        let resp = self
            .send(&bootstrap, |_| {
                let mut endpoint = add_raft_voter_request::Listener::default();
                endpoint.name = str_bytes(listener);
                endpoint.host = str_bytes(host);
                endpoint.port = port;
                let mut req = AddRaftVoterRequest::default();
                req.cluster_id = None;
                req.timeout_ms = timeout_ms;
                req.voter_id = voter_id;
                req.voter_directory_id = directory_id;
                req.listeners = vec![endpoint];
                Ok(req)
            })
            .await?;
        match ErrorCode::from_code(resp.error_code) {
            None => Ok(()),
            Some(code) => Err(Error::Kafka {
                api: ApiKey::AddRaftVoter,
                code,
                message: resp.error_message.map(|m| m.to_string()),
            }),
        }
    }

    /// Removes a voter from the controller quorum (RemoveRaftVoter, KIP-853).
    pub async fn remove_raft_voter(
        &mut self,
        voter_id: i32,
        directory_id: uuid::Uuid,
    ) -> Result<(), Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = RemoveRaftVoterRequest::default();
                req.cluster_id = None;
                req.voter_id = voter_id;
                req.voter_directory_id = directory_id;
                Ok(req)
            })
            .await?;
        match ErrorCode::from_code(resp.error_code) {
            None => Ok(()),
            Some(code) => Err(Error::Kafka {
                api: ApiKey::RemoveRaftVoter,
                code,
                message: resp.error_message.map(|m| m.to_string()),
            }),
        }
    }

    /// The cluster as DescribeCluster reports it; with `include_fenced`
    /// (v2, KIP-1073) fenced brokers too, each marked `is_fenced`.
    pub async fn describe_cluster(
        &mut self,
        include_fenced: bool,
    ) -> Result<DescribeClusterResponse, Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        let resp = self
            .send(&bootstrap, |_| {
                let mut req = DescribeClusterRequest::default();
                req.endpoint_type = 1;
                req.include_fenced_brokers = include_fenced;
                Ok(req)
            })
            .await?;
        match ErrorCode::from_code(resp.error_code) {
            None => Ok(resp),
            Some(code) => Err(Error::Kafka {
                api: ApiKey::DescribeCluster,
                code,
                message: resp.error_message.as_ref().map(|m| m.to_string()),
            }),
        }
    }

    /// The coordinator of `group_id`.
    pub async fn find_coordinator(&mut self, group_id: &str) -> Result<BrokerAddress, Error> {
        let deadline = self.deadline();
        self.find_coordinator_until(KEY_TYPE_GROUP, group_id, deadline)
            .await
    }

    /// Every group of every broker, optionally only those in one of `states`
    /// (`Empty`, `Stable`, ...: Kafka's names, which brokers match without
    /// regard to case).
    pub async fn list_groups(&mut self, states: &[String]) -> Result<Vec<GroupListing>, Error> {
        let metadata = self.metadata(Some(&[])).await?;
        let mut groups = BTreeMap::new();
        for broker in metadata.brokers.values() {
            let addr = broker.addr();
            let deadline = self.deadline();
            let resp = loop {
                let resp = self
                    .send(&addr, |version| {
                        let mut req = ListGroupsRequest::default();
                        if !states.is_empty() {
                            if version < 4 {
                                return Err(Error::UnsupportedFeature {
                                    addr: addr.clone(),
                                    api: ApiKey::ListGroups,
                                    what: "filter groups by state",
                                    needed: 4,
                                    version,
                                });
                            }
                            req.states_filter = states.iter().map(|s| str_bytes(s)).collect();
                        }
                        Ok(req)
                    })
                    .await?;
                match ErrorCode::from_code(resp.error_code) {
                    None => break resp,
                    Some(code) if code.is_retriable() && self.may_retry(deadline) => {
                        self.backoff().await
                    }
                    Some(code) => {
                        return Err(Error::Kafka {
                            api: ApiKey::ListGroups,
                            code,
                            message: None,
                        })
                    }
                }
            };
            for g in resp.groups {
                let listing = GroupListing {
                    group_id: g.group_id.0.to_string(),
                    protocol_type: g.protocol_type.to_string(),
                    state: non_empty(&g.group_state),
                    group_type: non_empty(&g.group_type),
                };
                groups.entry(listing.group_id.clone()).or_insert(listing);
            }
        }
        Ok(groups.into_values().collect())
    }

    /// State, protocol and members of each group, in the order asked.
    pub async fn describe_groups(
        &mut self,
        group_ids: &[String],
    ) -> Result<Vec<GroupDescription>, Error> {
        let mut out = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let resp = self
                .send_to_coordinator(
                    group_id,
                    |_| {
                        let mut req = DescribeGroupsRequest::default();
                        req.groups = vec![GroupId(str_bytes(group_id))];
                        Ok(req)
                    },
                    |resp: &DescribeGroupsResponse| {
                        resp.groups.first().map(|g| g.error_code).unwrap_or(0)
                    },
                )
                .await?;
            let g = resp
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| missing(ApiKey::DescribeGroups, group_id))?;
            out.push(GroupDescription {
                group_id: g.group_id.0.to_string(),
                error: ErrorCode::from_code(g.error_code),
                error_message: g.error_message.map(|m| m.to_string()),
                state: g.group_state.to_string(),
                protocol_type: g.protocol_type.to_string(),
                protocol: g.protocol_data.to_string(),
                members: g
                    .members
                    .into_iter()
                    .map(|m| MemberDescription {
                        member_id: m.member_id.to_string(),
                        group_instance_id: m.group_instance_id.map(|i| i.to_string()),
                        client_id: m.client_id.to_string(),
                        client_host: m.client_host.to_string(),
                        metadata: m.member_metadata,
                        assignment: m.member_assignment,
                    })
                    .collect(),
            });
        }
        Ok(out)
    }

    /// Epochs, assignor and members (with their current and target
    /// assignments) of each KIP-848 consumer group, in the order asked.
    /// A group that is unknown or classic comes back with
    /// GROUP_ID_NOT_FOUND in its `error`; a coordinator without
    /// ConsumerGroupDescribe fails with [`Error::UnsupportedApi`].
    pub async fn consumer_group_describe(
        &mut self,
        group_ids: &[String],
    ) -> Result<Vec<ConsumerGroupDescription>, Error> {
        let mut out = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let resp = self
                .send_to_coordinator(
                    group_id,
                    |_| {
                        let mut req = ConsumerGroupDescribeRequest::default();
                        req.group_ids = vec![GroupId(str_bytes(group_id))];
                        Ok(req)
                    },
                    |resp: &ConsumerGroupDescribeResponse| {
                        resp.groups.first().map(|g| g.error_code).unwrap_or(0)
                    },
                )
                .await?;
            let g = resp
                .groups
                .into_iter()
                .next()
                .ok_or_else(|| missing(ApiKey::ConsumerGroupDescribe, group_id))?;
            out.push(consumer_group_description(g));
        }
        Ok(out)
    }

    /// The group's committed offsets, for `topics` (topic, partitions) or,
    /// with `None`, every partition it has one for. A group-level error
    /// (GROUP_ID_NOT_FOUND, ...) is [`Error::Kafka`].
    pub async fn offset_fetch(
        &mut self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Result<BTreeMap<TopicPartition, CommittedOffset>, Error> {
        let resp = self
            .send_to_coordinator(
                group_id,
                |version| {
                    let mut req = OffsetFetchRequest::default();
                    if version >= 8 {
                        let mut group = offset_fetch_request::OffsetFetchRequestGroup::default();
                        group.group_id = GroupId(str_bytes(group_id));
                        group.topics = topics.map(|ts| {
                            ts.iter()
                                .map(|(name, partitions)| {
                                    let mut t =
                                        offset_fetch_request::OffsetFetchRequestTopics::default();
                                    t.name = TopicName(str_bytes(name));
                                    t.partition_indexes = partitions.clone();
                                    t
                                })
                                .collect()
                        });
                        req.groups = vec![group];
                    } else {
                        req.group_id = GroupId(str_bytes(group_id));
                        req.topics = topics.map(|ts| {
                            ts.iter()
                                .map(|(name, partitions)| {
                                    let mut t =
                                        offset_fetch_request::OffsetFetchRequestTopic::default();
                                    t.name = TopicName(str_bytes(name));
                                    t.partition_indexes = partitions.clone();
                                    t
                                })
                                .collect()
                        });
                    }
                    Ok(req)
                },
                |resp: &OffsetFetchResponse| {
                    resp.groups
                        .first()
                        .map(|g| g.error_code)
                        .unwrap_or(resp.error_code)
                },
            )
            .await?;
        let group_error = resp
            .groups
            .first()
            .map(|g| g.error_code)
            .unwrap_or(resp.error_code);
        if let Some(code) = ErrorCode::from_code(group_error) {
            return Err(Error::Kafka {
                api: ApiKey::OffsetFetch,
                code,
                message: None,
            });
        }
        let committed =
            |offset: i64, epoch: i32, metadata: Option<StrBytes>, error: i16| CommittedOffset {
                offset: (offset >= 0).then_some(offset),
                leader_epoch: (epoch >= 0).then_some(epoch),
                metadata: metadata.map(|m| m.to_string()),
                error: ErrorCode::from_code(error),
            };
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                let c = committed(
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata,
                    p.error_code,
                );
                out.insert(
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    c,
                );
            }
        }
        for t in resp.groups.into_iter().flat_map(|g| g.topics) {
            for p in t.partitions {
                let c = committed(
                    p.committed_offset,
                    p.committed_leader_epoch,
                    p.metadata,
                    p.error_code,
                );
                out.insert(
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    c,
                );
            }
        }
        Ok(out)
    }

    /// Commits `offsets` for a group without members (generation -1, no
    /// member id), as kafka-consumer-groups.sh --reset-offsets does; the
    /// outcome per partition.
    pub async fn commit_offsets(
        &mut self,
        group_id: &str,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<(), ErrorCode>>, Error> {
        let mut topics: BTreeMap<&str, Vec<(i32, i64)>> = BTreeMap::new();
        for (tp, &o) in offsets {
            topics.entry(&tp.topic).or_default().push((tp.partition, o));
        }
        let resp = self
            .send_to_coordinator(
                group_id,
                |_| {
                    let mut req = OffsetCommitRequest::default();
                    req.group_id = GroupId(str_bytes(group_id));
                    req.generation_id_or_member_epoch = -1;
                    req.retention_time_ms = -1;
                    req.topics = topics
                        .iter()
                        .map(|(name, ps)| {
                            let mut t = offset_commit_request::OffsetCommitRequestTopic::default();
                            t.name = TopicName(str_bytes(name));
                            t.partitions = ps
                                .iter()
                                .map(|&(p, o)| {
                                    let mut cp =
                                        offset_commit_request::OffsetCommitRequestPartition::default();
                                    cp.partition_index = p;
                                    cp.committed_offset = o;
                                    cp.committed_leader_epoch = -1;
                                    cp
                                })
                                .collect();
                            t
                        })
                        .collect();
                    Ok(req)
                },
                // Coordinator errors come per partition: retry when the first says so.
                |resp: &OffsetCommitResponse| {
                    resp.topics
                        .first()
                        .and_then(|t| t.partitions.first())
                        .map_or(0, |p| p.error_code)
                },
            )
            .await?;
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                out.insert(
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    ErrorCode::check(p.error_code),
                );
            }
        }
        for tp in offsets.keys() {
            out.entry(tp.clone())
                .or_insert(Err(ErrorCode::UNKNOWN_SERVER_ERROR));
        }
        Ok(out)
    }

    /// Each partition's log end offset (ListOffsets, timestamp -1), asked of
    /// its leader; partitions without a known leader get the error why.
    pub async fn list_offsets_latest(
        &mut self,
        partitions: &[TopicPartition],
    ) -> Result<BTreeMap<TopicPartition, Result<i64, ErrorCode>>, Error> {
        let mut out = BTreeMap::new();
        if partitions.is_empty() {
            return Ok(out);
        }
        let topics: Vec<String> = partitions
            .iter()
            .map(|tp| tp.topic.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let metadata = self.metadata(Some(&topics)).await?;
        let mut by_leader: BTreeMap<String, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for tp in partitions {
            match metadata.leader(tp) {
                Ok(leader) => by_leader
                    .entry(leader.addr())
                    .or_default()
                    .entry(tp.topic.clone())
                    .or_default()
                    .push(tp.partition),
                Err(code) => {
                    out.insert(tp.clone(), Err(code));
                }
            }
        }
        for (addr, topics) in by_leader {
            let resp = self
                .send(&addr, |_| {
                    let mut req = ListOffsetsRequest::default();
                    req.replica_id = BrokerId(-1);
                    req.topics = topics
                        .iter()
                        .map(|(name, partitions)| {
                            let mut t = list_offsets_request::ListOffsetsTopic::default();
                            t.name = TopicName(str_bytes(name));
                            t.partitions = partitions
                                .iter()
                                .map(|&p| {
                                    let mut lp =
                                        list_offsets_request::ListOffsetsPartition::default();
                                    lp.partition_index = p;
                                    lp.timestamp = LATEST_TIMESTAMP;
                                    lp
                                })
                                .collect();
                            t
                        })
                        .collect();
                    Ok(req)
                })
                .await?;
            for t in resp.topics {
                for p in t.partitions {
                    let result = ErrorCode::check(p.error_code).map(|()| p.offset);
                    out.insert(
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        result,
                    );
                }
            }
            for (topic, partitions) in topics {
                for p in partitions {
                    if let btree_map::Entry::Vacant(v) =
                        out.entry(TopicPartition::new(topic.clone(), p))
                    {
                        v.insert(Err(ErrorCode::UNKNOWN_SERVER_ERROR));
                    }
                }
            }
        }
        Ok(out)
    }

    /// Deletes empty groups with their offsets; the outcome per group, in
    /// the order asked.
    pub async fn delete_groups(
        &mut self,
        group_ids: &[String],
    ) -> Result<Vec<(String, Result<(), ErrorCode>)>, Error> {
        let mut out = Vec::with_capacity(group_ids.len());
        for group_id in group_ids {
            let result = self
                .send_to_coordinator(
                    group_id,
                    |_| {
                        let mut req = DeleteGroupsRequest::default();
                        req.groups_names = vec![GroupId(str_bytes(group_id))];
                        Ok(req)
                    },
                    |resp: &DeleteGroupsResponse| {
                        resp.results.first().map(|r| r.error_code).unwrap_or(0)
                    },
                )
                .await;
            let outcome = match result {
                Ok(resp) => match resp.results.first() {
                    Some(r) => ErrorCode::check(r.error_code),
                    None => return Err(missing(ApiKey::DeleteGroups, group_id)),
                },
                // The coordinator could not be found: that group's outcome.
                Err(Error::Kafka { code, .. }) => Err(code),
                Err(e) => return Err(e),
            };
            out.push((group_id.clone(), outcome));
        }
        Ok(out)
    }

    /// Deletes the group's committed offsets of `topics` (topic,
    /// partitions); the outcome per partition. A group-level error
    /// (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP, ...) is [`Error::Kafka`].
    pub async fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<BTreeMap<TopicPartition, Result<(), ErrorCode>>, Error> {
        let resp = self
            .send_to_coordinator(
                group_id,
                |_| {
                    let mut req = OffsetDeleteRequest::default();
                    req.group_id = GroupId(str_bytes(group_id));
                    req.topics = topics
                        .iter()
                        .map(|(name, partitions)| {
                            let mut t = offset_delete_request::OffsetDeleteRequestTopic::default();
                            t.name = TopicName(str_bytes(name));
                            t.partitions = partitions
                                .iter()
                                .map(|&p| {
                                    let mut dp = offset_delete_request::OffsetDeleteRequestPartition::default();
                                    dp.partition_index = p;
                                    dp
                                })
                                .collect();
                            t
                        })
                        .collect();
                    Ok(req)
                },
                |resp: &OffsetDeleteResponse| resp.error_code,
            )
            .await?;
        if let Some(code) = ErrorCode::from_code(resp.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::OffsetDelete,
                code,
                message: None,
            });
        }
        let mut out = BTreeMap::new();
        for t in resp.topics {
            for p in t.partitions {
                out.insert(
                    TopicPartition::new(t.name.0.to_string(), p.partition_index),
                    ErrorCode::check(p.error_code),
                );
            }
        }
        Ok(out)
    }

    /// The coordinator of `key`: a group (`KEY_TYPE_GROUP`) or a
    /// transactional id (`KEY_TYPE_TRANSACTION`).
    pub(crate) async fn find_coordinator_until(
        &mut self,
        key_type: i8,
        group_id: &str,
        deadline: Instant,
    ) -> Result<BrokerAddress, Error> {
        let bootstrap = self.config.bootstrap_server.clone();
        loop {
            let resp = self
                .send(&bootstrap, |version| {
                    let mut req = FindCoordinatorRequest::default();
                    req.key_type = key_type;
                    if version >= 4 {
                        req.coordinator_keys = vec![str_bytes(group_id)];
                    } else {
                        req.key = str_bytes(group_id);
                    }
                    Ok(req)
                })
                .await?;
            // v4+ answers per key; older versions at the top level.
            let (error_code, message, node_id, host, port) =
                match resp.coordinators.into_iter().next() {
                    Some(c) => (c.error_code, c.error_message, c.node_id, c.host, c.port),
                    None => (
                        resp.error_code,
                        resp.error_message,
                        resp.node_id,
                        resp.host,
                        resp.port,
                    ),
                };
            match ErrorCode::from_code(error_code) {
                None => {
                    return Ok(BrokerAddress {
                        node_id: node_id.0,
                        host: host.to_string(),
                        port,
                    })
                }
                Some(code) if code.is_retriable() && self.may_retry(deadline) => {
                    self.backoff().await
                }
                Some(code) => {
                    return Err(Error::Kafka {
                        api: ApiKey::FindCoordinator,
                        code,
                        message: message.map(|m| m.to_string()),
                    })
                }
            }
        }
    }

    /// Sends a request about `group_id` to its coordinator, again (after
    /// looking the coordinator up again) while `group_error` of the answer
    /// says the coordinator is loading or elsewhere.
    async fn send_to_coordinator<R: ApiRequest>(
        &mut self,
        group_id: &str,
        build: impl Fn(i16) -> Result<R, Error>,
        group_error: impl Fn(&R::Response) -> i16,
    ) -> Result<R::Response, Error> {
        let deadline = self.deadline();
        loop {
            let coordinator = self
                .find_coordinator_until(KEY_TYPE_GROUP, group_id, deadline)
                .await?;
            let resp = self.send(&coordinator.addr(), &build).await?;
            match ErrorCode::from_code(group_error(&resp)) {
                Some(code) if code.is_coordinator_retriable() && self.may_retry(deadline) => {
                    self.backoff().await
                }
                _ => return Ok(resp),
            }
        }
    }

    /// Sends a request built for the version negotiated with `addr`.
    pub(crate) async fn send<R: ApiRequest>(
        &mut self,
        addr: &str,
        build: impl FnOnce(i16) -> Result<R, Error>,
    ) -> Result<R::Response, Error> {
        let conn = self.connection(addr).await?;
        let version = conn.version(R::API_KEY)?;
        let req = build(version)?;
        conn.send_at(version, &req).await
    }

    /// The open connection to `addr`, or a new one in place of none or a
    /// broken one.
    pub(crate) async fn connection(&mut self, addr: &str) -> Result<&mut Connection, Error> {
        if self
            .connections
            .get(addr)
            .is_some_and(Connection::is_broken)
        {
            self.connections.remove(addr);
        }
        match self.connections.entry(addr.to_owned()) {
            Entry::Occupied(e) => Ok(e.into_mut()),
            Entry::Vacant(v) => {
                let conn = Connection::connect(addr, &self.config.connection).await?;
                Ok(v.insert(conn))
            }
        }
    }

    pub(crate) fn deadline(&self) -> Instant {
        Instant::now() + self.config.api_timeout
    }

    pub(crate) fn may_retry(&self, deadline: Instant) -> bool {
        Instant::now() + self.config.retry_backoff < deadline
    }

    pub(crate) async fn backoff(&self) {
        tokio::time::sleep(self.config.retry_backoff).await;
    }
}

pub(crate) fn cluster_metadata(resp: MetadataResponse) -> ClusterMetadata {
    let brokers = resp
        .brokers
        .into_iter()
        .map(|b| {
            let node_id = b.node_id.0;
            (
                node_id,
                BrokerAddress {
                    node_id,
                    host: b.host.to_string(),
                    port: b.port,
                },
            )
        })
        .collect();
    let topics = resp
        .topics
        .into_iter()
        .filter_map(|t| {
            let name = t.name?.0.to_string();
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let ids = |ids: &[BrokerId]| ids.iter().map(|id| id.0).collect();
                    let meta = PartitionMetadata {
                        leader_id: p.leader_id.0,
                        error: ErrorCode::from_code(p.error_code),
                        replicas: ids(&p.replica_nodes),
                        isr: ids(&p.isr_nodes),
                        offline_replicas: ids(&p.offline_replicas),
                    };
                    (p.partition_index, meta)
                })
                .collect();
            let meta = TopicMetadata {
                error: ErrorCode::from_code(t.error_code),
                topic_id: t.topic_id.into_bytes(),
                is_internal: t.is_internal,
                partitions,
            };
            Some((name, meta))
        })
        .collect();
    ClusterMetadata {
        cluster_id: resp.cluster_id.map(|c| c.to_string()),
        controller_id: resp.controller_id.0,
        brokers,
        topics,
    }
}

fn consumer_group_description(
    g: consumer_group_describe_response::DescribedGroup,
) -> ConsumerGroupDescription {
    let assigned = |a: consumer_group_describe_response::Assignment| -> Vec<AssignedTopic> {
        a.topic_partitions
            .into_iter()
            .map(|t| AssignedTopic {
                topic_id: t.topic_id.into_bytes(),
                topic_name: t.topic_name.0.to_string(),
                partitions: t.partitions,
            })
            .collect()
    };
    ConsumerGroupDescription {
        group_id: g.group_id.0.to_string(),
        error: ErrorCode::from_code(g.error_code),
        error_message: g.error_message.map(|m| m.to_string()),
        state: g.group_state.to_string(),
        group_epoch: g.group_epoch,
        assignment_epoch: g.assignment_epoch,
        assignor_name: g.assignor_name.to_string(),
        members: g
            .members
            .into_iter()
            .map(|m| ConsumerMemberDescription {
                member_id: m.member_id.to_string(),
                instance_id: m.instance_id.map(|i| i.to_string()),
                rack_id: m.rack_id.map(|r| r.to_string()),
                member_epoch: m.member_epoch,
                client_id: m.client_id.to_string(),
                client_host: m.client_host.to_string(),
                subscribed_topic_names: m
                    .subscribed_topic_names
                    .into_iter()
                    .map(|t| t.0.to_string())
                    .collect(),
                subscribed_topic_regex: m.subscribed_topic_regex.map(|r| r.to_string()),
                assignment: assigned(m.assignment),
                target_assignment: assigned(m.target_assignment),
            })
            .collect(),
    }
}

pub(crate) fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

fn non_empty(s: &StrBytes) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

fn missing(api: ApiKey, group_id: &str) -> Error {
    Error::Kafka {
        api,
        code: ErrorCode::UNKNOWN_SERVER_ERROR,
        message: Some(format!("the answer has no entry for group {group_id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use consumer_group_describe_response::{Assignment, DescribedGroup, Member, TopicPartitions};

    fn topic(id: u8, name: &str, partitions: &[i32]) -> TopicPartitions {
        let mut t = TopicPartitions::default();
        t.topic_id = vec![id; 16].try_into().unwrap();
        t.topic_name = TopicName(str_bytes(name));
        t.partitions = partitions.to_vec();
        t
    }

    #[test]
    fn consumer_group_describe_answers_become_descriptions() {
        let mut m = Member::default();
        m.member_id = str_bytes("m-1");
        m.instance_id = Some(str_bytes("i-1"));
        m.member_epoch = 4;
        m.client_id = str_bytes("worker");
        m.client_host = str_bytes("/127.0.0.1");
        m.subscribed_topic_names = vec![TopicName(str_bytes("orders"))];
        m.assignment = Assignment::default().with_topic_partitions(vec![topic(1, "orders", &[0])]);
        m.target_assignment =
            Assignment::default().with_topic_partitions(vec![topic(1, "orders", &[0, 1])]);
        let mut g = DescribedGroup::default();
        g.group_id = GroupId(str_bytes("g"));
        g.group_state = str_bytes("Reconciling");
        g.group_epoch = 5;
        g.assignment_epoch = 5;
        g.assignor_name = str_bytes("uniform");
        g.members = vec![m];
        let d = consumer_group_description(g);
        assert_eq!(d.error, None);
        assert_eq!(
            (d.state.as_str(), d.group_epoch, d.assignment_epoch),
            ("Reconciling", 5, 5)
        );
        assert_eq!(d.assignor_name, "uniform");
        let m = &d.members[0];
        assert_eq!(
            (
                m.member_id.as_str(),
                m.instance_id.as_deref(),
                m.rack_id.as_deref()
            ),
            ("m-1", Some("i-1"), None)
        );
        assert_eq!((m.member_epoch, m.client_id.as_str()), (4, "worker"));
        assert_eq!(m.subscribed_topic_names, vec!["orders".to_owned()]);
        assert_eq!(
            m.assignment,
            vec![AssignedTopic {
                topic_id: [1; 16],
                topic_name: "orders".into(),
                partitions: vec![0]
            }]
        );
        assert_eq!(m.target_assignment[0].partitions, vec![0, 1]);

        let mut unknown = DescribedGroup::default();
        unknown.group_id = GroupId(str_bytes("nope"));
        unknown.error_code = ErrorCode::GROUP_ID_NOT_FOUND.0;
        unknown.error_message = Some(str_bytes("group nope not found"));
        unknown.group_state = str_bytes("Dead");
        let d = consumer_group_description(unknown);
        assert_eq!(d.error, Some(ErrorCode::GROUP_ID_NOT_FOUND));
        assert_eq!(d.error_message.as_deref(), Some("group nope not found"));
        assert!(d.members.is_empty());
    }
}
