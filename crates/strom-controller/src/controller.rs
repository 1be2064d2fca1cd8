//! The controller's imperative shell: starts the quorum on the metadata
//! directory and runs the one task through which every metadata change goes.
//!
//! One task, one request at a time: it reads the latest image, decides (a
//! pure function), proposes the records and waits until they are committed
//! and applied before it takes the next request. Validation and proposal are
//! therefore atomic — of two concurrent creates of one topic, the second is
//! decided against an image that already has the first.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::hash::Hash;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use openraft::error::{ClientWriteError, Fatal, RaftError};
use openraft::{BasicNode, Raft, ServerState, SnapshotPolicy};
use rand::rngs::StdRng;
use rand::SeedableRng;
use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::decisions::{
    allocate_producer_ids, alter_configs, create_partitions, create_topics_with_rng, delete_topics,
    register_broker, AlterConfigs, AlterConfigsOutcome, ControllerDefaults, CreatePartitions,
    CreatePartitionsOutcome, CreateTopic, CreateTopicOutcome, DeleteTopic, DeleteTopicOutcome,
    ProducerIdsBlock, MAX_RECORDS_PER_USER_OP,
};
use crate::error::{ControllerError, StartError, StoreError};
use crate::raft::log_store::LogStore;
use crate::raft::network::NoPeers;
use crate::raft::state_machine::StateMachineStore;
use crate::raft::{MetadataBatch, TypeConfig};

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
    /// A snapshot is written after this many log entries, and the entries it
    /// covers are purged. Default 1000.
    pub max_entries_between_snapshots: u64,
    /// Size at which a new metadata log segment starts. Default 8 MiB.
    pub log_segment_bytes: u64,
    /// How long `start` waits for the quorum to elect this node and replay
    /// the log. Default 30 s.
    pub startup_timeout: Duration,
    /// Seed for topic ids and replica placement; `None` seeds from the
    /// operating system. Tests set it for reproducible runs.
    pub rng_seed: Option<u64>,
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
            startup_timeout: Duration::from_secs(30),
            rng_seed: None,
        }
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
            .finish_non_exhaustive()
    }
}

/// Starts the metadata quorum.
pub struct Controller;

impl Controller {
    /// Opens (or creates) the metadata directory, recovers the log and the
    /// newest snapshot, starts the quorum as its single voter (initializing
    /// the membership on first start) and returns once this node leads and
    /// its image holds every committed entry.
    pub async fn start(config: ControllerConfig) -> Result<ControllerHandle, StartError> {
        let node_id = u64::try_from(config.node_id).map_err(|_| {
            StartError::InvalidConfig(format!("node.id {} is negative", config.node_id))
        })?;
        let dir = config.metadata_dir.clone();
        let log_store = LogStore::open(&dir, config.log_segment_bytes)?;
        let (publisher, images) = watch::channel(Arc::new(MetadataImage::empty()));
        let state_machine = StateMachineStore::open(&dir, publisher)?;
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

        let raft_config = openraft::Config {
            cluster_name: "strom-metadata".to_string(),
            heartbeat_interval: 50,
            election_timeout_min: 150,
            election_timeout_max: 300,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(
                config.max_entries_between_snapshots.max(1),
            ),
            // A single voter has no follower to catch up from the log, so the
            // entries a snapshot covers can all go.
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..openraft::Config::default()
        }
        .validate()
        .map_err(|e| StartError::InvalidConfig(e.to_string()))?;
        let raft = Raft::new(
            node_id,
            Arc::new(raft_config),
            NoPeers,
            log_store,
            state_machine,
        )
        .await
        .map_err(|e| StartError::Raft(e.to_string()))?;

        let ready = Controller::become_ready(&raft, node_id, &config).await;
        if let Err(error) = ready {
            if let Err(join) = raft.shutdown().await {
                tracing::warn!("the metadata quorum did not stop cleanly: {join}");
            }
            return Err(error);
        }

        let rng = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let driver = Driver {
            raft,
            images: images.clone(),
            defaults: config.defaults,
            validate_topic_configs: config.validate_topic_configs,
            rng,
        };
        let (commands, receiver) = mpsc::channel(128);
        let task = tokio::spawn(driver.run(receiver));
        tracing::info!(
            "metadata quorum started in {} as node {node_id}, at offset {}",
            dir.display(),
            images.borrow().offset()
        );
        Ok(ControllerHandle {
            commands,
            images,
            task: Arc::new(Mutex::new(Some(task))),
        })
    }

