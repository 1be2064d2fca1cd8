//! The broker's side of KRaft's broker lifecycle: register with the active
//! controller (fenced), heartbeat every `broker.heartbeat.interval.ms` with
//! the metadata offset applied here so the controller unfences the broker
//! once it has caught up, re-register if the controller no longer knows this
//! run of the broker, and on shutdown ask for a controlled shutdown first.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strom_config::BrokerConfig;
use strom_controller::{
    BrokerHeartbeat, BrokerHeartbeatOutcome, ControllerError, ControllerHandle,
};
use strom_metadata::BrokerRegistration;
use tokio::sync::{watch, Notify};
use tracing::{info, warn};

use crate::BrokerError;

/// How long a controlled shutdown waits for the controller's go-ahead.
const CONTROLLED_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(15);

pub(crate) struct Lifecycle {
    controller: ControllerHandle,
    registration: BrokerRegistration,
    interval: Duration,
    epoch: AtomicI64,
    /// Whether the controller last said this broker is fenced.
    fenced: watch::Sender<bool>,
    stopping: AtomicBool,
    stop: Notify,
}

impl Lifecycle {
    pub(crate) fn new(
        controller: ControllerHandle,
        registration: BrokerRegistration,
        interval: Duration,
    ) -> Lifecycle {
        Lifecycle {
            controller,
            registration,
            interval,
            epoch: AtomicI64::new(-1),
            fenced: watch::Sender::new(true),
            stopping: AtomicBool::new(false),
            stop: Notify::new(),
        }
    }

    /// This run's broker epoch (-1 before registration).
    pub(crate) fn epoch(&self) -> i64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Registers this broker, retrying while no controller answers.
    pub(crate) async fn register(&self) -> Result<(), BrokerError> {
        let started = Instant::now();
        let mut reported = Instant::now();
        loop {
            match self
                .controller
                .register_broker(self.registration.clone())
                .await
            {
                Ok(epoch) => {
                    self.epoch.store(epoch, Ordering::Release);
                    info!(
                        broker_id = self.registration.broker_id,
                        broker_epoch = epoch,
                        "registered with the controller"
                    );
                    return Ok(());
                }
                Err(
                    e @ (ControllerError::RequestTimedOut(_) | ControllerError::NotController(_)),
                ) => {
                    if reported.elapsed() >= Duration::from_secs(5) {
                        warn!(
                            "still registering with the controller after {} s: {e}",
                            started.elapsed().as_secs()
                        );
                        reported = Instant::now();
                    }
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(BrokerError::Controller(e.to_string())),
            }
        }
    }

    async fn heartbeat(
        &self,
        want_shut_down: bool,
    ) -> Result<BrokerHeartbeatOutcome, ControllerError> {
        let heartbeat = BrokerHeartbeat {
            broker_id: self.registration.broker_id,
            broker_epoch: self.epoch(),
            current_metadata_offset: self.controller.image().offset(),
            want_fence: false,
            want_shut_down,
        };
        match self.controller.broker_heartbeat(heartbeat).await {
            Err(ControllerError::BrokerIdNotRegistered(why)) => {
                // The controller no longer knows this run (unregistered, or
                // the epoch moved on): register again.
                warn!("the controller does not know this broker's registration ({why}); registering again");
                self.register()
                    .await
                    .map_err(|e| ControllerError::UnknownServerError(e.to_string()))?;
                Err(ControllerError::BrokerIdNotRegistered(why))
            }
            other => other,
        }
    }

    /// Heartbeats until stopped.
    pub(crate) async fn run(self: Arc<Self>) {
        let mut failing_since: Option<Instant> = None;
        while !self.stopping.load(Ordering::Acquire) {
            match self.heartbeat(false).await {
                Ok(outcome) => {
                    if let Some(since) = failing_since.take() {
                        info!(
                            "heartbeats reach the controller again after {} ms",
                            since.elapsed().as_millis()
                        );
                    }
                    let was = self.fenced.send_replace(outcome.is_fenced);
                    if was != outcome.is_fenced {
                        if outcome.is_fenced {
                            warn!("the controller fenced this broker");
                        } else {
                            info!("the controller unfenced this broker");
                        }
                    }
                }
                Err(e) => {
                    if failing_since.is_none() {
                        warn!("broker heartbeat failed: {e}");
                        failing_since = Some(Instant::now());
                    }
                }
            }
            let wait = if *self.fenced.borrow() {
                // Catching up: ask again soon.
                self.interval.min(Duration::from_millis(100))
            } else {
                self.interval
            };
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = self.stop.notified() => return,
            }
        }
    }

