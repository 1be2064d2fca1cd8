//! The controller's imperative shell: starts the quorum on the metadata
//! directory, serves the quorum transport, and runs the one task through
//! which every metadata change goes.
//!
//! One task, one request at a time: on the active controller (the Raft
//! leader) it reads the latest image, decides (a pure function), proposes
//! the records and waits until they are committed and applied before it
//! takes the next request. Validation and proposal are therefore atomic — of
//! two concurrent creates of one topic, the second is decided against an
//! image that already has the first. On any other node the task forwards
//! each request to the active controller over the quorum transport, and
//! answers once its own image has caught up with the reply, so a client that
//! created a topic through any node sees it there.
//!
//! The active controller also keeps the brokers' sessions: a broker that
//! sends no heartbeat within `broker.session.timeout.ms` is fenced. A newly
//! elected controller starts every session afresh, as Kafka's does.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{CheckIsLeaderError, ClientWriteError, Fatal, InitializeError, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_metadata::acl::{AclBinding, AclBindingFilter};
use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
// tokio's clock: the same as std's in production, and paused (so the
// simulation's time is virtual) under a test's paused runtime.
use tokio::time::Instant;

use crate::decisions::{
    allocate_producer_ids, alter_client_quotas, alter_configs, alter_partition_reassignments,
    alter_partition_with, alter_scram_credentials, broker_heartbeat, create_acls,
    create_partitions, create_topics_with_rng, delete_acls, delete_topics,
    elect_leaderless_after_config, elect_leaders, fence_brokers, leader_rebalance,
    list_partition_reassignments, register_broker, AlterConfigs, AlterConfigsOutcome,
    AlterPartitionItem, AlterPartitionOutcome, AlterScramOutcome, BrokerHeartbeat,
    BrokerHeartbeatOutcome, ClientQuotaAlteration, ClientQuotaOutcome, ControllerDefaults,
    CreatePartitions, CreatePartitionsOutcome, CreateTopic, CreateTopicOutcome, DeleteTopic,
    DeleteTopicOutcome, ElectLeadersOutcome, ElectLeadersTarget, ElectionType, OngoingReassignment,
    ProducerIdsBlock, ReassignPartition, ReassignPartitionOutcome, ScramDeletion, ScramUpsertion,
    MAX_RECORDS_PER_USER_OP,
};
use crate::error::{ControllerError, StartError, StoreError};
use crate::raft::election::{self, ElectionClock};
use crate::raft::log_store::LogStore;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::transport::{
    self, PeerConnection, PeerRequest, PeerResponse, PeerService, QuorumNetwork, TcpTransport,
    Transport,
};
use crate::raft::{MetadataBatch, Storage, TypeConfig};
use crate::rpc::{
    AclFilter, ControllerReply, ControllerRequest, ControllerResponse, QuorumDescription,
    ReplicaProgress,
};

/// Checks topic config overrides (the broker passes strom-config's topic
/// config validation); `Err` is the message for `INVALID_CONFIG`.
pub type TopicConfigValidator =
    Arc<dyn Fn(&BTreeMap<String, String>) -> Result<(), String> + Send + Sync>;

/// How to run the controller.
#[derive(Clone)]
pub struct ControllerConfig {
    /// Kafka's `node.id`: this node's id in the quorum. It must stay the same
    /// for the life of the metadata directory.
    pub node_id: i32,
    /// Where the metadata log, quorum state and snapshots live, e.g.
    /// `<log.dir>/__cluster_metadata-0`.
    pub metadata_dir: PathBuf,
    /// What -1 stands for in CreateTopics.
    pub defaults: ControllerDefaults,
    /// Topic config validation for CreateTopics.
    pub validate_topic_configs: TopicConfigValidator,
    /// A snapshot is written after this many log entries. Default 1000.
    pub max_entries_between_snapshots: u64,
    /// Size at which a new metadata log segment starts. Default 8 MiB.
    pub log_segment_bytes: u64,
    /// How long `start` waits for the quorum to elect a leader and for this
    /// node to replay the log; `None` waits as long as it takes (a cluster
    /// whose other voters are still starting). Default 30 s.
    pub startup_timeout: Option<Duration>,
    /// Seed for topic ids and replica placement; `None` seeds from the
    /// operating system. Tests set it for reproducible runs.
    pub rng_seed: Option<u64>,
    /// The voters of a static quorum (`controller.quorum.voters`): node id
    /// and `host:port` of its controller listener. Empty: a quorum of this
    /// node alone, with no network.
    pub voters: Vec<(i32, String)>,
    /// Where this node accepts quorum connections (its controller
    /// listener); required when `voters` is not empty.
    pub listen_address: Option<String>,
    /// A follower that hears nothing from the leader for between this and
    /// twice this starts an election (`controller.quorum.election.timeout.ms`).
    pub election_timeout: Duration,
    /// How long a request may wait for the active controller to commit it,
    /// forwarding included; then it fails with REQUEST_TIMED_OUT.
    pub request_timeout: Duration,
    /// A broker with no heartbeat for this long is fenced
    /// (`broker.session.timeout.ms`).
    pub broker_session_timeout: Duration,
    /// A controller of a running dynamic quorum that is not a member yet:
    /// it initializes nothing, serves its controller listener and waits
    /// until the active controller adds it (AddRaftVoter).
    pub join_quorum: bool,
    /// A snapshot is also written when the newest is older than this and
    /// entries were applied since (`metadata.log.max.snapshot.interval.ms`;
    /// `None` turns time-based snapshots off).
    pub snapshot_interval: Option<Duration>,
    /// The automatic leader rebalance (`auto.leader.rebalance.enable`);
    /// `None` turns it off.
    pub leader_rebalance: Option<LeaderRebalance>,
    /// How quorum connections are secured (the controller listener's security protocol).
    pub security: crate::QuorumSecurity,
}

/// How the active controller moves leadership back to preferred replicas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeaderRebalance {
    /// `leader.imbalance.check.interval.seconds`.
    pub check_interval: Duration,
    /// `leader.imbalance.per.broker.percentage`.
    pub imbalance_percentage: i32,
}

impl Default for LeaderRebalance {
    /// Kafka's defaults: every 300 s, brokers over 10 %.
    fn default() -> Self {
        LeaderRebalance {
            check_interval: Duration::from_secs(300),
            imbalance_percentage: 10,
        }
    }
}

impl ControllerConfig {
    /// A quorum with this node as its single voter, and defaults for the
    /// rest; topic configs are accepted without checks until
    /// `validate_topic_configs` is set.
    pub fn single_node(node_id: i32, metadata_dir: impl Into<PathBuf>) -> ControllerConfig {
        ControllerConfig {
            node_id,
            metadata_dir: metadata_dir.into(),
            defaults: ControllerDefaults::default(),
            validate_topic_configs: Arc::new(|_| Ok(())),
            max_entries_between_snapshots: 1000,
            log_segment_bytes: 8 * 1024 * 1024,
            startup_timeout: Some(Duration::from_secs(30)),
            rng_seed: None,
            voters: Vec::new(),
            listen_address: None,
            election_timeout: Duration::from_millis(1000),
            request_timeout: Duration::from_secs(30),
            broker_session_timeout: Duration::from_millis(9000),
            join_quorum: false,
            snapshot_interval: Some(Duration::from_secs(3600)),
            leader_rebalance: Some(LeaderRebalance::default()),
            security: crate::QuorumSecurity::default(),
        }
    }

    fn is_single_node(&self) -> bool {
        self.voters.is_empty() && !self.join_quorum
    }
}

impl fmt::Debug for ControllerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerConfig")
            .field("node_id", &self.node_id)
            .field("metadata_dir", &self.metadata_dir)
            .field("defaults", &self.defaults)
            .field(
                "max_entries_between_snapshots",
                &self.max_entries_between_snapshots,
            )
            .field("log_segment_bytes", &self.log_segment_bytes)
            .field("startup_timeout", &self.startup_timeout)
            .field("rng_seed", &self.rng_seed)
            .field("voters", &self.voters)
            .field("listen_address", &self.listen_address)
            .field("election_timeout", &self.election_timeout)
            .field("request_timeout", &self.request_timeout)
            .field("broker_session_timeout", &self.broker_session_timeout)
            .field("security", &self.security)
            .finish_non_exhaustive()
    }
}

/// Starts the metadata quorum.
pub struct Controller;

impl Controller {
    /// Opens (or creates) the metadata directory, recovers the log and the
    /// newest snapshot, starts this node's member of the quorum (and, with
    /// voters, its transport), initializes the membership on first start,
    /// and returns once a leader is elected and this node's image holds
    /// every entry committed before it asked.
    pub async fn start(config: ControllerConfig) -> Result<ControllerHandle, StartError> {
        let transport = Arc::new(TcpTransport {
            security: config.security.clone(),
        });
        Controller::start_with(config, transport, true, Storage::default()).await
    }

