use super::*;

const CLUSTER: &str = "4L6g3nShT-eMCtK--X86sw";
const OTHER_CLUSTER: &str = "MkU3OEVBNTcwNTJENDM2Qk";

fn dirs(root: &Path, n: usize) -> Vec<PathBuf> {
    (0..n).map(|i| root.join(format!("logs-{i}"))).collect()
}

fn request(dirs: &[PathBuf], node_id: i32) -> FormatRequest {
    FormatRequest {
        dirs: dirs.to_vec(),
        node_id,
        cluster_id: CLUSTER.into(),
        ignore_formatted: false,
        initial_controllers: None,
    }
}

fn write_meta(dir: &Path, node_id: i32, cluster_id: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let meta = MetaProperties {
        version: 1,
        node_id,
        cluster_id: cluster_id.into(),
        directory_id: Some(new_kafka_uuid()),
    };
    std::fs::write(MetaProperties::path_in(dir), meta.to_properties()).unwrap();
}

#[test]
fn format_writes_version_1_meta_properties_with_distinct_directory_ids() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    let outcomes = format_log_dirs(&request(&dirs, 3)).unwrap();
    assert_eq!(outcomes.len(), 2);
    let metas: Vec<MetaProperties> = dirs
        .iter()
        .map(|d| read_meta_properties(d).unwrap().unwrap())
        .collect();
    for meta in &metas {
        assert_eq!(
            (meta.version, meta.node_id, meta.cluster_id.as_str()),
            (1, 3, CLUSTER)
        );
        assert!(is_kafka_uuid(meta.directory_id.as_deref().unwrap()));
    }
    assert_ne!(metas[0].directory_id, metas[1].directory_id);
    assert!(matches!(
        &outcomes[0],
        FormatOutcome::Formatted { kind: "metadata directory", directory_id, .. }
            if Some(directory_id) == metas[0].directory_id.as_ref()
    ));
    assert!(matches!(
        &outcomes[1],
        FormatOutcome::Formatted {
            kind: "data directory",
            ..
        }
    ));
    assert_eq!(InitialControllers::read(&dirs[0]).unwrap(), None);
}

#[test]
fn format_refuses_a_formatted_directory_unless_ignore_formatted() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    write_meta(&dirs[0], 1, CLUSTER);
    let err = format_log_dirs(&request(&dirs, 1)).unwrap_err();
    assert!(matches!(err, LogError::AlreadyFormatted { ref dir } if *dir == dirs[0]));
    assert!(err.to_string().contains("--ignore-formatted"), "{err}");
    assert!(!dirs[1].exists(), "nothing is written when a check fails");
    let before = std::fs::read_to_string(MetaProperties::path_in(&dirs[0])).unwrap();
    let outcomes = format_log_dirs(&FormatRequest {
        ignore_formatted: true,
        ..request(&dirs, 1)
    })
    .unwrap();
    assert_eq!(
        outcomes[0],
        FormatOutcome::AlreadyFormatted {
            dir: dirs[0].clone()
        }
    );
    assert!(matches!(outcomes[1], FormatOutcome::Formatted { .. }));
    assert_eq!(
        std::fs::read_to_string(MetaProperties::path_in(&dirs[0])).unwrap(),
        before
    );
}

#[test]
fn format_refuses_another_cluster_or_node_even_with_ignore_formatted() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 1);
    write_meta(&dirs[0], 1, OTHER_CLUSTER);
    let ignore = FormatRequest {
        ignore_formatted: true,
        ..request(&dirs, 1)
    };
    let err = format_log_dirs(&ignore).unwrap_err();
    assert!(matches!(err, LogError::ClusterIdMismatch { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.contains(OTHER_CLUSTER) && text.contains(CLUSTER) && text.contains("logs-0"),
        "{text}"
    );
    write_meta(&dirs[0], 2, CLUSTER);
    let err = format_log_dirs(&ignore).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::NodeIdMismatch {
                found: 2,
                expected: 1,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn format_refuses_a_malformed_cluster_id() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 1);
    let err = format_log_dirs(&FormatRequest {
        cluster_id: "not-a-uuid".into(),
        ..request(&dirs, 1)
    })
    .unwrap_err();
    assert!(err.to_string().contains("random-uuid"), "{err}");
    assert!(!dirs[0].exists());
}

#[test]
fn initial_controllers_are_recorded_and_give_the_voters_directory_id() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    let voters = InitialControllers::parse(
        "1@localhost:9093:J8aAPcfLQt2bqs1JT_rMgQ,2@[::1]:9094:4L6g3nShT-eMCtK--X86sw",
    )
    .unwrap();
    format_log_dirs(&FormatRequest {
        initial_controllers: Some(voters.clone()),
        ..request(&dirs, 2)
    })
    .unwrap();
    assert_eq!(
        read_meta_properties(&dirs[0])
            .unwrap()
            .unwrap()
            .directory_id
            .as_deref(),
        Some("4L6g3nShT-eMCtK--X86sw")
    );
    assert_eq!(InitialControllers::read(&dirs[0]).unwrap(), Some(voters));
    assert_eq!(InitialControllers::read(&dirs[1]).unwrap(), None);
}

