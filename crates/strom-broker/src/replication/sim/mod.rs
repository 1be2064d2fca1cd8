//! A seeded deterministic simulation of partition replication over the real
//! pure code: the leader's [`LeaderState`] (follower progress, the high
//! watermark rule, ISR expansion and shrink, proposals and answers), the
//! follower rules of [`follower`] (the leader's diverging-epoch check, the
//! follower's truncation offset), and the controller's decisions from
//! `strom_controller` (registration, heartbeats and fencing with their
//! elections, AlterPartition).
//!
//! One discrete-event loop in virtual milliseconds runs 3 to 5 brokers and
//! one controller, with one or two partitions of replication factor 3 and
//! `min.insync.replicas=2`. The controller holds the metadata image and
//! changes it only by applying the records its decisions return; brokers
//! fetch the image from it and act on what they have, which may be stale.
//! Brokers do what the real ones do (`partition.rs`, `handlers/fetch.rs`,
//! `replication/fetcher.rs`, `replication/isr.rs`): leaders append, fsync
//! in the background, count the high watermark over the maximal ISR from
//! the followers' fetch offsets, propose ISR changes one request at a time;
//! followers fetch, append, fsync before fetching again, truncate where the
//! leader says their history diverged, restart at the leader's log start
//! when they fell behind it. Producers send unique values with acks=all to
//! whoever they believe leads; consumers read up to the high watermark.
//!
//! A nemesis drawn from the seed crashes brokers (losing what they had not
//! fsynced) and restarts them, pauses and resumes them, cuts links between
//! any two nodes (the controller too) one way or both, makes links slow or
//! lossy (messages are delayed at random, so they also reorder), makes
//! fsyncs slow, and deletes records on leaders. Then everything heals and
//! the run must converge. [`checker`] holds the invariants.
//!
//! A failing seed panics with the seed, the violations and the tail of the
//! event trace; `STROM_SIM_SEED=<n> cargo nextest run -p strom-broker sim::`
//! replays it exactly (nothing here reads a clock or iterates a hash map),
//! and `STROM_SIM_SEEDS=<count>` runs more seeds than the CI form
//! (`STROM_SIM_FIRST_SEED=<n>` starts the range elsewhere).

mod checker;
mod log;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, VecDeque};
use std::fmt::Write as _;

use strom_controller::decisions::{
    alter_partition, broker_heartbeat, fence_brokers, register_broker, AlterPartitionItem,
    AlterPartitionOutcome, BrokerHeartbeat, ControllerDefaults,
};
use strom_metadata::{BrokerRegistration, MetadataImage, MetadataRecord, TopicId};

use self::checker::{Checker, Send};
use self::log::{Record, SimLog};
use super::follower;
use super::leader::{isr_refusal, IsrAnswer, IsrProposal, LeaderState};

/// Seeds the CI form runs; `STROM_SIM_SEEDS` overrides.
const CI_SEEDS: u64 = 200;

// Timings in virtual ms: Kafka's defaults scaled down so that one run sees
// many session expiries, ISR shrinks and elections.
/// broker.heartbeat.interval.ms (Kafka: 2000).
const HEARTBEAT_MS: i64 = 200;
/// broker.session.timeout.ms (Kafka: 9000).
const SESSION_TIMEOUT_MS: i64 = 900;
/// replica.lag.time.max.ms (Kafka: 30000).
const LAG_TIME_MAX_MS: u64 = 1000;
/// request.timeout.ms (Kafka: 30000).
const REQUEST_TIMEOUT_MS: i64 = 1500;
/// replica.fetch.backoff.ms (Kafka: 1000).
const FETCH_BACKOFF_MS: i64 = 50;
/// How long a follower waits before fetching again after an empty answer
/// (the leader's long poll, replica.fetch.wait.max.ms, without the wait).
const FETCH_IDLE_MS: i64 = 15;
/// How often a broker asks the controller for newer metadata.
const METADATA_FETCH_MS: i64 = 40;
/// replica.high.watermark.checkpoint.interval.ms (Kafka: 5000).
const HW_CHECKPOINT_MS: i64 = 300;
/// Records in one fetch answer.
const FETCH_MAX_RECORDS: usize = 40;
const MIN_INSYNC_REPLICAS: usize = 2;
const REPLICATION_FACTOR: usize = 3;
/// Faults for this long, then everything heals.
const FAULT_MS: i64 = 12_000;
/// Producers stop this long after the heal; the run ends this long after.
const PRODUCE_AFTER_HEAL_MS: i64 = 2_000;
const SETTLE_MS: i64 = 8_000;
/// When the topic is created (the brokers have registered by then).
const TOPIC_AT_MS: i64 = 600;
const TRACE_TAIL: usize = 120;

const CONTROLLER: i32 = 0;
const FIRST_CLIENT: i32 = 100;

// Kafka error codes.
const OFFSET_OUT_OF_RANGE: i16 = 1;
const NOT_LEADER_OR_FOLLOWER: i16 = 6;
const REQUEST_TIMED_OUT: i16 = 7;
const NOT_ENOUGH_REPLICAS: i16 = 19;
const NOT_ENOUGH_REPLICAS_AFTER_APPEND: i16 = 20;
const FENCED_LEADER_EPOCH: i16 = 74;
const UNKNOWN_LEADER_EPOCH: i16 = 75;

/// SplitMix64: small, and the same on every platform and version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// In `lo..hi` (`lo` when empty).
    fn range(&mut self, lo: i64, hi: i64) -> i64 {
        if hi <= lo {
            return lo;
        }
        lo + (self.next() % (hi - lo) as u64) as i64
    }

    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> Option<T> {
        if items.is_empty() {
            return None;
        }
        Some(items[(self.next() % items.len() as u64) as usize])
    }
}

/// What a fetch answer carries back to a follower.
#[derive(Clone, Debug)]
enum FetchAnswer {
    Error(i16),
    /// OFFSET_OUT_OF_RANGE, with the leader's log start and end (the
    /// fetcher's ListOffsets, folded into the answer).
    OutOfRange {
        log_start: i64,
        log_end: i64,
    },
    Diverging {
        epoch: i32,
        end_offset: i64,
    },
    Records {
        records: Vec<Record>,
        high_watermark: i64,
        log_start: i64,
    },
}

#[derive(Clone, Debug)]
enum Msg {
    Register {
        incarnation: u64,
    },
    Registered {
        epoch: i64,
    },
    Heartbeat {
        epoch: i64,
        metadata_offset: i64,
    },
    HeartbeatFailed,
    MetadataFetch {
        offset: i64,
    },
    Metadata(MetadataImage),
    AlterPartition {
        request: u64,
        epoch: i64,
        items: Vec<AlterPartitionItem>,
    },
    AlterPartitionAnswer {
        request: u64,
        outcomes: Vec<AlterPartitionOutcome>,
    },
    Fetch {
        partition: i32,
        seq: u64,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        current_leader_epoch: i32,
    },
    FetchAnswer {
        partition: i32,
        seq: u64,
        fetch_offset: i64,
        answer: FetchAnswer,
    },
    Produce {
        request: u64,
        partition: i32,
        value: u64,
    },
    ProduceAnswer {
        request: u64,
        result: Result<i64, i16>,
    },
    ConsumerFetch {
        request: u64,
        partition: i32,
        offset: i64,
    },
    ConsumerAnswer {
        request: u64,
        result: Result<Vec<Record>, (i16, i64)>,
    },
    ClientMetadata,
}

#[derive(Clone, Debug)]
enum Timer {
    Heartbeat,
    MetadataFetch,
    IsrExpiration,
    HwCheckpoint,
    Fetch {
        partition: i32,
        generation: u64,
    },
    FetchTimeout {
        partition: i32,
        seq: u64,
    },
    LeaderFsync {
        partition: i32,
        up_to: i64,
    },
    FollowerFsync {
        partition: i32,
        up_to: i64,
        generation: u64,
    },
    AlterPartitionTimeout {
        request: u64,
    },
    ProduceTimeout {
        partition: i32,
        request: u64,
    },
    SessionCheck,
    ClientTick,
    ClientTimeout {
        request: u64,
    },
}

#[derive(Clone, Debug)]
enum Event {
    Deliver {
        from: i32,
        to: i32,
        incarnation: u64,
        msg: Msg,
    },
    Timer {
        node: i32,
        incarnation: u64,
        timer: Timer,
    },
    Nemesis,
    Undo(Fault),
}

