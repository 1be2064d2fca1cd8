//! One partition's change, decided as Kafka's `PartitionChangeBuilder`
//! decides it: from the current registration and the wanted ISR, replicas
//! and reassignment state, the next registration, with a reassignment
//! completed when its new replicas have caught up, a leader elected when
//! the current one may not lead any more, and the epochs bumped.
//!
//! Every path that changes a partition's leader, ISR or replicas
//! (AlterPartition, reassignments, ElectLeaders, the rebalancer, unclean
//! elections) goes through [`PartitionChange::build`], so the invariants
//! hold in one place:
//!
//! - the leader is in the ISR, or -1; the ISR is never empty and within
//!   the replicas;
//! - the leader epoch grows by one exactly when the leader changes, or
//!   when a replica leaves the replica set (Kafka's bump so that removed
//!   followers stop fetching); it never changes on an ISR change alone
//!   (Kafka bumped it on a shrink before 3.6, KAFKA-15021);
//! - the partition epoch grows by one on every change.

use strom_metadata::{BrokerRegistration, MetadataImage, PartitionImage};

use super::ControllerDefaults;

/// How a leader is chosen when the current one may not stay (Kafka's
/// `PartitionChangeBuilder.Election`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Election {
    /// The first replica if it is a live ISR member, else as `Online`.
    Preferred,
    /// Keep the current leader if it may lead, else the first live ISR
    /// member in replica order.
    Online,
    /// As `Online`, and when no ISR member is live, the first live
    /// replica, with the ISR reset to it alone: records it lacks are lost.
    Unclean,
}

/// The next registration of a partition and whether its leader was
/// elected uncleanly.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Changed {
    pub state: PartitionImage,
    pub unclean: bool,
}

/// A change to one partition, built from its current registration.
#[derive(Clone, Debug)]
pub(crate) struct PartitionChange<'a> {
    current: &'a PartitionImage,
    isr: Vec<i32>,
    replicas: Vec<i32>,
    adding: Vec<i32>,
    removing: Vec<i32>,
    election: Election,
    /// Brokers that may not lead whatever the image says (being fenced in
    /// the same batch).
    excluded: Option<i32>,
}

