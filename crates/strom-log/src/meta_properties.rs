//! `meta.properties`, the identity card of a log directory (KRaft mode, version 1):
//!
//! ```text
//! #
//! #Written by strom
//! cluster.id=<22-char base64url uuid>
//! directory.id=<22-char base64url uuid>
//! node.id=<int>
//! version=1
//! ```
//!
//! Java properties syntax: `key=value` lines (`:` also separates), `#` and `!` comments.
//! Version 0 files (ZooKeeper mode) carry `broker.id` instead of `node.id` and are read.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::LogError;

/// File name inside each log directory.
pub const META_PROPERTIES_FILE: &str = "meta.properties";

/// The contents of `meta.properties`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaProperties {
    /// `version`: 1 for KRaft.
    pub version: i32,
    /// `node.id` (`broker.id` in version 0).
    pub node_id: i32,
    /// `cluster.id`.
    pub cluster_id: String,
    /// `directory.id`, the directory's own uuid (KIP-858).
    pub directory_id: Option<String>,
}

impl MetaProperties {
    /// Parses the file's text; `path` is for error messages.
    pub fn parse(text: &str, path: &Path) -> Result<MetaProperties, LogError> {
        let invalid = |reason: String| LogError::InvalidMetaProperties {
            path: path.to_path_buf(),
            reason,
        };
        let mut props = BTreeMap::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some(split) = line.find(['=', ':']) else {
                return Err(invalid(format!("line '{line}' is not key=value")));
            };
            props.insert(
                line[..split].trim().to_string(),
                line[split + 1..].trim().to_string(),
            );
        }
        let int = |key: &str| -> Result<Option<i32>, LogError> {
            props
                .get(key)
                .map(|v| {
                    v.parse::<i32>()
                        .map_err(|_| invalid(format!("{key}={v} is not an integer")))
                })
                .transpose()
        };
        let version = int("version")?.ok_or_else(|| invalid("version is missing".into()))?;
        let node_id = match version {
            0 => int("broker.id")?.or(int("node.id")?),
            1 => int("node.id")?,
            v => {
                return Err(invalid(format!(
                    "version {v} is not supported (expected 0 or 1)"
                )))
            }
        }
        .ok_or_else(|| invalid("node.id is missing".into()))?;
        let cluster_id = props
            .get("cluster.id")
            .cloned()
            .ok_or_else(|| invalid("cluster.id is missing".into()))?;
        Ok(MetaProperties {
            version,
            node_id,
            cluster_id,
            directory_id: props.get("directory.id").cloned(),
        })
    }

    /// The file's text.
    pub fn to_properties(&self) -> String {
        let mut out = String::from("#\n#Written by strom\n");
        out.push_str(&format!("cluster.id={}\n", self.cluster_id));
        if let Some(id) = &self.directory_id {
            out.push_str(&format!("directory.id={id}\n"));
        }
        out.push_str(&format!(
            "node.id={}\nversion={}\n",
            self.node_id, self.version
        ));
        out
    }

    /// The file's path in a log directory.
    pub fn path_in(dir: &Path) -> PathBuf {
        dir.join(META_PROPERTIES_FILE)
    }
}

/// A new random id in Kafka's `Uuid.toString()` form: 16 bytes, base64url, no padding.
/// As Kafka's `Uuid.randomUuid`, an id starting with '-' is drawn again: on a command line
/// it would read as an option.
pub fn new_kafka_uuid() -> String {
    loop {
        let id = draw_kafka_uuid();
        if !id.starts_with('-') {
            return id;
        }
    }
}

fn draw_kafka_uuid() -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = uuid::Uuid::new_v4().into_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | u32::from(*b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 0x3f) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn properties_round_trip() {
        let meta = MetaProperties {
            version: 1,
            node_id: 3,
            cluster_id: "MkU3OEVBNTcwNTJENDM2Qk".into(),
            directory_id: Some(new_kafka_uuid()),
        };
        let text = meta.to_properties();
        assert!(text.contains("node.id=3\n") && text.contains("version=1\n"));
        assert_eq!(MetaProperties::parse(&text, Path::new("m")).unwrap(), meta);
    }

    #[test]
    fn kafka_written_files_parse() {
        let text = "#\n#Tue Jan 02 10:00:00 UTC 2024\nnode.id=1\ndirectory.id=J8aAPcfLQt2bqs1JT_rMgQ\nversion=1\ncluster.id=4L6g3nShT-eMCtK--X86sw\n";
        let meta = MetaProperties::parse(text, Path::new("m")).unwrap();
        assert_eq!(meta.node_id, 1);
        assert_eq!(meta.cluster_id, "4L6g3nShT-eMCtK--X86sw");
        assert_eq!(meta.directory_id.as_deref(), Some("J8aAPcfLQt2bqs1JT_rMgQ"));
        let zk = MetaProperties::parse("version=0\nbroker.id=5\ncluster.id=abc\n", Path::new("m"))
            .unwrap();
        assert_eq!(zk.node_id, 5);
    }

    #[test]
    fn broken_files_name_the_problem() {
        for (text, needle) in [
            ("node.id=1\ncluster.id=a\n", "version is missing"),
            ("version=1\ncluster.id=a\n", "node.id is missing"),
            ("version=1\nnode.id=x\ncluster.id=a\n", "not an integer"),
            ("version=1\nnode.id=1\n", "cluster.id is missing"),
            ("version=7\nnode.id=1\ncluster.id=a\n", "not supported"),
            ("garbage\n", "not key=value"),
        ] {
            let err = MetaProperties::parse(text, Path::new("/d/meta.properties"))
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(needle) && err.contains("/d/meta.properties"),
                "{err}"
            );
        }
    }

    #[test]
    fn uuids_are_22_base64url_chars() {
        let id = new_kafka_uuid();
        assert_eq!(id.len(), 22);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(id, new_kafka_uuid());
    }

    #[test]
    fn no_uuid_starts_with_a_dash() {
        // About 1 draw in 64 starts with '-': 2000 draws meet it ~31 times.
        assert!((0..2000).all(|_| !new_kafka_uuid().starts_with('-')));
    }
}
