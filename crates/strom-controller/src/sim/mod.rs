//! A seeded deterministic simulation of the metadata quorum and the broker
//! lifecycle, over the real controller code.
//!
//! Each seed runs three or five voters ([`Controller::start_with`], the
//! real driver, openraft, log store, snapshots and state machine) on one
//! current-thread tokio runtime with paused time, so virtual seconds pass
//! as fast as the work allows. The nodes talk through an in-memory
//! [`network`] with seeded delay and loss, and keep their metadata
//! directories in a [`memory_fs`] that loses what was not fsynced when the
//! node crashes. Brokers register and heartbeat through random nodes;
//! clients create topics and change configs through random nodes; a
//! nemesis crashes and restarts nodes, cuts links (both ways or one way),
//! slows them and makes them lossy, heals them, and stops and starts
//! brokers. [`checker`] checks the invariants on every apply and every
//! step (10 ms of virtual time); at the end everything is healed and the
//! run must settle: every node caught up, stopped brokers fenced, running
//! ones unfenced.
//!
//! Every random choice comes from the seed: the simulation's, the network's
//! and the controllers' generators are seeded from it, and so are
//! openraft's election timeouts ([`seed_election_rng`]). A failing seed
//! prints itself; `STROM_SIM_SEED=<n> cargo nextest run -p strom-controller
//! sim::` replays it, and `STROM_SIM_SEEDS=<count>` runs more seeds (the
//! default is the bounded CI form).

mod checker;
mod memory_fs;
mod network;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strom_metadata::{BrokerEndpoint, BrokerRegistration, ConfigResource};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use self::checker::Checker;
use self::memory_fs::MemoryFileSystem;
use self::network::{Link, Network};
use crate::controller::{Controller, ControllerConfig, ControllerHandle};
use crate::decisions::{AlterConfigs, BrokerHeartbeat, CreateTopic};
use crate::error::{ControllerError, StartError};
use crate::raft::runtime::seed_election_rng;
use crate::raft::transport::PeerService;
use crate::raft::Storage;
use crate::rpc::{ControllerReply, ControllerRequest};

/// Seeds the CI form runs (`cargo nextest run`); `STROM_SIM_SEEDS` overrides.
const CI_SEEDS: u64 = 200;
/// Virtual seconds under faults per seed (some 20 elections' worth), then
/// the settling phase; `STROM_SIM_FAULT_SECONDS` overrides.
const FAULT_SECONDS: u64 = 12;

fn fault_phase() -> Duration {
    let seconds = std::env::var("STROM_SIM_FAULT_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(FAULT_SECONDS);
    Duration::from_secs(seconds)
}
/// How often the checker looks at every node.
const STEP: Duration = Duration::from_millis(10);
/// Wall-clock bound of one seed: a livelock fails the seed, not CI.
const WALL_BUDGET: std::time::Duration = std::time::Duration::from_secs(60);

/// The timings of one run (Kafka's defaults scaled down, so that a run of
/// 20 virtual seconds sees many elections and session expiries).
#[derive(Clone, Copy, Debug)]
struct Timings {
    election_timeout: Duration,
    request_timeout: Duration,
    session_timeout: Duration,
    heartbeat_interval: Duration,
}

const TIMINGS: Timings = Timings {
    election_timeout: Duration::from_millis(300),
    request_timeout: Duration::from_secs(3),
    session_timeout: Duration::from_millis(1500),
    heartbeat_interval: Duration::from_millis(300),
};

/// The nodes clients and brokers may use: id to (incarnation, handle).
type Running = Arc<Mutex<BTreeMap<u64, (u64, ControllerHandle)>>>;

fn pick(running: &Running, rng: &mut StdRng) -> Option<(u64, u64, ControllerHandle)> {
    let running = running.lock().unwrap_or_else(PoisonError::into_inner);
    if running.is_empty() {
        return None;
    }
    let (id, (incarnation, handle)) = running.iter().nth(rng.gen_range(0..running.len()))?;
    Some((*id, *incarnation, handle.clone()))
}

fn still_running(running: &Running, node: u64, incarnation: u64) -> bool {
    running
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&node)
        .is_some_and(|(i, _)| *i == incarnation)
}

enum NodeState {
    Starting(JoinHandle<Result<ControllerHandle, StartError>>),
    Running(ControllerHandle),
    Down,
}

struct Node {
    id: u64,
    incarnation: u64,
    fs: MemoryFileSystem,
    state: NodeState,
}

