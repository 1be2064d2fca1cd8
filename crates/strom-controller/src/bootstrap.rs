//! Records `strom storage format` puts into a new cluster's metadata, as Kafka's
//! `bootstrap.checkpoint`: today the SCRAM credentials of `--add-scram`, so the first
//! controller start has them and no user has to be created over the wire (where a SCRAM
//! listener would need a user to exist first).
//!
//! The file is `bootstrap-records.json` in the metadata directory: `{"version":1,
//! "records":[<MetadataRecord>...]}`, written through a temporary file, fsync and rename.
//! The active controller proposes the records as one entry when it finds the metadata empty
//! (a new cluster; every controller is formatted with the same arguments, so whichever is
//! elected first writes them); once the metadata holds anything the file is not used
//! again, so a credential changed or deleted later is never brought back.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use strom_metadata::MetadataRecord;

/// The file's name in the metadata directory.
pub const BOOTSTRAP_RECORDS_FILE: &str = "bootstrap-records.json";

#[derive(Serialize, Deserialize)]
struct BootstrapFile {
    version: u32,
    records: Vec<MetadataRecord>,
}

pub fn bootstrap_records_path(metadata_dir: &Path) -> PathBuf {
    metadata_dir.join(BOOTSTRAP_RECORDS_FILE)
}

/// Writes `records` for the first start of the metadata quorum in `metadata_dir`.
pub fn write_bootstrap_records(metadata_dir: &Path, records: &[MetadataRecord]) -> io::Result<()> {
    std::fs::create_dir_all(metadata_dir)?;
    let path = bootstrap_records_path(metadata_dir);
    let tmp = path.with_extension("json.tmp");
    let body = serde_json::to_vec_pretty(&BootstrapFile {
        version: 1,
        records: records.to_vec(),
    })
    .map_err(io::Error::other)?;
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&body)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, &path)?;
    std::fs::File::open(metadata_dir)?.sync_all()
}

/// The bootstrap records of `metadata_dir`; none when there is no file. A file that does
/// not parse is an error naming it.
pub(crate) fn read_bootstrap_records(metadata_dir: &Path) -> Result<Vec<MetadataRecord>, String> {
    let path = bootstrap_records_path(metadata_dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let file: BootstrapFile = serde_json::from_slice(&bytes).map_err(|e| {
        format!(
            "{} is not a bootstrap records file ({e}); format the node again",
            path.display()
        )
    })?;
    if file.version != 1 {
        return Err(format!(
            "{} has version {}, this Strom reads version 1",
            path.display(),
            file.version
        ));
    }
    Ok(file.records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_records_round_trip_and_a_missing_file_is_none() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_bootstrap_records(dir.path()).unwrap().is_empty());
        let records = vec![MetadataRecord::UserScramCredential {
            name: "alice".into(),
            mechanism: 1,
            salt: vec![1, 2],
            stored_key: vec![3],
            server_key: vec![4],
            iterations: 4096,
        }];
        write_bootstrap_records(dir.path(), &records).unwrap();
        assert_eq!(read_bootstrap_records(dir.path()).unwrap(), records);
        std::fs::write(bootstrap_records_path(dir.path()), b"{").unwrap();
        let err = read_bootstrap_records(dir.path()).unwrap_err();
        assert!(err.contains("is not a bootstrap records file"), "{err}");
    }
}
