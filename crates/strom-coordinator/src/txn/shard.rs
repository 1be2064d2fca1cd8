//! One partition of `__transaction_state` and the transactional ids that
//! hash to it.

use std::collections::{BTreeSet, HashMap};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::metadata::*;
use super::records::{self, TransactionLogValue};
use crate::records::RecordError;

type ErrorCode = i16;
const NONE: ErrorCode = 0;

fn code(e: ResponseError) -> ErrorCode {
    e.code()
}

/// The transaction coordinator's settings, with Kafka's keys and defaults.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms` (900000)
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms` (604800000)
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms` (10000)
    pub abort_interval_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms` (3600000)
    pub remove_interval_ms: i64,
    /// The finalized `transaction.version` (0-2): records are written in
    /// TransactionLogValue v1 from 1 on.
    pub transaction_version: i16,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            id_expiration_ms: 604_800_000,
            abort_interval_ms: 10_000,
            remove_interval_ms: 3_600_000,
            transaction_version: 2,
        }
    }
}

/// Markers to write for a transaction whose Prepare* record is written:
/// send them, then call [`TxnShard::complete_markers`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    pub transactional_id: String,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    pub partitions: Vec<(String, i32)>,
}

/// What the driver must do after a round of calls: append `records` (key,
/// value; `None` = tombstone), wait for the ISR, then answer and start `markers`.
#[derive(Debug, Default)]
pub struct TxnOutput {
    pub records: Vec<(Bytes, Option<Bytes>)>,
    pub markers: Vec<MarkerJob>,
}

/// DescribeTransactions' view of one id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionDescription {
    pub transactional_id: String,
    pub state: TxnState,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub start_timestamp_ms: i64,
    pub partitions: Vec<(String, i32)>,
}

/// ListTransactions' filters; empty = no filter.
pub struct ListFilter<'a> {
    pub states: &'a [TxnState],
    pub producer_ids: &'a [i64],
    /// Only transactions running longer than this (v1+); negative = all.
    pub duration_ms: i64,
    pub transactional_id: &'a dyn Fn(&str) -> bool,
}

pub struct TxnShard {
    config: TxnConfig,
    txns: HashMap<String, TxnMetadata>,
    out: TxnOutput,
    next_abort_check_ms: i64,
    next_expiry_check_ms: i64,
}

impl TxnShard {
    pub fn new(config: TxnConfig) -> Self {
        TxnShard {
            config,
            txns: HashMap::new(),
            out: TxnOutput::default(),
            next_abort_check_ms: i64::MAX,
            next_expiry_check_ms: i64::MAX,
        }
    }

    pub fn take_output(&mut self) -> TxnOutput {
        std::mem::take(&mut self.out)
    }

    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    pub fn len(&self) -> usize {
        self.txns.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txns.is_empty()
    }

    fn write(&mut self, transactional_id: &str) {
        let key = Bytes::from(records::encode_key(transactional_id));
        let value = self.txns.get(transactional_id).map(|m| {
            let version = if self.config.transaction_version >= 1 {
                1
            } else {
                0
            };
            Bytes::from(m.to_value().encode(version))
        });
        self.out.records.push((key, value));
    }

    // ---- load ---------------------------------------------------------------------------

    /// Rebuilds state from one record of the partition (load, in log order).
    pub fn replay(&mut self, key: &[u8], value: Option<&[u8]>) -> Result<(), RecordError> {
        let Some(id) = records::decode_key(key)? else {
            return Ok(());
        };
        match value {
            None => {
                self.txns.remove(&id);
            }
            Some(v) => {
                let value = TransactionLogValue::decode(v)?;
                self.txns
                    .insert(id.clone(), TxnMetadata::from_value(id, value));
            }
        }
        Ok(())
    }

    /// Called once the whole partition was replayed: transactions found in
    /// PrepareCommit/PrepareAbort get their markers sent again (their
    /// coordinator may have died before finishing them), and the periodic
    /// timeout and expiry checks start.
    pub fn load_complete(&mut self, now_ms: i64) {
        let mut ids: Vec<&String> = self
            .txns
            .iter()
            .filter(|(_, m)| m.state.is_prepare())
            .map(|(id, _)| id)
            .collect();
        ids.sort();
        let jobs: Vec<MarkerJob> = ids
            .into_iter()
            .filter_map(|id| self.txns.get(id).map(marker_job))
            .collect();
        self.out.markers.extend(jobs);
        self.next_abort_check_ms = now_ms + self.config.abort_interval_ms;
        self.next_expiry_check_ms = now_ms + self.config.remove_interval_ms;
    }

    pub fn next_deadline(&self) -> Option<i64> {
        let d = self.next_abort_check_ms.min(self.next_expiry_check_ms);
        (d != i64::MAX).then_some(d)
    }

    /// Runs the periodic checks that are due: aborting timed-out transactions
    /// and removing expired transactional ids.
    pub fn tick(&mut self, now_ms: i64) {
        if now_ms >= self.next_abort_check_ms {
            self.abort_timed_out(now_ms);
            self.next_abort_check_ms = now_ms + self.config.abort_interval_ms;
        }
        if now_ms >= self.next_expiry_check_ms {
            self.expire_ids(now_ms);
            self.next_expiry_check_ms = now_ms + self.config.remove_interval_ms;
        }
    }

    // ---- InitProducerId -----------------------------------------------------------------

    /// InitProducerId with a transactional id. `fresh_producer_id` is an id
    /// never issued before, used if this call needs one (a new transactional
    /// id, an exhausted epoch). On success: (producer id, epoch). An open
    /// transaction is aborted first (the previous producer fenced) and the
    /// answer is CONCURRENT_TRANSACTIONS, for the client to retry once the
    /// abort completed.
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_producer_id: i64,
        now_ms: i64,
    ) -> Result<(i64, i16), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(code(ResponseError::InvalidRequest));
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(code(ResponseError::InvalidTransactionTimeout));
        }
        let mut fresh = Some(fresh_producer_id);
        let m = self
            .txns
            .entry(transactional_id.to_owned())
            .or_insert_with(|| {
                TxnMetadata::new(
                    transactional_id.to_owned(),
                    fresh.take().unwrap_or(NO_PRODUCER_ID),
                    timeout_ms,
                    now_ms,
                )
            });
        if let Some((pid, epoch)) = expected {
            let valid = m.producer_epoch == NO_PRODUCER_EPOCH
                || pid == m.producer_id
                || (pid == m.previous_producer_id && is_epoch_exhausted(epoch));
            if !valid {
                return Err(code(ResponseError::ProducerFenced));
            }
        }
        match m.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(code(ResponseError::ConcurrentTransactions))
            }
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort => {
                if is_epoch_exhausted(m.producer_epoch)
                    && expected.is_none_or(|(_, e)| e == m.producer_epoch)
                {
                    let Some(new_id) = fresh else {
                        // The id was just created with the fresh id; its epoch is -1.
                        return Err(code(ResponseError::UnknownServerError));
                    };
                    // Rotation: a new producer id at epoch 0.
                    m.last_producer_epoch = if expected.is_some() {
                        m.producer_epoch
                    } else {
                        NO_PRODUCER_EPOCH
                    };
                    m.previous_producer_id = m.producer_id;
                    m.producer_id = new_id;
                    m.producer_epoch = 0;
                } else {
                    let bumped = m.producer_epoch.wrapping_add(1);
                    match expected {
                        None => {
                            m.last_producer_epoch = NO_PRODUCER_EPOCH;
                            m.producer_epoch = bumped;
                        }
                        Some((_, e))
                            if m.producer_epoch == NO_PRODUCER_EPOCH || e == m.producer_epoch =>
                        {
                            m.last_producer_epoch = m.producer_epoch;
                            m.producer_epoch = bumped;
                        }
                        // A retry of an InitProducerId that already bumped: same answer.
                        Some((_, e)) if e == m.last_producer_epoch => {}
                        Some(_) => return Err(code(ResponseError::ProducerFenced)),
                    }
                }
                m.timeout_ms = timeout_ms;
                m.partitions.clear();
                m.start_timestamp_ms = -1;
                m.last_update_timestamp_ms = now_ms;
                m.next_producer_id = NO_PRODUCER_ID;
                m.transition(TxnState::Empty);
                let answer = (m.producer_id, m.producer_epoch);
                self.write(transactional_id);
                Ok(answer)
            }
            TxnState::Ongoing => {
                // Fence the running producer and abort its transaction.
                self.fence_and_abort(transactional_id, now_ms);
                Err(code(ResponseError::ConcurrentTransactions))
            }
            TxnState::Dead | TxnState::PrepareEpochFence => {
                // Never kept in memory: Dead ids are removed, the fence is
                // followed by PrepareAbort in the same call.
                Err(code(ResponseError::ConcurrentTransactions))
            }
        }
    }

    /// Kafka's `prepareFenceProducerEpoch` then `endTransaction(ABORT)`: the
    /// epoch goes up by one (unless already at the maximum), the transaction
    /// is aborted with the new epoch so the old producer's writes and
    /// requests are refused.
    fn fence_and_abort(&mut self, transactional_id: &str, now_ms: i64) {
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return;
        };
        m.transition(TxnState::PrepareEpochFence);
        m.producer_epoch = m.producer_epoch.saturating_add(1);
        m.last_producer_epoch = NO_PRODUCER_EPOCH;
        m.next_producer_id = NO_PRODUCER_ID;
        // Kafka ends a fenced transaction by the finalized transaction.version
        // (at 2, an old producer's late EndTxn then gets INVALID_TXN_STATE).
        m.client_transaction_version = self.config.transaction_version;
        m.last_update_timestamp_ms = now_ms;
        m.transition(TxnState::PrepareAbort);
        let job = marker_job(m);
        self.write(transactional_id);
        self.out.markers.push(job);
    }

    // ---- AddPartitionsToTxn, AddOffsetsToTxn --------------------------------------------

    /// Checks the producer of a request against the id's metadata.
    fn check_producer(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&TxnMetadata, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(code(ResponseError::InvalidRequest));
        }
        let Some(m) = self.txns.get(transactional_id) else {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        };
        if m.producer_id != producer_id {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        }
        if m.producer_epoch != producer_epoch {
            return Err(code(ResponseError::ProducerFenced));
        }
        if m.state.is_prepare() {
            return Err(code(ResponseError::ConcurrentTransactions));
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's
    /// `__consumer_offsets` partition): opens the transaction or widens it.
    /// `client_transaction_version` is 2 when the partitions come from a
    /// partition leader for a transactions-v2 producer.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        client_transaction_version: i16,
        now_ms: i64,
    ) -> ErrorCode {
        let m = match self.check_producer(transactional_id, producer_id, producer_epoch) {
            Ok(m) => m,
            Err(e) => return e,
        };
        if m.state == TxnState::Ongoing && partitions.iter().all(|p| m.partitions.contains(p)) {
            return NONE;
        }
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return code(ResponseError::InvalidProducerIdMapping);
        };
        if matches!(
            m.state,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        ) {
            m.start_timestamp_ms = now_ms;
            m.client_transaction_version = client_transaction_version;
        }
        m.partitions.extend(partitions.iter().cloned());
        m.last_update_timestamp_ms = now_ms;
        m.transition(TxnState::Ongoing);
        self.write(transactional_id);
        NONE
    }

    /// KIP-890 part 1: a partition leader asks whether these partitions are
    /// in the producer's open transaction (AddPartitionsToTxn v4+ with
    /// `verify_only`). Nothing is written. Partitions not in it get
    /// TRANSACTION_ABORTABLE; a wrong producer fails them all.
    pub fn verify_partitions(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Vec<ErrorCode> {
        match self.check_producer(transactional_id, producer_id, producer_epoch) {
            Err(e) => vec![e; partitions.len()],
            Ok(m) => partitions
                .iter()
                .map(|p| {
                    if m.partitions.contains(p) {
                        NONE
                    } else {
                        code(ResponseError::TransactionAbortable)
                    }
                })
                .collect(),
        }
    }

    // ---- EndTxn -------------------------------------------------------------------------

    /// EndTxn from a client. `epoch_bump` is transactions v2 (EndTxn v5):
    /// the epoch goes up by one at every end and the new (producer id,
    /// epoch) is returned; with an exhausted epoch the producer moves to
    /// `fresh_producer_id` at epoch 0. Without it (v0-4) the producer keeps
    /// its epoch, as in Kafka's transactions v1.
    #[allow(clippy::too_many_arguments)] // Kafka's EndTxn fields, plus now and a spare id
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        epoch_bump: bool,
        fresh_producer_id: i64,
        now_ms: i64,
    ) -> Result<(i64, i16), ErrorCode> {
        if transactional_id.is_empty() {
            return Err(code(ResponseError::InvalidRequest));
        }
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        };
        let v2 = m.supports_epoch_bump();
        // A retry after the epoch bump of a v2 end, or after its producer id
        // rotation (the client still holds the old id at epoch MAX - 1).
        let retry_on_bump = v2 && producer_epoch.checked_add(1) == Some(m.producer_epoch);
        let retry_on_overflow = v2
            && m.previous_producer_id == producer_id
            && producer_epoch == i16::MAX - 1
            && m.producer_epoch == 0;
        let valid_epoch = if v2 {
            match m.state {
                TxnState::Ongoing
                | TxnState::Empty
                | TxnState::Dead
                | TxnState::PrepareEpochFence => producer_epoch == m.producer_epoch,
                TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
                TxnState::CompleteCommit | TxnState::CompleteAbort => {
                    retry_on_bump || retry_on_overflow
                }
            }
        } else {
            producer_epoch == m.producer_epoch
        };
        if m.producer_id != producer_id && !retry_on_overflow {
            return Err(code(ResponseError::InvalidProducerIdMapping));
        }
        if !valid_epoch {
            return Err(code(ResponseError::ProducerFenced));
        }
        let invalid = Err(code(ResponseError::InvalidTxnState));
        match m.state {
            TxnState::Ongoing => {
                if epoch_bump {
                    m.client_transaction_version = 2;
                    if is_epoch_exhausted(m.producer_epoch) {
                        m.next_producer_id = fresh_producer_id;
                    }
                    m.last_producer_epoch = m.producer_epoch;
                    m.producer_epoch = m.producer_epoch.saturating_add(1);
                } else if m.client_transaction_version >= 2 {
                    // An old EndTxn for a transaction a v2 leader opened: end it the v1 way.
                    m.client_transaction_version = 1;
                }
                m.last_update_timestamp_ms = now_ms;
                m.transition(if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                });
                let answer = if m.next_producer_id != NO_PRODUCER_ID {
                    (m.next_producer_id, 0)
                } else {
                    (m.producer_id, m.producer_epoch)
                };
                let job = marker_job(m);
                self.write(transactional_id);
                self.out.markers.push(job);
                Ok(answer)
            }
            TxnState::CompleteCommit if commit => Ok((m.producer_id, m.producer_epoch)),
            TxnState::CompleteAbort if !commit => Ok((m.producer_id, m.producer_epoch)),
            TxnState::PrepareCommit if commit => Err(code(ResponseError::ConcurrentTransactions)),
            TxnState::PrepareAbort if !commit => Err(code(ResponseError::ConcurrentTransactions)),
            _ => invalid,
        }
    }

    /// Every marker of the transaction of `producer_id`/`producer_epoch` (as
    /// in its `MarkerJob`) is written: CompleteCommit/CompleteAbort. False
    /// if the id moved on meanwhile (nothing written).
    pub fn complete_markers(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        now_ms: i64,
    ) -> bool {
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return false;
        };
        if m.producer_id != producer_id
            || m.producer_epoch != producer_epoch
            || !m.state.is_prepare()
        {
            return false;
        }
        let state = if m.state == TxnState::PrepareCommit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        if m.supports_epoch_bump() && m.next_producer_id != NO_PRODUCER_ID {
            m.previous_producer_id = m.producer_id;
            m.producer_id = m.next_producer_id;
            m.last_producer_epoch = m.producer_epoch;
            m.producer_epoch = 0;
        } else {
            m.last_producer_epoch = m.producer_epoch;
        }
        m.next_producer_id = NO_PRODUCER_ID;
        m.partitions = BTreeSet::new();
        m.last_update_timestamp_ms = now_ms;
        m.transition(state);
        self.write(transactional_id);
        true
    }

    // ---- timeouts and expiry ------------------------------------------------------------

    /// Aborts, with an epoch bump, every transaction open longer than its
    /// timeout (Kafka's `abortTimedOutTransactions`).
    pub fn abort_timed_out(&mut self, now_ms: i64) -> usize {
        let mut due: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                m.state == TxnState::Ongoing
                    && m.start_timestamp_ms.saturating_add(i64::from(m.timeout_ms)) < now_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        due.sort();
        for id in &due {
            self.fence_and_abort(id, now_ms);
        }
        due.len()
    }

    /// Removes transactional ids idle for `transactional.id.expiration.ms`
    /// with no transaction open: a Dead transition, then a tombstone.
    pub fn expire_ids(&mut self, now_ms: i64) -> usize {
        let mut expired: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                matches!(
                    m.state,
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                ) && m
                    .last_update_timestamp_ms
                    .saturating_add(self.config.id_expiration_ms)
                    <= now_ms
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        expired.sort();
        for id in &expired {
            if let Some(m) = self.txns.get_mut(id) {
                m.transition(TxnState::Dead);
            }
            self.txns.remove(id);
            self.write(id);
        }
        expired.len()
    }

    // ---- DescribeTransactions, ListTransactions -----------------------------------------

    pub fn describe(&self, transactional_id: &str) -> Result<TransactionDescription, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(code(ResponseError::InvalidRequest));
        }
        match self.txns.get(transactional_id) {
            None => Err(code(ResponseError::TransactionalIdNotFound)),
            Some(m) if m.state == TxnState::Dead => {
                Err(code(ResponseError::TransactionalIdNotFound))
            }
            Some(m) => Ok(TransactionDescription {
                transactional_id: m.transactional_id.clone(),
                state: m.state,
                producer_id: m.producer_id,
                producer_epoch: m.producer_epoch,
                timeout_ms: m.timeout_ms,
                start_timestamp_ms: m.start_timestamp_ms,
                partitions: m.partitions.iter().cloned().collect(),
            }),
        }
    }

    /// (transactional id, producer id, state) of the ids passing `filter`.
    pub fn list(&self, filter: &ListFilter<'_>, now_ms: i64) -> Vec<(String, i64, TxnState)> {
        let mut out: Vec<(String, i64, TxnState)> = self
            .txns
            .values()
            .filter(|m| {
                m.state != TxnState::Dead
                    && (filter.producer_ids.is_empty()
                        || filter.producer_ids.contains(&m.producer_id))
                    && (filter.states.is_empty() || filter.states.contains(&m.state))
                    && (filter.duration_ms < 0
                        || now_ms.saturating_sub(m.start_timestamp_ms) > filter.duration_ms)
                    && (filter.transactional_id)(&m.transactional_id)
            })
            .map(|m| (m.transactional_id.clone(), m.producer_id, m.state))
            .collect();
        out.sort();
        out
    }
}

fn marker_job(m: &TxnMetadata) -> MarkerJob {
    MarkerJob {
        transactional_id: m.transactional_id.clone(),
        producer_id: m.producer_id,
        producer_epoch: m.producer_epoch,
        commit: m.state == TxnState::PrepareCommit,
        partitions: m.partitions.iter().cloned().collect(),
    }
}

#[cfg(test)]
impl TxnShard {
    pub(crate) fn txns_mut_for_test(&mut self, id: &str) -> &mut TxnMetadata {
        self.txns.get_mut(id).expect("test id exists")
    }
}