/// What one seed did, for the figures.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub committed: usize,
    pub terms: usize,
    pub acknowledged_topics: usize,
    pub fences: usize,
    pub unfences: usize,
    pub messages: u64,
    pub crashes: usize,
    pub digest: u64,
    /// The first events, to show where two runs of one seed part.
    pub trace: Vec<String>,
}

struct Simulation {
    seed: u64,
    rng: StdRng,
    checker: Arc<Checker>,
    network: Network,
    nodes: Vec<Node>,
    running: Running,
    /// Broker id to its task while it runs.
    brokers: BTreeMap<i32, Option<JoinHandle<()>>>,
    clients: Vec<JoinHandle<()>>,
    /// What the nemesis did, with virtual time, for a failure's report.
    events: Vec<String>,
    /// When the nemesis last did anything.
    last_event: Instant,
    /// When each stopped broker stopped.
    stopped_at: BTreeMap<i32, Instant>,
    started: Instant,
    wall: std::time::Instant,
    crashes: usize,
    /// Only faults under which no call is refused (slow and lossy links,
    /// brokers stopping): see [`a_seed_replays_exactly`].
    without_refusals: bool,
    /// Nodes start up to 50 ms apart, as processes do; off, they start in
    /// the same virtual instant.
    start_jitter: bool,
}

impl Simulation {
    fn new(seed: u64) -> Simulation {
        let mut rng = StdRng::seed_from_u64(seed);
        let checker = Arc::new(Checker::default());
        let network = Network::new(StdRng::seed_from_u64(rng.gen()), checker.clone());
        let voters = if rng.gen_bool(0.25) { 5 } else { 3 };
        let nodes = (1..=voters)
            .map(|id| Node {
                id,
                incarnation: 0,
                fs: MemoryFileSystem::default(),
                state: NodeState::Down,
            })
            .collect();
        Simulation {
            seed,
            rng,
            checker,
            network,
            nodes,
            running: Running::default(),
            brokers: BTreeMap::new(),
            clients: Vec::new(),
            events: Vec::new(),
            last_event: Instant::now(),
            stopped_at: BTreeMap::new(),
            started: Instant::now(),
            wall: std::time::Instant::now(),
            crashes: 0,
            without_refusals: false,
            start_jitter: true,
        }
    }

    fn event(&mut self, what: String) {
        let at = self.started.elapsed().as_millis();
        self.last_event = Instant::now();
        self.checker.note(&what);
        self.events.push(format!("{at:>6} ms  {what}"));
    }

    fn config(&self, id: u64) -> ControllerConfig {
        let voters = self
            .nodes
            .iter()
            .map(|n| (n.id as i32, format!("node-{}", n.id)))
            .collect();
        ControllerConfig {
            voters,
            listen_address: None,
            election_timeout: TIMINGS.election_timeout,
            request_timeout: TIMINGS.request_timeout,
            broker_session_timeout: TIMINGS.session_timeout,
            startup_timeout: None,
            rng_seed: Some(self.seed.wrapping_mul(31).wrapping_add(id)),
            // Small, so that snapshots, segment rolls and purges happen.
            max_entries_between_snapshots: 40,
            log_segment_bytes: 4096,
            ..ControllerConfig::single_node(
                id as i32,
                PathBuf::from(format!("/node-{id}/__cluster_metadata-0")),
            )
        }
    }

    fn start_node(&mut self, index: usize) {
        let config = self.config(self.nodes[index].id);
        let node = &mut self.nodes[index];
        node.incarnation += 1;
        let transport = self.network.start(node.id, node.incarnation);
        let storage = Storage {
            fs: Arc::new(node.fs.clone()),
            observer: Some(self.checker.observer(node.id, node.incarnation)),
        };
        // Processes never start in the same microsecond. (Nodes started
        // together once livelocked here, seed 1206, when openraft's own
        // timer drew each node's election timeout once and checked it on
        // ticks in phase; raft::election draws afresh at every campaign,
        // and `voters_started_together_replace_a_killed_leader`
        // starts them without a jitter.)
        let jitter = if self.start_jitter {
            Duration::from_micros(self.rng.gen_range(0..50_000))
        } else {
            Duration::ZERO
        };
        node.state = NodeState::Starting(tokio::spawn(async move {
            tokio::time::sleep(jitter).await;
            Controller::start_with(config, transport, false, storage).await
        }));
        let what = format!("start node {} (run {})", node.id, node.incarnation);
        self.event(what);
    }

