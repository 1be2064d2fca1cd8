//! The simulation's invariants, checked as things happen: every apply of
//! every node (through the state machine's [`ApplyObserver`]), every
//! leader the nodes' metrics show, every heartbeat answer and every
//! acknowledged client request.
//!
//! The committed history is built from what the nodes apply: the first
//! node to apply index `i` defines entry `i`, and every other application
//! of `i`, by any node at any time, must be the same entry. Applied entries
//! are committed ones, so a difference is committed metadata lost or
//! reordered. Next to the history the checker replays it into reference
//! images, one per index, with the state machine's own apply function; a
//! node's image must always equal the reference at its applied index, so
//! snapshots, restarts and installs are checked against a straight replay.
//!
//! Violations are collected, not panicked on: they happen inside tasks, and
//! the simulation's main loop turns the first one into the seed's failure.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use strom_metadata::{ConfigResource, MetadataImage, MetadataRecord, TopicId};

use crate::decisions::BrokerHeartbeat;
use crate::raft::state_machine::{apply_entry, ApplyObserver};
use crate::raft::{Entry, LogId};
use crate::rpc::{ControllerReply, ControllerResponse};

#[derive(Default)]
struct State {
    /// Entry `i` of the committed history at position `i`.
    history: Vec<Entry>,
    /// The image after entry `i`.
    reference: Vec<Arc<MetadataImage>>,
    /// The node that led each term, from the nodes' metrics.
    leaders: BTreeMap<u64, u64>,
    /// The live incarnation of each node, and the last index it applied.
    nodes: BTreeMap<u64, (u64, Option<u64>)>,
    /// Topics a client was told were created, with the index creating them.
    acked_topics: BTreeMap<String, (TopicId, usize)>,
    /// Every topic creation in the history, and every config value set.
    created: BTreeMap<(String, TopicId), usize>,
    configs_set: BTreeSet<(ConfigResource, String, String)>,
    /// The offset of each node's image when acknowledged topics were last
    /// looked for in it.
    checked_offsets: BTreeMap<u64, i64>,
    violations: Vec<String>,
    /// A digest of what happened, in order: two runs of one seed that
    /// replay exactly have the same digest.
    digest: u64,
    /// What happened, in order (the first events), to show where two runs
    /// of one seed part.
    trace: Vec<String>,
}

/// Shared by the nodes' observers, the network and the simulation.
#[derive(Default)]
pub(crate) struct Checker {
    state: Mutex<State>,
}

const TRACE_EVENTS: usize = 4096;

fn mix(digest: &mut u64, event: &str) {
    // FNV-1a: stable across runs and platforms, unlike std's hasher.
    for byte in event.bytes() {
        *digest ^= u64::from(byte);
        *digest = digest.wrapping_mul(0x0100_0000_01b3);
    }
}

impl State {
    fn violation(&mut self, message: String) {
        if self.violations.len() < 16 {
            self.violations.push(message);
        }
    }

    fn leader(&mut self, term: u64, node: u64, source: &str) {
        let known = *self.leaders.entry(term).or_insert(node);
        if known != node {
            self.violation(format!(
                "two active controllers in term {term}: node {known} and node {node} ({source})"
            ));
        }
    }

    fn is_current(&self, node: u64, incarnation: u64) -> bool {
        self.nodes
            .get(&node)
            .is_some_and(|(i, _)| *i == incarnation)
    }

    /// Adds entry `index` to the history, or checks it against it.
    fn record(&mut self, node: u64, entry: &Entry) {
        let index = entry.log_id.index as usize;
        match self.history.get(index) {
            Some(known) => {
                if known.log_id != entry.log_id || !same_payload(known, entry) {
                    let known = describe(known);
                    self.violation(format!(
                        "committed history diverges at index {index}: node {node} applied {}, but {known} was applied before",
                        describe(entry)
                    ));
                }
            }
            None if index == self.history.len() => {
                let empty = Arc::new(MetadataImage::empty());
                let previous = self.reference.last().unwrap_or(&empty);
                let (image, _) = apply_entry(previous, entry);
                for record in records(entry) {
                    match record {
                        MetadataRecord::Topic { name, topic_id } => {
                            self.created.insert((name.clone(), *topic_id), index);
                        }
                        MetadataRecord::Config {
                            resource,
                            name,
                            value: Some(value),
                        } => {
                            self.configs_set.insert((
                                resource.clone(),
                                name.clone(),
                                value.clone(),
                            ));
                        }
                        _ => {}
                    }
                }
                self.history.push(entry.clone());
                self.reference.push(Arc::new(image));
                let term = entry.log_id.leader_id.term;
                if let Some(previous) = self.history.last().map(|e| e.log_id.leader_id.term) {
                    if term < previous {
                        self.violation(format!(
                            "committed entry {index} is of term {term}, after an entry of term {previous}"
                        ));
                    }
                }
                let event = describe(entry);
                mix(&mut self.digest, &event);
                if self.trace.len() < TRACE_EVENTS {
                    self.trace.push(event);
                }
            }
            None => self.violation(format!(
                "node {node} applied index {index}, but the committed history ends at {}",
                self.history.len()
            )),
        }
    }
}

