//! Start-up, shared state and shutdown of one broker.
//!
//! Start-up order: open the log directories (recovering unclean logs) →
//! start the metadata quorum (replaying its log) → register this broker →
//! open the partitions the image assigns here → listen. Shutdown runs it
//! backwards and leaves the clean-shutdown marker last.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};
use uuid::Uuid;

use strom_config::{BrokerConfig, TopicConfig};
use strom_controller::{
    ControllerError, ControllerHandle, CreatePartitions, CreatePartitionsOutcome, CreateTopic,
    CreateTopicOutcome, DeleteTopic, DeleteTopicOutcome,
};
use strom_log::{BrokerIdentity, LogManager, LogManagerOptions, TopicPartition};
use strom_metadata::MetadataImage;

use crate::connection_quotas::ConnectionQuotas;
use crate::group_coordinator::GroupCoordinator;
use crate::lifecycle::Lifecycle;
use crate::replica_manager::ReplicaManager;
use crate::replication::fetcher::{FetcherContext, ReplicaFetchers};
use crate::replication::isr::IsrChanges;
use crate::{server, BrokerError};
use strom_coordinator::txn::TRANSACTION_STATE_TOPIC;
use strom_coordinator::CONSUMER_OFFSETS_TOPIC;

pub struct BrokerOptions {
    pub config: BrokerConfig,
}

/// How clients reach a broker, as written in metadata responses.
#[derive(Debug, Clone)]
pub(crate) struct BrokerEndpoint {
    pub node_id: i32,
    pub host: String,
    pub port: u16,
    pub rack: Option<String>,
}

pub(crate) struct BrokerState {
    pub config: Arc<BrokerConfig>,
    pub node_id: i32,
    pub cluster_id: String,
    pub controller: ControllerHandle,
    pub replicas: ReplicaManager,
    /// What this broker advertises, per client listener name.
    advertised: Vec<(String, BrokerEndpoint)>,
    /// `config` with the dynamic broker overrides of the latest image (KIP-226).
    effective: parking_lot::RwLock<Arc<BrokerConfig>>,
    /// Serializes applying metadata images to the hosted partitions.
    apply_lock: tokio::sync::Mutex<i64>,
    /// Producer ids for InitProducerId, from blocks the controller hands out.
    pub producer_ids: crate::handlers::init_producer_id::ProducerIdManager,
    /// Consumer groups and committed offsets, one shard per `__consumer_offsets` partition led here.
    pub groups: GroupCoordinator,
    /// Transactions, one shard per `__transaction_state` partition led here.
    pub txns: crate::txn_coordinator::TxnCoordinator,
    /// Open connections against `max.connections` / `max.connections.per.ip`.
    pub connections: Arc<ConnectionQuotas>,
    /// Memory for request bytes being read (`queued.max.request.bytes`).
    pub request_memory: Arc<strom_protocol::MemoryPool>,
    /// Registration, heartbeats and controlled shutdown.
    pub lifecycle: Arc<Lifecycle>,
    /// When `__consumer_offsets` was last asked for and not seen created.
    offsets_topic_requested: parking_lot::Mutex<Option<std::time::Instant>>,
    /// When `__transaction_state` was last asked for and not seen created.
    txn_topic_requested: parking_lot::Mutex<Option<std::time::Instant>>,
    /// KIP-890 verification of transactional produces with the coordinators.
    pub txn_verifier: crate::txn_verification::TxnVerifier,
    /// Incremental fetch sessions (KIP-227); they die with the broker.
    pub fetch_sessions: crate::fetch_session::FetchSessionCache,
    /// Counters and request times for `/metrics`.
    pub metrics: Arc<crate::metrics::BrokerMetrics>,
    /// The TLS listeners' acceptors (replaced on a certificate reload).
    pub tls: crate::tls::TlsListeners,
    /// TLS for this broker's connections to others, when the inter-broker listener is SSL.
    pub inter_broker_tls: crate::tls::InterBrokerTls,
    /// Validators of signed OAUTHBEARER tokens, per SASL listener that has one.
    pub oauth_validators: crate::sasl::OAuthValidators,
    /// Client quotas (producer_byte_rate, consumer_byte_rate, request_percentage).
    pub quotas: crate::quota::ClientQuotas,
}

