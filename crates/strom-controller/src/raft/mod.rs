//! The metadata quorum's plumbing for openraft: the type configuration, the
//! durable log and vote store, the state machine (the metadata image) with
//! its snapshots, and the network.
//!
//! On-disk layout of the metadata directory (e.g. `<log.dir>/__cluster_metadata-0`):
//!
//! | file | what |
//! |---|---|
//! | `<first index, 20 digits>.log` | metadata log segments ([`log_store`]) |
//! | `quorum-state` | the vote and the last purged log id ([`quorum_state`]) |
//! | `<end offset, 20 digits>-<term, 10 digits>.checkpoint` | the latest snapshot ([`snapshot`]) |
//!
//! Every file that is rewritten goes through a temporary file, fsync and
//! rename, so a crash leaves either the old or the new version.

use std::io::Cursor;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use strom_metadata::MetadataRecord;

pub(crate) mod election;
pub(crate) mod frame;
pub(crate) mod fs_util;
pub(crate) mod log_store;
pub(crate) mod quorum_state;
pub(crate) mod runtime;
pub(crate) mod snapshot;
pub(crate) mod state_machine;
pub(crate) mod transport;
#[cfg(test)]
mod transport_tests;

/// Where the metadata directory's stores do their I/O, and who watches the
/// state machine: the real file system and no one, unless a test
/// substitutes them.
#[derive(Clone)]
pub(crate) struct Storage {
    pub fs: Arc<dyn fs_util::FileSystem>,
    pub observer: Option<Arc<dyn state_machine::ApplyObserver>>,
}

impl Default for Storage {
    fn default() -> Storage {
        Storage {
            fs: fs_util::RealFileSystem::shared(),
            observer: None,
        }
    }
}

/// One metadata log entry's payload: the records of one controller decision,
/// applied all or nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetadataBatch {
    pub records: Vec<MetadataRecord>,
}

/// What applying one entry did: the image's new offset, or why the batch was
/// rejected (the image then only advances its offset).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApplyResult {
    pub offset: i64,
    pub error: Option<String>,
}

openraft::declare_raft_types!(
    /// The openraft types of the metadata quorum. Node ids are Kafka's
    /// `node.id`; `BasicNode` carries the address peers will use once the
    /// quorum has more than one voter.
    pub TypeConfig:
        D = MetadataBatch,
        R = ApplyResult,
        NodeId = u64,
        Node = openraft::BasicNode,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = runtime::MetadataRuntime,
);

pub(crate) type LogId = openraft::LogId<u64>;
pub(crate) type Vote = openraft::Vote<u64>;
pub(crate) type Entry = openraft::Entry<TypeConfig>;
pub(crate) type StorageError = openraft::StorageError<u64>;
pub(crate) type StoredMembership = openraft::StoredMembership<u64, openraft::BasicNode>;
pub(crate) type SnapshotMeta = openraft::SnapshotMeta<u64, openraft::BasicNode>;