fn same_payload(a: &Entry, b: &Entry) -> bool {
    serde_json::to_vec(&a.payload).ok() == serde_json::to_vec(&b.payload).ok()
}

fn describe(entry: &Entry) -> String {
    let payload = serde_json::to_string(&entry.payload).unwrap_or_default();
    let mut short = String::new();
    for c in payload.chars().take(160) {
        short.push(c);
    }
    format!("{} {short}", entry.log_id)
}

impl Checker {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The observer for one run of one node.
    pub(crate) fn observer(self: &Arc<Self>, node: u64, incarnation: u64) -> Arc<NodeObserver> {
        self.lock().nodes.insert(node, (incarnation, None));
        Arc::new(NodeObserver {
            node,
            incarnation,
            checker: self.clone(),
        })
    }

    /// The node crashed: its current run's applies no longer count.
    pub(crate) fn node_down(&self, node: u64) {
        self.lock().nodes.remove(&node);
    }

    /// A node's metrics say it leads `term`.
    pub(crate) fn leader_seen(&self, term: u64, node: u64) {
        self.lock().leader(term, node, "node metrics");
    }

    /// How many entries are known committed: a request sent now was sent
    /// after all of them were.
    pub(crate) fn committed_len(&self) -> usize {
        self.lock().history.len()
    }

    /// The newest reference image.
    pub(crate) fn latest(&self) -> Arc<MetadataImage> {
        let state = self.lock();
        state
            .reference
            .last()
            .cloned()
            .unwrap_or_else(|| Arc::new(MetadataImage::empty()))
    }

    /// A controller answered a heartbeat that was sent when
    /// `committed_before` entries were known committed. Telling a broker it
    /// is not fenced is wrong if a committed entry the answering node had
    /// not applied had already fenced that registration of it.
    pub(crate) fn heartbeat_answered(
        &self,
        node: u64,
        heartbeat: &BrokerHeartbeat,
        response: &ControllerResponse,
        committed_before: usize,
    ) {
        let ControllerReply::BrokerHeartbeat(Ok(outcome)) = &response.reply else {
            return;
        };
        if outcome.is_fenced || committed_before == 0 {
            return;
        }
        let mut state = self.lock();
        let last = committed_before - 1;
        if response.offset >= last as i64 {
            return;
        }
        let fenced = state.reference[last]
            .broker(heartbeat.broker_id)
            .is_some_and(|b| b.epoch == heartbeat.broker_epoch && b.fenced);
        if fenced {
            state.violation(format!(
                "node {node} told broker {} (epoch {}) it is not fenced from its image at offset {}, but committed entry {last} had fenced it before the heartbeat was sent",
                heartbeat.broker_id, heartbeat.broker_epoch, response.offset
            ));
        }
    }

    /// A client was told topic `name` was created with `topic_id`.
    pub(crate) fn topic_acknowledged(&self, name: &str, topic_id: TopicId) {
        let mut state = self.lock();
        let created = state.created.get(&(name.to_string(), topic_id)).copied();
        match created {
            Some(index) => {
                state
                    .acked_topics
                    .insert(name.to_string(), (topic_id, index));
                mix(&mut state.digest, &format!("ack {name}"));
            }
            None => state.violation(format!(
                "a client was told topic {name} ({topic_id:?}) was created, but no committed entry creates it"
            )),
        }
    }

    /// A client was told config `key` of `resource` is now `value`.
    pub(crate) fn config_acknowledged(&self, resource: &ConfigResource, key: &str, value: &str) {
        let mut state = self.lock();
        let set = (resource.clone(), key.to_string(), value.to_string());
        if !state.configs_set.contains(&set) {
            state.violation(format!(
                "a client was told {resource:?} {key}={value} was set, but no committed entry sets it"
            ));
        }
    }