/// How long FindCoordinator waits for `__consumer_offsets` to be created.
const OFFSETS_TOPIC_CREATE_WAIT: Duration = Duration::from_secs(2);
/// A creation still pending after this long (the controller's request
/// timeout) is asked for again.
const OFFSETS_TOPIC_RETRY_AFTER: Duration = Duration::from_secs(30);

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl BrokerState {
    /// The broker config in effect: server.properties and overrides, with the
    /// dynamic broker configs of the metadata on top.
    pub fn effective_config(&self) -> Arc<BrokerConfig> {
        self.effective.read().clone()
    }

    pub fn image(&self) -> Arc<MetadataImage> {
        self.controller.image()
    }

    /// This broker's endpoint as seen by clients of `listener`.
    pub fn advertised(&self, listener: &str) -> &BrokerEndpoint {
        self.advertised
            .iter()
            .find(|(name, _)| name == listener)
            .map(|(_, ep)| ep)
            .unwrap_or(&self.advertised[0].1)
    }

    /// Every live broker's endpoint on `listener` (Kafka answers each client
    /// in the terms of the listener it connected to).
    pub fn brokers(&self, listener: &str) -> Vec<BrokerEndpoint> {
        self.brokers_with_state(listener, false)
            .into_iter()
            .map(|(endpoint, _)| endpoint)
            .collect()
    }

    /// Brokers' endpoints on `listener` with whether each is fenced; with
    /// `include_fenced`, every registered broker (DescribeCluster v2).
    pub fn brokers_with_state(
        &self,
        listener: &str,
        include_fenced: bool,
    ) -> Vec<(BrokerEndpoint, bool)> {
        let image = self.image();
        let mut out: Vec<(BrokerEndpoint, bool)> = image
            .brokers()
            .filter(|b| include_fenced || b.is_alive())
            .filter_map(|b| {
                let ep = b
                    .listeners
                    .iter()
                    .find(|l| l.name == listener)
                    .or_else(|| b.listeners.first())?;
                Some((
                    BrokerEndpoint {
                        node_id: b.broker_id,
                        host: ep.host.clone(),
                        port: ep.port,
                        rack: b.rack.clone(),
                    },
                    b.fenced,
                ))
            })
            .collect();
        if out.is_empty() {
            out.push((self.advertised(listener).clone(), false));
        }
        out
    }

    /// Opens or drops hosted partitions to match the latest image; false if
    /// that failed (and should be retried).
    pub async fn sync_replicas(&self) -> bool {
        let mut applied = self.apply_lock.lock().await;
        let image = self.image();
        if image.offset() <= *applied {
            return true;
        }
        let effective = Arc::new(self.config.with_dynamic(
            image.broker_config(None),
            image.broker_config(Some(self.node_id)),
        ));
        *self.effective.write() = effective.clone();
        self.connections.config_changed();
        self.tls.config_changed(&effective);
        self.quotas.apply_image(&image, &effective);
        if let Err(e) = self.replicas.apply_image(&image, effective.clone()) {
            error!("could not open partitions from the metadata (retrying): {e}");
            return false;
        }
        let count = image
            .topic(CONSUMER_OFFSETS_TOPIC)
            .map(|t| t.partitions.len() as i32);
        self.groups.set_group_configs(&image, &effective);
        self.groups.sync_shards(
            count,
            self.replicas.topic_partitions(CONSUMER_OFFSETS_TOPIC),
        );
        let count = image
            .topic(TRANSACTION_STATE_TOPIC)
            .map(|t| t.partitions.len() as i32);
        self.txns.sync_shards(
            count,
            self.replicas.topic_partitions(TRANSACTION_STATE_TOPIC),
        );
        *applied = image.offset();
        true
    }

    /// Creates `__consumer_offsets` if it does not exist yet (on the first
    /// FindCoordinator for a group, as Kafka does). Errors are Kafka codes.
    ///
    /// Waits at most [`OFFSETS_TOPIC_CREATE_WAIT`]: without a controller
    /// quorum the creation cannot finish, and FindCoordinator must not hold
    /// the connection (replies leave in request order) for the whole
    /// controller timeout. It then answers COORDINATOR_NOT_AVAILABLE, as
    /// Kafka does while it creates the topic, and the creation goes on; a
    /// retry does not ask again while one is pending.
    pub async fn ensure_offsets_topic(&self) -> Result<(), i16> {
        let g = &self.config.groups;
        self.ensure_internal_topic(
            CONSUMER_OFFSETS_TOPIC,
            g.offsets_topic_num_partitions,
            g.offsets_topic_replication_factor,
            None,
            g.offsets_topic_segment_bytes,
            &self.offsets_topic_requested,
        )
        .await
    }

    /// Creates `__transaction_state` if it does not exist yet (on the first
    /// FindCoordinator for a transactional id, as Kafka does), with
    /// `transaction.state.log.*`; as `ensure_offsets_topic` otherwise.
    pub async fn ensure_transaction_state_topic(&self) -> Result<(), i16> {
        let t = &self.config.transactions;
        self.ensure_internal_topic(
            TRANSACTION_STATE_TOPIC,
            t.state_log_num_partitions,
            t.state_log_replication_factor,
            Some(t.state_log_min_isr),
            t.state_log_segment_bytes,
            &self.txn_topic_requested,
        )
        .await
    }

    async fn ensure_internal_topic(
        &self,
        name: &str,
        num_partitions: i32,
        wanted_replication_factor: i32,
        min_insync_replicas: Option<i32>,
        segment_bytes: i64,
        requested: &parking_lot::Mutex<Option<std::time::Instant>>,
    ) -> Result<(), i16> {
        if self.image().topic(name).is_some() {
            return Ok(());
        }
        let not_available = kafka_protocol::error::ResponseError::CoordinatorNotAvailable.code();
        {
            let mut pending = requested.lock();
            if pending.is_some_and(|at| at.elapsed() < OFFSETS_TOPIC_RETRY_AFTER) {
                return Err(not_available);
            }
            *pending = Some(std::time::Instant::now());
        }
        // As Kafka, a cluster creates the topic only with the full
        // replication factor (until enough brokers are up, FindCoordinator
        // answers COORDINATOR_NOT_AVAILABLE); the zero-config single node,
        // a cluster of one, uses what it has.
        let wanted = wanted_replication_factor;
        let replication_factor = if self.config.quorum.is_single_node() {
            wanted.min(self.image().live_brokers().count().max(1) as i32)
        } else {
            wanted
        };
        let mut configs = std::collections::BTreeMap::new();
        configs.insert("cleanup.policy".to_owned(), "compact".to_owned());
        configs.insert("compression.type".to_owned(), "producer".to_owned());
        configs.insert("segment.bytes".to_owned(), segment_bytes.to_string());
        if let Some(min_isr) = min_insync_replicas {
            configs.insert(
                "min.insync.replicas".to_owned(),
                min_isr.min(replication_factor).max(1).to_string(),
            );
        }
        let request = CreateTopic {
            name: name.to_owned(),
            num_partitions,
            replication_factor: replication_factor as i16,
            assignments: Vec::new(),
            configs,
        };
        info!(partitions = num_partitions, "creating {name}");
        let created = tokio::time::timeout(
            OFFSETS_TOPIC_CREATE_WAIT,
            self.create_topics(vec![request], false),
        )
        .await;
        let Ok(outcomes) = created else {
            return Err(not_available);
        };
        *requested.lock() = None;
        match outcomes
            .first()
            .and_then(|o| o.error.as_ref())
            .map(|e| e.code())
        {
            None => Ok(()),
            // Created meanwhile by a concurrent request.
            Some(code)
                if code == kafka_protocol::error::ResponseError::TopicAlreadyExists.code() =>
            {
                Ok(())
            }
            // As Kafka: a coordinator topic that cannot be created (too few
            // live brokers for its replication factor, a full disk) means no
            // coordinator yet; clients retry.
            Some(_) => {
                // Asked again in a second, not at every retry of every client.
                *requested.lock() = std::time::Instant::now()
                    .checked_sub(OFFSETS_TOPIC_RETRY_AFTER - Duration::from_secs(1));
                if let Some(error) = outcomes.first().and_then(|o| o.error.as_ref()) {
                    warn!(
                        "{name} cannot be created yet ({}: {}); FindCoordinator answers COORDINATOR_NOT_AVAILABLE",
                        error.name(),
                        error.message()
                    );
                }
                Err(not_available)
            }
        }
    }

    /// Creates topics (CreateTopics, auto-creation, `__consumer_offsets`).
    ///
    /// A topic is answered with success only once every partition this broker leads
    /// has an open log. If one cannot be created or opened (disk full, EIO, no
    /// permission), the topic is deleted again through the metadata log and answered
    /// KAFKA_STORAGE_ERROR naming the partition: a topic is never left half-usable,
    /// and a client that retries creates it afresh once the disk is fixed.
    pub async fn create_topics(
        &self,
        requests: Vec<CreateTopic>,
        validate_only: bool,
    ) -> Vec<CreateTopicOutcome> {
        let mut outcomes = self.controller.create_topics(requests, validate_only).await;
        if validate_only {
            return outcomes;
        }
        if self.sync_replicas().await {
            return outcomes;
        }
        let mut rollback = Vec::new();
        for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
            let failures = self.replicas.open_failures_of(&outcome.name);
            let Some((partition, why)) = failures.first() else {
                continue;
            };
            error!(topic = %outcome.name, partitions = failures.len(), "deleting a new topic whose logs could not be created");
            // By id: exactly the topic this request created.
            rollback.push(DeleteTopic {
                name: outcome.topic_id.is_none().then(|| outcome.name.clone()),
                topic_id: outcome.topic_id,
            });
            outcome.error = Some(ControllerError::KafkaStorageError(format!(
                "the log of partition {partition} could not be created ({} of {} failed): {why}; the topic was not created",
                failures.len(),
                outcome.num_partitions
            )));
            outcome.topic_id = None;
            outcome.num_partitions = -1;
            outcome.replication_factor = -1;
            outcome.configs.clear();
        }
        if !rollback.is_empty() {
            for deleted in self.controller.delete_topics(rollback).await {
                if let Some(e) = deleted.error {
                    error!(topic = ?deleted.name, "could not delete a topic whose logs could not be created: {e}");
                }
            }
            self.sync_replicas().await;
        }
        outcomes
    }

    pub async fn auto_create_topics(&self, names: Vec<String>) -> Vec<CreateTopicOutcome> {
        let requests = names
            .into_iter()
            .map(|name| CreateTopic {
                name,
                num_partitions: -1,
                replication_factor: -1,
                assignments: Vec::new(),
                configs: Default::default(),
            })
            .collect();
        self.create_topics(requests, false).await
    }

    pub async fn delete_topics(&self, targets: Vec<DeleteTopic>) -> Vec<DeleteTopicOutcome> {
        let outcomes = self.controller.delete_topics(targets).await;
        self.sync_replicas().await;
        outcomes
    }

    /// Adds partitions. Partitions cannot be removed again (as in Kafka), so when a
    /// new partition's log cannot be created the topic is answered KAFKA_STORAGE_ERROR;
    /// the partitions stay in the metadata, answer KAFKA_STORAGE_ERROR to produce and
    /// fetch, and are retried at every metadata sync.
    pub async fn create_partitions(
        &self,
        requests: Vec<CreatePartitions>,
        validate_only: bool,
    ) -> Vec<CreatePartitionsOutcome> {
        let mut outcomes = self
            .controller
            .create_partitions(requests, validate_only)
            .await;
        if validate_only || self.sync_replicas().await {
            return outcomes;
        }
        for outcome in outcomes.iter_mut().filter(|o| o.error.is_none()) {
            let failures = self.replicas.open_failures_of(&outcome.name);
            if let Some((partition, why)) = failures.first() {
                outcome.error = Some(ControllerError::KafkaStorageError(format!(
                    "the log of partition {partition} could not be created ({} failed): {why}; the broker retries",
                    failures.len()
                )));
            }
        }
        outcomes
    }
}