    fn crash_node(&mut self, index: usize) {
        let node = &mut self.nodes[index];
        self.network.crash(node.id);
        self.checker.node_down(node.id);
        node.fs = node.fs.crash(&mut self.rng);
        match std::mem::replace(&mut node.state, NodeState::Down) {
            NodeState::Starting(start) => start.abort(),
            NodeState::Running(handle) => {
                self.running
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&node.id);
                // Its tasks wind down on their own: its disk fails every
                // call and the network carries nothing from or to it.
                tokio::spawn(handle.shutdown());
            }
            NodeState::Down => {}
        }
        let what = format!("crash node {}", node.id);
        self.crashes += 1;
        self.event(what);
    }

    /// Moves nodes whose start finished to running.
    async fn poll_starts(&mut self) -> Result<(), String> {
        for index in 0..self.nodes.len() {
            let finished =
                matches!(&self.nodes[index].state, NodeState::Starting(s) if s.is_finished());
            if !finished {
                continue;
            }
            let NodeState::Starting(start) =
                std::mem::replace(&mut self.nodes[index].state, NodeState::Down)
            else {
                continue;
            };
            let node = &mut self.nodes[index];
            match start.await {
                Ok(Ok(handle)) => {
                    self.running
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(node.id, (node.incarnation, handle.clone()));
                    node.state = NodeState::Running(handle);
                }
                Ok(Err(e)) => return Err(format!("node {} failed to start: {e}", node.id)),
                Err(e) => return Err(format!("node {}'s start panicked: {e}", node.id)),
            }
        }
        Ok(())
    }

    /// The checks of every step.
    fn check(&mut self) -> Result<(), String> {
        if self.wall.elapsed() > WALL_BUDGET {
            return Err(format!(
                "the seed took more than {WALL_BUDGET:?} of wall time (a livelock?)"
            ));
        }
        for node in &self.nodes {
            if let NodeState::Running(handle) = &node.state {
                let service = handle.service();
                let Some(raft) = service.raft() else {
                    return Err(format!("node {} runs no Raft member", node.id));
                };
                let (state, term) = {
                    let metrics = raft.metrics();
                    let metrics = metrics.borrow();
                    (metrics.state, metrics.current_term)
                };
                if state == openraft::ServerState::Leader {
                    self.checker.leader_seen(term, node.id);
                }
                self.checker.check_acknowledged_in(node.id, &handle.image());
            }
        }
        self.check_sessions_expire()?;
        match self.checker.violations().first() {
            Some(violation) => Err(violation.clone()),
            None => Ok(()),
        }
    }

    /// A broker whose session expired is fenced while a quorum is up:
    /// once nothing has happened for long enough (an election, a session,
    /// and a proposal), with a majority of nodes running and every link
    /// sound, every broker stopped before is fenced.
    fn check_sessions_expire(&self) -> Result<(), String> {
        let bound = TIMINGS.election_timeout * 4 + TIMINGS.session_timeout * 3;
        let running = self
            .nodes
            .iter()
            .filter(|n| matches!(n.state, NodeState::Running(_)))
            .count();
        if running * 2 <= self.nodes.len() || !self.network.is_healthy() {
            return Ok(());
        }
        let latest = self.checker.latest();
        for (id, stopped) in &self.stopped_at {
            let quiet_since = (*stopped).max(self.last_event);
            if quiet_since.elapsed() < bound {
                continue;
            }
            if latest.broker(*id).is_some_and(|b| !b.fenced) {
                return Err(format!(
                    "broker {id} stopped {} ms ago and a quorum has been up for {} ms, but it is not fenced",
                    stopped.elapsed().as_millis(),
                    self.last_event.elapsed().as_millis()
                ));
            }
        }
        Ok(())
    }

    fn spawn_broker(&mut self, id: i32) {
        let rng = StdRng::seed_from_u64(self.rng.gen());
        let task = tokio::spawn(broker(
            id,
            self.rng.gen(),
            rng,
            self.running.clone(),
            self.checker.clone(),
        ));
        self.brokers.insert(id, Some(task));
        self.stopped_at.remove(&id);
        self.event(format!("start broker {id}"));
    }

    fn stop_broker(&mut self, id: i32) {
        if let Some(Some(task)) = self.brokers.insert(id, None) {
            task.abort();
        }
        self.stopped_at.insert(id, Instant::now());
        self.event(format!("stop broker {id}"));
    }

    /// One fault, or one repair.
    fn nemesis(&mut self) {
        let n = self.nodes.len();
        let a = self.rng.gen_range(0..n);
        let b = (a + self.rng.gen_range(1..n)) % n;
        let (ida, idb) = (self.nodes[a].id, self.nodes[b].id);
        let choice = self.rng.gen_range(0..14);
        let choice = match choice {
            0..=10 if self.without_refusals => 11,
            other => other,
        };
        match choice {
            0..=1 => {
                if !matches!(self.nodes[a].state, NodeState::Down) {
                    self.crash_node(a);
                }
            }
            2..=4 => {
                if let Some(index) = self
                    .nodes
                    .iter()
                    .position(|n| matches!(n.state, NodeState::Down))
                {
                    self.start_node(index);
                }
            }
            5..=6 => {
                self.network.cut(ida, idb);
                self.network.cut(idb, ida);
                self.event(format!("partition {ida} <-> {idb}"));
            }
            7 => {
                self.network.cut(ida, idb);
                self.event(format!("cut {ida} -> {idb}"));
            }
            8..=9 => {
                let cuts = self.network.cuts();
                if !cuts.is_empty() {
                    let (from, to) = cuts[self.rng.gen_range(0..cuts.len())];
                    self.network.heal(from, to);
                    self.network.heal(to, from);
                    self.event(format!("heal {from} <-> {to}"));
                }
            }
            10 => {
                self.network.heal_all();
                self.event("heal all links".into());
            }
            11 => {
                let link = Link {
                    min_delay: Duration::from_millis(1),
                    max_delay: Duration::from_millis(self.rng.gen_range(5..400)),
                    loss: self.rng.gen_range(0.0..0.3),
                };
                self.network.set_link(ida, idb, link);
                self.event(format!("link {ida} -> {idb}: {link:?}"));
            }
            _ => {
                let ids: Vec<i32> = self.brokers.keys().copied().collect();
                let id = ids[self.rng.gen_range(0..ids.len())];
                if self.brokers.get(&id).is_some_and(Option::is_some) {
                    self.stop_broker(id);
                } else {
                    self.spawn_broker(id);
                }
            }
        }
    }

    async fn run(&mut self) -> Result<Outcome, String> {
        for index in 0..self.nodes.len() {
            self.start_node(index);
        }
        for id in 1..=3 {
            self.spawn_broker(100 + id);
        }
        for client in 0..2 {
            let rng = StdRng::seed_from_u64(self.rng.gen());
            self.clients.push(tokio::spawn(client_task(
                client,
                rng,
                self.running.clone(),
                self.checker.clone(),
            )));
        }

        let faults_end = self.started + fault_phase();
        let mut next_fault = self.started + Duration::from_millis(self.rng.gen_range(500..1500));
        while Instant::now() < faults_end {
            tokio::time::sleep(STEP).await;
            self.poll_starts().await?;
            self.check()?;
            if Instant::now() >= next_fault {
                self.nemesis();
                next_fault = Instant::now() + Duration::from_millis(self.rng.gen_range(50..1500));
            }
        }

        // Settle: no more faults or client load; everything must converge.
        for client in self.clients.drain(..) {
            client.abort();
        }
        self.network.heal_all();
        self.event("heal everything; restart every node".into());
        for index in 0..self.nodes.len() {
            if matches!(self.nodes[index].state, NodeState::Down) {
                self.start_node(index);
            }
        }
        let bound = TIMINGS.request_timeout * 4 + TIMINGS.session_timeout * 4;
        let settle_end = Instant::now() + bound;
        loop {
            tokio::time::sleep(STEP).await;
            self.poll_starts().await?;
            self.check()?;
            let why_not = self.unsettled();
            match why_not {
                None => break,
                Some(why) if Instant::now() >= settle_end => {
                    return Err(format!(
                        "the healed cluster did not settle within {bound:?}: {why}"
                    ))
                }
                Some(_) => {}
            }
        }
        // Every acknowledged topic, in every node's final image.
        self.checker.recheck_acknowledged();
        self.check()?;
        let outcome = {
            let (committed, terms, acknowledged_topics, fences, unfences, digest) =
                self.checker.summary();
            Outcome {
                committed,
                terms,
                acknowledged_topics,
                fences,
                unfences,
                messages: self.network.messages(),
                crashes: self.crashes,
                digest,
                trace: self.checker.trace(),
            }
        };
        for (_, task) in std::mem::take(&mut self.brokers) {
            if let Some(task) = task {
                task.abort();
            }
        }
        for node in &mut self.nodes {
            if let NodeState::Running(handle) = std::mem::replace(&mut node.state, NodeState::Down)
            {
                handle.shutdown().await;
            }
        }
        Ok(outcome)
    }

    /// Why the healed cluster is not settled yet, if it is not.
    fn unsettled(&self) -> Option<String> {
        let mut images = Vec::new();
        for node in &self.nodes {
            match &node.state {
                NodeState::Running(handle) => images.push((node.id, handle.image())),
                _ => return Some(format!("node {} is not running", node.id)),
            }
        }
        let latest = self.checker.latest();
        for (id, image) in &images {
            if image.offset() != latest.offset() {
                return Some(format!(
                    "node {id} is at offset {}, the committed history at {}",
                    image.offset(),
                    latest.offset()
                ));
            }
        }
        for (id, task) in &self.brokers {
            let registration = latest.broker(*id);
            match (task.is_some(), registration) {
                (true, Some(b)) if !b.fenced => {}
                (true, b) => return Some(format!("running broker {id} is not unfenced: {b:?}")),
                (false, Some(b)) if !b.fenced => {
                    return Some(format!("stopped broker {id} is still unfenced"))
                }
                (false, _) => {}
            }
        }
        None
    }

    fn report(&self, failure: &str) -> String {
        let mut out = String::new();
        let at = self.started.elapsed().as_millis();
        let _ = writeln!(
            out,
            "simulation seed {} failed at {at} ms (virtual): {failure}",
            self.seed
        );
        for violation in self.checker.violations().iter().skip(1) {
            let _ = writeln!(out, "  and: {violation}");
        }
        let _ = writeln!(out, "last faults:");
        for event in self.events.iter().rev().take(25).rev() {
            let _ = writeln!(out, "  {event}");
        }
        let _ = writeln!(
            out,
            "last committed entries:\n{}",
            self.checker.history_tail(12)
        );
        let phase = fault_phase().as_secs();
        let _ = write!(
            out,
            "replay: STROM_SIM_SEED={}{} cargo nextest run -p strom-controller sim::",
            self.seed,
            if phase == FAULT_SECONDS {
                String::new()
            } else {
                format!(" STROM_SIM_FAULT_SECONDS={phase}")
            }
        );
        out
    }
}