    /// Whether the controller last said this broker is fenced.
    pub(crate) fn is_fenced(&self) -> bool {
        *self.fenced.borrow()
    }

    /// Waits until the controller has unfenced this broker.
    pub(crate) async fn wait_unfenced(&self) {
        let mut fenced = self.fenced.subscribe();
        let started = Instant::now();
        loop {
            if !*fenced.borrow_and_update() {
                return;
            }
            if tokio::time::timeout(Duration::from_secs(5), fenced.changed())
                .await
                .is_err()
            {
                info!(
                    "waiting for the controller to unfence this broker ({} s so far)",
                    started.elapsed().as_secs()
                );
            }
        }
    }

    /// Stops heartbeats and asks the controller for a controlled shutdown
    /// (leadership moves away and the broker is fenced), waiting a bounded
    /// time for its go-ahead.
    pub(crate) async fn controlled_shutdown(&self) {
        if self.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        self.stop.notify_waiters();
        let started = Instant::now();
        loop {
            match self.heartbeat(true).await {
                Ok(outcome) if outcome.should_shut_down => {
                    info!(
                        "controlled shutdown: the controller released this broker after {} ms",
                        started.elapsed().as_millis()
                    );
                    return;
                }
                Ok(_) => {}
                Err(e) => warn!("controlled shutdown request failed: {e}"),
            }
            if started.elapsed() >= CONTROLLED_SHUTDOWN_TIMEOUT {
                warn!(
                    "controlled shutdown did not complete within {} s; shutting down anyway",
                    CONTROLLED_SHUTDOWN_TIMEOUT.as_secs()
                );
                return;
            }
            tokio::time::sleep(self.interval.min(Duration::from_millis(500))).await;
        }
    }
}

/// The quorum settings of the config: the voters, this node's controller
/// listener and the lifecycle timings.
pub(crate) struct QuorumSettings {
    /// This node is a voter of the quorum (`process.roles` has controller).
    pub controller: bool,
    /// A controller of a dynamic quorum formatted without initial voters:
    /// it waits to be added (AddRaftVoter).
    pub join: bool,
    pub voters: Vec<(i32, String)>,
    pub listen_address: Option<String>,
    pub election_timeout: Duration,
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
}

impl QuorumSettings {
    pub(crate) fn of(config: &BrokerConfig) -> Result<QuorumSettings, BrokerError> {
        let quorum = &config.quorum;
        let mut voters: Vec<(i32, String)> = quorum
            .voters
            .iter()
            .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
            .collect();
        let mut join = false;
        if voters.is_empty() && !quorum.bootstrap_servers.is_empty() {
            let bootstrap = quorum
                .bootstrap_servers
                .iter()
                .map(|(host, port)| format!("{host}:{port}"));
            if quorum.roles.controller {
                // A dynamic quorum (KIP-853): its first voters are what
                // `strom storage format --standalone / --initial-controllers`
                // recorded; afterwards the metadata log holds the membership.
                // A controller formatted without them joins a running quorum
                // once `add-controller` names it.
                let initial = strom_log::InitialControllers::read(&config.log_dirs[0])
                    .map_err(|e| BrokerError::Listener(e.to_string()))?;
                match initial {
                    Some(initial) => {
                        voters = initial
                            .0
                            .iter()
                            .map(|v| (v.id, format!("{}:{}", v.host, v.port)))
                            .collect()
                    }
                    None => join = true,
                }
            } else {
                // A broker reaches the quorum through the bootstrap servers
                // and learns the active controller's id from their answers.
                voters = bootstrap
                    .enumerate()
                    .map(|(i, address)| (i32::MAX - i as i32, address))
                    .collect();
            }
        }
        // A static quorum of this node alone needs no network; a dynamic
        // one keeps it, since voters may be added.
        let dynamic = quorum.voters.is_empty();
        if !dynamic && quorum.roles.controller && voters.len() == 1 && voters[0].0 == config.node_id
        {
            voters.clear();
        }
        Ok(QuorumSettings {
            join,
            controller: quorum.roles.controller,
            voters,
            listen_address: quorum
                .controller_listener
                .as_ref()
                .map(|l| l.bind_address()),
            election_timeout: Duration::from_millis(quorum.election_timeout_ms),
            session_timeout: Duration::from_millis(quorum.broker_session_timeout_ms),
            heartbeat_interval: Duration::from_millis(quorum.broker_heartbeat_interval_ms),
        })
    }
}