pub struct Broker {
    state: Arc<BrokerState>,
    /// Bound address per client listener, in `listeners` order.
    local_addrs: Vec<(String, SocketAddr)>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Where `/metrics` and `/health/*` are served, if anywhere.
    metrics_addr: Option<SocketAddr>,
    health: Arc<crate::metrics::Health>,
}

impl Broker {
    pub async fn start(options: BrokerOptions) -> Result<Broker, BrokerError> {
        let config = Arc::new(options.config);
        let node_id = config.node_id;
        let inert = config.inert_keys();
        if !inert.is_empty() {
            warn!("accepted, not used by Strom: {}", inert.join(", "));
        }
        // TLS key and trust stores are read first: a bad file stops start-up.
        let listener_names: Vec<String> = config.listeners.iter().map(|l| l.name.clone()).collect();
        let tls =
            crate::tls::TlsListeners::new(&config, &listener_names).map_err(BrokerError::Tls)?;
        let inter_broker_tls = tls.inter_broker(&config).map_err(BrokerError::Tls)?;
        let oauth_validators =
            crate::sasl::OAuthValidators::start(&config).map_err(BrokerError::Listener)?;

        // The metrics endpoint comes first: while logs load and the broker
        // registers, /health/live answers and /health/ready says not yet.
        let metrics = Arc::new(crate::metrics::BrokerMetrics::default());
        let health = Arc::new(crate::metrics::Health::default());
        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut early_tasks = Vec::new();
        let mut endpoint = None;
        let mut metrics_addr = None;
        if let Some(l) = &config.metrics_listener {
            let listener = bind_listener(l.bind_address()).await?;
            metrics_addr = Some(listener.local_addr()?);
            metrics.set_timing(true);
            let e = Arc::new(crate::metrics::http::Endpoint {
                metrics: metrics.clone(),
                health: health.clone(),
                state: std::sync::OnceLock::new(),
            });
            early_tasks.push(crate::metrics::http::serve(
                listener,
                e.clone(),
                shutdown_rx.clone(),
            ));
            endpoint = Some(e);
        }

        let (controller, cluster_id, quorum) =
            crate::controller_node::start_metadata(&config).await?;
        let image = controller.image();

        info!(dirs = ?config.log_dirs, "opening log directories");
        let identity = BrokerIdentity {
            node_id,
            cluster_id: cluster_id.clone(),
        };
        let config_for = |tp: &TopicPartition| {
            crate::replica_manager::log_config_from(
                &config,
                &TopicConfig::resolve(&config, image.topic_config(&tp.topic)),
            )
        };
        let (fs, faults) = strom_log::file_system_from_env();
        if faults {
            warn!(
                "storage fault injection is on ({} / {}): a test set-up, never for production",
                strom_log::FAULTS_CONTROL_ENV,
                strom_log::SYNC_JOURNAL_ENV
            );
        }
        let open_files_limit = crate::open_files::OpenFilesLimit::read();
        let file_handles =
            crate::open_files::segment_file_capacity(config.log_open_files_max, open_files_limit);
        let loaded = LogManager::open_with(
            fs,
            config.log_dirs.clone(),
            &identity,
            &config_for,
            now_ms(),
            LogManagerOptions {
                max_open_files: file_handles,
                recovery_threads_per_data_dir: config.num_recovery_threads_per_data_dir,
            },
        )
        .map_err(|source| BrokerError::LogDir {
            dir: config.log_dirs[0].clone(),
            source,
        })?;
        for (dir, e) in &loaded.offline_dirs {
            error!(dir = %dir.display(), "log directory is offline: {e}");
        }
        crate::open_files::report(open_files_limit, file_handles, loaded.logs.len());

        let mut listeners = Vec::new();
        let mut advertised = Vec::new();
        for (listener_cfg, advertised_cfg) in client_listeners(&config)? {
            let listener = bind_listener(listener_cfg.bind_address()).await?;
            let local_addr = listener.local_addr()?;
            // With port 0 (tests), advertise the port the OS picked.
            let port = if advertised_cfg.port == 0 {
                local_addr.port()
            } else {
                advertised_cfg.port
            };
            let endpoint = BrokerEndpoint {
                node_id,
                host: advertised_cfg.host.clone(),
                port,
                rack: config.broker_rack.clone(),
            };
            info!(listener = %listener_cfg.name, bind = %local_addr, advertised = %format!("{}:{}", endpoint.host, endpoint.port), "listening");
            listeners.push((Arc::<str>::from(listener_cfg.name.as_str()), listener));
            advertised.push((advertised_cfg.name.clone(), endpoint));
        }
        let mut local_addrs = Vec::new();
        for (name, listener) in &listeners {
            local_addrs.push((name.to_string(), listener.local_addr()?));
        }
        let registration = strom_metadata::BrokerRegistration {
            broker_id: node_id,
            incarnation_id: incarnation_id(),
            listeners: advertised
                .iter()
                .map(|(name, ep)| strom_metadata::BrokerEndpoint {
                    name: name.clone(),
                    host: ep.host.clone(),
                    port: ep.port,
                    security_protocol: config.listener_security_protocol(name).into(),
                })
                .collect(),
            rack: config.broker_rack.clone(),
            fenced: true,
            in_controlled_shutdown: false,
            epoch: -1,
        };
        let lifecycle = Arc::new(Lifecycle::new(
            controller.clone(),
            registration,
            quorum.heartbeat_interval,
        ));
        lifecycle.register().await?;

        let broker_epoch: Arc<dyn Fn() -> i64 + Send + Sync> = {
            let lifecycle = lifecycle.clone();
            Arc::new(move || lifecycle.epoch())
        };
        let fetchers = ReplicaFetchers::new(FetcherContext {
            node_id,
            controller: controller.clone(),
            broker_epoch: broker_epoch.clone(),
            listener: config.quorum.inter_broker_listener_name.clone(),
            config: config.replication.clone(),
            fsync: config.acks_all_fsync,
            tls: inter_broker_tls.clone(),
            quota: crate::replication::quota::ReplicationQuota::new(),
            security: config.security.clone(),
        });
        let isr_changes = IsrChanges::start(controller.clone(), node_id, broker_epoch);
        let replicas = ReplicaManager::new(
            node_id,
            config.clone(),
            loaded.manager,
            loaded.logs,
            fetchers,
            isr_changes,
            metrics.clone(),
        );
        let state = Arc::new(BrokerState {
            config: config.clone(),
            node_id,
            cluster_id,
            controller,
            replicas,
            advertised,
            apply_lock: tokio::sync::Mutex::new(-1),
            effective: parking_lot::RwLock::new(config.clone()),
            producer_ids: crate::handlers::init_producer_id::ProducerIdManager::new(),
            groups: GroupCoordinator::new(&config),
            connections: Arc::new(ConnectionQuotas::default()),
            request_memory: strom_protocol::MemoryPool::new(
                config.connections.queued_max_request_bytes,
            ),
            lifecycle: lifecycle.clone(),
            offsets_topic_requested: parking_lot::Mutex::new(None),
            txn_topic_requested: parking_lot::Mutex::new(None),
            txns: crate::txn_coordinator::TxnCoordinator::new(&config),
            txn_verifier: Default::default(),
            fetch_sessions: crate::fetch_session::FetchSessionCache::new(
                config.max_incremental_fetch_session_cache_slots,
                crate::fetch_session::EVICTION_MS,
                uuid::Uuid::new_v4().as_u64_pair().0,
            ),
            metrics,
            tls,
            inter_broker_tls,
            oauth_validators,
            quotas: crate::quota::ClientQuotas::new(&config),
        });
        if let Some(endpoint) = &endpoint {
            let _ = endpoint.state.set(Arc::downgrade(&state));
        }
        state.txns.set_broker(Arc::downgrade(&state));
        state.sync_replicas().await;
        // Heartbeats start now; clients are served once the controller has
        // unfenced this broker (it has caught up with the metadata log).
        let heartbeats = tokio::spawn(lifecycle.clone().run());
        lifecycle.wait_unfenced().await;
        // The unfencing elected this broker leader of partitions that had
        // none: take that role before the first client asks.
        state.sync_replicas().await;

        let mut tasks = vec![
            heartbeats,
            tokio::spawn(follow_metadata(state.clone(), shutdown_rx.clone())),
            tokio::spawn(flush_policy(state.clone(), shutdown_rx.clone())),
            tokio::spawn(retention(state.clone(), shutdown_rx.clone())),
            tokio::spawn(producer_expiration(state.clone(), shutdown_rx.clone())),
            tokio::spawn(log_cleaner(state.clone(), shutdown_rx.clone())),
            tokio::spawn(isr_expiration(state.clone(), shutdown_rx.clone())),
            tokio::spawn(high_watermark_checkpoints(
                state.clone(),
                shutdown_rx.clone(),
            )),
        ];
        for (name, listener) in listeners {
            tasks.push(tokio::spawn(server::run(
                state.clone(),
                listener,
                name,
                shutdown_rx.clone(),
            )));
        }
        tasks.extend(early_tasks);
        health.set_serving();
        info!(node_id, cluster_id = %state.cluster_id, "broker started");
        Ok(Broker {
            state,
            local_addrs,
            shutdown,
            tasks,
            metrics_addr,
            health,
        })
    }

