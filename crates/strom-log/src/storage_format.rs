//! Formatting log directories before a node's first start, and checking them at every start
//! (Kafka's `kafka-storage.sh format` / `info` and `MetaPropertiesEnsemble.verify`).
//!
//! A directory is formatted when it holds `meta.properties` (see `meta_properties`): every
//! directory of one node names the same `cluster.id` and `node.id`. The first directory of
//! `log.dirs` also holds the metadata log (`__cluster_metadata-0`); a node whose quorum is
//! dynamic (KIP-853) finds there, after `format --standalone` or `--initial-controllers`, the
//! voters to start the quorum with:
//!
//! ```text
//! <log.dirs[0]>/__cluster_metadata-0/initial-controllers
//!   # Written by strom storage format: the voters of a new dynamic controller quorum (KIP-853)
//!   initial.controllers=1@host:port:<directory.id>,...
//! ```
//!
//! (Kafka writes the same information as a bootstrap snapshot with a VotersRecord, which
//! Strom's metadata log does not read; the file is read by [`InitialControllers::read`].)
//!
//! A single node without a configured quorum formats its own directories on first start
//! (with `strom.cluster.id` or a new random id); a node of a multi-node cluster must not, or
//! each node would invent its own cluster: [`check_formatted`] refuses to start it until its
//! first directory is formatted.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::LogError;
use crate::log_manager::METADATA_LOG_DIR_NAME;
use crate::meta_properties::{new_kafka_uuid, MetaProperties};

/// File holding the initial voters of a dynamic quorum, in the metadata log directory.
pub const INITIAL_CONTROLLERS_FILE: &str = "initial-controllers";

/// Whether `s` is a Kafka `Uuid` as `Uuid.toString()` writes it: 16 bytes in URL-safe base64
/// without padding (22 characters).
pub fn is_kafka_uuid(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Reads a directory's `meta.properties`: `Ok(None)` when the directory or the file does not
/// exist.
pub fn read_meta_properties(dir: &Path) -> Result<Option<MetaProperties>, LogError> {
    let path = MetaProperties::path_in(dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(&path, e)),
    };
    let text = String::from_utf8(bytes).map_err(|_| LogError::InvalidMetaProperties {
        path: path.clone(),
        reason: "not UTF-8 text".into(),
    })?;
    MetaProperties::parse(&text, &path).map(Some)
}

/// Checks the log directories at start-up, before anything is written to them, and returns
/// the cluster id this node belongs to.
///
/// Every formatted directory must name `node_id` and one cluster id, which must be
/// `expected_cluster_id` when that is given (`strom.cluster.id`). With `must_be_formatted`
/// (a node of a multi-node cluster) the first directory, which holds the metadata log, must be
/// formatted; other unformatted directories are formatted at start-up with the same ids, as
/// Kafka does. Without it, a node with no formatted directory gets `expected_cluster_id` or a
/// new random id. A directory that cannot be read (other than the first) is left to the log
/// manager, which takes it offline.
pub fn check_formatted(
    dirs: &[PathBuf],
    node_id: i32,
    expected_cluster_id: Option<&str>,
    must_be_formatted: bool,
) -> Result<String, LogError> {
    let mut found: Option<(PathBuf, String)> = None;
    for (i, dir) in dirs.iter().enumerate() {
        let meta = match read_meta_properties(dir) {
            Ok(Some(meta)) => meta,
            Ok(None) if i == 0 && must_be_formatted => {
                return Err(LogError::NotFormatted {
                    dir: dir.clone(),
                    why: "this node is configured for a cluster of several nodes (a quorum \
                          with other voters, bootstrap servers, or one process role only)"
                        .into(),
                })
            }
            Ok(None) => continue,
            Err(e @ LogError::Io { .. }) if i > 0 => {
                tracing::warn!(dir = %dir.display(), "cannot read meta.properties: {e}");
                continue;
            }
            Err(e) => return Err(e),
        };
        let path = MetaProperties::path_in(dir);
        if meta.node_id != node_id {
            return Err(LogError::NodeIdMismatch {
                path,
                found: meta.node_id,
                expected: node_id,
            });
        }
        if let Some(expected) = expected_cluster_id {
            if meta.cluster_id != expected {
                return Err(LogError::ClusterIdMismatch {
                    path,
                    found: meta.cluster_id,
                    expected: expected.to_owned(),
                });
            }
        }
        match &found {
            Some((first, first_id)) if *first_id != meta.cluster_id => {
                return Err(LogError::ClusterIdsDiffer {
                    first: first.clone(),
                    first_id: first_id.clone(),
                    second: path,
                    second_id: meta.cluster_id,
                })
            }
            Some(_) => {}
            None => found = Some((path, meta.cluster_id)),
        }
    }
    Ok(match (found, expected_cluster_id) {
        (Some((_, id)), _) => id,
        (None, Some(id)) => id.to_owned(),
        (None, None) => new_kafka_uuid(),
    })
}

