//! The open files limit (`RLIMIT_NOFILE`) and what it leaves for segment files.
//!
//! Segment files go through the log manager's handle cache (`strom.log.open.files.max`);
//! by default it may use half of the soft limit, leaving the rest to connections, the
//! metadata log and transient files. The limit is read, never changed, here: raising the
//! soft limit to the hard one is start-up's business and happens before this runs.

use tracing::{info, warn};

/// Segment files kept open when the limit cannot be read (not Linux).
const FALLBACK_CAPACITY: usize = strom_log::DEFAULT_MAX_OPEN_FILES;
/// Upper bound of the automatic capacity, for an unlimited or huge limit.
const MAX_AUTO_CAPACITY: u64 = 1 << 20;
/// Lower bound of the automatic capacity.
const MIN_AUTO_CAPACITY: u64 = 16;

/// `RLIMIT_NOFILE` of this process: (soft, hard), `None` = unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFilesLimit {
    pub soft: Option<u64>,
    pub hard: Option<u64>,
}

impl OpenFilesLimit {
    /// Reads `/proc/self/limits`; `None` where there is no such file.
    pub fn read() -> Option<OpenFilesLimit> {
        let text = std::fs::read_to_string("/proc/self/limits").ok()?;
        parse_proc_limits(&text)
    }
}

/// The "Max open files" line of `/proc/<pid>/limits`.
fn parse_proc_limits(text: &str) -> Option<OpenFilesLimit> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line["Max open files".len()..].split_whitespace();
    let value = |s: &str| match s {
        "unlimited" => Some(None),
        n => n.parse::<u64>().ok().map(Some),
    };
    Some(OpenFilesLimit {
        soft: value(fields.next()?)?,
        hard: value(fields.next()?)?,
    })
}

/// How many segment files the handle cache may keep open: `configured`
/// (`strom.log.open.files.max`) unless 0, else half the soft limit.
pub(crate) fn segment_file_capacity(configured: u64, limit: Option<OpenFilesLimit>) -> usize {
    if configured > 0 {
        return usize::try_from(configured).unwrap_or(usize::MAX);
    }
    match limit {
        Some(OpenFilesLimit {
            soft: Some(soft), ..
        }) => (soft / 2).clamp(MIN_AUTO_CAPACITY, MAX_AUTO_CAPACITY) as usize,
        Some(OpenFilesLimit { soft: None, .. }) => MAX_AUTO_CAPACITY as usize,
        None => FALLBACK_CAPACITY,
    }
}

/// Logs the limit and the cache size; warns when the cache cannot hold one file per
/// partition (every partition with traffic then reopens its active segment now and then)
/// or when the limit leaves little beside the cache.
pub(crate) fn report(limit: Option<OpenFilesLimit>, capacity: usize, partitions: usize) {
    let show = |v: Option<u64>| v.map_or("unlimited".to_string(), |n| n.to_string());
    match limit {
        Some(l) => info!(
            soft = %show(l.soft),
            hard = %show(l.hard),
            segment_file_handles = capacity,
            partitions,
            "open files limit (RLIMIT_NOFILE)"
        ),
        None => info!(
            segment_file_handles = capacity,
            partitions, "open files limit unknown on this platform"
        ),
    }
    warn_if_low(limit, capacity, partitions);
}

/// The warning half of [`report`], also called when partitions are added.
pub(crate) fn warn_if_low(limit: Option<OpenFilesLimit>, capacity: usize, partitions: usize) {
    if partitions > capacity {
        warn!(
            partitions,
            segment_file_handles = capacity,
            "more partitions than segment file handles: partitions with traffic will reopen their files; raise the open files limit (ulimit -n) or strom.log.open.files.max"
        );
    }
    if let Some(OpenFilesLimit {
        soft: Some(soft), ..
    }) = limit
    {
        if (capacity as u64).saturating_add(64) > soft {
            warn!(
                soft,
                segment_file_handles = capacity,
                "strom.log.open.files.max leaves fewer than 64 of the open files limit for connections and other files"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: &str =
        "Limit                     Soft Limit           Hard Limit           Units     \n\
        Max cpu time              unlimited            unlimited            seconds   \n\
        Max open files            1024                 524288               files     \n\
        Max locked memory         8388608              8388608              bytes     \n";

    #[test]
    fn the_max_open_files_line_is_parsed() {
        assert_eq!(
            parse_proc_limits(LIMITS),
            Some(OpenFilesLimit {
                soft: Some(1024),
                hard: Some(524288)
            })
        );
        let unlimited = LIMITS.replace("1024                 524288", "unlimited unlimited");
        assert_eq!(
            parse_proc_limits(&unlimited),
            Some(OpenFilesLimit {
                soft: None,
                hard: None
            })
        );
        assert_eq!(parse_proc_limits("Max cpu time 1 2 seconds\n"), None);
    }

    #[test]
    fn the_capacity_is_the_configured_value_or_half_the_soft_limit() {
        let limit = |soft| {
            Some(OpenFilesLimit {
                soft,
                hard: Some(4096),
            })
        };
        assert_eq!(segment_file_capacity(100, limit(Some(1024))), 100);
        assert_eq!(segment_file_capacity(0, limit(Some(1024))), 512);
        assert_eq!(segment_file_capacity(0, limit(Some(256))), 128);
        assert_eq!(segment_file_capacity(0, limit(Some(10))), 16);
        assert_eq!(segment_file_capacity(0, limit(None)), 1 << 20);
        assert_eq!(segment_file_capacity(0, None), 1024);
    }

    #[test]
    fn this_process_has_a_readable_limit_on_linux() {
        if cfg!(target_os = "linux") {
            let limit = OpenFilesLimit::read().expect("/proc/self/limits");
            assert!(limit.soft.is_none_or(|s| s >= 1));
        }
    }
}