/// A broker: registers through a random node, then heartbeats through
/// random nodes every `broker.heartbeat.interval.ms`.
async fn broker(
    id: i32,
    incarnation_id: u128,
    mut rng: StdRng,
    running: Running,
    checker: Arc<Checker>,
) {
    let mut epoch: Option<i64> = None;
    loop {
        tokio::time::sleep(TIMINGS.heartbeat_interval).await;
        let Some((node, incarnation, handle)) = pick(&running, &mut rng) else {
            continue;
        };
        let Some(broker_epoch) = epoch else {
            let registration = BrokerRegistration {
                broker_id: id,
                incarnation_id,
                listeners: vec![BrokerEndpoint {
                    name: "PLAINTEXT".into(),
                    host: format!("broker-{id}"),
                    port: 9092,
                    security_protocol: "PLAINTEXT".into(),
                }],
                rack: None,
                fenced: true,
                in_controlled_shutdown: false,
                epoch: -1,
            };
            let registered = handle.register_broker(registration).await;
            if let (Ok(e), true) = (registered, still_running(&running, node, incarnation)) {
                epoch = Some(e);
            }
            continue;
        };
        let heartbeat = BrokerHeartbeat {
            broker_id: id,
            broker_epoch,
            current_metadata_offset: handle.image().offset(),
            want_fence: false,
            want_shut_down: false,
        };
        // Straight to the node's driver: answered there if it is the active
        // controller (checked here), else forwarded (checked by the network).
        let committed = checker.committed_len();
        let request = ControllerRequest::BrokerHeartbeat(heartbeat.clone());
        let response = handle.service().controller(request).await;
        let result = match response.reply {
            ControllerReply::NotController { .. } => handle.broker_heartbeat(heartbeat).await,
            ControllerReply::BrokerHeartbeat(ref result) => {
                if still_running(&running, node, incarnation) {
                    checker.heartbeat_answered(node, &heartbeat, &response, committed);
                }
                result.clone()
            }
            _ => continue,
        };
        if let Err(
            ControllerError::StaleBrokerEpoch(_) | ControllerError::BrokerIdNotRegistered(_),
        ) = result
        {
            epoch = None;
        }
    }
}