impl<'a> PartitionChange<'a> {
    pub(crate) fn new(current: &'a PartitionImage) -> PartitionChange<'a> {
        PartitionChange {
            current,
            isr: current.isr.clone(),
            replicas: current.replicas.clone(),
            adding: current.adding_replicas.clone(),
            removing: current.removing_replicas.clone(),
            election: Election::Online,
            excluded: None,
        }
    }

    pub(crate) fn isr(mut self, isr: Vec<i32>) -> Self {
        self.isr = isr;
        self
    }

    pub(crate) fn replicas(mut self, replicas: Vec<i32>) -> Self {
        self.replicas = replicas;
        self
    }

    pub(crate) fn adding(mut self, adding: Vec<i32>) -> Self {
        self.adding = adding;
        self
    }

    pub(crate) fn removing(mut self, removing: Vec<i32>) -> Self {
        self.removing = removing;
        self
    }

    pub(crate) fn election(mut self, election: Election) -> Self {
        self.election = election;
        self
    }

    /// `broker_id` may not lead, even if the image says it is alive.
    pub(crate) fn excluding(mut self, broker_id: i32) -> Self {
        self.excluded = Some(broker_id);
        self
    }

    /// The next registration, or `None` when nothing changes.
    pub(crate) fn build(mut self, image: &MetadataImage) -> Option<Changed> {
        self.complete_reassignment_if_ready();
        let can_lead = |id: i32| Some(id) != self.excluded && is_alive(image, id);
        let (leader, unclean) = self.elect(&can_lead);
        let current = self.current;
        let mut isr = self.isr.clone();
        if unclean {
            isr = vec![leader];
        }
        // An empty ISR would forget who has the data: keep the current one.
        if isr.is_empty() {
            isr = current.isr.clone();
        }
        // The invariant the image enforces; a leaderless partition keeps
        // the ISR it has.
        if leader != -1 && !isr.contains(&leader) {
            return None;
        }
        let lost_a_replica = current
            .replicas
            .iter()
            .any(|id| !self.replicas.contains(id));
        let leader_epoch = if leader != current.leader || lost_a_replica {
            current.leader_epoch.saturating_add(1)
        } else {
            current.leader_epoch
        };
        let state = PartitionImage {
            replicas: self.replicas,
            isr,
            leader,
            leader_epoch,
            partition_epoch: current.partition_epoch,
            adding_replicas: self.adding,
            removing_replicas: self.removing,
        };
        let same = state.replicas == current.replicas
            && state.isr == current.isr
            && state.leader == current.leader
            && state.leader_epoch == current.leader_epoch
            && state.adding_replicas == current.adding_replicas
            && state.removing_replicas == current.removing_replicas;
        if same {
            return None;
        }
        Some(Changed {
            state: PartitionImage {
                partition_epoch: current.partition_epoch.saturating_add(1),
                ..state
            },
            unclean,
        })
    }

    /// Kafka's `PartitionReassignmentReplicas.maybeCompleteReassignment`:
    /// once every replica that stays is in the ISR, the removed ones go.
    fn complete_reassignment_if_ready(&mut self) {
        if self.adding.is_empty() && self.removing.is_empty() {
            return;
        }
        let removing = &self.removing;
        let isr: Vec<i32> = self
            .isr
            .iter()
            .copied()
            .filter(|id| !removing.contains(id))
            .collect();
        let replicas: Vec<i32> = self
            .replicas
            .iter()
            .copied()
            .filter(|id| !removing.contains(id))
            .collect();
        if isr.is_empty() || replicas.is_empty() || !replicas.iter().all(|id| isr.contains(id)) {
            return;
        }
        self.isr = isr;
        self.replicas = replicas;
        self.adding.clear();
        self.removing.clear();
    }

    /// The leader after the change and whether it was elected uncleanly.
    fn elect(&self, can_lead: &impl Fn(i32) -> bool) -> (i32, bool) {
        let valid = |id: i32| id != -1 && self.isr.contains(&id) && can_lead(id);
        let current = self.current.leader;
        if self.election == Election::Preferred {
            if let Some(preferred) = self.replicas.first().copied().filter(|id| valid(*id)) {
                return (preferred, false);
            }
        }
        if valid(current) {
            return (current, false);
        }
        if let Some(leader) = self.replicas.iter().copied().find(|id| valid(*id)) {
            return (leader, false);
        }
        if self.election == Election::Unclean {
            if let Some(leader) = self.replicas.iter().copied().find(|id| can_lead(*id)) {
                return (leader, true);
            }
        }
        (-1, false)
    }
}

pub(crate) fn is_alive(image: &MetadataImage, broker_id: i32) -> bool {
    image
        .broker(broker_id)
        .is_some_and(BrokerRegistration::is_alive)
}

/// The topic config and broker default that allow unclean elections.
pub(crate) const UNCLEAN_LEADER_ELECTION_ENABLE: &str = "unclean.leader.election.enable";

/// Whether `unclean.leader.election.enable` holds for `topic`: the topic's
/// override, else the active controller's own dynamic broker config, else
/// the cluster-wide dynamic default, else the controller's
/// server.properties (Kafka's
/// `ConfigurationControlManager.uncleanLeaderElectionEnabledForTopic`).
pub(crate) fn unclean_enabled(
    image: &MetadataImage,
    topic: &str,
    defaults: &ControllerDefaults,
) -> bool {
    const KEY: &str = UNCLEAN_LEADER_ELECTION_ENABLE;
    let parse = |v: &String| v.trim().eq_ignore_ascii_case("true");
    let dynamic = [
        Some(image.topic_config(topic)),
        defaults
            .controller_id
            .map(|id| image.broker_config(Some(id))),
        Some(image.broker_config(None)),
    ];
    dynamic
        .into_iter()
        .flatten()
        .find_map(|configs| configs.get(KEY))
        .map_or(defaults.unclean_leader_election_enable, parse)
}