    async fn become_ready(
        raft: &Raft<TypeConfig>,
        node_id: u64,
        config: &ControllerConfig,
    ) -> Result<(), StartError> {
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !initialized {
            let members = BTreeMap::from([(node_id, BasicNode::default())]);
            raft.initialize(members)
                .await
                .map_err(|e| StartError::Raft(e.to_string()))?;
        }
        let voters: Vec<u64> = raft
            .with_raft_state(|state| state.membership_state.effective().voter_ids().collect())
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;
        if !voters.contains(&node_id) {
            return Err(StartError::InvalidConfig(format!(
                "the metadata directory {} belongs to a quorum of nodes {voters:?}, not node.id {node_id}; use that node.id or another directory",
                config.metadata_dir.display()
            )));
        }
        let timeout_ms = config.startup_timeout.as_millis();
        raft.wait(Some(config.startup_timeout))
            .state(ServerState::Leader, "the single voter leads")
            .await
            .map_err(|e| StartError::Timeout {
                timeout_ms,
                reason: e.to_string(),
            })?;
        // An entry of the current term commits, and so applies, everything
        // before it: after this the image holds every committed change.
        let barrier = raft.client_write(MetadataBatch::default());
        tokio::time::timeout(config.startup_timeout, barrier)
            .await
            .map_err(|_| StartError::Timeout {
                timeout_ms,
                reason: "replaying the metadata log".to_string(),
            })?
            .map_err(|e| StartError::Raft(e.to_string()))?;
        Ok(())
    }
}

/// The way into the controller: cheap to clone, usable from any task.
#[derive(Clone)]
pub struct ControllerHandle {
    commands: mpsc::Sender<Command>,
    images: watch::Receiver<Arc<MetadataImage>>,
    task: Arc<Mutex<Option<JoinHandle<()>>>>,
}