    /// Checks that every acknowledged topic is in `image`, if it has
    /// applied the entry that created it.
    pub(crate) fn check_acknowledged_in(&self, node: u64, image: &MetadataImage) {
        let mut state = self.lock();
        if state.checked_offsets.insert(node, image.offset()) == Some(image.offset()) {
            return;
        }
        let mut missing = Vec::new();
        for (name, (topic_id, index)) in &state.acked_topics {
            if image.offset() >= *index as i64
                && image.topic(name).map(|t| t.topic_id) != Some(*topic_id)
            {
                missing.push(format!("{name} (created at {index})"));
            }
        }
        if !missing.is_empty() {
            state.violation(format!(
                "node {node}'s image at offset {} lacks acknowledged topics {missing:?}",
                image.offset()
            ));
        }
    }

    /// The next [`Checker::check_acknowledged_in`] of every node looks
    /// again, whatever its offset.
    pub(crate) fn recheck_acknowledged(&self) {
        self.lock().checked_offsets.clear();
    }

    pub(crate) fn note(&self, event: &str) {
        let mut state = self.lock();
        mix(&mut state.digest, event);
        if state.trace.len() < TRACE_EVENTS {
            state.trace.push(event.to_string());
        }
    }

    pub(crate) fn trace(&self) -> Vec<String> {
        self.lock().trace.clone()
    }

    pub(crate) fn violations(&self) -> Vec<String> {
        self.lock().violations.clone()
    }

    /// (entries, terms, acknowledged topics, fences, unfences, digest).
    pub(crate) fn summary(&self) -> (usize, usize, usize, usize, usize, u64) {
        let state = self.lock();
        let changes = |fenced: bool| {
            state
                .history
                .iter()
                .flat_map(records)
                .filter(|r| {
                    matches!(r, MetadataRecord::BrokerRegistrationChange { fenced: Some(f), .. } if *f == fenced)
                })
                .count()
        };
        (
            state.history.len(),
            state.leaders.len(),
            state.acked_topics.len(),
            changes(true),
            changes(false),
            state.digest,
        )
    }

    /// The history's records, one line per entry (printed with a failure).
    pub(crate) fn history_tail(&self, entries: usize) -> String {
        let state = self.lock();
        let mut out = String::new();
        let start = state.history.len().saturating_sub(entries);
        for entry in &state.history[start..] {
            let _ = writeln!(out, "  {}", describe(entry));
        }
        out
    }
}

fn records(entry: &Entry) -> &[MetadataRecord] {
    match &entry.payload {
        openraft::EntryPayload::Normal(batch) => &batch.records,
        _ => &[],
    }
}

/// One run of one node, as its state machine reports it.
pub(crate) struct NodeObserver {
    node: u64,
    incarnation: u64,
    checker: Arc<Checker>,
}

impl NodeObserver {
    fn check_image(&self, state: &mut State, last: Option<LogId>, image: &MetadataImage) {
        let expected = match last {
            None => MetadataImage::empty(),
            Some(id) => match state.reference.get(id.index as usize) {
                Some(reference) => MetadataImage::clone(reference),
                None => {
                    state.violation(format!(
                        "node {} holds an image at {id}, beyond the committed history",
                        self.node
                    ));
                    return;
                }
            },
        };
        if *image != expected {
            state.violation(format!(
                "node {}'s image at {last:?} differs from the replay of the committed history: {image:?} != {expected:?}",
                self.node
            ));
        }
    }
}

impl ApplyObserver for NodeObserver {
    fn reset(&self, last_applied: Option<LogId>, image: &Arc<MetadataImage>) {
        let mut state = self.checker.lock();
        if !state.is_current(self.node, self.incarnation) {
            return;
        }
        if let Some(id) = last_applied {
            let known = state.history.get(id.index as usize).map(|e| e.log_id);
            if known != Some(id) {
                state.violation(format!(
                    "node {} holds a snapshot at {id}, but the committed history has {known:?} there",
                    self.node
                ));
            }
        }
        self.check_image(&mut state, last_applied, image);
        state.nodes.insert(
            self.node,
            (self.incarnation, last_applied.map(|id| id.index)),
        );
    }

    fn applied(&self, entries: &[Entry], image: &Arc<MetadataImage>) {
        let mut state = self.checker.lock();
        if !state.is_current(self.node, self.incarnation) {
            return;
        }
        let mut applied = state.nodes.get(&self.node).and_then(|(_, a)| *a);
        let mut last = None;
        for entry in entries {
            let expected = applied.map_or(0, |a| a + 1);
            if entry.log_id.index != expected {
                state.violation(format!(
                    "node {} applied index {} after {applied:?}",
                    self.node, entry.log_id.index
                ));
            }
            state.record(self.node, entry);
            applied = Some(entry.log_id.index);
            last = Some(entry.log_id);
        }
        state.nodes.insert(self.node, (self.incarnation, applied));
        if last.is_some() {
            self.check_image(&mut state, last, image);
        }
    }
}