#[test]
fn initial_controllers_parse_kafkas_syntax_and_refuse_duplicates() {
    let voters = InitialControllers::parse(
        "0@example.com:8082:JEXY6aqzQY-32P5TStzaFg,1@example.com:8083:MvDxzVmcRsaTz33bUuRU6A",
    )
    .unwrap();
    assert_eq!(voters.0.len(), 2);
    assert_eq!(
        voters.0[1],
        InitialController {
            id: 1,
            host: "example.com".into(),
            port: 8083,
            directory_id: "MvDxzVmcRsaTz33bUuRU6A".into()
        }
    );
    assert_eq!(InitialControllers::parse(&voters.to_arg()), Ok(voters));
    for bad in [
        "",
        "1@host:9093",
        "x@host:9093:MvDxzVmcRsaTz33bUuRU6A",
        "1@host:port:MvDxzVmcRsaTz33bUuRU6A",
        "1@host:9093:short",
    ] {
        assert!(InitialControllers::parse(bad).is_err(), "{bad}");
    }
    let err =
        InitialControllers::parse("1@a:1:MvDxzVmcRsaTz33bUuRU6A,1@b:2:JEXY6aqzQY-32P5TStzaFg")
            .unwrap_err();
    assert!(
        err.contains("node id 1 was specified more than once"),
        "{err}"
    );
    assert!(
        InitialControllers::parse("1@a:1:MvDxzVmcRsaTz33bUuRU6A,2@b:2:MvDxzVmcRsaTz33bUuRU6A")
            .is_err()
    );
}

#[test]
fn check_formatted_lets_a_single_node_format_itself() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    let id = check_formatted(&dirs, 1, None, false).unwrap();
    assert!(is_kafka_uuid(&id));
    assert_eq!(
        check_formatted(&dirs, 1, Some(CLUSTER), false).unwrap(),
        CLUSTER
    );
}

#[test]
fn check_formatted_returns_the_recorded_cluster_id() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    write_meta(&dirs[0], 1, CLUSTER);
    assert_eq!(check_formatted(&dirs, 1, None, true).unwrap(), CLUSTER);
    assert_eq!(
        check_formatted(&dirs, 1, Some(CLUSTER), false).unwrap(),
        CLUSTER
    );
}

#[test]
fn check_formatted_refuses_an_unformatted_node_of_a_cluster_with_kafkas_hint() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    // A later directory alone being formatted does not make the metadata directory formatted.
    write_meta(&dirs[1], 1, CLUSTER);
    let err = check_formatted(&dirs, 1, None, true).unwrap_err();
    assert!(matches!(err, LogError::NotFormatted { ref dir, .. } if *dir == dirs[0]));
    let text = err.to_string();
    assert!(
        text.contains("no `meta.properties` found in") && text.contains("strom storage format"),
        "{text}"
    );
}

#[test]
fn check_formatted_refuses_another_node_id() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 1);
    write_meta(&dirs[0], 2, CLUSTER);
    let err = check_formatted(&dirs, 1, None, false).unwrap_err();
    assert!(
        matches!(
            err,
            LogError::NodeIdMismatch {
                found: 2,
                expected: 1,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("logs-0"), "{err}");
}

#[test]
fn check_formatted_refuses_a_cluster_id_other_than_strom_cluster_id() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 1);
    write_meta(&dirs[0], 1, OTHER_CLUSTER);
    let err = check_formatted(&dirs, 1, Some(CLUSTER), false).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LogError::ClusterIdMismatch { .. }), "{text}");
    assert!(
        text.contains(OTHER_CLUSTER) && text.contains(CLUSTER) && text.contains("logs-0"),
        "{text}"
    );
}

#[test]
fn check_formatted_refuses_directories_of_two_clusters() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 2);
    write_meta(&dirs[0], 1, CLUSTER);
    write_meta(&dirs[1], 1, OTHER_CLUSTER);
    let err = check_formatted(&dirs, 1, None, false).unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, LogError::ClusterIdsDiffer { .. }), "{text}");
    assert!(
        text.contains("logs-0")
            && text.contains("logs-1")
            && text.contains(CLUSTER)
            && text.contains(OTHER_CLUSTER),
        "{text}"
    );
}

#[test]
fn check_formatted_refuses_a_broken_meta_properties() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 1);
    std::fs::create_dir_all(&dirs[0]).unwrap();
    std::fs::write(MetaProperties::path_in(&dirs[0]), "version=1\n").unwrap();
    let err = check_formatted(&dirs, 1, None, false).unwrap_err();
    assert!(
        matches!(err, LogError::InvalidMetaProperties { .. }),
        "{err}"
    );
}

#[test]
fn info_reports_metadata_and_kafkas_problems() {
    let root = tempfile::tempdir().unwrap();
    let dirs = dirs(root.path(), 3);
    write_meta(&dirs[0], 1, CLUSTER);
    write_meta(&dirs[1], 1, OTHER_CLUSTER);
    let info = storage_info(&dirs);
    assert_eq!(info.found, dirs[..2].to_vec());
    let meta = info.metadata.unwrap();
    assert_eq!(meta.get("cluster.id").map(String::as_str), Some(CLUSTER));
    assert_eq!(meta.get("node.id").map(String::as_str), Some("1"));
    assert_eq!(
        info.problems,
        vec![
            "Mismatched cluster IDs between storage directories.".to_owned(),
            format!("{} does not exist", dirs[2].display()),
        ]
    );
}