impl fmt::Debug for ControllerHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ControllerHandle")
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
    /// Creates topics (CreateTopics). Returns once the new topics are
    /// committed and in [`ControllerHandle::image`]; with `validate_only`
    /// nothing is written and the outcomes say what would happen.
    pub async fn create_topics(
        &self,
        topics: Vec<CreateTopic>,
        validate_only: bool,
    ) -> Vec<CreateTopicOutcome> {
        let names = first_of_each(topics.iter().map(|t| t.name.clone()));
        self.ask(|reply| Command::CreateTopics {
            topics,
            validate_only,
            reply,
        })
        .await
        .unwrap_or_else(|| {
            names
                .iter()
                .map(|name| CreateTopicOutcome::failed(name, not_running()))
                .collect()
        })
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
        self.ask(|reply| Command::DeleteTopics { topics, reply })
            .await
            .unwrap_or_else(|| {
                requested
                    .into_iter()
                    .map(|t| DeleteTopicOutcome {
                        name: t.name,
                        topic_id: t.topic_id,
                        error: Some(not_running()),
                    })
                    .collect()
            })
    }

    /// Adds partitions to topics (CreatePartitions).
    pub async fn create_partitions(
        &self,
        topics: Vec<CreatePartitions>,
        validate_only: bool,
    ) -> Vec<CreatePartitionsOutcome> {
        let names = first_of_each(topics.iter().map(|t| t.name.clone()));
        self.ask(|reply| Command::CreatePartitions {
            topics,
            validate_only,
            reply,
        })
        .await
        .unwrap_or_else(|| {
            names
                .into_iter()
                .map(|name| CreatePartitionsOutcome {
                    name,
                    error: Some(not_running()),
                })
                .collect()
        })
    }

    /// Sets or deletes config overrides of topics and brokers. Returns once
    /// the changes are in the image; with `validate_only` nothing is written.
    pub async fn alter_configs(
        &self,
        resources: Vec<AlterConfigs>,
        validate_only: bool,
    ) -> Vec<AlterConfigsOutcome> {
        let requested = first_of_each(resources.iter().map(|r| r.resource.clone()));
        self.ask(|reply| Command::AlterConfigs {
            resources,
            validate_only,
            reply,
        })
        .await
        .unwrap_or_else(|| {
            requested
                .into_iter()
                .map(|resource| AlterConfigsOutcome {
                    resource,
                    error: Some(not_running()),
                })
                .collect()
        })
    }

    /// Registers a broker (or re-registers it after a restart). Returns once
    /// the registration is in the image.
    pub async fn register_broker(
        &self,
        registration: BrokerRegistration,
    ) -> Result<(), ControllerError> {
        self.ask(|reply| Command::RegisterBroker {
            registration,
            reply,
        })
        .await
        .unwrap_or_else(|| Err(not_running()))
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
        self.ask(|reply| Command::AllocateProducerIds {
            broker_id,
            count,
            reply,
        })
        .await
        .unwrap_or_else(|| Err(not_running()))
    }

    /// The latest applied image.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.images.borrow().clone()
    }

    /// A receiver that sees every new image (the broker follows it).
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.images.clone()
    }

    /// Stops the controller task and the quorum, for every clone of this
    /// handle; requests made afterwards get `NOT_CONTROLLER`.
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
    }

    /// Sends the command `make` builds around a reply channel and waits for
    /// the answer; `None` when the controller task has stopped (the caller
    /// answers NOT_CONTROLLER).
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Option<T> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(make(reply)).await.ok()?;
        answer.await.ok()
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
    CreateTopics {
        topics: Vec<CreateTopic>,
        validate_only: bool,
        reply: oneshot::Sender<Vec<CreateTopicOutcome>>,
    },
    DeleteTopics {
        topics: Vec<DeleteTopic>,
        reply: oneshot::Sender<Vec<DeleteTopicOutcome>>,
    },
    CreatePartitions {
        topics: Vec<CreatePartitions>,
        validate_only: bool,
        reply: oneshot::Sender<Vec<CreatePartitionsOutcome>>,
    },
    AlterConfigs {
        resources: Vec<AlterConfigs>,
        validate_only: bool,
        reply: oneshot::Sender<Vec<AlterConfigsOutcome>>,
    },
    RegisterBroker {
        registration: BrokerRegistration,
        reply: oneshot::Sender<Result<(), ControllerError>>,
    },
    AllocateProducerIds {
        broker_id: i32,
        count: u32,
        reply: oneshot::Sender<Result<ProducerIdsBlock, ControllerError>>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

/// The task that owns the quorum and decides.
struct Driver {
    raft: Raft<TypeConfig>,
    images: watch::Receiver<Arc<MetadataImage>>,
    defaults: ControllerDefaults,
    validate_topic_configs: TopicConfigValidator,
    rng: StdRng,
}

impl Driver {
    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut done = None;
        while let Some(command) = commands.recv().await {
            match command {
                Command::Shutdown { done: reply } => {
                    done = Some(reply);
                    break;
                }
                command => self.handle(command).await,
            }
        }
        // Requests still queued are dropped, and their callers get
        // NOT_CONTROLLER.
        commands.close();
        if let Err(error) = self.raft.shutdown().await {
            tracing::warn!("the metadata quorum did not stop cleanly: {error}");
        }
        if let Some(done) = done {
            let _ = done.send(());
        }
    }

    async fn handle(&mut self, command: Command) {
        match command {
            Command::CreateTopics {
                topics,
                validate_only,
                reply,
            } => {
                let outcomes = self.create_topics(&topics, validate_only).await;
                let _ = reply.send(outcomes);
            }
            Command::DeleteTopics { topics, reply } => {
                let decided = delete_topics(&self.image(), &topics);
                let outcomes = self
                    .commit(decided, false, |outcome, error| outcome.error = Some(error))
                    .await;
                let _ = reply.send(outcomes);
            }
            Command::CreatePartitions {
                topics,
                validate_only,
                reply,
            } => {
                let decided = create_partitions(&self.image(), &topics, &mut self.rng);
                let outcomes = self
                    .commit(decided, validate_only, |outcome, error| {
                        outcome.error = Some(error)
                    })
                    .await;
                let _ = reply.send(outcomes);
            }
            Command::AlterConfigs {
                resources,
                validate_only,
                reply,
            } => {
                let decided =
                    alter_configs(&self.image(), &resources, &*self.validate_topic_configs);
                let outcomes = self
                    .commit(decided, validate_only, |outcome, error| {
                        outcome.error = Some(error)
                    })
                    .await;
                let _ = reply.send(outcomes);
            }
            Command::RegisterBroker {
                registration,
                reply,
            } => {
                let image = self.image();
                let result = match register_broker(&image, &registration) {
                    Ok(records) if records.is_empty() => Ok(()),
                    Ok(records) => self.propose(records).await,
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::AllocateProducerIds {
                broker_id,
                count,
                reply,
            } => {
                let image = self.image();
                let result = match allocate_producer_ids(&image, broker_id, count) {
                    Ok((block, records)) => self.propose(records).await.map(|()| block),
                    Err(error) => Err(error),
                };
                let _ = reply.send(result);
            }
            Command::Shutdown { .. } => {}
        }
    }

    async fn create_topics(
        &mut self,
        topics: &[CreateTopic],
        validate_only: bool,
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
        self.commit(decided, validate_only, |outcome, error| {
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
            self.propose(records).await
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

    /// Writes one entry through the quorum and waits until it is applied.
    async fn propose(&mut self, records: Vec<MetadataRecord>) -> Result<(), ControllerError> {
        let batch = MetadataBatch { records };
        check_entry_limits(&batch)?;
        match self.raft.client_write(batch).await {
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
