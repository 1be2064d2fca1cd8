//! Kafka's `TransactionMetadata`: the state of one transactional id and the
//! transitions between its states.

use std::collections::BTreeSet;

/// `RecordBatch.NO_PRODUCER_ID` / `NO_PRODUCER_EPOCH`.
pub const NO_PRODUCER_ID: i64 = -1;
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// The states of a transactional id, with Kafka's ids (written in
/// `TransactionStatus`) and names (DescribeTransactions, ListTransactions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum TxnState {
    /// No transaction open (a fresh id, or after InitProducerId).
    Empty,
    /// Partitions were added; the transaction is open.
    Ongoing,
    /// EndTxn(commit) was written; markers are being sent.
    PrepareCommit,
    /// EndTxn(abort), a timeout or a fencing InitProducerId was written;
    /// markers are being sent.
    PrepareAbort,
    /// Every marker of the commit is written.
    CompleteCommit,
    /// Every marker of the abort is written.
    CompleteAbort,
    /// The id expired and is being removed (a tombstone follows).
    Dead,
    /// The epoch is being bumped to fence the producer before an abort; in
    /// memory only, the record written is PrepareAbort.
    PrepareEpochFence,
}

impl TxnState {
    pub const ALL: [TxnState; 8] = [
        TxnState::Empty,
        TxnState::Ongoing,
        TxnState::PrepareCommit,
        TxnState::PrepareAbort,
        TxnState::CompleteCommit,
        TxnState::CompleteAbort,
        TxnState::Dead,
        TxnState::PrepareEpochFence,
    ];

    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    pub fn from_id(id: i8) -> Option<TxnState> {
        TxnState::ALL.into_iter().find(|s| s.id() == id)
    }

    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }

    /// Kafka's `validPreviousStates`: a transition to `self` is legal only
    /// from one of these.
    pub fn valid_previous_states(self) -> &'static [TxnState] {
        use TxnState::*;
        match self {
            Empty => &[Empty, CompleteCommit, CompleteAbort],
            Ongoing => &[Ongoing, Empty, CompleteCommit, CompleteAbort],
            PrepareCommit => &[Ongoing],
            PrepareAbort => &[Ongoing, PrepareEpochFence],
            CompleteCommit => &[PrepareCommit],
            CompleteAbort => &[PrepareAbort],
            Dead => &[Empty, CompleteAbort, CompleteCommit],
            PrepareEpochFence => &[Ongoing],
        }
    }

    /// A transaction is open (Kafka's `hasPendingTransaction`).
    pub fn is_pending(self) -> bool {
        matches!(
            self,
            TxnState::Ongoing | TxnState::PrepareCommit | TxnState::PrepareAbort
        )
    }

    pub fn is_prepare(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    pub fn is_complete(self) -> bool {
        matches!(self, TxnState::CompleteCommit | TxnState::CompleteAbort)
    }
}

/// Kafka's `TransactionMetadata.isEpochExhausted`: one epoch is kept in
/// reserve so a fencing bump can never overflow.
pub fn is_epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// One transactional id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation (KIP-360 recovery with an
    /// exhausted epoch presents it).
    pub previous_producer_id: i64,
    /// Transactions v2: the id the producer moves to when this transaction
    /// completes (its epoch was exhausted).
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last bump, so a retried InitProducerId of the
    /// same producer gets the same answer (KIP-360).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_timestamp_ms: i64,
    pub last_update_timestamp_ms: i64,
    /// 2 = transactions v2 (KIP-890 part 2: an epoch bump at every end).
    pub client_transaction_version: i16,
}

impl TxnMetadata {
    pub fn new(transactional_id: String, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id,
            producer_id,
            previous_producer_id: NO_PRODUCER_ID,
            next_producer_id: NO_PRODUCER_ID,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_timestamp_ms: -1,
            last_update_timestamp_ms: now_ms,
            client_transaction_version: 0,
        }
    }

    pub fn supports_epoch_bump(&self) -> bool {
        self.client_transaction_version >= 2
    }

    /// Moves to `state`; a transition Kafka does not allow is a broken
    /// invariant of the coordinator, never a client's doing (callers check
    /// the state first and answer with an error code).
    pub(crate) fn transition(&mut self, state: TxnState) {
        assert!(
            state.valid_previous_states().contains(&self.state),
            "transaction {}: illegal transition {:?} -> {:?}",
            self.transactional_id,
            self.state,
            state
        );
        self.state = state;
    }

    pub fn to_value(&self) -> super::records::TransactionLogValue {
        let mut by_topic: Vec<(String, Vec<i32>)> = Vec::new();
        for (topic, p) in &self.partitions {
            match by_topic.last_mut() {
                Some((t, ids)) if t == topic => ids.push(*p),
                _ => by_topic.push((topic.clone(), vec![*p])),
            }
        }
        super::records::TransactionLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            next_producer_id: self.next_producer_id,
            producer_epoch: self.producer_epoch,
            transaction_timeout_ms: self.timeout_ms,
            // The fencing state is never written: the abort it leads to is.
            state: if self.state == TxnState::PrepareEpochFence {
                TxnState::PrepareAbort
            } else {
                self.state
            },
            partitions: by_topic,
            last_update_timestamp_ms: self.last_update_timestamp_ms,
            start_timestamp_ms: self.start_timestamp_ms,
            client_transaction_version: self.client_transaction_version,
        }
    }

    pub fn from_value(transactional_id: String, v: super::records::TransactionLogValue) -> Self {
        let partitions = v
            .partitions
            .into_iter()
            .flat_map(|(t, ids)| ids.into_iter().map(move |p| (t.clone(), p)))
            .collect();
        TxnMetadata {
            transactional_id,
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            next_producer_id: v.next_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: v.transaction_timeout_ms,
            state: v.state,
            partitions,
            start_timestamp_ms: v.start_timestamp_ms,
            last_update_timestamp_ms: v.last_update_timestamp_ms,
            client_transaction_version: v.client_transaction_version,
        }
    }
}