/// A client: creates topics and changes configs through random nodes, and
/// tells the checker what it was told succeeded.
async fn client_task(client: usize, mut rng: StdRng, running: Running, checker: Arc<Checker>) {
    let mut created: Vec<String> = Vec::new();
    for request in 0u64.. {
        let pause = Duration::from_millis(rng.gen_range(50..500));
        tokio::time::sleep(pause).await;
        let Some((node, incarnation, handle)) = pick(&running, &mut rng) else {
            continue;
        };
        let bound = TIMINGS.request_timeout * 3;
        if created.is_empty() || rng.gen_bool(0.6) {
            let name = format!("topic-{client}-{request}");
            let topic = CreateTopic {
                name: name.clone(),
                num_partitions: rng.gen_range(1..=3),
                replication_factor: rng.gen_range(1..=2),
                assignments: Vec::new(),
                configs: BTreeMap::new(),
            };
            let answer =
                tokio::time::timeout(bound, handle.create_topics(vec![topic], false)).await;
            let (Ok(outcomes), true) = (answer, still_running(&running, node, incarnation)) else {
                continue;
            };
            for outcome in outcomes {
                if let (None, Some(topic_id)) = (&outcome.error, outcome.topic_id) {
                    checker.topic_acknowledged(&outcome.name, topic_id);
                    created.push(outcome.name);
                }
            }
        } else {
            let (resource, key) = match rng.gen_range(0..3) {
                0 => (ConfigResource::Broker(None), "log.retention.ms"),
                1 => (ConfigResource::Broker(Some(101)), "log.retention.ms"),
                _ => {
                    let topic = created[rng.gen_range(0..created.len())].clone();
                    (ConfigResource::Topic(topic), "retention.ms")
                }
            };
            let value = format!("{}", 1_000_000 * (client as u64 + 1) + request);
            let change = AlterConfigs {
                resource: resource.clone(),
                changes: BTreeMap::from([(key.to_string(), Some(value.clone()))]),
            };
            let answer =
                tokio::time::timeout(bound, handle.alter_configs(vec![change], false)).await;
            let (Ok(outcomes), true) = (answer, still_running(&running, node, incarnation)) else {
                continue;
            };
            if outcomes.iter().all(|o| o.error.is_none()) && !outcomes.is_empty() {
                checker.config_acknowledged(&resource, key, &value);
            }
        }
    }
}