/// One voter of a new dynamic quorum: `id@host:port:directory.id` (Kafka's `DynamicVoters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialController {
    pub id: i32,
    /// Host name or IP address, without brackets.
    pub host: String,
    pub port: u16,
    /// The `directory.id` of the voter's metadata log directory.
    pub directory_id: String,
}

/// The voters a dynamic quorum starts with (`--standalone` or `--initial-controllers`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitialControllers(pub Vec<InitialController>);

impl InitialControllers {
    /// Parses `id@host:port:directory.id,...` as `--initial-controllers` takes it.
    pub fn parse(text: &str) -> Result<InitialControllers, String> {
        let mut voters: Vec<InitialController> = Vec::new();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let voter = parse_initial_controller(entry).ok_or_else(|| {
                format!(
                    "'{entry}' is not id@host:port:directory-id (for example 1@localhost:9093:{})",
                    new_kafka_uuid()
                )
            })?;
            if voters.iter().any(|v| v.id == voter.id) {
                return Err(format!("node id {} was specified more than once", voter.id));
            }
            if voters.iter().any(|v| v.directory_id == voter.directory_id) {
                return Err(format!(
                    "directory id {} was specified more than once",
                    voter.directory_id
                ));
            }
            voters.push(voter);
        }
        if voters.is_empty() {
            return Err("no voters given".into());
        }
        Ok(InitialControllers(voters))
    }

    /// The text `parse` reads.
    pub fn to_arg(&self) -> String {
        let items: Vec<String> = self
            .0
            .iter()
            .map(|v| {
                let host = if v.host.contains(':') {
                    format!("[{}]", v.host)
                } else {
                    v.host.clone()
                };
                format!("{}@{}:{}:{}", v.id, host, v.port, v.directory_id)
            })
            .collect();
        items.join(",")
    }

    /// The file's path under the metadata log directory (the first of `log.dirs`).
    pub fn path_in(metadata_log_dir: &Path) -> PathBuf {
        metadata_log_dir
            .join(METADATA_LOG_DIR_NAME)
            .join(INITIAL_CONTROLLERS_FILE)
    }

    /// Reads the file `strom storage format` wrote; `Ok(None)` when there is none (a static
    /// quorum, a single node, or a node that joins an existing dynamic quorum).
    pub fn read(metadata_log_dir: &Path) -> Result<Option<InitialControllers>, LogError> {
        let path = Self::path_in(metadata_log_dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LogError::io(&path, e)),
        };
        let invalid = |reason: String| LogError::InvalidMetaProperties {
            path: path.clone(),
            reason,
        };
        let value = text
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("initial.controllers="))
            .ok_or_else(|| invalid("initial.controllers is missing".into()))?;
        InitialControllers::parse(value).map(Some).map_err(invalid)
    }

    fn write(&self, metadata_log_dir: &Path) -> Result<(), LogError> {
        let path = Self::path_in(metadata_log_dir);
        let text = format!(
            "# Written by strom storage format: the voters of a new dynamic controller quorum (KIP-853)\ninitial.controllers={}\n",
            self.to_arg()
        );
        write_durably(&path, text.as_bytes())
    }
}