    /// The address of the first client listener.
    #[cfg(test)]
    pub(crate) fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addrs[0].1
    }

    /// The address a named listener is bound to.
    pub fn listener_addr(&self, name: &str) -> Option<SocketAddr> {
        self.local_addrs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| *a)
    }

    /// Where `/metrics`, `/health/live` and `/health/ready` are served
    /// (`strom.metrics.listener`), if anywhere.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_addr
    }

    /// Stops accepting, finishes connections, flushes and closes every log,
    /// then stops the metadata quorum.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        info!("shutting down");
        self.health.set_stopping();
        self.state.lifecycle.controlled_shutdown().await;
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let state = self.state;
        state.groups.stop();
        state.txns.stop();
        let result = state.replicas.shutdown();
        state.controller.clone().shutdown().await;
        match result {
            Ok(()) => {
                info!("shutdown complete");
                Ok(())
            }
            Err(e) => Err(BrokerError::LogDir {
                dir: state.config.log_dirs[0].clone(),
                source: e,
            }),
        }
    }
}

/// Applies every new metadata image, and retries a failed apply (a full or
/// failing disk, say) every second until it succeeds.
async fn follow_metadata(state: Arc<BrokerState>, mut shutdown: watch::Receiver<bool>) {
    let mut images = state.controller.subscribe();
    let mut in_sync = state.sync_replicas().await;
    loop {
        let retry = async {
            if in_sync {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        };
        tokio::select! {
            changed = images.changed() => if changed.is_err() { return },
            _ = retry => {}
            _ = shutdown.changed() => return,
        }
        in_sync = state.sync_replicas().await;
    }
}

/// Takes followers that fell behind out of the ISRs this broker leads
/// (through the controller), every half `replica.lag.time.max.ms` as Kafka.
async fn isr_expiration(state: Arc<BrokerState>, shutdown: watch::Receiver<bool>) {
    let lag = state.config.replication.lag_time_max_ms;
    let interval = Duration::from_millis((lag / 2).max(10));
    every(interval, interval, shutdown, |now| {
        let image = state.image();
        for p in state.replicas.all_partitions() {
            if !p.is_leader() {
                continue;
            }
            if let Some(proposal) = p.isr_shrink(now, lag) {
                let Some(topic) = image.topic(&p.topic) else {
                    continue;
                };
                let topic_id = uuid::Uuid::from_bytes(topic.topic_id.to_bytes());
                warn!(topic = %p.topic, partition = p.index, isr = ?proposal.isr, "proposing an ISR change: followers fell behind for more than replica.lag.time.max.ms, or an earlier proposal got no answer");
                state.replicas.isr_changes().propose(p, topic_id, proposal);
            }
        }
    })
    .await;
}

/// Writes every partition's high watermark to its directory's
/// `replication-offset-checkpoint` (`replica.high.watermark.checkpoint.interval.ms`).
async fn high_watermark_checkpoints(state: Arc<BrokerState>, shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(
        state
            .config
            .replication
            .high_watermark_checkpoint_interval_ms
            .max(10),
    );
    every(interval, interval, shutdown, |_| {
        for p in state.replicas.all_partitions() {
            p.checkpoint_high_watermark();
        }
        state.replicas.write_high_watermark_checkpoints();
    })
    .await;
}

/// Runs `task` every `interval`, the first time after `first_delay`, until
/// shutdown. A slow run delays the next instead of bunching them up.
async fn every(
    first_delay: Duration,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
    mut task: impl FnMut(i64),
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + first_delay, interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.changed() => return,
        }
        task(now_ms());
    }
}