/// Log lines carry the simulation's virtual time (tokio's paused clock).
struct VirtualTime;

impl tracing_subscriber::fmt::time::FormatTime for VirtualTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{:?}", Instant::now())
    }
}

/// Runs one seed to its end on a fresh paused runtime.
pub(crate) fn run_seed(seed: u64) -> Result<Outcome, String> {
    run_seed_with(seed, false)
}

fn run_seed_with(seed: u64, without_refusals: bool) -> Result<Outcome, String> {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_timer(VirtualTime)
            .with_test_writer()
            .try_init();
    }
    seed_election_rng(Some(seed ^ 0x5eed_e1ec_7105));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .map_err(|e| format!("no runtime: {e}"))?;
    let result = runtime.block_on(async move {
        let mut simulation = Simulation::new(seed);
        simulation.without_refusals = without_refusals;
        let result = simulation.run().await;
        result.map_err(|failure| simulation.report(&failure))
    });
    runtime.shutdown_background();
    seed_election_rng(None);
    result
}

fn seeds_from_env() -> Vec<u64> {
    if let Some(seed) = std::env::var("STROM_SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return vec![seed];
    }
    let count = std::env::var("STROM_SIM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(CI_SEEDS);
    let first = std::env::var("STROM_SIM_FIRST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0u64);
    (first..first + count).collect()
}

/// The seeds run as four tests, so that nextest spreads them over cores.
const CHUNKS: u64 = 4;

fn run_chunk(chunk: u64) {
    let seeds: Vec<u64> = seeds_from_env()
        .into_iter()
        .filter(|seed| seed % CHUNKS == chunk)
        .collect();
    let wall = std::time::Instant::now();
    let mut totals = (0usize, 0usize, 0u64, 0usize, 0usize, 0usize, 0usize);
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(outcome) => {
                assert!(outcome.committed > 0, "seed {seed} committed nothing");
                totals.0 += outcome.committed;
                totals.1 += outcome.acknowledged_topics;
                totals.2 += outcome.messages;
                totals.3 += outcome.crashes;
                totals.4 += outcome.terms;
                totals.5 += outcome.fences;
                totals.6 += outcome.unfences;
            }
            Err(report) => panic!("{report}"),
        }
    }
    if seeds.is_empty() {
        return;
    }
    let seconds = wall.elapsed().as_secs_f64();
    println!(
        "{} seeds in {seconds:.1} s ({:.1} seeds/s): {} committed entries, {} acknowledged topics, {} messages, {} crashes, {} terms, {} fences, {} unfences",
        seeds.len(),
        seeds.len() as f64 / seconds.max(1e-9),
        totals.0,
        totals.1,
        totals.2,
        totals.3,
        totals.4,
        totals.5,
        totals.6
    );
}