fn parse_initial_controller(entry: &str) -> Option<InitialController> {
    let (id, rest) = entry.split_once('@')?;
    let id = id.trim().parse::<i32>().ok().filter(|id| *id >= 0)?;
    let (address, directory_id) = rest.rsplit_once(':')?;
    let (host, port) = address.rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().ok()?;
    (!host.is_empty() && is_kafka_uuid(directory_id)).then(|| InitialController {
        id,
        host: host.to_owned(),
        port,
        directory_id: directory_id.to_owned(),
    })
}

/// What `strom storage format` is asked to do.
#[derive(Debug, Clone)]
pub struct FormatRequest {
    /// `log.dirs`; the first holds the metadata log.
    pub dirs: Vec<PathBuf>,
    pub node_id: i32,
    pub cluster_id: String,
    /// `--ignore-formatted`: skip directories already formatted the same way.
    pub ignore_formatted: bool,
    /// The voters of a new dynamic quorum, written to the metadata log directory.
    pub initial_controllers: Option<InitialControllers>,
}

/// What one directory became.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormatOutcome {
    /// Newly formatted; `kind` as Kafka prints it ("metadata directory", "data directory",
    /// "dynamic metadata voter directory", ...).
    Formatted {
        dir: PathBuf,
        kind: &'static str,
        directory_id: String,
    },
    /// Already formatted with this cluster and node id (`--ignore-formatted`).
    AlreadyFormatted { dir: PathBuf },
}

/// Formats the log directories as `kafka-storage.sh format` does: every directory is checked
/// first (a directory formatted for another cluster or node is refused even with
/// `ignore_formatted`; one formatted the same way is refused without it), then each
/// unformatted one gets `meta.properties` (version 1, node.id, cluster.id, a new directory.id;
/// for a voter of `initial_controllers`, its metadata directory takes the directory id given
/// there) and the metadata directory the initial voters. Nothing is written if a check fails.
pub fn format_log_dirs(request: &FormatRequest) -> Result<Vec<FormatOutcome>, LogError> {
    if !is_kafka_uuid(&request.cluster_id) {
        return Err(LogError::InvalidFormat(format!(
            "cluster id '{}' is not a Kafka uuid (22 characters of URL-safe base64); make one with `strom storage random-uuid`",
            request.cluster_id
        )));
    }
    if request.dirs.is_empty() {
        return Err(LogError::InvalidFormat(
            "you must specify at least one directory to format (log.dirs)".into(),
        ));
    }
    let own_voter = request
        .initial_controllers
        .as_ref()
        .and_then(|c| c.0.iter().find(|v| v.id == request.node_id));
    let mut existing: BTreeMap<usize, MetaProperties> = BTreeMap::new();
    for (i, dir) in request.dirs.iter().enumerate() {
        let Some(meta) = read_meta_properties(dir)? else {
            continue;
        };
        let path = MetaProperties::path_in(dir);
        if meta.cluster_id != request.cluster_id {
            return Err(LogError::ClusterIdMismatch {
                path,
                found: meta.cluster_id,
                expected: request.cluster_id.clone(),
            });
        }
        if meta.node_id != request.node_id {
            return Err(LogError::NodeIdMismatch {
                path,
                found: meta.node_id,
                expected: request.node_id,
            });
        }
        if !request.ignore_formatted {
            return Err(LogError::AlreadyFormatted { dir: dir.clone() });
        }
        existing.insert(i, meta);
    }
    let mut used_ids: Vec<String> = existing
        .values()
        .filter_map(|m| m.directory_id.clone())
        .collect();
    let mut outcomes = Vec::new();
    for (i, dir) in request.dirs.iter().enumerate() {
        if existing.contains_key(&i) {
            outcomes.push(FormatOutcome::AlreadyFormatted { dir: dir.clone() });
            continue;
        }
        let is_metadata = i == 0;
        let (kind, directory_id) = match (is_metadata, &request.initial_controllers, own_voter) {
            (false, _, _) => ("data directory", None),
            (true, None, _) => ("metadata directory", None),
            (true, Some(_), None) => ("dynamic metadata directory", None),
            (true, Some(_), Some(voter)) => (
                "dynamic metadata voter directory",
                Some(voter.directory_id.clone()),
            ),
        };
        let directory_id = directory_id.unwrap_or_else(|| loop {
            let id = new_kafka_uuid();
            if !used_ids.contains(&id) {
                break id;
            }
        });
        if used_ids.contains(&directory_id) {
            return Err(LogError::InvalidFormat(format!(
                "directory id {directory_id} is already the id of another log directory of this node"
            )));
        }
        used_ids.push(directory_id.clone());
        std::fs::create_dir_all(dir).map_err(|e| LogError::io(dir, e))?;
        if is_metadata {
            if let Some(voters) = &request.initial_controllers {
                let metadata = dir.join(METADATA_LOG_DIR_NAME);
                std::fs::create_dir_all(&metadata).map_err(|e| LogError::io(&metadata, e))?;
                voters.write(dir)?;
            }
        }
        let meta = MetaProperties {
            version: 1,
            node_id: request.node_id,
            cluster_id: request.cluster_id.clone(),
            directory_id: Some(directory_id.clone()),
        };
        // meta.properties last: a directory is formatted only once everything else is there.
        write_durably(
            &MetaProperties::path_in(dir),
            meta.to_properties().as_bytes(),
        )?;
        outcomes.push(FormatOutcome::Formatted {
            dir: dir.clone(),
            kind,
            directory_id,
        });
    }
    Ok(outcomes)
}

