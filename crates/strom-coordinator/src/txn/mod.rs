//! The transaction coordinator: one `TxnShard` per `__transaction_state`
//! partition, a plain state machine in the manner of `GroupShard`. Each call
//! takes `now` and returns its answer; the records it wrote meanwhile and
//! the marker jobs to start are taken with `take_output`. The driver appends
//! the records, waits until every in-sync replica has them, and only then
//! sends the answers and starts the jobs; when markers are written it calls
//! `complete_markers`, which writes CompleteCommit/CompleteAbort.
//!
//! Memory is updated when a record is written, before it is in the log; if
//! the append fails, the driver throws the shard away and replays the log.
//! The error codes and transitions are those of Kafka's
//! `TransactionCoordinator` and `TransactionMetadata`, including KIP-360
//! (recovery of a producer with its id and epoch) and KIP-890 (a partition
//! leader verifying a transaction; transactions v2 bumping the epoch at
//! every EndTxn so a late request of an earlier transaction is fenced).

pub mod metadata;
pub mod records;
mod shard;

pub use metadata::{is_epoch_exhausted, TxnMetadata, TxnState, NO_PRODUCER_EPOCH, NO_PRODUCER_ID};
pub use records::TransactionLogValue;
pub use shard::{ListFilter, MarkerJob, TransactionDescription, TxnConfig, TxnOutput, TxnShard};

/// The internal topic's name.
pub const TRANSACTION_STATE_TOPIC: &str = "__transaction_state";

#[cfg(test)]
mod tests;