    /// [`Controller::start`] over any transport; with `listen`, a quorum of
    /// several voters accepts TCP connections on its controller listener
    /// (the simulation routes requests to [`ControllerHandle::service`]
    /// instead).
    pub(crate) async fn start_with(
        config: ControllerConfig,
        transport: Arc<dyn Transport>,
        listen: bool,
        storage: Storage,
    ) -> Result<ControllerHandle, StartError> {
        let node_id = u64::try_from(config.node_id).map_err(|_| {
            StartError::InvalidConfig(format!("node.id {} is negative", config.node_id))
        })?;
        let dir = config.metadata_dir.clone();
        let log_store = LogStore::open(storage.fs.clone(), &dir, config.log_segment_bytes)?;
        let (publisher, images) = watch::channel(Arc::new(MetadataImage::empty()));
        let state_machine = StateMachineStore::open(&storage, &dir, publisher)?;
        let (purged, _, _) = log_store.bounds();
        if let Some(purged) = purged {
            let applied = state_machine.last_applied().map(|id| id.index);
            if applied.is_none_or(|applied| applied < purged.index) {
                return Err(StoreError::corrupt(
                    &dir,
                    0,
                    format!(
                        "the metadata log was purged up to entry {} but the newest snapshot covers entries only up to {applied:?}; a snapshot file is missing",
                        purged.index
                    ),
                )
                .into());
            }
        }

        let single = config.is_single_node();
        let mut voters = BTreeMap::new();
        for (id, address) in &config.voters {
            let id = u64::try_from(*id)
                .map_err(|_| StartError::InvalidConfig(format!("voter id {id} is negative")))?;
            voters.insert(id, BasicNode::new(address));
        }
        let (election_min, heartbeat) = if single {
            // No one to hear from: elect at once.
            (150, 50)
        } else {
            let min = config.election_timeout.as_millis().clamp(100, 60_000) as u64;
            (min, (min / 10).max(20))
        };
        let raft_config = openraft::Config {
            cluster_name: "strom-metadata".to_string(),
            heartbeat_interval: heartbeat,
            election_timeout_min: election_min,
            election_timeout_max: election_min * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(
                config.max_entries_between_snapshots.max(1),
            ),
            // A single voter has no follower to catch up from the log, so the
            // entries a snapshot covers can all go; with peers, a follower a
            // little behind catches up from the log rather than a snapshot.
            max_in_snapshot_log_to_keep: if single {
                0
            } else {
                config.max_entries_between_snapshots.clamp(1, 1000)
            },
            purge_batch_size: if single {
                1
            } else {
                config.max_entries_between_snapshots.clamp(1, 64)
            },
            // Elections are timed by raft::election, with a fresh random
            // timeout at every campaign.
            enable_elect: false,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| StartError::InvalidConfig(e.to_string()))?;
        let election = Arc::new(ElectionClock::new());
        let raft = Raft::new(
            node_id,
            Arc::new(raft_config),
            QuorumNetwork {
                transport: transport.clone(),
                election: election.clone(),
            },
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let (commands, receiver) = mpsc::channel(128);
        let (stop_serving, serving) = watch::channel(false);
        if let Err(error) = Controller::initialize(&raft, node_id, &voters, &config).await {
            if let Err(join) = raft.shutdown().await {
                tracing::warn!("the metadata quorum did not stop cleanly: {join}");
            }
            return Err(error);
        }

        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let member = Member::Voter(raft.clone());
        let driver = Driver {
            id: node_id,
            member: member.clone(),
            images: images.clone(),
            defaults: ControllerDefaults {
                controller_id: Some(config.node_id),
                ..config.defaults
            },
            validate_topic_configs: config.validate_topic_configs.clone(),
            rng,
            commands: commands.downgrade(),
            peers: Peers::new(transport.clone()),
            request_timeout: config.request_timeout,
            session_timeout: config.broker_session_timeout,
            sessions: HashMap::new(),
            active_term: None,
            observers: HashMap::new(),
            snapshot_interval: config.snapshot_interval,
            leader_rebalance: config.leader_rebalance,
            last_rebalance: Instant::now(),
            last_snapshot: (None, Instant::now()),
            known_leader: None,
            bootstrap: Some(
                crate::bootstrap::read_bootstrap_records(&dir)
                    .map_err(StartError::InvalidConfig)?,
            )
            .filter(|records| !records.is_empty()),
        };
        let task = tokio::spawn(driver.run(receiver));
        // Ends by itself when the Raft member stops.
        tokio::spawn(election::campaign_when_due(
            raft.clone(),
            election.clone(),
            Duration::from_millis(election_min),
        ));
        let handle = ControllerHandle {
            id: node_id,
            commands,
            images: images.clone(),
            member,
            election: Some(election),
            stop_serving: Arc::new(stop_serving),
            request_timeout: config.request_timeout,
            task: Arc::new(Mutex::new(Some(task))),
            server: Arc::new(Mutex::new(None)),
        };
        if !single && listen {
            let Some(address) = config.listen_address.clone() else {
                handle.clone().shutdown().await;
                return Err(StartError::InvalidConfig(
                    "a quorum of several voters needs this node's controller listener (controller.listener.names and listeners)".into(),
                ));
            };
            let listener = match tokio::net::TcpListener::bind(&address).await {
                Ok(listener) => listener,
                Err(e) => {
                    handle.clone().shutdown().await;
                    return Err(StartError::InvalidConfig(format!(
                        "cannot listen for the controller quorum on {address}: {e}; is another process using the port?"
                    )));
                }
            };
            let service = Arc::new(handle.service());
            let server = tokio::spawn(transport::serve(
                listener,
                service,
                config.security.clone(),
                serving,
            ));
            *handle.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(server);
        } else if !single {
            transport.attach(handle.service());
        }
        if let Err(error) = handle.become_ready(&config).await {
            handle.clone().shutdown().await;
            return Err(error);
        }
        tracing::info!(
            "metadata quorum started in {} as node {node_id}, at offset {}{}",
            dir.display(),
            images.borrow().offset(),
            if single {
                " (single voter)".to_string()
            } else {
                format!(", voters {:?}", config.voters)
            }
        );
        Ok(handle)
    }

    /// Starts the controller side of a broker that is not a controller
    /// (`process.roles=broker`): no metadata log of its own; every request
    /// goes to the active controller through the voters' endpoints, and
    /// the committed image is fetched from it whenever it changes. Returns
    /// once the first image has arrived.
    pub async fn start_observer(config: ControllerConfig) -> Result<ControllerHandle, StartError> {
        let transport = Arc::new(TcpTransport {
            security: config.security.clone(),
        });
        Controller::start_observer_with(config, transport).await
    }

    pub(crate) async fn start_observer_with(
        config: ControllerConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<ControllerHandle, StartError> {
        let node_id = u64::try_from(config.node_id).map_err(|_| {
            StartError::InvalidConfig(format!("node.id {} is negative", config.node_id))
        })?;
        let mut voters = Vec::new();
        for (id, address) in &config.voters {
            let id = u64::try_from(*id)
                .map_err(|_| StartError::InvalidConfig(format!("voter id {id} is negative")))?;
            voters.push((id, address.clone()));
        }
        if voters.is_empty() {
            return Err(StartError::InvalidConfig(
                "a broker that is not a controller needs the controllers' endpoints (controller.quorum.voters)".into(),
            ));
        }
        let (publisher, images) = watch::channel(Arc::new(MetadataImage::empty()));
        let observer = Arc::new(Observer {
            voters,
            leader: Mutex::new(None),
            next: std::sync::atomic::AtomicUsize::new(0),
            poke: tokio::sync::Notify::new(),
        });
        let member = Member::Observer(observer.clone());
        let (commands, receiver) = mpsc::channel(128);
        let (stop_serving, _) = watch::channel(false);
        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let driver = Driver {
            id: node_id,
            member: member.clone(),
            images: images.clone(),
            defaults: ControllerDefaults {
                controller_id: Some(config.node_id),
                ..config.defaults
            },
            validate_topic_configs: config.validate_topic_configs.clone(),
            rng,
            commands: commands.downgrade(),
            peers: Peers::new(transport),
            request_timeout: config.request_timeout,
            session_timeout: config.broker_session_timeout,
            sessions: HashMap::new(),
            active_term: None,
            observers: HashMap::new(),
            snapshot_interval: config.snapshot_interval,
            leader_rebalance: config.leader_rebalance,
            last_rebalance: Instant::now(),
            last_snapshot: (None, Instant::now()),
            known_leader: None,
            bootstrap: None,
        };
        let task = tokio::spawn(driver.run(receiver));
        let handle = ControllerHandle {
            id: node_id,
            commands,
            images: images.clone(),
            member,
            election: None,
            stop_serving: Arc::new(stop_serving),
            request_timeout: config.request_timeout,
            task: Arc::new(Mutex::new(Some(task))),
            server: Arc::new(Mutex::new(None)),
        };
        let poller = tokio::spawn(poll_images(handle.clone(), observer, publisher));
        *handle.server.lock().unwrap_or_else(PoisonError::into_inner) = Some(poller);
        let started = Instant::now();
        let mut ready = handle.subscribe();
        loop {
            let wait = tokio::time::timeout(
                Duration::from_secs(5),
                ready.wait_for(|image| image.offset() >= 0),
            )
            .await;
            match wait {
                Ok(Ok(_)) => break,
                Ok(Err(_)) => return Err(StartError::Raft("the metadata follower stopped".into())),
                Err(_) => {
                    if let Some(limit) = config.startup_timeout {
                        if started.elapsed() >= limit {
                            handle.clone().shutdown().await;
                            return Err(StartError::Timeout {
                                timeout_ms: limit.as_millis(),
                                reason: "no controller answered with the metadata".into(),
                            });
                        }
                    }
                    tracing::info!(
                        "waiting for the controller quorum {:?} ({} s so far)",
                        config.voters,
                        started.elapsed().as_secs()
                    );
                }
            }
        }
        tracing::info!(
            "following the metadata of the controller quorum {:?} as broker {node_id}, at offset {}",
            config.voters,
            images.borrow().offset()
        );
        Ok(handle)
    }

    /// Writes the first membership on a fresh metadata directory, and checks
    /// an existing one includes this node.
    async fn initialize(
        raft: &Raft<TypeConfig>,
        node_id: u64,
        voters: &BTreeMap<u64, BasicNode>,
        config: &ControllerConfig,
    ) -> Result<(), StartError> {
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized && config.join_quorum {
            tracing::info!(
                "this controller is not a member of the quorum yet: add it with `strom metadata-quorum add-controller` (AddRaftVoter)"
            );
            return Ok(());
        }
        if !initialized {
            let members = if voters.is_empty() {
                BTreeMap::from([(node_id, BasicNode::default())])
            } else {
                voters.clone()
            };
            // Every voter of a new static quorum initializes with the same
            // membership; one that already heard from an elected leader is
            // initialized by it, which is just as good.
            match raft.initialize(members).await {
                Ok(()) => {}
                Err(RaftError::APIError(InitializeError::NotAllowed(_))) => {}
                Err(e) => return Err(StartError::Raft(e.to_string())),
            }
        }
        let (voter_ids, nodes): (Vec<u64>, Vec<(u64, BasicNode)>) = raft
            .with_raft_state(|state| {
                let membership = state.membership_state.effective().membership();
                (
                    membership.voter_ids().collect(),
                    membership.nodes().map(|(id, n)| (*id, n.clone())).collect(),
                )
            })
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        // A voter of a new quorum that already voted for a peer before it
        // initialized has no membership yet: the leader's log brings it.
        let pending = voter_ids.is_empty() && !voters.is_empty();
        let member = voter_ids.contains(&node_id) || nodes.iter().any(|(id, _)| *id == node_id);
        if !pending && !member {
            return Err(StartError::InvalidConfig(format!(
                "the metadata directory {} belongs to a quorum of nodes {voter_ids:?}, not node.id {node_id}; use that node.id or another directory",
                config.metadata_dir.display()
            )));
        }
        if !voters.is_empty() && !pending {
            let known: BTreeMap<u64, BasicNode> = nodes.into_iter().collect();
            if &known != voters {
                tracing::warn!(
                    "controller.quorum.voters {:?} differs from the quorum recorded in the metadata log {:?}; the metadata log's membership is used (change voters with add-controller / remove-controller)",
                    config.voters,
                    known.iter().map(|(id, n)| (*id, n.addr.clone())).collect::<Vec<_>>()
                );
            }
        }
        Ok(())
    }
}

/// The way into the controller: cheap to clone, usable from any task.
#[derive(Clone)]
pub struct ControllerHandle {
    id: u64,
    commands: mpsc::Sender<Command>,
    images: watch::Receiver<Arc<MetadataImage>>,
    member: Member,
    /// When this voter last heard from a leader; `None` on an observer.
    election: Option<Arc<ElectionClock>>,
    stop_serving: Arc<watch::Sender<bool>>,
    request_timeout: Duration,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
    server: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl fmt::Debug for ControllerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerHandle")
            .field("id", &self.id)
            .field("offset", &self.images.borrow().offset())
            .finish_non_exhaustive()
    }
}

fn not_running() -> ControllerError {
    ControllerError::NotController("The controller is not running on this node.".into())
}

// The broker shares one handle between all connection tasks; keep that a
// compile error to break rather than a test.
const _: fn() = || {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<ControllerHandle>();
};

impl ControllerHandle {
    /// Waits until a leader is elected and this node's image holds every
    /// entry committed before (a barrier through the active controller).
    async fn become_ready(&self, config: &ControllerConfig) -> Result<(), StartError> {
        let started = Instant::now();
        let mut last_report = Instant::now();
        loop {
            let attempt = Duration::from_secs(5).min(config.request_timeout);
            match self.ask_within(ControllerRequest::Barrier, attempt).await {
                Ok(ControllerReply::Barrier(Ok(()))) => return Ok(()),
                Ok(ControllerReply::Barrier(Err(e)) | ControllerReply::Failed(e)) => {
                    if let Some(limit) = config.startup_timeout {
                        if started.elapsed() >= limit {
                            return Err(StartError::Timeout {
                                timeout_ms: limit.as_millis(),
                                reason: e.to_string(),
                            });
                        }
                    }
                    if last_report.elapsed() >= Duration::from_secs(5) {
                        tracing::info!(
                            "waiting for the controller quorum ({} s so far): {e}",
                            started.elapsed().as_secs()
                        );
                        last_report = Instant::now();
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Ok(other) => {
                    return Err(StartError::Raft(format!(
                        "unexpected answer to a barrier: {other:?}"
                    )))
                }
                Err(e) => return Err(StartError::Raft(e.to_string())),
            }
        }
    }

    /// Creates topics (CreateTopics). Returns once the new topics are
    /// committed and in [`ControllerHandle::image`]; with `validate_only`
    /// nothing is written and the outcomes say what would happen.
    pub async fn create_topics(
        &self,
        topics: Vec<CreateTopic>,
        validate_only: bool,
    ) -> Vec<CreateTopicOutcome> {
        let names = first_of_each(topics.iter().map(|t| t.name.clone()));
        match self
            .ask(ControllerRequest::CreateTopics {
                topics,
                validate_only,
            })
            .await
        {
            Ok(ControllerReply::CreateTopics(outcomes)) => outcomes,
            other => {
                let error = failure(other);
                names
                    .iter()
                    .map(|name| CreateTopicOutcome::failed(name, error.clone()))
                    .collect()
            }
        }
    }

    /// Deletes topics (DeleteTopics), named as [`DeleteTopic`]s or
    /// [`crate::TopicRef`]s. Returns once the deletions are committed and in
    /// the image.
    pub async fn delete_topics<T: Into<DeleteTopic>>(
        &self,
        topics: Vec<T>,
    ) -> Vec<DeleteTopicOutcome> {
        let topics: Vec<DeleteTopic> = topics.into_iter().map(Into::into).collect();
        let requested = topics.clone();
        match self.ask(ControllerRequest::DeleteTopics { topics }).await {
            Ok(ControllerReply::DeleteTopics(outcomes)) => outcomes,
            other => {
                let error = failure(other);
                requested
                    .into_iter()
                    .map(|t| DeleteTopicOutcome {
                        name: t.name,
                        topic_id: t.topic_id,
                        error: Some(error.clone()),
                    })
                    .collect()
            }
        }
    }

    /// Adds partitions to topics (CreatePartitions).
    pub async fn create_partitions(
        &self,
        topics: Vec<CreatePartitions>,
        validate_only: bool,
    ) -> Vec<CreatePartitionsOutcome> {
        let names = first_of_each(topics.iter().map(|t| t.name.clone()));
        match self
            .ask(ControllerRequest::CreatePartitions {
                topics,
                validate_only,
            })
            .await
        {
            Ok(ControllerReply::CreatePartitions(outcomes)) => outcomes,
            other => {
                let error = failure(other);
                names
                    .into_iter()
                    .map(|name| CreatePartitionsOutcome {
                        name,
                        error: Some(error.clone()),
                    })
                    .collect()
            }
        }
    }

    /// Sets or deletes config overrides of topics and brokers. Returns once
    /// the changes are in the image; with `validate_only` nothing is written.
    pub async fn alter_configs(
        &self,
        resources: Vec<AlterConfigs>,
        validate_only: bool,
    ) -> Vec<AlterConfigsOutcome> {
        let requested = first_of_each(resources.iter().map(|r| r.resource.clone()));
        match self
            .ask(ControllerRequest::AlterConfigs {
                resources,
                validate_only,
            })
            .await
        {
            Ok(ControllerReply::AlterConfigs(outcomes)) => outcomes,
            other => {
                let error = failure(other);
                requested
                    .into_iter()
                    .map(|resource| AlterConfigsOutcome {
                        resource,
                        error: Some(error.clone()),
                    })
                    .collect()
            }
        }
    }

    /// Sets and removes SCRAM credentials (AlterUserScramCredentials).
    /// Returns once the changes are in the image; one outcome per user.
    pub async fn alter_scram_credentials(
        &self,
        deletions: Vec<ScramDeletion>,
        upsertions: Vec<ScramUpsertion>,
    ) -> Vec<AlterScramOutcome> {
        let users = first_of_each(
            deletions
                .iter()
                .map(|d| d.name.clone())
                .chain(upsertions.iter().map(|u| u.name.clone())),
        );
        match self
            .ask(ControllerRequest::AlterUserScramCredentials {
                deletions,
                upsertions,
            })
            .await
        {
            Ok(ControllerReply::AlterUserScramCredentials(outcomes)) => outcomes,
            other => {
                let error = failure(other);
                users
                    .into_iter()
                    .map(|user| AlterScramOutcome {
                        user,
                        error_code: error.code(),
                        error_message: Some(error.to_string()),
                    })
                    .collect()
            }
        }
    }

    /// Sets or removes client quotas (AlterClientQuotas). Returns once the
    /// changes are in the image; with `validate_only` nothing is written.
    pub async fn alter_client_quotas(
        &self,
        alterations: Vec<ClientQuotaAlteration>,
        validate_only: bool,
    ) -> Vec<ClientQuotaOutcome> {
        let entities: Vec<_> = alterations.iter().map(|a| a.entity.clone()).collect();
        match self
            .ask(ControllerRequest::AlterClientQuotas {
                alterations,
                validate_only,
            })
            .await
        {
            Ok(ControllerReply::AlterClientQuotas(outcomes)) => outcomes,
            other => {
                let error = failure(other);
                entities
                    .into_iter()
                    .map(|entity| ClientQuotaOutcome {
                        entity,
                        error: Some(error.clone()),
                    })
                    .collect()
            }
        }
    }

    /// Registers a broker (or re-registers it after a restart); it starts
    /// fenced. Returns the registration's broker epoch once it is in the
    /// image.
    pub async fn register_broker(
        &self,
        registration: BrokerRegistration,
    ) -> Result<i64, ControllerError> {
        answer!(
            self.ask(ControllerRequest::RegisterBroker { registration })
                .await,
            ControllerReply::RegisterBroker
        )
    }

    /// One broker heartbeat (Kafka's BrokerHeartbeat): keeps the broker's
    /// session, unfences it once caught up, and runs controlled shutdown.
    pub async fn broker_heartbeat(
        &self,
        heartbeat: BrokerHeartbeat,
    ) -> Result<BrokerHeartbeatOutcome, ControllerError> {
        answer!(
            self.ask(ControllerRequest::BrokerHeartbeat(heartbeat))
                .await,
            ControllerReply::BrokerHeartbeat
        )
    }

    /// Hands `broker_id` a block of `count` producer ids (Kafka's
    /// AllocateProducerIds; brokers ask for [`crate::PRODUCER_ID_BLOCK_SIZE`]).
    /// Returns once the block is committed: no later call, on any broker or
    /// after any restart, gets an id from it again.
    pub async fn allocate_producer_ids(
        &self,
        broker_id: i32,
        count: u32,
    ) -> Result<ProducerIdsBlock, ControllerError> {
        answer!(
            self.ask(ControllerRequest::AllocateProducerIds { broker_id, count })
                .await,
            ControllerReply::AllocateProducerIds
        )
    }

    /// Adds a voter to the quorum (AddRaftVoter, KIP-853). The node must be
    /// running and reachable at `address` (its controller listener).
    pub async fn add_voter(&self, voter_id: i32, address: String) -> Result<(), ControllerError> {
        answer!(
            self.ask(ControllerRequest::AddVoter { voter_id, address })
                .await,
            ControllerReply::Voters
        )
    }

    /// Removes a voter from the quorum (RemoveRaftVoter, KIP-853).
    pub async fn remove_voter(&self, voter_id: i32) -> Result<(), ControllerError> {
        answer!(
            self.ask(ControllerRequest::RemoveVoter { voter_id }).await,
            ControllerReply::Voters
        )
    }

    /// A partition leader's ISR changes (Kafka's AlterPartition from broker
    /// `broker_id` at `broker_epoch`): one outcome per item. Returns once
    /// the accepted changes are committed and in this node's image; `Err`
    /// when the request could not be decided at all (no active controller
    /// in time: every item is then unknown, and the leader asks again with
    /// the partition epoch it has).
    pub async fn alter_partition(
        &self,
        broker_id: i32,
        broker_epoch: i64,
        items: Vec<AlterPartitionItem>,
    ) -> Result<Vec<AlterPartitionOutcome>, ControllerError> {
        answer!(
            self.ask(ControllerRequest::AlterPartition {
                broker_id,
                broker_epoch,
                items,
            })
            .await,
            ControllerReply::AlterPartition
        )
    }

    /// Starts, changes or (with `replicas: None`) cancels partition
    /// reassignments (AlterPartitionReassignments).
    pub async fn alter_partition_reassignments(
        &self,
        items: Vec<ReassignPartition>,
    ) -> Result<Vec<ReassignPartitionOutcome>, ControllerError> {
        answer!(
            self.ask(ControllerRequest::AlterPartitionReassignments { items })
                .await,
            ControllerReply::AlterPartitionReassignments
        )
    }

    /// The reassignments in progress (ListPartitionReassignments), of the
    /// named partitions or, with `None`, of all.
    pub async fn list_partition_reassignments(
        &self,
        topics: Option<Vec<(String, Vec<i32>)>>,
    ) -> Result<Vec<OngoingReassignment>, ControllerError> {
        answer!(
            self.ask(ControllerRequest::ListPartitionReassignments { topics })
                .await,
            ControllerReply::ListPartitionReassignments
        )
    }

    /// Preferred or unclean leader elections (ElectLeaders) of the named
    /// partitions or, with `None`, of all.
    pub async fn elect_leaders(
        &self,
        election_type: ElectionType,
        partitions: ElectLeadersTarget,
    ) -> Result<Vec<ElectLeadersOutcome>, ControllerError> {
        answer!(
            self.ask(ControllerRequest::ElectLeaders {
                election_type,
                partitions,
            })
            .await,
            ControllerReply::ElectLeaders
        )
    }

    /// Creates ACLs (CreateAcls): each one's result, in order, once the
    /// created ones are in the image.
    pub async fn create_acls(&self, acls: Vec<AclBinding>) -> Vec<Result<(), ControllerError>> {
        let count = acls.len();
        match self.ask(ControllerRequest::CreateAcls { acls }).await {
            Ok(ControllerReply::CreateAcls(results)) => results,
            other => vec![Err(failure(other)); count],
        }
    }

    /// Deletes the ACLs each filter matches (DeleteAcls): each filter's
    /// deleted ACLs, in order, once they are out of the image.
    pub async fn delete_acls(
        &self,
        filters: Vec<AclBindingFilter>,
    ) -> Vec<Result<Vec<AclBinding>, ControllerError>> {
        let count = filters.len();
        let filters = filters.into_iter().map(AclFilter::from).collect();
        match self.ask(ControllerRequest::DeleteAcls { filters }).await {
            Ok(ControllerReply::DeleteAcls(results)) => results,
            other => vec![Err(failure(other)); count],
        }
    }

    /// The quorum as the active controller sees it (DescribeQuorum).
    pub async fn describe_quorum(&self) -> Result<QuorumDescription, ControllerError> {
        answer!(
            self.ask(ControllerRequest::DescribeQuorum).await,
            ControllerReply::DescribeQuorum
        )
    }

    /// What peers' requests are handed to: this node's Raft member and its
    /// driver (the TCP server uses it; the simulation calls it directly).
    pub(crate) fn service(&self) -> LocalService {
        LocalService {
            member: self.member.clone(),
            election: self.election.clone(),
            commands: self.commands.clone(),
            request_timeout: self.request_timeout,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> i32 {
        self.id as i32
    }

    /// The id of the active controller as this node knows it, if any.
    pub fn active_controller(&self) -> Option<i32> {
        let (leader, _) = self.member.leader()?;
        i32::try_from(leader).ok()
    }

    /// The latest applied image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    /// A receiver that sees every new image (the broker follows it).
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Stops the controller task, the transport and the quorum, for every
    /// clone of this handle; requests made afterwards get `NOT_CONTROLLER`.
    pub async fn shutdown(self) {
        let (done, finished) = oneshot::channel();
        if self.commands.send(Command::Shutdown { done }).await.is_ok() {
            let _ = finished.await;
        }
        let task = self
            .task
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(task) = task {
            if let Err(error) = task.await {
                tracing::warn!("the controller task ended abnormally: {error}");
            }
        }
        let _ = self.stop_serving.send(true);
        let server = self
            .server
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(server) = server {
            let _ = server.await;
        }
    }

    async fn ask(&self, request: ControllerRequest) -> Result<ControllerReply, ControllerError> {
        self.ask_within(request, Duration::ZERO).await
    }

    /// Sends `request` to the driver and waits for the answer; a zero
    /// `within` means the configured request timeout. Errors when the
    /// controller task has stopped (the caller answers NOT_CONTROLLER).
    async fn ask_within(
        &self,
        request: ControllerRequest,
        within: Duration,
    ) -> Result<ControllerReply, ControllerError> {
        let (reply, answer) = oneshot::channel();
        let deadline = (!within.is_zero()).then(|| Instant::now() + within);
        self.commands
            .send(Command::Request {
                request,
                reply,
                forwarded: false,
                deadline,
            })
            .await
            .map_err(|_| not_running())?;
        let response = answer.await.map_err(|_| not_running())?;
        Ok(response.reply)
    }
}

/// A broker that is not a controller keeps its image current: it asks the
/// active controller for a newer one every [`IMAGE_POLL_INTERVAL`], or at
/// once when a reply named an offset it does not have yet.
async fn poll_images(
    handle: ControllerHandle,
    observer: Arc<Observer>,
    publisher: watch::Sender<Arc<MetadataImage>>,
) {
    loop {
        let have = publisher.borrow().offset();
        match handle
            .ask_within(
                ControllerRequest::FetchImage { after_offset: have },
                Duration::from_secs(5),
            )
            .await
        {
            Ok(ControllerReply::Image(Some((offset, records)))) => {
                match MetadataImage::empty().apply(&records, offset) {
                    Ok(image) => {
                        publisher.send_replace(Arc::new(image));
                    }
                    Err(e) => tracing::error!(
                        "the metadata image from the controller at offset {offset} does not apply: {e}"
                    ),
                }
            }
            Ok(_) => {}
            // The driver stopped: the handle was shut down.
            Err(ControllerError::NotController(_)) if handle.commands.is_closed() => return,
            Err(_) => {}
        }
        tokio::select! {
            _ = tokio::time::sleep(IMAGE_POLL_INTERVAL) => {}
            _ = observer.poke.notified() => {}
        }
        if handle.commands.is_closed() {
            return;
        }
    }
}

/// A failed membership change as Kafka reports it.
fn membership_error(error: RaftError<u64, ClientWriteError<u64, BasicNode>>) -> ControllerError {
    match error {
        RaftError::APIError(ClientWriteError::ForwardToLeader(_)) => {
            ControllerError::NotController("This node is not the active controller.".into())
        }
        RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
            ControllerError::RequestTimedOut(format!(
                "The controller quorum could not change its voters now: {e}; retry."
            ))
        }
        RaftError::Fatal(Fatal::Stopped) => not_running(),
        RaftError::Fatal(fatal) => {
            ControllerError::UnknownServerError(format!("The metadata quorum has stopped: {fatal}"))
        }
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// What a reply of kind `$kind` carries (itself a `Result`); any other
/// answer, or none, is the request's failure.
macro_rules! answer {
    ($reply:expr, $kind:path) => {
        match $reply {
            Ok($kind(result)) => result,
            other => Err(failure(other)),
        }
    };
}
use answer;

/// The error to give every item of a request that got no proper answer.
fn failure(reply: Result<ControllerReply, ControllerError>) -> ControllerError {
    match reply {
        Ok(ControllerReply::Failed(error)) | Err(error) => error,
        Ok(ControllerReply::NotController { .. }) => {
            ControllerError::NotController("This node is not the active controller.".into())
        }
        Ok(other) => ControllerError::UnknownServerError(format!(
            "The controller answered with an unexpected reply: {other:?}"
        )),
    }
}

/// The distinct keys in first-seen order: a request that names one resource
/// twice gets one outcome for it.
fn first_of_each<K: Clone + Eq + Hash>(keys: impl IntoIterator<Item = K>) -> Vec<K> {
    let mut seen = HashSet::new();
    keys.into_iter()
        .filter(|key| seen.insert(key.clone()))
        .collect()
}

enum Command {
    Request {
        request: ControllerRequest,
        reply: oneshot::Sender<ControllerResponse>,
        /// Came from another node: answered here or refused, never
        /// forwarded again.
        forwarded: bool,
        /// `None`: the configured request timeout from now.
        deadline: Option<Instant>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// The transport's view of this node: Raft RPCs go to openraft, controller
/// requests to the driver.
pub(crate) struct LocalService {
    member: Member,
    election: Option<Arc<ElectionClock>>,
    commands: mpsc::Sender<Command>,
    request_timeout: Duration,
}

impl PeerService for LocalService {
    fn raft(&self) -> Option<&Raft<TypeConfig>> {
        self.member.raft()
    }

    fn heard_from_leader(&self) {
        if let Some(clock) = &self.election {
            clock.heard_from_leader();
        }
    }

    async fn controller(&self, request: ControllerRequest) -> ControllerResponse {
        let (reply, answer) = oneshot::channel();
        let command = Command::Request {
            request,
            reply,
            forwarded: true,
            deadline: Some(Instant::now() + self.request_timeout),
        };
        let stopped = ControllerResponse {
            reply: ControllerReply::NotController {
                leader: None,
                address: None,
            },
            offset: -1,
        };
        if self.commands.send(command).await.is_err() {
            return stopped;
        }
        answer.await.unwrap_or(stopped)
    }
}

/// Connections to the other voters, for forwarding; one per peer, shared by
/// the requests forwarded to it (one at a time).
#[derive(Clone)]
struct Peers {
    transport: Arc<dyn Transport>,
    clients: Arc<Mutex<HashMap<(u64, String), SharedConnection>>>,
}

type SharedConnection = Arc<tokio::sync::Mutex<Box<dyn PeerConnection>>>;

impl Peers {
    fn new(transport: Arc<dyn Transport>) -> Peers {
        Peers {
            transport,
            clients: Arc::default(),
        }
    }

    /// Drops the connection to a peer (it may still carry a late answer).
    fn forget(&self, id: u64, address: &str) {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&(id, address.to_string()));
    }

    fn client(&self, id: u64, address: &str) -> SharedConnection {
        self.clients
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry((id, address.to_string()))
            .or_insert_with(|| {
                Arc::new(tokio::sync::Mutex::new(self.transport.connect(id, address)))
            })
            .clone()
    }
}

/// What this node is in the quorum: a voter running a Raft member, or an
/// observer (a broker that is not a controller) that reaches the quorum
/// through the voters' controller endpoints and follows the committed image.
#[derive(Clone)]
enum Member {
    Voter(Raft<TypeConfig>),
    Observer(Arc<Observer>),
}

struct Observer {
    /// The voters' ids and controller endpoints (`controller.quorum.voters`).
    voters: Vec<(u64, String)>,
    /// The active controller as last learnt, else the voter to try next.
    leader: Mutex<Option<(u64, String)>>,
    next: std::sync::atomic::AtomicUsize,
    /// Wakes the image poller (a reply named a newer offset).
    poke: tokio::sync::Notify,
}

impl Member {
    fn raft(&self) -> Option<&Raft<TypeConfig>> {
        match self {
            Member::Voter(raft) => Some(raft),
            Member::Observer(_) => None,
        }
    }

    /// The node to send controller requests to, with its endpoint when
    /// known: the Raft leader on a voter; on an observer the leader last
    /// learnt, else the next voter in turn (it answers, or names the leader).
    fn leader(&self) -> Option<(u64, Option<String>)> {
        match self {
            Member::Voter(raft) => {
                let metrics = raft.metrics();
                let metrics = metrics.borrow();
                let leader = metrics.current_leader?;
                let address = metrics
                    .membership_config
                    .membership()
                    .get_node(&leader)
                    .map(|n| n.addr.clone());
                Some((leader, address))
            }
            Member::Observer(observer) => {
                if let Some((id, address)) = observer
                    .leader
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .clone()
                {
                    return Some((id, Some(address)));
                }
                let n = observer.voters.len();
                if n == 0 {
                    return None;
                }
                let i = observer
                    .next
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                    % n;
                let (id, address) = observer.voters[i].clone();
                Some((id, Some(address)))
            }
        }
    }

    /// An observer learns who leads (`Some`), or forgets `failed` as the
    /// leader after it did not answer as one.
    fn observed_leader(&self, leader: Option<(u64, String)>, failed: Option<u64>) {
        if let Member::Observer(observer) = self {
            let mut known = observer
                .leader
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            match leader {
                Some(leader) => *known = Some(leader),
                None => {
                    if known.as_ref().map(|(id, _)| *id) == failed {
                        *known = None;
                    }
                }
            }
        }
    }

    /// Resolves once a voter's Raft member knows a leader other than
    /// `leader` (never, on an observer: it learns only from answers).
    async fn leader_changed_from(&self, leader: u64) {
        let Member::Voter(raft) = self else {
            return std::future::pending().await;
        };
        let mut metrics = raft.metrics();
        loop {
            let current = metrics.borrow_and_update().current_leader;
            if current.is_some_and(|l| l != leader) {
                return;
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Asks an observer's image poller to fetch now.
    fn poke(&self) {
        if let Member::Observer(observer) = self {
            observer.poke.notify_one();
        }
    }
}

/// How often a broker that is not a controller asks for a newer image.
const IMAGE_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How often the active controller looks for expired broker sessions.
const SESSION_CHECK_INTERVAL: Duration = Duration::from_millis(250);

/// The task that owns the quorum and decides.
struct Driver {
    id: u64,
    member: Member,
    images: watch::Receiver<Arc<MetadataImage>>,
    defaults: ControllerDefaults,
    validate_topic_configs: TopicConfigValidator,
    rng: StdRng,
    /// For handing a forwarded request back when this node became the leader.
    commands: mpsc::WeakSender<Command>,
    peers: Peers,
    request_timeout: Duration,
    session_timeout: Duration,
    /// Last heartbeat per broker, kept by the active controller only.
    sessions: HashMap<i32, Instant>,
    /// The term this node has been active in, if it is.
    active_term: Option<u64>,
    /// Per broker, the metadata offset its last heartbeat reported and when
    /// (ms since the epoch): how DescribeQuorum reports observers.
    observers: HashMap<i32, (i64, i64)>,
    snapshot_interval: Option<Duration>,
    leader_rebalance: Option<LeaderRebalance>,
    /// When the leader imbalance was last checked.
    last_rebalance: Instant,
    /// The newest snapshot's last entry and when this node first saw it.
    last_snapshot: (Option<u64>, Instant),
    /// The active controller and term last logged.
    known_leader: Option<(u64, u64)>,
    /// Records of `strom storage format` (`--add-scram`) not yet found in the metadata:
    /// proposed by the first active controller of a new cluster ([`crate::bootstrap`]).
    bootstrap: Option<Vec<MetadataRecord>>,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut done = None;
        let mut tick = tokio::time::interval(SESSION_CHECK_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let command = tokio::select! {
                // In order, not at random: a seeded simulation replays.
                biased;
                command = commands.recv() => command,
                _ = tick.tick() => {
                    self.log_leader_change();
                    self.apply_bootstrap().await;
                    self.check_sessions().await;
                    self.check_leader_imbalance().await;
                    self.check_snapshot_age().await;
                    continue;
                }
            };
            match command {
                None => break,
                Some(Command::Shutdown { done: reply }) => {
                    done = Some(reply);
                    break;
                }
                Some(Command::Request {
                    request,
                    reply,
                    forwarded,
                    deadline,
                }) => {
                    let deadline =
                        deadline.unwrap_or_else(|| Instant::now() + self.request_timeout);
                    if self.is_active() {
                        self.apply_bootstrap().await;
                        let answer = self.decide(request, deadline).await;
                        let offset = self.image().offset();
                        let _ = reply.send(ControllerResponse {
                            reply: answer,
                            offset,
                        });
                    } else if forwarded {
                        let leader = self.member.leader();
                        let _ = reply.send(ControllerResponse {
                            reply: ControllerReply::NotController {
                                leader: leader.as_ref().map(|(id, _)| *id),
                                address: leader.and_then(|(_, address)| address),
                            },
                            offset: -1,
                        });
                    } else {
                        let forwarder = Forwarder {
                            id: self.id,
                            member: self.member.clone(),
                            images: self.images.clone(),
                            commands: self.commands.clone(),
                            peers: self.peers.clone(),
                        };
                        tokio::spawn(forwarder.forward(request, reply, deadline));
                    }
                }
            }
        }
        // Requests still queued are dropped, and their callers get
        // NOT_CONTROLLER.
        commands.close();
        if let Some(raft) = self.member.raft() {
            if let Err(error) = raft.shutdown().await {
                tracing::warn!("the metadata quorum did not stop cleanly: {error}");
            }
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    /// Whether this node is the active controller (the Raft leader).
    fn is_active(&self) -> bool {
        let Some(raft) = self.member.raft() else {
            return false;
        };
        let metrics = raft.metrics();
        let metrics = metrics.borrow();
        metrics.state == ServerState::Leader && metrics.current_leader == Some(self.id)
    }

    /// The Raft member; requests reach the deciding paths only when this
    /// node is active, so only on a voter.
    fn voter(&self) -> Result<&Raft<TypeConfig>, ControllerError> {
        self.member
            .raft()
            .ok_or_else(|| ControllerError::NotController("This node is not a controller.".into()))
    }

    async fn decide(&mut self, request: ControllerRequest, deadline: Instant) -> ControllerReply {
        match request {
            ControllerRequest::CreateTopics {
                topics,
                validate_only,
            } => ControllerReply::CreateTopics(
                self.create_topics(&topics, validate_only, deadline).await,
            ),
            ControllerRequest::DeleteTopics { topics } => {
                let decided = delete_topics(&self.image(), &topics);
                ControllerReply::DeleteTopics(
                    self.commit(decided, false, deadline, |outcome, error| {
                        outcome.error = Some(error)
                    })
                    .await,
                )
            }
            ControllerRequest::CreatePartitions {
                topics,
                validate_only,
            } => {
                let decided = create_partitions(&self.image(), &topics, &mut self.rng);
                ControllerReply::CreatePartitions(
                    self.commit(decided, validate_only, deadline, |outcome, error| {
                        outcome.error = Some(error)
                    })
                    .await,
                )
            }
            ControllerRequest::AlterConfigs {
                resources,
                validate_only,
            } => {
                let image = self.image();
                let mut decided = alter_configs(&image, &resources, &*self.validate_topic_configs);
                if !validate_only {
                    elect_leaderless_after_config(&image, &mut decided, &self.defaults);
                }
                ControllerReply::AlterConfigs(
                    self.commit(decided, validate_only, deadline, |outcome, error| {
                        outcome.error = Some(error)
                    })
                    .await,
                )
            }
            ControllerRequest::AlterUserScramCredentials {
                deletions,
                upsertions,
            } => {
                let decided = alter_scram_credentials(&self.image(), &deletions, &upsertions);
                ControllerReply::AlterUserScramCredentials(
                    self.commit(decided, false, deadline, |outcome, error| {
                        outcome.error_code = error.code();
                        outcome.error_message = Some(error.to_string());
                    })
                    .await,
                )
            }
            ControllerRequest::AlterClientQuotas {
                alterations,
                validate_only,
            } => {
                let decided = alter_client_quotas(&self.image(), &alterations);
                ControllerReply::AlterClientQuotas(
                    self.commit(decided, validate_only, deadline, |outcome, error| {
                        outcome.error = Some(error)
                    })
                    .await,
                )
            }
            ControllerRequest::RegisterBroker { registration } => {
                let image = self.image();
                let broker_id = registration.broker_id;
                let result = match register_broker(&image, &registration) {
                    Ok(records) if records.is_empty() => Ok(()),
                    Ok(records) => self.propose(records, deadline).await,
                    Err(error) => Err(error),
                };
                ControllerReply::RegisterBroker(result.and_then(|()| {
                    self.sessions.insert(broker_id, Instant::now());
                    self.image()
                        .broker(broker_id)
                        .map(|b| b.epoch)
                        .ok_or_else(|| {
                            ControllerError::UnknownServerError(format!(
                                "Broker {broker_id} is not in the metadata after its registration."
                            ))
                        })
                }))
            }
            ControllerRequest::AllocateProducerIds { broker_id, count } => {
                let image = self.image();
                let result = match allocate_producer_ids(&image, broker_id, count) {
                    Ok((block, records)) => self.propose(records, deadline).await.map(|()| block),
                    Err(error) => Err(error),
                };
                ControllerReply::AllocateProducerIds(result)
            }
            ControllerRequest::BrokerHeartbeat(heartbeat) => {
                // Most heartbeats change nothing and propose nothing, so
                // nothing else would stop a leader cut off from the quorum
                // (still sure it leads) from telling a broker the quorum
                // has fenced that it is alive.
                if let Err(error) = self.confirm_leadership(deadline).await {
                    return ControllerReply::BrokerHeartbeat(Err(error));
                }
                let image = self.image();
                let result = match broker_heartbeat(&image, &heartbeat, &self.defaults) {
                    Ok((outcome, records)) => {
                        self.sessions.insert(heartbeat.broker_id, Instant::now());
                        self.observers.insert(
                            heartbeat.broker_id,
                            (heartbeat.current_metadata_offset, wall_clock_ms()),
                        );
                        if records.is_empty() {
                            Ok(outcome)
                        } else {
                            self.propose(records, deadline).await.map(|()| outcome)
                        }
                    }
                    Err(error) => Err(error),
                };
                ControllerReply::BrokerHeartbeat(result)
            }
            ControllerRequest::Barrier => {
                ControllerReply::Barrier(self.propose(Vec::new(), deadline).await)
            }
            ControllerRequest::DescribeQuorum => {
                ControllerReply::DescribeQuorum(Ok(self.describe_quorum()))
            }
            ControllerRequest::AddVoter { voter_id, address } => {
                ControllerReply::Voters(self.add_voter(voter_id, address, deadline).await)
            }
            ControllerRequest::RemoveVoter { voter_id } => {
                ControllerReply::Voters(self.remove_voter(voter_id, deadline).await)
            }
            ControllerRequest::AlterPartition {
                broker_id,
                broker_epoch,
                items,
            } => {
                let (outcomes, records) = alter_partition_with(
                    &self.image(),
                    broker_id,
                    broker_epoch,
                    &items,
                    &self.defaults,
                );
                ControllerReply::AlterPartition(self.propose_all(records, outcomes, deadline).await)
            }
            ControllerRequest::AlterPartitionReassignments { items } => {
                let (outcomes, records) =
                    alter_partition_reassignments(&self.image(), &items, &self.defaults);
                ControllerReply::AlterPartitionReassignments(
                    self.propose_all(records, outcomes, deadline).await,
                )
            }
            ControllerRequest::ListPartitionReassignments { topics } => {
                ControllerReply::ListPartitionReassignments(
                    self.confirm_leadership(deadline)
                        .await
                        .map(|()| list_partition_reassignments(&self.image(), topics.as_deref())),
                )
            }
            ControllerRequest::ElectLeaders {
                election_type,
                partitions,
            } => {
                let (outcomes, records) = elect_leaders(&self.image(), election_type, &partitions);
                ControllerReply::ElectLeaders(self.propose_all(records, outcomes, deadline).await)
            }
            ControllerRequest::CreateAcls { acls } => {
                let decided = create_acls(&self.image(), &acls, &mut self.rng);
                ControllerReply::CreateAcls(
                    self.commit(decided, false, deadline, |outcome, error| {
                        *outcome = Err(error)
                    })
                    .await,
                )
            }
            ControllerRequest::DeleteAcls { filters } => {
                let filters: Vec<AclBindingFilter> =
                    filters.into_iter().map(AclBindingFilter::from).collect();
                let decided = delete_acls(&self.image(), &filters);
                ControllerReply::DeleteAcls(
                    self.commit(decided, false, deadline, |outcome, error| {
                        *outcome = Err(error)
                    })
                    .await,
                )
            }
            ControllerRequest::FetchImage { after_offset } => {
                let image = self.image();
                ControllerReply::Image(
                    (image.offset() > after_offset).then(|| (image.offset(), image.to_records())),
                )
            }
        }
    }

    /// Adds a voter (KIP-853): it joins as a learner and catches up with
    /// the log, then the membership makes it a voter (openraft's joint
    /// consensus keeps a majority of old and new voters through the change).
    async fn add_voter(
        &mut self,
        voter_id: i32,
        address: String,
        deadline: Instant,
    ) -> Result<(), ControllerError> {
        let raft = self.voter()?.clone();
        let id = u64::try_from(voter_id).map_err(|_| {
            ControllerError::InvalidRequest(format!("Invalid voter id {voter_id}."))
        })?;
        let voters: Vec<u64> = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        if voters.contains(&id) {
            return Err(ControllerError::DuplicateVoter(format!(
                "Node {voter_id} is already a voter of the controller quorum."
            )));
        }
        if address.is_empty() {
            return Err(ControllerError::InvalidRequest(format!(
                "The voter {voter_id} needs a controller endpoint."
            )));
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        let timed_out = || {
            ControllerError::RequestTimedOut(format!(
                "Node {voter_id} at {address} did not catch up with the metadata log within {} ms; check that it is running with controller.quorum.bootstrap.servers and was formatted with --no-initial-controllers.",
                wait.as_millis()
            ))
        };
        tracing::info!(voter_id, %address, "adding a voter to the controller quorum");
        let learner =
            tokio::time::timeout(wait, raft.add_learner(id, BasicNode::new(&address), true))
                .await
                .map_err(|_| timed_out())?;
        learner.map_err(membership_error)?;
        let wait = deadline.saturating_duration_since(Instant::now());
        let changed = tokio::time::timeout(
            wait,
            raft.change_membership(
                openraft::ChangeMembers::AddVoterIds(std::collections::BTreeSet::from([id])),
                false,
            ),
        )
        .await
        .map_err(|_| timed_out())?;
        changed.map_err(membership_error)?;
        tracing::info!(voter_id, "node is a voter of the controller quorum");
        Ok(())
    }

    /// Removes a voter (KIP-853); the last voter cannot go.
    async fn remove_voter(
        &mut self,
        voter_id: i32,
        deadline: Instant,
    ) -> Result<(), ControllerError> {
        let raft = self.voter()?.clone();
        let id = u64::try_from(voter_id).map_err(|_| {
            ControllerError::VoterNotFound(format!("Node {voter_id} is not a voter."))
        })?;
        let voters: Vec<u64> = raft
            .metrics()
            .borrow()
            .membership_config
            .membership()
            .voter_ids()
            .collect();
        if !voters.contains(&id) {
            return Err(ControllerError::VoterNotFound(format!(
                "Node {voter_id} is not a voter of the controller quorum (voters: {voters:?})."
            )));
        }
        if voters.len() == 1 {
            return Err(ControllerError::InvalidRequest(format!(
                "Node {voter_id} is the only voter; a quorum needs at least one."
            )));
        }
        // A node that is also a broker keeps following the log as a learner
        // (Kafka's observer); a controller-only node leaves entirely.
        let is_broker = self.image().broker(voter_id).is_some();
        tracing::info!(
            voter_id,
            is_broker,
            "removing a voter from the controller quorum"
        );
        let wait = deadline.saturating_duration_since(Instant::now());
        let changed = tokio::time::timeout(
            wait,
            raft.change_membership(
                openraft::ChangeMembers::RemoveVoters(std::collections::BTreeSet::from([id])),
                is_broker,
            ),
        )
        .await
        .map_err(|_| {
            ControllerError::RequestTimedOut(format!(
                "Removing voter {voter_id} was not committed within {} ms.",
                wait.as_millis()
            ))
        })?;
        changed.map_err(membership_error)?;
        Ok(())
    }

    /// Logs each change of the active controller as this voter sees it.
    fn log_leader_change(&mut self) {
        let Some(raft) = self.member.raft() else {
            return;
        };
        let (leader, term) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            (metrics.current_leader, metrics.current_term)
        };
        let now = leader.map(|l| (l, term));
        if now != self.known_leader {
            match now {
                Some((leader, term)) if leader == self.id => {
                    tracing::info!(term, "this node is the active controller")
                }
                Some((leader, term)) => {
                    tracing::info!(leader, term, "node {leader} is the active controller")
                }
                None => tracing::info!("no active controller is known"),
            }
            self.known_leader = now;
        }
    }

    /// Writes a snapshot when the newest is older than
    /// `metadata.log.max.snapshot.interval.ms` and entries were applied
    /// since (the entry-count policy is openraft's own).
    async fn check_snapshot_age(&mut self) {
        let (Some(interval), Some(raft)) = (self.snapshot_interval, self.member.raft()) else {
            return;
        };
        let (snapshot, applied) = {
            let metrics = raft.metrics();
            let metrics = metrics.borrow();
            (
                metrics.snapshot.map(|l| l.index),
                metrics.last_applied.map(|l| l.index),
            )
        };
        if snapshot != self.last_snapshot.0 {
            self.last_snapshot = (snapshot, Instant::now());
            return;
        }
        if applied > snapshot && self.last_snapshot.1.elapsed() >= interval {
            tracing::info!(
                interval_ms = interval.as_millis() as u64,
                "writing a metadata snapshot: metadata.log.max.snapshot.interval.ms passed"
            );
            if let Err(e) = raft.trigger().snapshot().await {
                tracing::warn!("could not start a metadata snapshot: {e}");
            }
            // Wait a full interval before asking again.
            self.last_snapshot.1 = Instant::now();
        }
    }

    /// On the active controller of a new cluster, writes the records `strom storage format`
    /// left (`--add-scram`) before anything else; once the metadata holds anything they are
    /// dropped unused (another controller wrote them, or the cluster is not new).
    async fn apply_bootstrap(&mut self) {
        if self.bootstrap.is_none() || !self.is_active() {
            return;
        }
        if !self.image().to_records().is_empty() {
            self.bootstrap = None;
            return;
        }
        let records = self.bootstrap.clone().unwrap_or_default();
        let count = records.len();
        let deadline = Instant::now() + self.request_timeout;
        match self.propose(records, deadline).await {
            Ok(()) => {
                tracing::info!(
                    records = count,
                    "wrote the bootstrap records of `strom storage format` (--add-scram) into the new cluster's metadata"
                );
                self.bootstrap = None;
            }
            Err(e) => tracing::warn!("could not write the bootstrap records yet (retrying): {e}"),
        }
    }

    /// Fences every live broker whose session expired. A controller that
    /// has just become active gives every broker a full session first.
    async fn check_sessions(&mut self) {
        if !self.is_active() {
            self.active_term = None;
            self.sessions.clear();
            return;
        }
        let Ok(raft) = self.voter() else {
            return;
        };
        let term = raft.metrics().borrow().current_term;
        let now = Instant::now();
        let image = self.image();
        if self.active_term != Some(term) {
            self.active_term = Some(term);
            self.sessions = image.brokers().map(|b| (b.broker_id, now)).collect();
        }
        let expired: Vec<i32> = image
            .brokers()
            .filter(|b| !b.fenced)
            .filter(|b| {
                let last = *self.sessions.entry(b.broker_id).or_insert(now);
                now.duration_since(last) > self.session_timeout
            })
            .map(|b| b.broker_id)
            .collect();
        if expired.is_empty() {
            return;
        }
        // One after another, so no broker fenced here becomes a leader in
        // the same batch.
        let records = fence_brokers(&image, &expired, &self.defaults);
        let fenced = expired;
        if records.is_empty() {
            return;
        }
        tracing::warn!(
            brokers = ?fenced,
            session_timeout_ms = self.session_timeout.as_millis() as u64,
            "fencing brokers that sent no heartbeat within broker.session.timeout.ms"
        );
        let deadline = now + self.request_timeout;
        if let Err(e) = self.propose(records, deadline).await {
            tracing::warn!(brokers = ?fenced, "could not fence brokers: {e}");
        }
    }

    /// Proposes `records` as one entry and answers `outcomes`, or the
    /// failure when the entry was not committed (then none of it is).
    async fn propose_all<O>(
        &mut self,
        records: Vec<MetadataRecord>,
        outcomes: Vec<O>,
        deadline: Instant,
    ) -> Result<Vec<O>, ControllerError> {
        if !records.is_empty() {
            self.propose(records, deadline).await?;
        }
        Ok(outcomes)
    }

    /// Every `leader.imbalance.check.interval.seconds`, the active
    /// controller moves leadership back to preferred replicas of brokers
    /// over `leader.imbalance.per.broker.percentage`.
    async fn check_leader_imbalance(&mut self) {
        let Some(rebalance) = self.leader_rebalance else {
            return;
        };
        if self.last_rebalance.elapsed() < rebalance.check_interval {
            return;
        }
        self.last_rebalance = Instant::now();
        if !self.is_active() {
            return;
        }
        let records = leader_rebalance(&self.image(), rebalance.imbalance_percentage);
        if records.is_empty() {
            return;
        }
        let elections = records.len();
        let deadline = Instant::now() + self.request_timeout;
        match self.propose(records, deadline).await {
            Ok(()) => tracing::info!(
                elections,
                "moved partition leadership back to preferred replicas (auto.leader.rebalance.enable)"
            ),
            Err(e) => tracing::warn!("could not move leadership to preferred replicas: {e}"),
        }
    }

    fn describe_quorum(&self) -> QuorumDescription {
        let Ok(raft) = self.voter() else {
            return QuorumDescription {
                leader_id: -1,
                leader_epoch: -1,
                high_watermark: -1,
                voters: Vec::new(),
                observers: Vec::new(),
                endpoints: Vec::new(),
            };
        };
        let metrics = raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let next = |index: Option<u64>| index.map_or(0, |i| i as i64 + 1);
        let now_ms = wall_clock_ms();
        let leader_end = next(metrics.last_log_index);
        let progress = |id: u64| {
            let log_end_offset = if id == self.id {
                leader_end
            } else {
                metrics
                    .replication
                    .as_ref()
                    .and_then(|r| r.get(&id))
                    .map_or(-1, |matched| next(matched.map(|l| l.index)))
            };
            let caught_up = log_end_offset >= leader_end;
            ReplicaProgress {
                replica_id: id as i32,
                log_end_offset,
                last_fetch_timestamp: if id == self.id { now_ms } else { -1 },
                last_caught_up_timestamp: if caught_up { now_ms } else { -1 },
            }
        };
        // Brokers that are not voters follow the log as observers; their
        // progress is what their heartbeats report.
        let voter_ids: HashSet<u64> = membership.voter_ids().collect();
        let image = self.image();
        let mut observers: Vec<ReplicaProgress> = membership.learner_ids().map(progress).collect();
        for broker in image.brokers() {
            let id = broker.broker_id;
            if voter_ids.contains(&(id as u64)) || observers.iter().any(|o| o.replica_id == id) {
                continue;
            }
            let (offset, at) = self.observers.get(&id).copied().unwrap_or((-2, -1));
            let log_end_offset = offset + 1;
            observers.push(ReplicaProgress {
                replica_id: id,
                log_end_offset,
                last_fetch_timestamp: at,
                last_caught_up_timestamp: if log_end_offset >= leader_end { at } else { -1 },
            });
        }
        QuorumDescription {
            leader_id: metrics.current_leader.map_or(-1, |l| l as i32),
            leader_epoch: i32::try_from(metrics.current_term).unwrap_or(i32::MAX),
            high_watermark: next(metrics.last_applied.map(|l| l.index)),
            voters: membership.voter_ids().map(progress).collect(),
            observers,
            endpoints: membership
                .nodes()
                .map(|(id, node)| (*id as i32, node.addr.clone()))
                .collect(),
        }
    }

    async fn create_topics(
        &mut self,
        topics: &[CreateTopic],
        validate_only: bool,
        deadline: Instant,
    ) -> Vec<CreateTopicOutcome> {
        let image = self.image();
        let mut decided = create_topics_with_rng(
            &image,
            topics,
            &self.defaults,
            &*self.validate_topic_configs,
            &mut self.rng,
        );
        if validate_only {
            for (outcome, _) in &mut decided {
                outcome.topic_id = None;
            }
        }
        self.commit(decided, validate_only, deadline, |outcome, error| {
            *outcome = CreateTopicOutcome::failed(&outcome.name, error);
        })
        .await
    }

    fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    /// Proposes the records of all outcomes as one entry; if that fails,
    /// every outcome that had records gets the failure. With `validate_only`
    /// nothing is proposed and the outcomes stand as decided.
    async fn commit<O>(
        &mut self,
        decided: Vec<(O, Vec<MetadataRecord>)>,
        validate_only: bool,
        deadline: Instant,
        fail: impl Fn(&mut O, ControllerError),
    ) -> Vec<O> {
        if validate_only {
            return decided.into_iter().map(|(outcome, _)| outcome).collect();
        }
        let records: Vec<MetadataRecord> = decided
            .iter()
            .flat_map(|(_, r)| r.iter().cloned())
            .collect();
        let result = if records.is_empty() {
            Ok(())
        } else {
            self.propose(records, deadline).await
        };
        decided
            .into_iter()
            .map(|(mut outcome, records)| {
                if let (Err(error), false) = (&result, records.is_empty()) {
                    fail(&mut outcome, error.clone());
                }
                outcome
            })
            .collect()
    }

    /// Confirms with a majority that this node still leads, and waits until
    /// its image holds everything committed before: a decision that
    /// proposes nothing is then as fresh as one that does. Fails like
    /// [`Driver::propose`] when no majority answers by `deadline`.
    async fn confirm_leadership(&self, deadline: Instant) -> Result<(), ControllerError> {
        let Some(raft) = self.member.raft() else {
            return Err(not_running());
        };
        let wait = deadline.saturating_duration_since(Instant::now());
        let confirmed = tokio::time::timeout(wait, async {
            let (read_log_id, _) = raft.get_read_log_id().await.map_err(|e| match e {
                RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)) => {
                    ControllerError::NotController("This node is not the active controller.".into())
                }
                RaftError::APIError(e) => ControllerError::RequestTimedOut(format!(
                    "The active controller could not confirm its leadership: {e}."
                )),
                RaftError::Fatal(Fatal::Stopped) => not_running(),
                RaftError::Fatal(fatal) => ControllerError::UnknownServerError(format!(
                    "The metadata quorum has stopped: {fatal}"
                )),
            })?;
            let offset = read_log_id.map_or(-1, |id| id.index as i64);
            let mut images = self.images.clone();
            let caught_up = images.wait_for(|image| image.offset() >= offset).await;
            caught_up.map(|_| ()).map_err(|_| not_running())
        })
        .await;
        confirmed.unwrap_or_else(|_| {
            Err(ControllerError::RequestTimedOut(format!(
                "The active controller could not confirm its leadership within {} ms: a majority of the controller quorum is not reachable.",
                wait.as_millis()
            )))
        })
    }

    /// Writes one entry through the quorum and waits until it is applied,
    /// or until `deadline` (REQUEST_TIMED_OUT: a majority is unreachable;
    /// the entry may still commit later).
    async fn propose(
        &mut self,
        records: Vec<MetadataRecord>,
        deadline: Instant,
    ) -> Result<(), ControllerError> {
        let batch = MetadataBatch { records };
        check_entry_limits(&batch)?;
        let wait = deadline.saturating_duration_since(Instant::now());
        let raft = self.voter()?.clone();
        let written = tokio::time::timeout(wait, raft.client_write(batch)).await;
        let Ok(written) = written else {
            return Err(ControllerError::RequestTimedOut(format!(
                "The metadata change was not committed within {} ms: a majority of the controller quorum is not reachable from the active controller.",
                wait.as_millis()
            )));
        };
        match written {
            Ok(response) => match response.data.error {
                None => Ok(()),
                Some(reason) => Err(ControllerError::UnknownServerError(format!(
                    "The metadata change was not applied: {reason}"
                ))),
            },
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => Err(
                ControllerError::NotController("This node is not the active controller.".into()),
            ),
            Err(RaftError::APIError(ClientWriteError::ChangeMembershipError(e))) => {
                Err(ControllerError::UnknownServerError(e.to_string()))
            }
            Err(RaftError::Fatal(Fatal::Stopped)) => Err(not_running()),
            Err(RaftError::Fatal(fatal)) => {
                tracing::error!("the metadata quorum has stopped: {fatal}");
                Err(ControllerError::UnknownServerError(format!(
                    "The metadata quorum has stopped: {fatal}"
                )))
            }
        }
    }
}

/// Carries one request from a node that is not the active controller to the
/// one that is, retrying through leader changes until the deadline.
struct Forwarder {
    id: u64,
    member: Member,
    images: watch::Receiver<Arc<MetadataImage>>,
    commands: mpsc::WeakSender<Command>,
    peers: Peers,
}

/// The longest one forwarding attempt of a repeatable request waits
/// (Kafka's `controller.quorum.request.timeout.ms` default).
const FORWARD_ATTEMPT: Duration = Duration::from_millis(2000);

/// Pause between attempts while no leader is known or it is unreachable.
const FORWARD_RETRY: Duration = Duration::from_millis(50);

impl Forwarder {
    async fn forward(
        self,
        request: ControllerRequest,
        reply: oneshot::Sender<ControllerResponse>,
        deadline: Instant,
    ) {
        let mut last_error = "no active controller is known yet".to_string();
        let kind = request.kind();
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                let _ = reply.send(ControllerResponse {
                    reply: ControllerReply::Failed(ControllerError::RequestTimedOut(format!(
                        "No active controller answered {kind} in time: {last_error}. A majority of the controller quorum may be down or unreachable."
                    ))),
                    offset: -1,
                });
                return;
            }
            let (leader, address) = match self.member.leader() {
                Some((leader, address)) => (Some(leader), address),
                None => (None, None),
            };
            match (leader, address) {
                (Some(leader), _) if leader == self.id => {
                    // This node was elected meanwhile: decide here.
                    if let Some(commands) = self.commands.upgrade() {
                        let command = Command::Request {
                            request,
                            reply,
                            forwarded: false,
                            deadline: Some(deadline),
                        };
                        tokio::time::sleep(FORWARD_RETRY).await;
                        let _ = commands.send(command).await;
                    }
                    return;
                }
                (Some(leader), Some(address)) if !address.is_empty() => {
                    let client = self.peers.client(leader, &address);
                    // Requests that may be asked twice get a short attempt,
                    // so a leader that silently stopped answering (cut off,
                    // paused) is given up quickly; the rest wait for their
                    // answer, unless this node learns of another leader.
                    let attempt = if request.may_repeat() {
                        remaining.min(FORWARD_ATTEMPT)
                    } else {
                        remaining
                    };
                    let call = async {
                        client
                            .lock()
                            .await
                            .call(&PeerRequest::Controller(request.clone()), attempt)
                            .await
                    };
                    let response = tokio::select! {
                        // The answer first, if both are ready: and in order,
                        // so that a seeded simulation replays.
                        biased;
                        response = call => response,
                        () = self.member.leader_changed_from(leader) => {
                            last_error = format!("node {leader} stopped being the active controller while the request waited");
                            // The connection may hold a late answer.
                            self.peers.forget(leader, &address);
                            continue;
                        }
                    };
                    match response {
                        Ok(PeerResponse::Controller(ControllerResponse {
                            reply:
                                ControllerReply::NotController {
                                    leader: next,
                                    address,
                                },
                            ..
                        })) => {
                            last_error = format!("node {leader} is not the active controller");
                            self.member.observed_leader(next.zip(address), Some(leader));
                        }
                        Ok(PeerResponse::Controller(response)) => {
                            // An image fetch is what brings the image up to date.
                            if !matches!(response.reply, ControllerReply::Image(_)) {
                                self.member.poke();
                                self.catch_up(response.offset, deadline).await;
                            }
                            let _ = reply.send(response);
                            return;
                        }
                        Ok(_) => {
                            last_error =
                                format!("node {leader} answered with the wrong kind of response")
                        }
                        Err(e) => {
                            last_error = e.to_string();
                            self.member.observed_leader(None, Some(leader));
                        }
                    }
                }
                (Some(leader), _) => {
                    last_error =
                        format!("the address of the active controller {leader} is not known");
                }
                (None, _) => {}
            }
            tokio::time::sleep(
                FORWARD_RETRY.min(deadline.saturating_duration_since(Instant::now())),
            )
            .await;
        }
    }

    /// Waits until this node's image has applied `offset`, at most until
    /// `deadline`.
    async fn catch_up(&self, offset: i64, deadline: Instant) {
        let mut images = self.images.clone();
        let wait = deadline.saturating_duration_since(Instant::now());
        let _ = tokio::time::timeout(wait, images.wait_for(|image| image.offset() >= offset)).await;
    }
}

/// The largest metadata log entry the controller proposes (the log refuses
/// frames over twice this). A request that would need more fails before it
/// reaches the log, so no client can make the quorum write what it cannot
/// store.
const MAX_ENTRY_BYTES: usize = 32 * 1024 * 1024;

fn check_entry_limits(batch: &MetadataBatch) -> Result<(), ControllerError> {
    if batch.records.len() as u64 > MAX_RECORDS_PER_USER_OP {
        return Err(ControllerError::PolicyViolation(format!(
            "The request would write {} metadata records; at most {MAX_RECORDS_PER_USER_OP} are allowed per request.",
            batch.records.len()
        )));
    }
    let bytes = serde_json::to_vec(batch).map_or(usize::MAX, |json| json.len());
    if bytes > MAX_ENTRY_BYTES {
        return Err(ControllerError::PolicyViolation(format!(
            "The request's metadata records take {bytes} bytes; at most {MAX_ENTRY_BYTES} are allowed per request."
        )));
    }
    Ok(())
}