#[derive(Clone, Debug)]
enum Fault {
    Restart(i32),
    Resume(i32),
    Heal(i32, i32),
    Unslow(i32),
    FsyncNormal(i32),
}

enum Role {
    None,
    Leader(Box<LeaderState>),
    Follower {
        leader: i32,
        leader_high_watermark: i64,
    },
}

struct PendingAck {
    client: i32,
    request: u64,
    end: i64,
}

struct Replica {
    log: SimLog,
    role: Role,
    leader_epoch: i32,
    high_watermark: i64,
    /// The replication-offset-checkpoint: the HW a restart starts from.
    checkpointed_hw: i64,
    flush_in_flight: bool,
    pending: Vec<PendingAck>,
    /// Bumped on every role change: timers and answers of an older
    /// generation are ignored (the real fetcher restarts on a new target).
    generation: u64,
    /// The fetch in flight, if any.
    fetch_seq: Option<u64>,
}

struct Broker {
    id: i32,
    incarnation: u64,
    up: bool,
    paused: bool,
    /// The registration's epoch, -1 until registered.
    epoch: i64,
    image: MetadataImage,
    replicas: BTreeMap<i32, Replica>,
    isr_queue: Vec<(i32, IsrProposal)>,
    isr_in_flight: Option<(u64, Vec<(i32, IsrProposal)>)>,
    slow_fsync: bool,
}

/// A producer or a consumer: what it believes the metadata is, and its
/// one request in flight.
struct Client {
    id: i32,
    producer: bool,
    view: MetadataImage,
    in_flight: Option<(u64, i32, u64)>,
    positions: BTreeMap<i32, i64>,
    next_value: u64,
}

struct Controller {
    image: MetadataImage,
    last_heartbeat: BTreeMap<i32, i64>,
}

