//! ISR changes from partition leaders to the controller (Kafka's
//! `AlterPartitionManager`): proposals queue here, go out in batches, one
//! request at a time, and each answer is fed back to its partition. A
//! proposal the controller provably did not apply is dropped (the leader
//! proposes again on its next check, from the state it has then); one whose
//! fate is unknown (no answer, or an error that does not settle it) stays
//! in flight and is sent again on the leader's next check
//! (`LeaderState::unanswered_proposal`).

use std::sync::Arc;

use tokio::sync::mpsc;
use tracing::{debug, warn};
use uuid::Uuid;

use strom_controller::{AlterPartitionItem, ControllerHandle};
use strom_metadata::TopicId;

use crate::partition::{IsrProposal, Partition};
use crate::replication::leader::{isr_refusal, IsrAnswer};

type Queued = (Arc<Partition>, Uuid, IsrProposal);

/// Where leaders send their ISR proposals.
pub(crate) struct IsrChanges {
    tx: mpsc::UnboundedSender<Queued>,
}

impl IsrChanges {
    /// Starts the sender task (on the current runtime).
    pub fn start(
        controller: ControllerHandle,
        node_id: i32,
        broker_epoch: Arc<dyn Fn() -> i64 + Send + Sync>,
    ) -> IsrChanges {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(send_loop(controller, node_id, broker_epoch, rx));
        IsrChanges { tx }
    }

    pub fn propose(&self, partition: Arc<Partition>, topic_id: Uuid, proposal: IsrProposal) {
        debug!(topic = %partition.topic, partition = partition.index, isr = ?proposal.isr, "proposing an ISR change");
        if let Err(mpsc::error::SendError((partition, _, proposal))) =
            self.tx.send((partition, topic_id, proposal))
        {
            partition.isr_answered(&proposal, IsrAnswer::Unknown);
        }
    }
}

/// Most proposals in one AlterPartition.
const BATCH: usize = 1000;

async fn send_loop(
    controller: ControllerHandle,
    node_id: i32,
    broker_epoch: Arc<dyn Fn() -> i64 + Send + Sync>,
    mut rx: mpsc::UnboundedReceiver<Queued>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(q) => batch.push(q),
                Err(_) => break,
            }
        }
        let items: Vec<AlterPartitionItem> = batch
            .iter()
            .map(|(p, topic_id, proposal)| AlterPartitionItem {
                topic_id: TopicId::from_bytes(*topic_id.as_bytes()),
                partition: p.index,
                leader_epoch: proposal.leader_epoch,
                partition_epoch: proposal.partition_epoch,
                new_isr: proposal.isr.clone(),
            })
            .collect();
        match controller
            .alter_partition(node_id, broker_epoch(), items)
            .await
        {
            Ok(outcomes) => {
                for (p, topic_id, proposal) in &batch {
                    let tid = TopicId::from_bytes(*topic_id.as_bytes());
                    let outcome = outcomes
                        .iter()
                        .find(|o| o.topic_id == tid && o.partition == p.index);
                    let answer = match outcome.map(|o| &o.result) {
                        Some(Ok(state)) => IsrAnswer::Committed {
                            leader_epoch: state.leader_epoch,
                            partition_epoch: state.partition_epoch,
                            isr: state.isr.clone(),
                        },
                        Some(Err(code)) => {
                            debug!(topic = %p.topic, partition = p.index, code, "the controller refused the ISR change");
                            isr_refusal(*code)
                        }
                        None => IsrAnswer::Unknown,
                    };
                    p.isr_answered(proposal, answer);
                }
            }
            Err(e) => {
                warn!("AlterPartition failed, the leaders will propose again: {e}");
                for (p, _, proposal) in &batch {
                    p.isr_answered(proposal, IsrAnswer::Unknown);
                }
            }
        }
    }
}