#[test]
fn seeded_runs_of_the_quorum_keep_every_invariant_1_of_4() {
    run_chunk(0);
}

#[test]
fn seeded_runs_of_the_quorum_keep_every_invariant_2_of_4() {
    run_chunk(1);
}

#[test]
fn seeded_runs_of_the_quorum_keep_every_invariant_3_of_4() {
    run_chunk(2);
}

#[test]
fn seeded_runs_of_the_quorum_keep_every_invariant_4_of_4() {
    run_chunk(3);
}

/// What replays exactly: everything but one thing the seed cannot reach.
/// When a call is refused (a crashed or cut-off peer), openraft's
/// replication backs off in an unbiased `tokio::select!` between its timer
/// and its events, and tokio seeds that choice per runtime (only
/// `tokio_unstable` can seed it); when both are ready in the same instant,
/// two runs of a seed can part there. Two clients answered in the same
/// virtual instant can also record their answers in either order (seeds 8,
/// 10, 11, 12, 14 and 23 of this form part so, one run in a few). So this
/// runs seeds that replayed 25 times each, whose faults
/// refuse no call (slow and lossy links, lost replies, brokers stopping,
/// client load), twice each, and requires the same history and faults.
#[test]
fn a_seed_replays_exactly() {
    for seed in [7, 9, 13] {
        let first = run_seed_with(seed, true).unwrap_or_else(|report| panic!("{report}"));
        let second = run_seed_with(seed, true).unwrap_or_else(|report| panic!("{report}"));
        assert!(first.committed > 0);
        let parted = first
            .trace
            .iter()
            .zip(&second.trace)
            .position(|(a, b)| a != b);
        if let Some(at) = parted {
            panic!(
                "seed {seed} ran differently twice from event {at}: {:?} then {:?}",
                &first.trace[at.saturating_sub(3)..(at + 2).min(first.trace.len())],
                &second.trace[at.saturating_sub(3)..(at + 2).min(second.trace.len())]
            );
        }
        assert_eq!(first, second, "seed {seed} ran differently twice");
    }
}

/// Waits (in virtual time) until `done` holds, polling the nodes' starts.
async fn settle_until(
    simulation: &mut Simulation,
    within: Duration,
    what: &str,
    mut done: impl FnMut(&Simulation) -> bool,
) {
    let end = Instant::now() + within;
    while !done(simulation) {
        assert!(
            Instant::now() < end,
            "{what} did not happen within {within:?}"
        );
        tokio::time::sleep(STEP).await;
        if let Err(failure) = simulation.poll_starts().await {
            panic!("{failure}");
        }
    }
}

/// Starts the first three of the simulation's voters (only those three vote) and waits
/// for them to elect a leader: its index and handle.
async fn three_voters_and_a_leader(simulation: &mut Simulation) -> (usize, ControllerHandle) {
    simulation.nodes.truncate(3);
    for index in 0..3 {
        simulation.start_node(index);
    }
    settle_until(simulation, Duration::from_secs(10), "an election", |s| {
        s.running.lock().map_or(0, |r| r.len()) == 3 && leader_of(s).is_some()
    })
    .await;
    leader_of(simulation).expect("settled with a leader")
}

fn leader_of(simulation: &Simulation) -> Option<(usize, ControllerHandle)> {
    simulation
        .nodes
        .iter()
        .enumerate()
        .find_map(|(index, node)| match &node.state {
            NodeState::Running(handle) if handle.active_controller() == Some(node.id as i32) => {
                Some((index, handle.clone()))
            }
            _ => None,
        })
}

