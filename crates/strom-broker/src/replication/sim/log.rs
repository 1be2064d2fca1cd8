//! One replica's log as the simulation keeps it: records (offset, leader
//! epoch, value), the leader-epoch cache kept by the operations the real
//! log uses (`strom-log`'s `LeaderEpochCache`: assign an epoch's start,
//! record newer epochs on append, truncate from the end and the start), a
//! log start offset, and a durable prefix: an fsync moves it up to where the
//! log ended when the fsync started, a crash drops every record past it, a
//! truncation is durable at once (the real log rewrites its files and the
//! epoch checkpoint before returning).

/// One record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Record {
    pub offset: i64,
    pub epoch: i32,
    pub value: u64,
}

#[derive(Clone, Debug, Default)]
pub(super) struct SimLog {
    start: i64,
    records: Vec<Record>,
    /// Every record below this survives a crash.
    durable_end: i64,
    /// (epoch, start offset), strictly increasing in both.
    epochs: Vec<(i32, i64)>,
}

impl SimLog {
    pub fn log_start_offset(&self) -> i64 {
        self.start
    }

    pub fn log_end_offset(&self) -> i64 {
        self.start + self.records.len() as i64
    }

    pub fn durable_end(&self) -> i64 {
        self.durable_end
    }

    pub fn records(&self) -> &[Record] {
        &self.records
    }

    pub fn epochs(&self) -> &[(i32, i64)] {
        &self.epochs
    }

    pub fn latest_epoch(&self) -> i32 {
        self.epochs.last().map_or(-1, |e| e.0)
    }

    pub fn get(&self, offset: i64) -> Option<Record> {
        let i = usize::try_from(offset - self.start).ok()?;
        self.records.get(i).copied()
    }

    /// Records from `from` up to (not including) `to`, at most `max`.
    pub fn read(&self, from: i64, to: i64, max: usize) -> Vec<Record> {
        let to = to.min(self.log_end_offset());
        let mut out = Vec::new();
        let mut o = from.max(self.start);
        while o < to && out.len() < max {
            if let Some(r) = self.get(o) {
                out.push(r);
            }
            o += 1;
        }
        out
    }

    /// The cache's `assign`: only an epoch newer than the latest, entries
    /// at or after its start removed first.
    pub fn assign_epoch_start(&mut self, epoch: i32, start: i64) {
        if epoch < 0 || self.latest_epoch() >= epoch {
            return;
        }
        self.epochs.retain(|e| e.1 < start);
        self.epochs.push((epoch, start));
    }

    /// A leader's append in `epoch`.
    pub fn append(&mut self, epoch: i32, value: u64) -> i64 {
        let offset = self.log_end_offset();
        self.assign_epoch_start(epoch, offset);
        self.records.push(Record {
            offset,
            epoch,
            value,
        });
        offset
    }

    /// A follower's append of what the leader sent, as it is. Records that
    /// do not continue the log are refused (the real log refuses an
    /// out-of-order batch the same way).
    pub fn append_as_follower(&mut self, records: &[Record]) -> Result<usize, String> {
        let mut n = 0;
        for r in records {
            if r.offset != self.log_end_offset() {
                return Err(format!(
                    "record at {} does not continue the log ending at {}",
                    r.offset,
                    self.log_end_offset()
                ));
            }
            self.assign_epoch_start(r.epoch, r.offset);
            self.records.push(*r);
            n += 1;
        }
        Ok(n)
    }

    /// Kafka's `endOffsetFor` over the cache and the log end.
    pub fn end_offset_for(&self, requested: i32) -> (i32, i64) {
        if requested < 0 {
            return (-1, -1);
        }
        if self.latest_epoch() == requested {
            return (requested, self.log_end_offset());
        }
        let higher = self.epochs.partition_point(|e| e.0 <= requested);
        let Some(&(_, higher_start)) = self.epochs.get(higher) else {
            return (-1, -1);
        };
        match higher.checked_sub(1).map(|i| self.epochs[i]) {
            None => (requested, higher_start),
            Some((floor, _)) => (floor, higher_start),
        }
    }

    /// Removes every record at or after `offset` (never below the start).
    /// At or past the log end no record goes, but an epoch entry at the end
    /// does (strom-log's `truncate_to`, Kafka's `truncateTo`).
    pub fn truncate_to(&mut self, offset: i64) {
        let offset = offset.max(self.start);
        if offset >= self.log_end_offset() {
            let end = self.log_end_offset();
            self.epochs.retain(|e| e.1 < end);
            return;
        }
        let keep = usize::try_from(offset - self.start).unwrap_or(0);
        self.records.truncate(keep);
        self.epochs.retain(|e| e.1 < offset);
        self.durable_end = self.durable_end.min(offset);
    }

    /// Empties the log and starts it again at `offset`.
    pub fn truncate_fully_and_start_at(&mut self, offset: i64) {
        self.records.clear();
        self.epochs.clear();
        self.start = offset;
        self.durable_end = offset;
    }

    /// Moves the log start up (the leader deleted records), never past the end.
    pub fn increase_log_start(&mut self, offset: i64) {
        let offset = offset.min(self.log_end_offset());
        if offset <= self.start {
            return;
        }
        let drop = usize::try_from(offset - self.start).unwrap_or(0);
        self.records.drain(..drop);
        self.start = offset;
        self.durable_end = self.durable_end.max(offset);
        // The cache's truncate_from_start.
        let removed = self.epochs.partition_point(|e| e.1 <= offset);
        if removed > 0 {
            self.epochs.drain(..removed - 1);
            self.epochs[0].1 = offset;
        }
    }

    /// An fsync that started when the log ended at `up_to` completed.
    pub fn synced(&mut self, up_to: i64) {
        self.durable_end = self.durable_end.max(up_to.min(self.log_end_offset()));
    }

    /// The process died: what was not fsynced is gone; the epoch cache
    /// loses the entries past the log end at the next open.
    pub fn crash(&mut self) {
        let end = self.durable_end;
        if end < self.log_end_offset() {
            let keep = usize::try_from(end - self.start).unwrap_or(0);
            self.records.truncate(keep);
        }
        self.epochs.retain(|e| e.1 < end);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_keeps_the_durable_prefix_and_truncation_is_durable() {
        let mut log = SimLog::default();
        log.append(1, 10);
        log.append(1, 11);
        log.synced(2);
        log.append(2, 12);
        assert_eq!(log.end_offset_for(1), (1, 2));
        log.crash();
        assert_eq!(log.log_end_offset(), 2);
        assert_eq!(log.epochs(), &[(1, 0)]);
        log.truncate_to(1);
        log.append(3, 13);
        log.crash();
        assert_eq!(log.log_end_offset(), 1);
        assert_eq!(log.get(0).map(|r| r.value), Some(10));
    }

    #[test]
    fn the_epoch_cache_answers_as_kafkas() {
        let mut log = SimLog::default();
        log.assign_epoch_start(1, 0);
        log.append(1, 1);
        log.assign_epoch_start(3, 1);
        log.append(3, 2);
        assert_eq!(log.end_offset_for(3), (3, 2));
        assert_eq!(log.end_offset_for(2), (1, 1));
        assert_eq!(log.end_offset_for(0), (0, 0));
        assert_eq!(log.end_offset_for(4), (-1, -1));
        log.increase_log_start(1);
        assert_eq!(log.epochs(), &[(3, 1)]);
    }
}