struct Sim {
    seed: u64,
    rng: Rng,
    now: i64,
    seq: u64,
    queue: BinaryHeap<Reverse<(i64, u64)>>,
    events: BTreeMap<u64, Event>,
    /// Directed links that drop everything.
    cut: BTreeSet<(i32, i32)>,
    /// Nodes whose links are slow / lossy.
    slow: BTreeSet<i32>,
    lossy: BTreeSet<i32>,
    /// Events for paused brokers, delivered on resume.
    stalled: BTreeMap<i32, Vec<Event>>,
    controller: Controller,
    brokers: Vec<Broker>,
    clients: Vec<Client>,
    topic_id: TopicId,
    partitions: i32,
    topic_created: bool,
    healed: bool,
    /// A follower fsyncs everything it holds before it fetches, not only
    /// what it appended in its last round (false: the rule before the fix).
    fsync_before_fetch: bool,
    next_request: u64,
    checker: Checker,
    trace: VecDeque<TraceLine>,
    stats: Stats,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct TraceLine {
    at: i64,
    until: i64,
    repeats: u32,
    what: String,
}

impl std::fmt::Display for TraceLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:>6} ms  {}", self.at, self.what)?;
        if self.repeats > 0 {
            write!(
                f,
                " (and {} more times until {} ms)",
                self.repeats, self.until
            )?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Stats {
    crashes: usize,
    pauses: usize,
    cuts: usize,
    truncations: usize,
    elections: usize,
    isr_changes: usize,
    not_enough_replicas: usize,
    messages: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng(seed ^ 0x5EED_F00D);
        let broker_count = rng.range(3, 6) as i32;
        let partitions = rng.range(1, 3) as i32;
        let brokers = (1..=broker_count)
            .map(|id| Broker {
                id,
                incarnation: 0,
                up: false,
                paused: false,
                epoch: -1,
                image: MetadataImage::empty(),
                replicas: BTreeMap::new(),
                isr_queue: Vec::new(),
                isr_in_flight: None,
                slow_fsync: false,
            })
            .collect();
        let clients = (0..4)
            .map(|i| Client {
                id: FIRST_CLIENT + i,
                producer: i < 2,
                view: MetadataImage::empty(),
                in_flight: None,
                positions: BTreeMap::new(),
                next_value: (i as u64 + 1) << 32,
            })
            .collect();
        let topic_id = TopicId::from_u64_pair(rng.next() | 1, rng.next());
        Sim {
            seed,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: BTreeMap::new(),
            cut: BTreeSet::new(),
            slow: BTreeSet::new(),
            lossy: BTreeSet::new(),
            stalled: BTreeMap::new(),
            controller: Controller {
                image: MetadataImage::empty(),
                last_heartbeat: BTreeMap::new(),
            },
            brokers,
            clients,
            topic_id,
            partitions,
            topic_created: false,
            healed: false,
            fsync_before_fetch: true,
            next_request: 1,
            checker: Checker::default(),
            trace: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    /// Adds a line to the trace; a line repeating the previous one only
    /// counts (a loop shows as one line, not as the whole tail).
    fn note(&mut self, what: String) {
        if let Some(last) = self.trace.back_mut() {
            if last.what == what {
                last.repeats += 1;
                last.until = self.now;
                return;
            }
        }
        if self.trace.len() == TRACE_TAIL {
            self.trace.pop_front();
        }
        self.trace.push_back(TraceLine {
            at: self.now,
            until: self.now,
            repeats: 0,
            what,
        });
    }

    fn schedule(&mut self, delay: i64, event: Event) {
        self.seq += 1;
        self.events.insert(self.seq, event);
        self.queue
            .push(Reverse((self.now + delay.max(0), self.seq)));
    }

    fn incarnation(&self, node: i32) -> u64 {
        if node > 0 && node < FIRST_CLIENT {
            self.brokers[(node - 1) as usize].incarnation
        } else {
            0
        }
    }

    fn timer(&mut self, node: i32, delay: i64, timer: Timer) {
        let incarnation = self.incarnation(node);
        self.schedule(
            delay,
            Event::Timer {
                node,
                incarnation,
                timer,
            },
        );
    }

    /// Sends over the network: dropped on a cut link or by a lossy one,
    /// delayed at random (so messages reorder), slower on a slow link.
    fn send(&mut self, from: i32, to: i32, msg: Msg) {
        self.stats.messages += 1;
        if self.cut.contains(&(from, to)) {
            return;
        }
        let lossy = self.lossy.contains(&from) || self.lossy.contains(&to);
        if lossy && self.rng.chance(0.25) {
            return;
        }
        let mut delay = self.rng.range(1, 5);
        if self.slow.contains(&from) || self.slow.contains(&to) {
            delay += self.rng.range(20, 150);
        }
        let incarnation = self.incarnation(to);
        self.schedule(
            delay,
            Event::Deliver {
                from,
                to,
                incarnation,
                msg,
            },
        );
    }

    // ---- the run ---------------------------------------------------------

    fn run(&mut self) {
        for id in 1..=self.brokers.len() as i32 {
            self.start_broker(id);
        }
        self.timer(CONTROLLER, 100, Timer::SessionCheck);
        for i in 0..self.clients.len() {
            let id = self.clients[i].id;
            let at = self.rng.range(TOPIC_AT_MS + 100, TOPIC_AT_MS + 500);
            self.timer(id, at, Timer::ClientTick);
        }
        let first = self.rng.range(1500, 2500);
        self.schedule(first, Event::Nemesis);
        let end = FAULT_MS + SETTLE_MS;
        while let Some(Reverse((at, seq))) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            if !self.topic_created && self.now >= TOPIC_AT_MS {
                // Once the brokers have registered, as in a real cluster.
                self.topic_created = true;
                self.create_topic();
            }
            if !self.healed && self.now >= FAULT_MS {
                self.heal_all();
            }
            let Some(event) = self.events.remove(&seq) else {
                continue;
            };
            self.dispatch(event);
            self.check_in_sync_replicas();
        }
        self.now = end;
    }

    /// Every member of the partition's ISR as the controller has it durably
    /// holds everything below the high watermark of the leader of the
    /// controller's leader epoch: the replicas an election may pick hold
    /// every acknowledged record. (A member being added counts for the HW
    /// from the proposal on; one being removed until the controller has
    /// taken it out.)
    fn check_in_sync_replicas(&mut self) {
        let Some(topic) = self.controller.image.topic_by_id(self.topic_id) else {
            return;
        };
        for (&p, s) in &topic.partitions {
            if s.leader < 0 {
                continue;
            }
            let Some(lr) = self.brokers[(s.leader - 1) as usize].replicas.get(&p) else {
                continue;
            };
            if !matches!(lr.role, Role::Leader(_)) || lr.leader_epoch != s.leader_epoch {
                continue;
            }
            let hw = lr.high_watermark;
            for &m in &s.isr {
                let Some(mr) = self.brokers[(m - 1) as usize].replicas.get(&p) else {
                    continue;
                };
                let held = mr.log.durable_end();
                if held < hw && !self.checker.isr_gap_reported {
                    self.checker.isr_gap_reported = true;
                    self.checker.violations.push(format!(
                        "partition {p}: ISR member {m} durably holds the log only up to {held}, below the high watermark {hw} of leader {} in epoch {} (ISR {:?})",
                        s.leader, s.leader_epoch, s.isr
                    ));
                }
            }
        }
    }

    fn dispatch(&mut self, event: Event) {
        match event {
            Event::Nemesis => self.nemesis(),
            Event::Undo(fault) => self.undo(fault),
            Event::Deliver {
                from,
                to,
                incarnation,
                msg,
            } => {
                if self.cut.contains(&(from, to)) {
                    return;
                }
                if to == CONTROLLER {
                    self.controller_receive(from, msg);
                } else if to >= FIRST_CLIENT {
                    self.client_receive(to, from, msg);
                } else {
                    let b = &self.brokers[(to - 1) as usize];
                    if !b.up || b.incarnation != incarnation {
                        return;
                    }
                    if b.paused {
                        self.stalled.entry(to).or_default().push(Event::Deliver {
                            from,
                            to,
                            incarnation,
                            msg,
                        });
                        return;
                    }
                    self.broker_receive(to, from, msg);
                }
            }
            Event::Timer {
                node,
                incarnation,
                timer,
            } => {
                if node == CONTROLLER {
                    self.controller_timer(timer);
                } else if node >= FIRST_CLIENT {
                    self.client_timer(node, timer);
                } else {
                    let b = &self.brokers[(node - 1) as usize];
                    if !b.up || b.incarnation != incarnation {
                        return;
                    }
                    if b.paused {
                        self.stalled.entry(node).or_default().push(Event::Timer {
                            node,
                            incarnation,
                            timer,
                        });
                        return;
                    }
                    self.broker_timer(node, timer);
                }
            }
        }
    }

    // ---- the nemesis -----------------------------------------------------

    fn nemesis(&mut self) {
        if self.healed {
            return;
        }
        let brokers: Vec<i32> = (1..=self.brokers.len() as i32).collect();
        let mut nodes = brokers.clone();
        nodes.push(CONTROLLER);
        let Some(b) = self.rng.pick(&brokers) else {
            return;
        };
        match self.rng.range(0, 10) {
            0 | 1 => {
                if self.brokers[(b - 1) as usize].up {
                    self.crash(b);
                    let after = self.rng.range(100, 2500);
                    self.schedule(after, Event::Undo(Fault::Restart(b)));
                }
            }
            2 => {
                let broker = &mut self.brokers[(b - 1) as usize];
                if broker.up && !broker.paused {
                    broker.paused = true;
                    self.stats.pauses += 1;
                    self.note(format!("nemesis: pause broker {b}"));
                    let after = self.rng.range(100, 2500);
                    self.schedule(after, Event::Undo(Fault::Resume(b)));
                }
            }
            3 | 4 => {
                // Isolate a node (the controller too), both ways.
                let Some(n) = self.rng.pick(&nodes) else {
                    return;
                };
                self.note(format!("nemesis: isolate node {n}"));
                self.stats.cuts += 1;
                let after = self.rng.range(200, 3000);
                for &m in &nodes {
                    if m != n {
                        self.cut.insert((n, m));
                        self.cut.insert((m, n));
                        self.schedule(after, Event::Undo(Fault::Heal(n, m)));
                        self.schedule(after, Event::Undo(Fault::Heal(m, n)));
                    }
                }
            }
            5 => {
                // One direction of one link.
                let (Some(x), Some(y)) = (self.rng.pick(&nodes), self.rng.pick(&nodes)) else {
                    return;
                };
                if x != y {
                    self.note(format!("nemesis: cut {x} -> {y}"));
                    self.stats.cuts += 1;
                    self.cut.insert((x, y));
                    let after = self.rng.range(200, 3000);
                    self.schedule(after, Event::Undo(Fault::Heal(x, y)));
                }
            }
            6 => {
                let Some(n) = self.rng.pick(&nodes) else {
                    return;
                };
                if self.rng.chance(0.5) {
                    self.note(format!("nemesis: slow links at {n}"));
                    self.slow.insert(n);
                } else {
                    self.note(format!("nemesis: lossy links at {n}"));
                    self.lossy.insert(n);
                }
                let after = self.rng.range(300, 3000);
                self.schedule(after, Event::Undo(Fault::Unslow(n)));
            }
            7 => {
                self.note(format!("nemesis: slow fsyncs on broker {b}"));
                self.brokers[(b - 1) as usize].slow_fsync = true;
                let after = self.rng.range(300, 3000);
                self.schedule(after, Event::Undo(Fault::FsyncNormal(b)));
            }
            8 => self.delete_records(b),
            _ => {
                self.note("nemesis: heal every link".into());
                self.cut.clear();
            }
        }
        let next = self.rng.range(100, 700);
        self.schedule(next, Event::Nemesis);
    }

    fn undo(&mut self, fault: Fault) {
        if self.healed {
            return;
        }
        match fault {
            Fault::Restart(b) => self.start_broker(b),
            Fault::Resume(b) => self.resume(b),
            Fault::Heal(x, y) => {
                self.cut.remove(&(x, y));
            }
            Fault::Unslow(n) => {
                self.slow.remove(&n);
                self.lossy.remove(&n);
            }
            Fault::FsyncNormal(b) => self.brokers[(b - 1) as usize].slow_fsync = false,
        }
    }

    fn heal_all(&mut self) {
        self.healed = true;
        self.note("heal: every link, every broker".into());
        self.cut.clear();
        self.slow.clear();
        self.lossy.clear();
        for id in 1..=self.brokers.len() as i32 {
            self.brokers[(id - 1) as usize].slow_fsync = false;
            if !self.brokers[(id - 1) as usize].up {
                self.start_broker(id);
            }
            self.resume(id);
        }
    }

    fn resume(&mut self, b: i32) {
        if !self.brokers[(b - 1) as usize].paused {
            return;
        }
        self.brokers[(b - 1) as usize].paused = false;
        self.note(format!("resume broker {b}"));
        for event in self.stalled.remove(&b).unwrap_or_default() {
            self.seq += 1;
            self.events.insert(self.seq, event);
            self.queue.push(Reverse((self.now, self.seq)));
        }
    }

    /// DeleteRecords on a partition this broker leads: the log start moves
    /// up, at most to the high watermark (as Kafka's).
    fn delete_records(&mut self, b: i32) {
        let now_leading: Vec<i32> = self.brokers[(b - 1) as usize]
            .replicas
            .iter()
            .filter(|(_, r)| matches!(r.role, Role::Leader(_)))
            .map(|(p, _)| *p)
            .collect();
        let Some(p) = self.rng.pick(&now_leading) else {
            return;
        };
        let step = self.rng.range(1, 30);
        let broker = &mut self.brokers[(b - 1) as usize];
        if !broker.up || broker.paused {
            return;
        }
        let Some(r) = broker.replicas.get_mut(&p) else {
            return;
        };
        let to = (r.log.log_start_offset() + step).min(r.high_watermark);
        if to > r.log.log_start_offset() {
            r.log.increase_log_start(to);
            self.note(format!(
                "nemesis: delete records of partition {p} below {to} on leader {b}"
            ));
        }
    }

    fn crash(&mut self, b: i32) {
        self.stats.crashes += 1;
        let broker = &mut self.brokers[(b - 1) as usize];
        broker.up = false;
        broker.paused = false;
        broker.incarnation += 1;
        broker.epoch = -1;
        broker.image = MetadataImage::empty();
        broker.isr_queue.clear();
        broker.isr_in_flight = None;
        for r in broker.replicas.values_mut() {
            r.log.crash();
            r.role = Role::None;
            r.pending.clear();
            r.flush_in_flight = false;
            r.fetch_seq = None;
            r.generation += 1;
        }
        let ends: Vec<String> = broker
            .replicas
            .iter()
            .map(|(p, r)| format!("p{p}:{}", r.log.log_end_offset()))
            .collect();
        self.stalled.remove(&b);
        self.note(format!(
            "nemesis: crash broker {b} (logs keep their durable prefix: {})",
            ends.join(" ")
        ));
    }

    fn start_broker(&mut self, b: i32) {
        let partitions = self.partitions;
        let broker = &mut self.brokers[(b - 1) as usize];
        broker.up = true;
        broker.paused = false;
        broker.incarnation += 1;
        broker.epoch = -1;
        broker.image = MetadataImage::empty();
        for p in 0..partitions {
            let r = broker.replicas.entry(p).or_insert_with(|| Replica {
                log: SimLog::default(),
                role: Role::None,
                leader_epoch: -1,
                high_watermark: 0,
                checkpointed_hw: 0,
                flush_in_flight: false,
                pending: Vec::new(),
                generation: 0,
                fetch_seq: None,
            });
            r.role = Role::None;
            r.leader_epoch = -1;
            r.high_watermark = r.checkpointed_hw.min(r.log.log_end_offset());
            r.generation += 1;
        }
        self.note(format!("start broker {b}"));
        self.broker_send_register(b);
        self.timer(b, HEARTBEAT_MS, Timer::Heartbeat);
        self.timer(b, 1, Timer::MetadataFetch);
        self.timer(b, (LAG_TIME_MAX_MS / 2) as i64, Timer::IsrExpiration);
        self.timer(b, HW_CHECKPOINT_MS, Timer::HwCheckpoint);
    }

    // ---- the controller ----------------------------------------------------

    /// Applies a decision's records as the next metadata log entry.
    fn commit(&mut self, records: Vec<MetadataRecord>, why: &str) {
        if records.is_empty() {
            return;
        }
        let offset = self.controller.image.offset() + 1;
        match self.controller.image.apply(&records, offset) {
            Ok(next) => {
                for r in &records {
                    if let MetadataRecord::Partition {
                        partition,
                        isr,
                        leader,
                        leader_epoch,
                        partition_epoch,
                        ..
                    } = r
                    {
                        self.stats.isr_changes += 1;
                        let line = format!(
                            "controller ({why}): partition {partition} leader {leader} epoch {leader_epoch} isr {isr:?} partition epoch {partition_epoch}"
                        );
                        self.note(line);
                    }
                }
                self.controller.image = next;
            }
            Err(e) => self.checker.violations.push(format!(
                "the controller's records for {why} do not apply: {e}"
            )),
        }
    }

    fn create_topic(&mut self) {
        let n = self.brokers.len() as i64;
        let mut records = vec![MetadataRecord::Topic {
            name: "sim".into(),
            topic_id: self.topic_id,
        }];
        for p in 0..self.partitions {
            let first = self.rng.range(0, n);
            let replicas: Vec<i32> = (0..REPLICATION_FACTOR as i64)
                .map(|i| ((first + i) % n) as i32 + 1)
                .collect();
            records.push(MetadataRecord::Partition {
                topic_id: self.topic_id,
                partition: p,
                replicas: replicas.clone(),
                // New partitions are fully in sync (they are all empty).
                isr: replicas.clone(),
                leader: replicas[0],
                leader_epoch: 0,
                partition_epoch: 0,
                adding_replicas: Vec::new(),
                removing_replicas: Vec::new(),
            });
        }
        self.commit(records, "create topic");
    }

    fn controller_receive(&mut self, from: i32, msg: Msg) {
        match msg {
            Msg::Register { incarnation } => {
                let reg = registration(from, incarnation);
                match register_broker(&self.controller.image, &reg) {
                    Ok(records) => {
                        self.commit(records, &format!("broker {from} registers"));
                        self.controller.last_heartbeat.insert(from, self.now);
                        let epoch = self
                            .controller
                            .image
                            .broker(from)
                            .filter(|r| r.incarnation_id == u128::from(incarnation))
                            .map_or(-1, |r| r.epoch);
                        if epoch >= 0 {
                            self.send(CONTROLLER, from, Msg::Registered { epoch });
                        }
                    }
                    Err(e) => self
                        .checker
                        .violations
                        .push(format!("registration of broker {from} refused: {e}")),
                }
            }
            Msg::Heartbeat {
                epoch,
                metadata_offset,
            } => {
                let hb = BrokerHeartbeat {
                    broker_id: from,
                    broker_epoch: epoch,
                    current_metadata_offset: metadata_offset,
                    want_fence: false,
                    want_shut_down: false,
                };
                match broker_heartbeat(&self.controller.image, &hb, &ControllerDefaults::default())
                {
                    Ok((_, records)) => {
                        self.controller.last_heartbeat.insert(from, self.now);
                        self.commit(records, &format!("heartbeat of broker {from}"));
                    }
                    Err(_) => self.send(CONTROLLER, from, Msg::HeartbeatFailed),
                }
            }
            Msg::MetadataFetch { offset } if self.controller.image.offset() > offset => {
                let image = self.controller.image.clone();
                self.send(CONTROLLER, from, Msg::Metadata(image));
            }
            Msg::AlterPartition {
                request,
                epoch,
                items,
            } => {
                let (outcomes, records) =
                    alter_partition(&self.controller.image, from, epoch, &items);
                self.commit(records, &format!("AlterPartition from broker {from}"));
                self.send(
                    CONTROLLER,
                    from,
                    Msg::AlterPartitionAnswer { request, outcomes },
                );
            }
            _ => {}
        }
    }

    fn controller_timer(&mut self, timer: Timer) {
        if let Timer::SessionCheck = timer {
            let expired: Vec<i32> = self
                .controller
                .image
                .brokers()
                .filter(|b| !b.fenced)
                .filter(|b| {
                    self.controller
                        .last_heartbeat
                        .get(&b.broker_id)
                        .is_none_or(|t| self.now - t > SESSION_TIMEOUT_MS)
                })
                .map(|b| b.broker_id)
                .collect();
            if !expired.is_empty() {
                let records = fence_brokers(
                    &self.controller.image,
                    &expired,
                    &ControllerDefaults::default(),
                );
                self.commit(records, &format!("sessions of {expired:?} expired"));
            }
            self.timer(CONTROLLER, 100, Timer::SessionCheck);
        }
    }

    // ---- brokers -----------------------------------------------------------

    fn broker_send_register(&mut self, b: i32) {
        let incarnation = self.brokers[(b - 1) as usize].incarnation;
        self.send(b, CONTROLLER, Msg::Register { incarnation });
    }

    fn broker_timer(&mut self, b: i32, timer: Timer) {
        match timer {
            Timer::Heartbeat => {
                let broker = &self.brokers[(b - 1) as usize];
                let (epoch, offset) = (broker.epoch, broker.image.offset());
                if epoch < 0 {
                    self.broker_send_register(b);
                } else {
                    self.send(
                        b,
                        CONTROLLER,
                        Msg::Heartbeat {
                            epoch,
                            metadata_offset: offset,
                        },
                    );
                }
                self.timer(b, HEARTBEAT_MS, Timer::Heartbeat);
            }
            Timer::MetadataFetch => {
                let offset = self.brokers[(b - 1) as usize].image.offset();
                self.send(b, CONTROLLER, Msg::MetadataFetch { offset });
                self.timer(b, METADATA_FETCH_MS, Timer::MetadataFetch);
            }
            Timer::HwCheckpoint => {
                for r in self.brokers[(b - 1) as usize].replicas.values_mut() {
                    r.checkpointed_hw = r.high_watermark;
                }
                self.timer(b, HW_CHECKPOINT_MS, Timer::HwCheckpoint);
            }
            Timer::IsrExpiration => {
                let now = self.now;
                let partitions: Vec<i32> = self.brokers[(b - 1) as usize]
                    .replicas
                    .keys()
                    .copied()
                    .collect();
                for p in partitions {
                    let proposal = {
                        let r = self.brokers[(b - 1) as usize]
                            .replicas
                            .get_mut(&p)
                            .expect("hosted");
                        let leo = r.log.log_end_offset();
                        match &mut r.role {
                            // partition.rs `isr_shrink`.
                            Role::Leader(state) => state.unanswered_proposal().or_else(|| {
                                state
                                    .shrink(leo, now, LAG_TIME_MAX_MS)
                                    .map(|isr| state.proposed(isr))
                            }),
                            _ => None,
                        }
                    };
                    if let Some(proposal) = proposal {
                        self.note(format!(
                            "broker {b}: partition {p} proposing isr {:?} (followers fell behind, or sent again)",
                            proposal.isr
                        ));
                        self.propose(b, p, proposal);
                    }
                }
                self.timer(b, (LAG_TIME_MAX_MS / 2) as i64, Timer::IsrExpiration);
            }
            Timer::Fetch {
                partition,
                generation,
            } => self.follower_fetch(b, partition, generation),
            Timer::FetchTimeout { partition, seq } => {
                let r = self.brokers[(b - 1) as usize]
                    .replicas
                    .get_mut(&partition)
                    .expect("hosted");
                if r.fetch_seq == Some(seq) {
                    r.fetch_seq = None;
                    let generation = r.generation;
                    self.follower_fetch(b, partition, generation);
                }
            }
            Timer::LeaderFsync { partition, up_to } => {
                let r = self.brokers[(b - 1) as usize]
                    .replicas
                    .get_mut(&partition)
                    .expect("hosted");
                r.log.synced(up_to);
                r.flush_in_flight = false;
                let more = r.log.durable_end() < r.log.log_end_offset()
                    && matches!(r.role, Role::Leader(_));
                self.publish(b, partition);
                if more {
                    self.request_flush(b, partition);
                }
            }
            Timer::FollowerFsync {
                partition,
                up_to,
                generation,
            } => {
                let r = self.brokers[(b - 1) as usize]
                    .replicas
                    .get_mut(&partition)
                    .expect("hosted");
                r.log.synced(up_to);
                if r.generation == generation {
                    self.follower_fetch(b, partition, generation);
                }
            }
            Timer::AlterPartitionTimeout { request }
                if self.brokers[(b - 1) as usize]
                    .isr_in_flight
                    .as_ref()
                    .is_some_and(|(r, _)| *r == request) =>
            {
                let (_, parts) = self.brokers[(b - 1) as usize]
                    .isr_in_flight
                    .take()
                    .expect("in flight");
                for (p, proposal) in parts {
                    self.isr_answered(b, p, &proposal, IsrAnswer::Unknown);
                }
                self.send_isr_batch(b);
            }
            Timer::ProduceTimeout { partition, request } => {
                let r = self.brokers[(b - 1) as usize]
                    .replicas
                    .get_mut(&partition)
                    .expect("hosted");
                if let Some(i) = r.pending.iter().position(|a| a.request == request) {
                    let ack = r.pending.remove(i);
                    self.send(
                        b,
                        ack.client,
                        Msg::ProduceAnswer {
                            request,
                            result: Err(REQUEST_TIMED_OUT),
                        },
                    );
                }
            }
            _ => {}
        }
    }

    fn fsync_delay(&mut self, b: i32) -> i64 {
        if self.brokers[(b - 1) as usize].slow_fsync {
            self.rng.range(50, 400)
        } else {
            self.rng.range(1, 6)
        }
    }

    /// A background fsync of everything appended so far, unless one is on
    /// its way (partition.rs `request_flush`).
    fn request_flush(&mut self, b: i32, p: i32) {
        let delay = self.fsync_delay(b);
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        if r.flush_in_flight {
            return;
        }
        r.flush_in_flight = true;
        let up_to = r.log.log_end_offset();
        self.timer(
            b,
            delay,
            Timer::LeaderFsync {
                partition: p,
                up_to,
            },
        );
    }

    fn broker_receive(&mut self, b: i32, from: i32, msg: Msg) {
        match msg {
            Msg::Registered { epoch } => {
                self.brokers[(b - 1) as usize].epoch = epoch;
                self.note(format!("broker {b} registered with epoch {epoch}"));
                self.apply_roles(b);
            }
            Msg::HeartbeatFailed => {
                self.brokers[(b - 1) as usize].epoch = -1;
            }
            Msg::Metadata(image)
                if image.offset() > self.brokers[(b - 1) as usize].image.offset() =>
            {
                self.brokers[(b - 1) as usize].image = image;
                self.apply_roles(b);
            }
            Msg::AlterPartitionAnswer { request, outcomes } => {
                let matches = self.brokers[(b - 1) as usize]
                    .isr_in_flight
                    .as_ref()
                    .is_some_and(|(r, _)| *r == request);
                if !matches {
                    return;
                }
                let (_, parts) = self.brokers[(b - 1) as usize]
                    .isr_in_flight
                    .take()
                    .expect("in flight");
                for (p, proposal) in parts {
                    let answer = match outcomes
                        .iter()
                        .find(|o| o.partition == p)
                        .map(|o| &o.result)
                    {
                        Some(Ok(state)) => IsrAnswer::Committed {
                            leader_epoch: state.leader_epoch,
                            partition_epoch: state.partition_epoch,
                            isr: state.isr.clone(),
                        },
                        Some(Err(code)) => isr_refusal(*code),
                        None => IsrAnswer::Unknown,
                    };
                    self.isr_answered(b, p, &proposal, answer);
                }
                self.send_isr_batch(b);
            }
            Msg::Fetch {
                partition,
                seq,
                fetch_offset,
                last_fetched_epoch,
                current_leader_epoch,
            } => {
                let answer = self.leader_fetch(
                    b,
                    from,
                    partition,
                    fetch_offset,
                    last_fetched_epoch,
                    current_leader_epoch,
                );
                self.send(
                    b,
                    from,
                    Msg::FetchAnswer {
                        partition,
                        seq,
                        fetch_offset,
                        answer,
                    },
                );
            }
            Msg::FetchAnswer {
                partition,
                seq,
                fetch_offset,
                answer,
            } => self.follower_answer(b, partition, seq, fetch_offset, answer),
            Msg::Produce {
                request,
                partition,
                value,
            } => self.leader_produce(b, from, request, partition, value),
            Msg::ConsumerFetch {
                request,
                partition,
                offset,
            } => {
                let result = match self.brokers[(b - 1) as usize].replicas.get(&partition) {
                    Some(r) if matches!(r.role, Role::Leader(_)) => {
                        if offset < r.log.log_start_offset() || offset > r.log.log_end_offset() {
                            Err((OFFSET_OUT_OF_RANGE, r.log.log_start_offset()))
                        } else {
                            Ok(r.log.read(offset, r.high_watermark, FETCH_MAX_RECORDS))
                        }
                    }
                    _ => Err((NOT_LEADER_OR_FOLLOWER, -1)),
                };
                self.send(b, from, Msg::ConsumerAnswer { request, result });
            }
            Msg::ClientMetadata => {
                let image = self.brokers[(b - 1) as usize].image.clone();
                self.send(b, from, Msg::Metadata(image));
            }
            _ => {}
        }
    }

    /// Leads or follows each hosted partition as the broker's image says
    /// (replica_manager.rs `apply_role`), once the image holds this run's
    /// registration.
    fn apply_roles(&mut self, b: i32) {
        let broker = &self.brokers[(b - 1) as usize];
        if broker.epoch < 0 || broker.image.offset() < broker.epoch {
            return;
        }
        let Some(topic) = broker.image.topic_by_id(self.topic_id) else {
            return;
        };
        let states: Vec<(i32, strom_metadata::PartitionImage)> = topic
            .partitions
            .iter()
            .filter(|(_, s)| s.replicas.contains(&b))
            .map(|(p, s)| (*p, s.clone()))
            .collect();
        for (p, s) in states {
            let now = self.now;
            let r = self.brokers[(b - 1) as usize]
                .replicas
                .get_mut(&p)
                .expect("hosted");
            let is_leader = matches!(r.role, Role::Leader(_));
            if s.leader == b {
                if !is_leader || r.leader_epoch != s.leader_epoch {
                    // become_leader
                    let start = r.log.log_end_offset();
                    r.log.assign_epoch_start(s.leader_epoch, start);
                    let state = LeaderState::new(
                        b,
                        s.leader_epoch,
                        s.partition_epoch,
                        s.replicas.clone(),
                        s.isr.clone(),
                        start,
                        r.high_watermark,
                        now,
                    );
                    r.role = Role::Leader(Box::new(state));
                    r.leader_epoch = s.leader_epoch;
                    r.generation += 1;
                    r.fetch_seq = None;
                    let hw = r.high_watermark;
                    self.stats.elections += 1;
                    self.checker.became_leader(p, s.leader_epoch, b);
                    self.note(format!(
                        "broker {b}: leads partition {p} in epoch {} from offset {start} (hw {hw}, isr {:?})",
                        s.leader_epoch, s.isr
                    ));
                    self.publish(b, p);
                } else {
                    if let Role::Leader(state) = &mut r.role {
                        state.update(s.partition_epoch, s.replicas.clone(), s.isr.clone(), now);
                    }
                    self.publish(b, p);
                }
            } else {
                let follows = matches!(r.role, Role::Follower { leader, .. } if leader == s.leader);
                if is_leader || r.leader_epoch != s.leader_epoch || !follows {
                    // become_follower: requests waiting as leader fail.
                    let hw = r.high_watermark;
                    r.role = Role::Follower {
                        leader: s.leader,
                        leader_high_watermark: hw,
                    };
                    r.leader_epoch = s.leader_epoch;
                    r.generation += 1;
                    r.fetch_seq = None;
                    let generation = r.generation;
                    let failed: Vec<PendingAck> = r.pending.drain(..).collect();
                    for ack in failed {
                        self.send(
                            b,
                            ack.client,
                            Msg::ProduceAnswer {
                                request: ack.request,
                                result: Err(NOT_LEADER_OR_FOLLOWER),
                            },
                        );
                    }
                    self.note(format!(
                        "broker {b}: follows {} for partition {p} in epoch {}",
                        s.leader, s.leader_epoch
                    ));
                    if s.leader >= 0 {
                        self.timer(
                            b,
                            0,
                            Timer::Fetch {
                                partition: p,
                                generation,
                            },
                        );
                    }
                }
            }
        }
    }

    /// Moves the high watermark after an operation (partition.rs
    /// `publish`) and answers the produce requests it settles.
    fn publish(&mut self, b: i32, p: i32) {
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        let leo = r.log.log_end_offset();
        match &mut r.role {
            Role::Leader(state) => {
                state.advance_high_watermark(r.log.durable_end());
                r.high_watermark = r.high_watermark.max(state.high_watermark());
                let (epoch, hw, isr_len) =
                    (state.leader_epoch, r.high_watermark, state.isr().len());
                let mut answers = Vec::new();
                r.pending.retain(|ack| {
                    if ack.end <= hw {
                        let result = if isr_len < MIN_INSYNC_REPLICAS {
                            Err(NOT_ENOUGH_REPLICAS_AFTER_APPEND)
                        } else {
                            Ok(ack.end - 1)
                        };
                        answers.push((ack.client, ack.request, result));
                        false
                    } else {
                        true
                    }
                });
                self.checker.leader_high_watermark(p, epoch, b, hw);
                for (client, request, result) in answers {
                    self.send(b, client, Msg::ProduceAnswer { request, result });
                }
            }
            Role::Follower {
                leader_high_watermark,
                ..
            } => {
                r.high_watermark = (*leader_high_watermark).min(leo);
            }
            Role::None => {}
        }
    }

    fn leader_produce(&mut self, b: i32, client: i32, request: u64, p: i32, value: u64) {
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        let result = match &r.role {
            Role::Leader(state) if state.isr().len() < MIN_INSYNC_REPLICAS => {
                Err(NOT_ENOUGH_REPLICAS)
            }
            Role::Leader(state) => {
                let offset = r.log.append(state.leader_epoch, value);
                r.pending.push(PendingAck {
                    client,
                    request,
                    end: offset + 1,
                });
                Ok(())
            }
            _ => Err(NOT_LEADER_OR_FOLLOWER),
        };
        match result {
            Ok(()) => {
                self.timer(
                    b,
                    REQUEST_TIMEOUT_MS,
                    Timer::ProduceTimeout {
                        partition: p,
                        request,
                    },
                );
                self.publish(b, p);
                self.request_flush(b, p);
            }
            Err(code) => self.send(
                b,
                client,
                Msg::ProduceAnswer {
                    request,
                    result: Err(code),
                },
            ),
        }
    }

    /// A follower's fetch on the leader (handlers/fetch.rs).
    fn leader_fetch(
        &mut self,
        b: i32,
        follower: i32,
        p: i32,
        fetch_offset: i64,
        last_fetched_epoch: i32,
        current_leader_epoch: i32,
    ) -> FetchAnswer {
        let now = self.now;
        let image = self.brokers[(b - 1) as usize].image.clone();
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        let Role::Leader(state) = &mut r.role else {
            return FetchAnswer::Error(NOT_LEADER_OR_FOLLOWER);
        };
        if current_leader_epoch >= 0 && current_leader_epoch != state.leader_epoch {
            return FetchAnswer::Error(if current_leader_epoch > state.leader_epoch {
                UNKNOWN_LEADER_EPOCH
            } else {
                FENCED_LEADER_EPOCH
            });
        }
        let log = &r.log;
        if let Some((epoch, end_offset)) =
            follower::diverging_epoch(|e| log.end_offset_for(e), last_fetched_epoch, fetch_offset)
        {
            return FetchAnswer::Diverging { epoch, end_offset };
        }
        let leo = r.log.log_end_offset();
        let mut proposal = None;
        if fetch_offset <= leo {
            if !state.on_follower_fetch(follower, fetch_offset, leo, now) {
                return FetchAnswer::Error(NOT_LEADER_OR_FOLLOWER);
            }
            let is_alive = |id: i32| image.broker(id).is_some_and(BrokerRegistration::is_alive);
            if let Some(isr) = state.expansion(is_alive) {
                proposal = Some(state.proposed(isr));
            }
        }
        self.publish(b, p);
        if let Some(proposal) = proposal {
            self.note(format!(
                "broker {b}: partition {p} follower {follower} caught up, proposing isr {:?}",
                proposal.isr
            ));
            self.propose(b, p, proposal);
        }
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        if fetch_offset < r.log.log_start_offset() || fetch_offset > r.log.log_end_offset() {
            return FetchAnswer::OutOfRange {
                log_start: r.log.log_start_offset(),
                log_end: r.log.log_end_offset(),
            };
        }
        FetchAnswer::Records {
            records: r
                .log
                .read(fetch_offset, r.log.log_end_offset(), FETCH_MAX_RECORDS),
            high_watermark: r.high_watermark,
            log_start: r.log.log_start_offset(),
        }
    }

    fn follower_fetch(&mut self, b: i32, p: i32, generation: u64) {
        let seq = {
            self.next_request += 1;
            self.next_request
        };
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        if r.generation != generation || r.fetch_seq.is_some() {
            return;
        }
        let Role::Follower { leader, .. } = r.role else {
            return;
        };
        if leader < 0 {
            return;
        }
        let end = r.log.log_end_offset();
        if self.fsync_before_fetch && r.log.durable_end() < end {
            // What an earlier fetcher appended and had no time to fsync (it
            // was stopped when the leader changed), or what this replica
            // appended as leader: fsynced before the fetch offset says it
            // is held (fetcher.rs `fetch_round`).
            let delay = self.fsync_delay(b);
            self.timer(
                b,
                delay,
                Timer::FollowerFsync {
                    partition: p,
                    up_to: end,
                    generation,
                },
            );
            return;
        }
        r.fetch_seq = Some(seq);
        let msg = Msg::Fetch {
            partition: p,
            seq,
            fetch_offset: r.log.log_end_offset(),
            last_fetched_epoch: r.log.latest_epoch(),
            current_leader_epoch: r.leader_epoch,
        };
        self.send(b, leader, msg);
        self.timer(
            b,
            REQUEST_TIMEOUT_MS,
            Timer::FetchTimeout { partition: p, seq },
        );
    }

    /// What the fetcher does with the leader's answer (fetcher.rs
    /// `handle_partition`), then the next fetch: after an fsync when it
    /// appended, after a back-off on an error.
    fn follower_answer(
        &mut self,
        b: i32,
        p: i32,
        seq: u64,
        fetch_offset: i64,
        answer: FetchAnswer,
    ) {
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        if r.fetch_seq != Some(seq) || !matches!(r.role, Role::Follower { .. }) {
            return;
        }
        r.fetch_seq = None;
        let generation = r.generation;
        let mut next_in = FETCH_IDLE_MS;
        let mut appended_to = None;
        match answer {
            FetchAnswer::Error(code) => {
                next_in = FETCH_BACKOFF_MS;
                self.note(format!(
                    "broker {b}: partition {p} fetch answered with error {code}"
                ));
            }
            FetchAnswer::OutOfRange { log_start, log_end } => {
                if log_start > fetch_offset {
                    r.log.truncate_fully_and_start_at(log_start);
                    self.stats.truncations += 1;
                    self.note(format!(
                        "broker {b}: partition {p} behind the leader's log start, restarting at {log_start}"
                    ));
                    next_in = 0;
                } else if log_end < fetch_offset {
                    r.log.truncate_to(log_end.max(0));
                    self.stats.truncations += 1;
                    self.note(format!(
                        "broker {b}: partition {p} past the leader's end, truncating to {log_end}"
                    ));
                    next_in = 0;
                } else {
                    next_in = FETCH_BACKOFF_MS;
                }
            }
            FetchAnswer::Diverging { epoch, end_offset } => {
                let log = &r.log;
                let to = follower::truncation_offset(
                    |e| log.end_offset_for(e),
                    log.log_start_offset(),
                    log.log_end_offset(),
                    epoch,
                    end_offset,
                );
                let from = r.log.log_end_offset();
                r.log.truncate_to(to);
                self.stats.truncations += 1;
                self.note(format!(
                    "broker {b}: partition {p} diverged after epoch {epoch} end {end_offset}, truncating {from} -> {to}"
                ));
                next_in = 0;
            }
            FetchAnswer::Records {
                records,
                high_watermark,
                log_start,
            } => {
                match r.log.append_as_follower(&records) {
                    Ok(n) if n > 0 => appended_to = Some(r.log.log_end_offset()),
                    Ok(_) => {}
                    Err(e) => {
                        self.checker
                            .violations
                            .push(format!("broker {b}: partition {p}: {e}"));
                        next_in = FETCH_BACKOFF_MS;
                    }
                }
                if log_start > r.log.log_start_offset() {
                    r.log.increase_log_start(log_start);
                }
                if let Role::Follower {
                    leader_high_watermark,
                    ..
                } = &mut r.role
                {
                    *leader_high_watermark = high_watermark;
                }
                self.publish(b, p);
            }
        }
        match appended_to {
            Some(up_to) => {
                let delay = self.fsync_delay(b);
                self.timer(
                    b,
                    delay,
                    Timer::FollowerFsync {
                        partition: p,
                        up_to,
                        generation,
                    },
                );
            }
            None => self.timer(
                b,
                next_in,
                Timer::Fetch {
                    partition: p,
                    generation,
                },
            ),
        }
    }

    /// An ISR change for the controller, queued behind the one in flight
    /// (isr.rs).
    fn propose(&mut self, b: i32, p: i32, proposal: IsrProposal) {
        self.brokers[(b - 1) as usize].isr_queue.push((p, proposal));
        self.send_isr_batch(b);
    }

    fn send_isr_batch(&mut self, b: i32) {
        let broker = &self.brokers[(b - 1) as usize];
        if broker.isr_in_flight.is_some() || broker.isr_queue.is_empty() {
            return;
        }
        self.next_request += 1;
        let request = self.next_request;
        let broker = &mut self.brokers[(b - 1) as usize];
        let batch: Vec<(i32, IsrProposal)> = broker.isr_queue.drain(..).collect();
        let epoch = broker.epoch;
        let items: Vec<AlterPartitionItem> = batch
            .iter()
            .map(|(p, proposal)| AlterPartitionItem {
                topic_id: self.topic_id,
                partition: *p,
                leader_epoch: proposal.leader_epoch,
                partition_epoch: proposal.partition_epoch,
                new_isr: proposal.isr.clone(),
            })
            .collect();
        broker.isr_in_flight = Some((request, batch));
        let what: Vec<String> = items
            .iter()
            .map(|i| {
                format!(
                    "p{} {:?} (partition epoch {})",
                    i.partition, i.new_isr, i.partition_epoch
                )
            })
            .collect();
        self.note(format!(
            "broker {b}: AlterPartition request {request}: {}",
            what.join(", ")
        ));
        self.send(
            b,
            CONTROLLER,
            Msg::AlterPartition {
                request,
                epoch,
                items,
            },
        );
        self.timer(
            b,
            REQUEST_TIMEOUT_MS,
            Timer::AlterPartitionTimeout { request },
        );
    }

    fn isr_answered(&mut self, b: i32, p: i32, proposal: &IsrProposal, answer: IsrAnswer) {
        self.note(format!(
            "broker {b}: partition {p} ISR change answered: {answer:?}"
        ));
        let r = self.brokers[(b - 1) as usize]
            .replicas
            .get_mut(&p)
            .expect("hosted");
        if let Role::Leader(state) = &mut r.role {
            state.answered(proposal, answer);
        }
        self.publish(b, p);
    }

    // ---- clients -----------------------------------------------------------

    fn client(&mut self, id: i32) -> &mut Client {
        &mut self.clients[(id - FIRST_CLIENT) as usize]
    }

    fn client_timer(&mut self, id: i32, timer: Timer) {
        match timer {
            Timer::ClientTick => {
                let stop = self.now >= FAULT_MS + PRODUCE_AFTER_HEAL_MS;
                let producer = self.client(id).producer;
                if !(producer && stop) {
                    self.client_act(id);
                }
                let next = if producer {
                    self.rng.range(5, 40)
                } else {
                    self.rng.range(20, 80)
                };
                self.timer(id, next, Timer::ClientTick);
            }
            Timer::ClientTimeout { request } => {
                let c = self.client(id);
                if let Some((r, p, value)) = c.in_flight {
                    if r == request {
                        c.in_flight = None;
                        if c.producer {
                            self.checker.sent(p, value, Send::Indeterminate);
                        }
                        self.refresh_metadata(id);
                    }
                }
            }
            _ => {}
        }
    }

    fn refresh_metadata(&mut self, id: i32) {
        let brokers: Vec<i32> = (1..=self.brokers.len() as i32).collect();
        if let Some(b) = self.rng.pick(&brokers) {
            self.send(id, b, Msg::ClientMetadata);
        }
    }

    fn client_act(&mut self, id: i32) {
        if self.client(id).in_flight.is_some() {
            return;
        }
        let p = self.rng.range(0, self.partitions as i64) as i32;
        let topic_id = self.topic_id;
        let leader = self
            .client(id)
            .view
            .topic_by_id(topic_id)
            .and_then(|t| t.partitions.get(&p))
            .map_or(-1, |s| s.leader);
        if leader < 0 {
            self.refresh_metadata(id);
            return;
        }
        self.next_request += 1;
        let request = self.next_request;
        let c = self.client(id);
        let msg = if c.producer {
            c.next_value += 1;
            let value = c.next_value;
            c.in_flight = Some((request, p, value));
            Msg::Produce {
                request,
                partition: p,
                value,
            }
        } else {
            let offset = *c.positions.get(&p).unwrap_or(&0);
            c.in_flight = Some((request, p, 0));
            Msg::ConsumerFetch {
                request,
                partition: p,
                offset,
            }
        };
        self.send(id, leader, msg);
        self.timer(
            id,
            REQUEST_TIMEOUT_MS + 200,
            Timer::ClientTimeout { request },
        );
    }

    fn client_receive(&mut self, id: i32, _from: i32, msg: Msg) {
        match msg {
            Msg::Metadata(image) => {
                let c = self.client(id);
                if image.offset() > c.view.offset() {
                    c.view = image;
                }
            }
            Msg::ProduceAnswer { request, result } => {
                let c = self.client(id);
                let Some((r, p, value)) = c.in_flight else {
                    return;
                };
                if r != request {
                    return;
                }
                c.in_flight = None;
                let outcome = match result {
                    Ok(offset) => Send::Acked(offset),
                    Err(NOT_ENOUGH_REPLICAS) => {
                        self.stats.not_enough_replicas += 1;
                        Send::Refused
                    }
                    Err(_) => Send::Indeterminate,
                };
                self.checker.sent(p, value, outcome);
                if !matches!(outcome, Send::Acked(_)) {
                    self.refresh_metadata(id);
                }
            }
            Msg::ConsumerAnswer { request, result } => {
                let c = self.client(id);
                let Some((r, p, _)) = c.in_flight else {
                    return;
                };
                if r != request {
                    return;
                }
                c.in_flight = None;
                match result {
                    Ok(records) => {
                        if let Some(last) = records.last() {
                            c.positions.insert(p, last.offset + 1);
                        }
                        for rec in records {
                            self.checker.read(p, rec.offset, rec.value);
                        }
                    }
                    Err((OFFSET_OUT_OF_RANGE, log_start)) => {
                        c.positions.insert(p, log_start.max(0));
                    }
                    Err(_) => self.refresh_metadata(id),
                }
            }
            _ => {}
        }
    }

    // ---- the end -----------------------------------------------------------

    /// The end-of-run checks: the cluster converged, then the invariants.
    fn finish(&mut self) {
        let image = self.controller.image.clone();
        let Some(topic) = image.topic_by_id(self.topic_id) else {
            self.checker.violations.push("the topic is gone".into());
            return;
        };
        for b in &self.brokers {
            let alive = image.broker(b.id).is_some_and(BrokerRegistration::is_alive);
            if !alive {
                self.checker
                    .violations
                    .push(format!("did not converge: broker {} is not unfenced", b.id));
            }
        }
        for (&p, s) in &topic.partitions {
            if s.leader < 0 {
                self.checker
                    .violations
                    .push(format!("did not converge: partition {p} has no leader"));
                continue;
            }
            let leader = &self.brokers[(s.leader - 1) as usize];
            let Some(lr) = leader.replicas.get(&p) else {
                continue;
            };
            if !matches!(lr.role, Role::Leader(_)) || lr.leader_epoch != s.leader_epoch {
                self.checker.violations.push(format!(
                    "did not converge: broker {} does not lead partition {p} in epoch {}",
                    s.leader, s.leader_epoch
                ));
                continue;
            }
            let mut isr = s.isr.clone();
            isr.sort_unstable();
            let mut all = s.replicas.clone();
            all.sort_unstable();
            if isr != all {
                self.checker.violations.push(format!(
                    "did not converge: partition {p} isr {:?} of replicas {:?}",
                    s.isr, s.replicas
                ));
            }
            let replicas: Vec<(i32, &SimLog)> = s
                .replicas
                .iter()
                .filter(|&&r| r != s.leader)
                .filter_map(|&r| {
                    self.brokers[(r - 1) as usize]
                        .replicas
                        .get(&p)
                        .map(|x| (r, &x.log))
                })
                .collect();
            for (r, log) in &replicas {
                if log.log_end_offset() != lr.log.log_end_offset() {
                    self.checker.violations.push(format!(
                        "did not converge: partition {p} replica {r} ends at {}, leader {} at {}",
                        log.log_end_offset(),
                        s.leader,
                        lr.log.log_end_offset()
                    ));
                }
            }
            if lr.high_watermark != lr.log.log_end_offset() {
                self.checker.violations.push(format!(
                    "did not converge: partition {p} high watermark {} below the log end {}",
                    lr.high_watermark,
                    lr.log.log_end_offset()
                ));
            }
            let log = lr.log.clone();
            let hw = lr.high_watermark;
            let owned: Vec<(i32, SimLog)> =
                replicas.iter().map(|(r, l)| (*r, (*l).clone())).collect();
            let borrowed: Vec<(i32, &SimLog)> = owned.iter().map(|(r, l)| (*r, l)).collect();
            self.checker.check_final(p, s.leader, &log, hw, &borrowed);
        }
    }

    fn report(&self) -> String {
        let mut out = format!(
            "replication simulation seed {} failed ({} brokers, {} partitions); replay with STROM_SIM_SEED={} cargo nextest run -p strom-broker sim::\n",
            self.seed,
            self.brokers.len(),
            self.partitions,
            self.seed
        );
        for v in self.checker.violations.iter().take(20) {
            let _ = writeln!(out, "  violation: {v}");
        }
        let _ = writeln!(out, "  {:?}", self.stats);
        let _ = writeln!(out, "the last {} events:", self.trace.len());
        for line in &self.trace {
            let _ = writeln!(out, "  {line}");
        }
        out
    }
}

fn registration(broker_id: i32, incarnation: u64) -> BrokerRegistration {
    BrokerRegistration {
        broker_id,
        incarnation_id: u128::from(incarnation),
        listeners: Vec::new(),
        rack: None,
        fenced: true,
        in_controlled_shutdown: false,
        epoch: -1,
    }
}

/// What one seed did.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    acked: usize,
    reads: usize,
    stats: String,
    trace: Vec<String>,
}