/// Writes a file through a temporary name, fsyncs it and its directory.
fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), LogError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Some(parent) = path.parent() {
            std::fs::File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| LogError::io(path, e))
}

/// What `strom storage info` reports about one node's directories (Kafka's `infoCommand`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StorageInfo {
    /// Directories that exist.
    pub found: Vec<PathBuf>,
    /// The first `meta.properties` read, as sorted key/value pairs.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Everything wrong, in Kafka's words.
    pub problems: Vec<String>,
}

/// Inspects the directories as `kafka-storage.sh info` does.
pub fn storage_info(dirs: &[PathBuf]) -> StorageInfo {
    let mut info = StorageInfo::default();
    let mut first: Option<MetaProperties> = None;
    let mut sorted = dirs.to_vec();
    sorted.sort();
    for dir in &sorted {
        if !dir.is_dir() {
            info.problems.push(if dir.exists() {
                format!("{} is not a directory", dir.display())
            } else {
                format!("{} does not exist", dir.display())
            });
            continue;
        }
        info.found.push(dir.clone());
        match read_meta_properties(dir) {
            Ok(None) => info
                .problems
                .push(format!("{} is not formatted.", dir.display())),
            Ok(Some(meta)) => match &first {
                None => first = Some(meta),
                Some(prev) if prev.cluster_id != meta.cluster_id => info
                    .problems
                    .push("Mismatched cluster IDs between storage directories.".into()),
                Some(prev) if prev.node_id != meta.node_id => info
                    .problems
                    .push("Mismatched node IDs between storage directories.".into()),
                Some(_) => {}
            },
            Err(e) => info.problems.push(format!("Error loading {e}")),
        }
    }
    if let Some(meta) = &first {
        if meta.version == 0 {
            info.problems.push(
                "The configuration file appears to be for a cluster in KRaft mode, but the \
                 directories are formatted for legacy mode."
                    .into(),
            );
        }
    }
    info.metadata = first.map(|m| {
        let mut map = BTreeMap::new();
        map.insert("cluster.id".to_owned(), m.cluster_id);
        if let Some(id) = m.directory_id {
            map.insert("directory.id".to_owned(), id);
        }
        map.insert("node.id".to_owned(), m.node_id.to_string());
        map.insert("version".to_owned(), m.version.to_string());
        map
    });
    info
}

#[cfg(test)]
#[path = "storage_format_tests.rs"]
mod tests;