/// Found by seed 1312: a leader cut off from the other voters still
/// believes it leads, and answered heartbeats from its own image, which the
/// quorum had moved past: it told a broker the new leader had fenced that it
/// was alive.
#[test]
fn a_controller_cut_off_from_the_quorum_does_not_tell_a_fenced_broker_it_is_alive() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        let mut simulation = Simulation::new(3);
        let (leader_index, leader) = three_voters_and_a_leader(&mut simulation).await;
        let registration = BrokerRegistration {
            broker_id: 101,
            incarnation_id: 1,
            listeners: Vec::new(),
            rack: None,
            fenced: true,
            in_controlled_shutdown: false,
            epoch: -1,
        };
        let epoch = leader
            .register_broker(registration)
            .await
            .expect("registered");
        let heartbeat = BrokerHeartbeat {
            broker_id: 101,
            broker_epoch: epoch,
            current_metadata_offset: i64::MAX,
            want_fence: false,
            want_shut_down: false,
        };
        let outcome = leader.broker_heartbeat(heartbeat.clone()).await;
        assert!(matches!(outcome, Ok(o) if !o.is_fenced), "{outcome:?}");

        // Cut the leader off; the broker keeps talking to it only.
        let old = simulation.nodes[leader_index].id;
        for node in &simulation.nodes {
            if node.id != old {
                simulation.network.cut(old, node.id);
                simulation.network.cut(node.id, old);
            }
        }
        let checker = simulation.checker.clone();
        settle_until(
            &mut simulation,
            Duration::from_secs(20),
            "the new leader fencing the broker",
            |_| checker.latest().broker(101).is_some_and(|b| b.fenced),
        )
        .await;
        assert!(
            leader.image().broker(101).is_some_and(|b| !b.fenced),
            "the old leader has not heard of the fence"
        );
        let answer = leader.broker_heartbeat(heartbeat).await;
        assert!(
            !matches!(answer, Ok(o) if !o.is_fenced),
            "the cut-off leader told the fenced broker it is alive: {answer:?}"
        );
        assert!(
            simulation.checker.violations().is_empty(),
            "{:?}",
            simulation.checker.violations()
        );
    });
}

/// Three voters started in the same instant lose their leader: another
/// voter leads within a bound, for each of 30 seeds. openraft's own election
/// timer drew each voter's timeout once and checked it on ticks, which run
/// in phase on nodes started together, so two survivors whose timeouts fell
/// between the same ticks stood in every election at once, each voting for
/// itself (a 16 s controller failover in CI with a 1 s election timeout;
/// here, with no clock drift, forever). raft::election draws afresh at every
/// campaign.
#[test]
fn voters_started_together_replace_a_killed_leader() {
    let mut failovers = Vec::new();
    for seed in 0..30 {
        seed_election_rng(Some(seed));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a runtime");
        failovers.push(runtime.block_on(async {
            let mut simulation = Simulation::new(seed);
            simulation.start_jitter = false;
            let (index, _) = three_voters_and_a_leader(&mut simulation).await;
            let old = simulation.nodes[index].id;
            simulation.crash_node(index);
            let killed = Instant::now();
            // A follower campaigns after the lease (twice the election
            // timeout) and a draw of up to twice the timeout more; a split
            // vote costs another draw or two.
            settle_until(
                &mut simulation,
                TIMINGS.election_timeout * 8,
                &format!("seed {seed}: a leader other than the killed node {old}"),
                |s| leader_of(s).is_some_and(|(i, _)| s.nodes[i].id != old),
            )
            .await;
            assert!(
                simulation.checker.violations().is_empty(),
                "seed {seed}: {:?}",
                simulation.checker.violations()
            );
            killed.elapsed()
        }));
    }
    seed_election_rng(None);
    let slowest = failovers.iter().max().copied().unwrap_or_default();
    assert!(slowest >= TIMINGS.election_timeout * 3, "{failovers:?}");
}

/// Kafka's leader epoch is the Raft term, and one epoch names one leader.
/// openraft's default mode lets a second candidate win a term another node
/// already leads (its leader ids order (term, node id)); seed 1879 found
/// two active controllers in term 2 that way. The workspace builds openraft
/// with `single-term-leader`, where a vote in a term is for one node only.
#[test]
fn a_vote_given_in_a_term_is_never_given_to_another_candidate_of_that_term() {
    let granted = crate::raft::Vote::new_committed(2, 2);
    let other_candidate = crate::raft::Vote::new(2, 3);
    // openraft grants a vote request that is at least the vote it holds.
    let order = other_candidate.partial_cmp(&granted);
    assert!(
        matches!(order, None | Some(std::cmp::Ordering::Less)),
        "a node that voted for node 2 in term 2 would also elect node 3 in term 2 ({order:?})"
    );
    assert!(crate::raft::Vote::new(3, 3) > granted);
}

/// Seeds that found bugs, run on every test run (they replay the same
/// schedule only while the code they ran is unchanged, so they guard
/// little on their own; the targeted tests above guard the fixes).
#[test]
fn seeds_that_found_bugs_keep_every_invariant() {
    for seed in [1206, 1312, 1879] {
        if let Err(report) = run_seed(seed) {
            panic!("{report}");
        }
    }
}