/// Applies `flush.messages` / `flush.ms` (off by default, as in Kafka).
async fn flush_policy(state: Arc<BrokerState>, shutdown: watch::Receiver<bool>) {
    let tick = Duration::from_millis(100);
    every(tick, tick, shutdown, |now| {
        for p in state.replicas.partitions_with_flush_policy() {
            p.maybe_flush(now);
        }
    })
    .await
}

/// Kafka's `log.initial.task.delay.ms` default: background log tasks start this long after start-up.
const INITIAL_TASK_DELAY: Duration = Duration::from_secs(30);

/// Deletes segments past `retention.ms` / `retention.bytes` every
/// `log.retention.check.interval.ms`, as Kafka's log manager does.
async fn retention(state: Arc<BrokerState>, shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.config.log_retention_check_interval_ms.max(1));
    // Kafka's first check comes after log.initial.task.delay.ms (30 s), not at start-up.
    every(interval.min(INITIAL_TASK_DELAY), interval, shutdown, |now| {
        for p in state.replicas.all_partitions() {
            match p.apply_retention(now) {
                Ok(0) => {}
                Ok(n) => {
                    info!(topic = %p.topic, partition = p.index, segments = n, log_start_offset = p.log_start_offset(), "deleted segments past retention")
                }
                Err(e) => error!(topic = %p.topic, partition = p.index, "retention failed: {e}"),
            }
        }
    })
    .await
}