fn run_seed(seed: u64) -> Result<Outcome, String> {
    run_seed_with(seed, |_| {})
}

fn run_seed_with(seed: u64, configure: impl FnOnce(&mut Sim)) -> Result<Outcome, String> {
    let mut sim = Sim::new(seed);
    configure(&mut sim);
    sim.run();
    sim.finish();
    if !sim.checker.violations.is_empty() {
        return Err(sim.report());
    }
    Ok(Outcome {
        acked: sim.checker.acked,
        reads: sim.checker.read_count,
        stats: format!("{:?}", sim.stats),
        trace: sim.trace.iter().map(ToString::to_string).collect(),
    })
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn replication_survives_crashes_pauses_and_partitions() {
    let seeds: Vec<u64> = match env_u64("STROM_SIM_SEED") {
        Some(seed) => vec![seed],
        None => {
            let first = env_u64("STROM_SIM_FIRST_SEED").unwrap_or(0);
            let count = env_u64("STROM_SIM_SEEDS").unwrap_or(CI_SEEDS);
            (first..first.saturating_add(count)).collect()
        }
    };
    let started = std::time::Instant::now();
    let (mut acked, mut reads) = (0, 0);
    for &seed in &seeds {
        match run_seed(seed) {
            Ok(o) => {
                if seeds.len() == 1 {
                    eprintln!(
                        "seed {seed}: {} acknowledged, {} read, {}",
                        o.acked, o.reads, o.stats
                    );
                    for line in &o.trace {
                        eprintln!("  {line}");
                    }
                }
                acked += o.acked;
                reads += o.reads;
            }
            Err(report) => panic!("{report}"),
        }
    }
    eprintln!(
        "{} seeds, {acked} records acknowledged, {reads} read, in {:?}",
        seeds.len(),
        started.elapsed()
    );
    // A simulation in which nothing is acknowledged checks nothing.
    assert!(
        acked > seeds.len() * 20,
        "only {acked} acknowledged records over {} seeds",
        seeds.len()
    );
}

#[test]
fn a_seed_replays_exactly() {
    let seed = env_u64("STROM_SIM_SEED").unwrap_or(7);
    let a = run_seed(seed);
    let b = run_seed(seed);
    assert_eq!(a, b);
}

/// The follower rule before the fix: it fsynced only what it appended in a
/// fetch round before fetching again, so a fetcher stopped by a leader
/// change with an fsync on its way, or a leader turned follower with an
/// unflushed tail, fetched from an offset it did not durably hold, and the
/// leader counted it towards the high watermark. The simulation must catch
/// that (it did, with seed 180 of the CI form), and the rule in force must
/// not fail the same seeds.
#[test]
fn a_follower_fetches_only_from_an_offset_it_holds_durably() {
    // From 150: the first seed that broke it was 180; starting there keeps
    // the test short, and the range leaves room for schedules to move.
    let broken = (150..450u64).find_map(|seed| {
        run_seed_with(seed, |sim| sim.fsync_before_fetch = false)
            .err()
            .map(|report| (seed, report))
    });
    let Some((seed, report)) = broken else {
        panic!("no seed of 300 caught followers fetching from offsets they had not fsynced");
    };
    eprintln!("seed {seed} breaks the old follower rule");
    assert!(
        report.contains("durably holds the log only up to"),
        "seed {seed} failed otherwise:\n{report}"
    );
    if let Err(report) = run_seed(seed) {
        panic!("{report}");
    }
}