/// Forgets producer ids past `producer.id.expiration.ms` every
/// `producer.id.expiration.check.interval.ms`, as Kafka's per-log
/// `PeriodicProducerExpirationCheck` does.
async fn producer_expiration(state: Arc<BrokerState>, shutdown: watch::Receiver<bool>) {
    let interval =
        Duration::from_millis(state.config.producer_id_expiration_check_interval_ms.max(1));
    every(interval, interval, shutdown, |now| {
        let removed: usize = state
            .replicas
            .all_partitions()
            .iter()
            .map(|p| p.remove_expired_producers(now))
            .sum();
        if removed > 0 {
            info!(
                producer_ids = removed,
                expiration_ms = state.effective_config().producer_id_expiration_ms,
                "forgot producer ids with no append for producer.id.expiration.ms"
            );
        }
    })
    .await
}

/// Kafka's log cleaner: every `log.cleaner.backoff.ms`, the compacted log
/// with the highest dirty ratio among those due is cleaned on a blocking
/// thread, its reads and writes held to `log.cleaner.io.max.bytes.per.second`.
async fn log_cleaner(state: Arc<BrokerState>, mut shutdown: watch::Receiver<bool>) {
    // Each log's cleanable section (first dirty, first uncleanable offset)
    // right after its last clean: a log whose section has not changed since
    // is not picked again (no busy loop on a log that stays "due" with
    // nothing new to clean).
    let mut cleaned_to: std::collections::HashMap<(Arc<str>, i32), (i64, i64)> =
        std::collections::HashMap::new();
    loop {
        let config = state.effective_config();
        let backoff = Duration::from_millis(config.cleaner.backoff_ms.max(100));
        let candidate = if config.cleaner.enable && config.cleaner.threads > 0 {
            let now = now_ms();
            let partitions = state.replicas.all_partitions();
            // Forget logs that are gone (deleted topics, moved leadership).
            cleaned_to.retain(|(topic, index), _| {
                partitions
                    .iter()
                    .any(|p| p.topic == *topic && p.index == *index)
            });
            partitions
                .into_iter()
                .filter_map(|p| {
                    let status = p.cleaning_status(now).filter(|s| s.due)?;
                    let key = (p.topic.clone(), p.index);
                    let section = (status.first_dirty_offset, status.first_uncleanable_offset);
                    (cleaned_to.get(&key) != Some(&section)).then_some((status.dirty_ratio, p))
                })
                .max_by(|a, b| a.0.total_cmp(&b.0))
        } else {
            None
        };
        let Some((ratio, partition)) = candidate else {
            tokio::select! {
                _ = tokio::time::sleep(backoff) => continue,
                _ = shutdown.changed() => return,
            }
        };
        let dedupe = (config.cleaner.dedupe_buffer_size / config.cleaner.threads.max(1) as u64)
            .min(usize::MAX as u64) as usize;
        let rate = config.cleaner.io_max_bytes_per_second;
        let p = partition.clone();
        let result = tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let mut done: f64 = 0.0;
            let mut throttle = |bytes: usize| {
                done += bytes as f64;
                if rate.is_finite() && rate > 0.0 {
                    let due = Duration::from_secs_f64(done / rate);
                    if let Some(wait) = due.checked_sub(started.elapsed()) {
                        std::thread::sleep(wait.min(Duration::from_secs(10)));
                    }
                }
            };
            p.clean(now_ms(), dedupe, &mut throttle)
        })
        .await;
        match result {
            Ok(Ok(Some(stats))) => {
                let after = partition
                    .cleaning_status(now_ms())
                    .map(|s| (s.first_dirty_offset, s.first_uncleanable_offset))
                    .unwrap_or((stats.end_offset, stats.end_offset));
                cleaned_to.insert((partition.topic.clone(), partition.index), after);
                info!(
                topic = %partition.topic,
                partition = partition.index,
                dirty_ratio = format!("{ratio:.2}"),
                bytes_read = stats.bytes_read,
                bytes_written = stats.bytes_written,
                records_kept = stats.records_kept,
                records_removed = stats.records_removed(),
                elapsed_ms = stats.duration.as_millis() as u64,
                "log cleaned"
                )
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                error!(topic = %partition.topic, partition = partition.index, "log cleaning failed: {e}")
            }
            Err(e) => {
                error!(topic = %partition.topic, partition = partition.index, "log cleaner task failed: {e}")
            }
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// The listeners clients use: every one that is not a controller listener
/// (Kafka's stock KRaft config lists `CONTROLLER://:9093` too; the controller
/// quorum of a single node needs no socket of its own), each with the
/// advertised listener of the same name.
fn client_listeners(
    config: &BrokerConfig,
) -> Result<Vec<(strom_config::Listener, strom_config::Listener)>, BrokerError> {
    let controller_names: Vec<String> = config
        .raw("controller.listener.names")
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().to_ascii_uppercase())
                .collect()
        })
        .unwrap_or_default();
    let pairs: Vec<_> = config
        .listeners
        .iter()
        .filter(|l| !controller_names.contains(&l.name))
        .map(|l| {
            let advertised = config
                .advertised_listeners
                .iter()
                .find(|a| a.name == l.name)
                .cloned()
                .unwrap_or_else(|| l.clone());
            (l.clone(), advertised)
        })
        .collect();
    if pairs.is_empty() {
        return Err(BrokerError::Listener(
            "no listener left for clients after the controller listeners".into(),
        ));
    }
    Ok(pairs)
}

/// Distinguishes this run of the broker from earlier ones in the metadata.
fn incarnation_id() -> u128 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    nanos ^ ((std::process::id() as u128) << 96) ^ (Uuid::new_v4().as_u128())
}

/// Binds a listener socket; the error names the address.
async fn bind_listener(addr: String) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(&addr)
        .await
        .map_err(|source| BrokerError::Bind { addr, source })
}
