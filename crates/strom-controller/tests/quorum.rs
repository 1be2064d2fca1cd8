//! The controller with its quorum on a real directory: durability across
//! restarts, crash recovery, snapshots, and the one-decision-at-a-time rule.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strom_controller::{
    AlterConfigs, BrokerHeartbeat, Controller, ControllerConfig, ControllerHandle,
    CreatePartitions, CreateTopic, DeleteTopic, StartError, StoreError, TopicRef,
};
use strom_metadata::{BrokerEndpoint, BrokerRegistration, ConfigResource, MetadataImage, TopicId};

fn config(dir: &Path) -> ControllerConfig {
    ControllerConfig {
        rng_seed: Some(5),
        startup_timeout: Some(Duration::from_secs(20)),
        ..ControllerConfig::single_node(1, dir.join("__cluster_metadata-0"))
    }
}

fn registration(broker_id: i32) -> BrokerRegistration {
    BrokerRegistration {
        broker_id,
        incarnation_id: 77,
        listeners: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
            security_protocol: "PLAINTEXT".into(),
        }],
        rack: None,
        fenced: false,
        in_controlled_shutdown: false,
        epoch: -1,
    }
}

fn topic(name: &str, num_partitions: i32) -> CreateTopic {
    CreateTopic {
        name: name.into(),
        num_partitions,
        replication_factor: -1,
        assignments: vec![],
        configs: BTreeMap::new(),
    }
}

/// Registers broker `broker_id` and unfences it with a caught-up heartbeat,
/// as a starting broker does: only live brokers get new replicas.
async fn register_live(handle: &ControllerHandle, broker_id: i32) {
    let broker_epoch = handle
        .register_broker(registration(broker_id))
        .await
        .expect("broker registers");
    let outcome = handle
        .broker_heartbeat(BrokerHeartbeat {
            broker_id,
            broker_epoch,
            current_metadata_offset: handle.image().offset(),
            want_fence: false,
            want_shut_down: false,
        })
        .await
        .expect("the heartbeat is answered");
    assert!(!outcome.is_fenced, "a caught-up broker is unfenced");
}

async fn start(config: ControllerConfig) -> ControllerHandle {
    match Controller::start(config).await {
        Ok(handle) => handle,
        Err(error) => panic!("the controller should start: {error}"),
    }
}

async fn create_ok(handle: &ControllerHandle, name: &str, num_partitions: i32) -> TopicId {
    let outcomes = handle
        .create_topics(vec![topic(name, num_partitions)], false)
        .await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].error, None, "creating {name}");
    outcomes[0].topic_id.expect("a created topic has an id")
}

/// Topic names with ids and partition counts, for comparing images.
fn topics_of(image: &MetadataImage) -> Vec<(String, TopicId, usize)> {
    image
        .topics()
        .map(|t| (t.name.clone(), t.topic_id, t.partitions.len()))
        .collect()
}

fn files_with_suffix(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().ends_with(suffix))
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Polls `condition` until it holds, failing the test after a deadline.
async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn created_topics_are_in_the_image_when_create_returns() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    register_live(&handle, 1).await;
    let id = create_ok(&handle, "orders", 3).await;
    let image = handle.image();
    let orders = image.topic("orders").expect("orders is in the image");
    assert_eq!(orders.topic_id, id);
    assert_eq!(orders.partitions.len(), 3);
    assert!(orders
        .partitions
        .values()
        .all(|p| p.replicas == vec![1] && p.leader == 1));
    assert!(image.offset() > 0);
    handle.shutdown().await;
}

#[tokio::test]
async fn restart_keeps_topics_ids_brokers_and_configs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    register_live(&handle, 1).await;
    let mut with_config = topic("configured", 2);
    with_config
        .configs
        .insert("retention.ms".into(), "60000".into());
    let outcomes = handle
        .create_topics(vec![with_config, topic("plain", 1)], false)
        .await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    create_ok(&handle, "later", 4).await;
    let deleted = handle
        .delete_topics(vec![DeleteTopic::by_name("plain")])
        .await;
    assert_eq!(deleted[0].error, None);
    let before = handle.image();
    handle.shutdown().await;

    let handle = start(config(dir.path())).await;
    let after = handle.image();
    assert_eq!(topics_of(&after), topics_of(&before));
    assert_eq!(
        after.topic_config("configured"),
        before.topic_config("configured")
    );
    assert_eq!(after.broker(1), before.broker(1));
    assert!(after.topic("plain").is_none());
    assert!(after.offset() >= before.offset());
    // And it goes on working.
    create_ok(&handle, "after-restart", 1).await;
    handle.shutdown().await;
}

#[tokio::test]
async fn restart_after_a_torn_tail_recovers_the_committed_topics() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let handle = start(cfg.clone()).await;
    register_live(&handle, 1).await;
    let id = create_ok(&handle, "survivor", 2).await;
    handle.shutdown().await;

    // A crash in the middle of an append: half a frame at the end.
    let segments = files_with_suffix(&cfg.metadata_dir, ".log");
    let last = segments.last().expect("the log has a segment");
    let intact = fs::metadata(last).expect("segment metadata").len();
    let mut bytes = fs::read(last).expect("read segment");
    bytes.extend_from_slice(&[0, 0, 0, 90, 0xde, 0xad, 0xbe, 0xef, b'{', b'"']);
    fs::write(last, &bytes).expect("write torn tail");

    let handle = start(cfg.clone()).await;
    let image = handle.image();
    assert_eq!(image.topic("survivor").map(|t| t.topic_id), Some(id));
    // The torn frame is gone: what follows the intact entries now is the
    // entry written on start.
    let recovered = fs::read(last).expect("read segment");
    assert_eq!(recovered[..intact as usize], bytes[..intact as usize]);
    assert_ne!(
        recovered.get(intact as usize..intact as usize + 8),
        bytes.get(intact as usize..intact as usize + 8)
    );
    create_ok(&handle, "next", 1).await;
    handle.shutdown().await;

    let handle = start(cfg).await;
    assert!(handle.image().topic("next").is_some());
    handle.shutdown().await;
}

#[tokio::test]
async fn damage_in_the_middle_of_the_log_stops_the_start_and_names_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let handle = start(cfg.clone()).await;
    register_live(&handle, 1).await;
    create_ok(&handle, "a", 1).await;
    create_ok(&handle, "b", 1).await;
    handle.shutdown().await;

    let segment = files_with_suffix(&cfg.metadata_dir, ".log")
        .into_iter()
        .next()
        .expect("a segment");
    let mut bytes = fs::read(&segment).expect("read segment");
    bytes[12] ^= 0xff;
    fs::write(&segment, &bytes).expect("damage segment");

    match Controller::start(cfg).await {
        Err(StartError::Store(StoreError::Corrupt { path, .. })) => assert_eq!(path, segment),
        Err(other) => panic!("expected a corruption error, got {other}"),
        Ok(handle) => {
            handle.shutdown().await;
            panic!("a damaged log must not start");
        }
    }
}

#[tokio::test]
async fn snapshots_purge_the_log_and_restart_loads_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ControllerConfig {
        max_entries_between_snapshots: 4,
        // One entry per segment, so purging deletes files.
        log_segment_bytes: 1,
        ..config(dir.path())
    };
    let handle = start(cfg.clone()).await;
    register_live(&handle, 1).await;
    for i in 0..12 {
        create_ok(&handle, &format!("topic-{i}"), 1 + i % 3).await;
    }
    let first_segment = cfg.metadata_dir.join(format!("{:020}.log", 0));
    let metadata_dir = cfg.metadata_dir.clone();
    eventually("a snapshot is written and the log before it purged", || {
        !files_with_suffix(&metadata_dir, ".checkpoint").is_empty() && !first_segment.exists()
    })
    .await;
    assert_eq!(files_with_suffix(&cfg.metadata_dir, ".checkpoint").len(), 1);
    let before = handle.image();
    handle.shutdown().await;

    let handle = start(cfg.clone()).await;
    assert_eq!(topics_of(&handle.image()), topics_of(&before));
    assert_eq!(handle.image().broker(1), before.broker(1));
    create_ok(&handle, "after-snapshot", 1).await;
    handle.shutdown().await;
}

#[tokio::test]
async fn a_purged_log_without_its_snapshot_does_not_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ControllerConfig {
        max_entries_between_snapshots: 2,
        log_segment_bytes: 1,
        ..config(dir.path())
    };
    let handle = start(cfg.clone()).await;
    register_live(&handle, 1).await;
    for i in 0..6 {
        create_ok(&handle, &format!("t{i}"), 1).await;
    }
    let first_segment = cfg.metadata_dir.join(format!("{:020}.log", 0));
    eventually("the log is purged", || !first_segment.exists()).await;
    handle.shutdown().await;

    for snapshot in files_with_suffix(&cfg.metadata_dir, ".checkpoint") {
        fs::remove_file(snapshot).expect("remove snapshot");
    }
    match Controller::start(cfg).await {
        Err(StartError::Store(StoreError::Corrupt { reason, .. })) => {
            assert!(reason.contains("snapshot"), "{reason}");
        }
        Err(other) => panic!("expected a missing snapshot error, got {other}"),
        Ok(handle) => {
            handle.shutdown().await;
            panic!("the metadata would be incomplete");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_creates_of_one_name_exactly_one_wins() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    register_live(&handle, 1).await;
    let first = handle.clone();
    let second = handle.clone();
    let (a, b) = tokio::join!(
        tokio::spawn(async move {
            first
                .create_topics(vec![topic("contested", 1)], false)
                .await
        }),
        tokio::spawn(async move {
            second
                .create_topics(vec![topic("contested", 2)], false)
                .await
        }),
    );
    let outcomes = [a.expect("first task"), b.expect("second task")];
    let codes: Vec<Option<i16>> = outcomes
        .iter()
        .map(|o| o[0].error.as_ref().map(|e| e.code()))
        .collect();
    assert!(codes.contains(&None), "{codes:?}");
    assert!(codes.contains(&Some(36)), "{codes:?}");
    let winner = outcomes
        .iter()
        .find(|o| o[0].error.is_none())
        .expect("a winner");
    assert_eq!(
        handle.image().topic("contested").map(|t| t.topic_id),
        winner[0].topic_id
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn validate_only_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    register_live(&handle, 1).await;
    let offset = handle.image().offset();
    let outcomes = handle.create_topics(vec![topic("dry-run", 3)], true).await;
    assert_eq!(outcomes[0].error, None);
    assert_eq!(
        (outcomes[0].num_partitions, outcomes[0].topic_id),
        (3, None)
    );
    create_ok(&handle, "real", 1).await;
    let partitions = handle
        .create_partitions(
            vec![CreatePartitions {
                name: "real".into(),
                count: 4,
                assignments: None,
            }],
            true,
        )
        .await;
    assert_eq!(partitions[0].error, None);
    let image = handle.image();
    assert!(image.topic("dry-run").is_none());
    assert_eq!(image.topic("real").map(|t| t.partitions.len()), Some(1));
    assert_eq!(image.offset(), offset + 1);
    handle.shutdown().await;
}

#[tokio::test]
async fn subscribers_see_partitions_added_and_topics_deleted() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    register_live(&handle, 1).await;
    let id = create_ok(&handle, "growing", 1).await;
    let mut images = handle.subscribe();
    images.mark_unchanged();
    let outcomes = handle
        .create_partitions(
            vec![CreatePartitions {
                name: "growing".into(),
                count: 3,
                assignments: None,
            }],
            false,
        )
        .await;
    assert_eq!(outcomes[0].error, None);
    assert!(images.has_changed().unwrap_or(false));
    let seen = images.borrow_and_update().clone();
    assert_eq!(seen.topic("growing").map(|t| t.partitions.len()), Some(3));

    let deleted = handle.delete_topics(vec![TopicRef::Id(id)]).await;
    assert_eq!(deleted[0].name.as_deref(), Some("growing"));
    assert!(images.borrow_and_update().topic("growing").is_none());
    handle.shutdown().await;
}

#[tokio::test]
async fn after_shutdown_requests_get_not_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    let other = handle.clone();
    handle.shutdown().await;
    let outcomes = other
        .create_topics(vec![topic("late", 1), topic("late", 1)], false)
        .await;
    assert_eq!(outcomes.len(), 1);
    assert_eq!(outcomes[0].error.as_ref().map(|e| e.code()), Some(41));
    assert_eq!(
        other
            .register_broker(registration(1))
            .await
            .map_err(|e| e.code()),
        Err(41)
    );
    let deleted = other
        .delete_topics(vec![DeleteTopic::by_name("late")])
        .await;
    assert_eq!(deleted[0].error.as_ref().map(|e| e.code()), Some(41));
}

#[tokio::test]
async fn a_directory_of_another_node_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    handle.shutdown().await;
    let other_node = ControllerConfig {
        node_id: 2,
        ..config(dir.path())
    };
    match Controller::start(other_node).await {
        Err(StartError::InvalidConfig(message)) => {
            assert!(message.contains("node.id 2"), "{message}")
        }
        Err(other) => panic!("expected a configuration error, got {other}"),
        Ok(handle) => {
            handle.shutdown().await;
            panic!("node 2 must not take over node 1's metadata");
        }
    }
}

#[tokio::test]
async fn a_negative_node_id_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ControllerConfig {
        node_id: -1,
        ..config(dir.path())
    };
    assert!(matches!(
        Controller::start(cfg).await,
        Err(StartError::InvalidConfig(_))
    ));
}

#[tokio::test]
async fn config_changes_persist_across_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = config(dir.path());
    let handle = start(cfg.clone()).await;
    register_live(&handle, 1).await;
    create_ok(&handle, "t", 1).await;
    let set = |value: &str| AlterConfigs {
        resource: ConfigResource::Topic("t".into()),
        changes: BTreeMap::from([("retention.ms".to_string(), Some(value.to_string()))]),
    };
    let dry = handle.alter_configs(vec![set("1")], true).await;
    assert_eq!(dry[0].error, None);
    assert!(handle.image().topic_config("t").is_empty());
    let outcomes = handle
        .alter_configs(
            vec![
                set("2"),
                AlterConfigs {
                    resource: ConfigResource::Broker(None),
                    changes: BTreeMap::from([(
                        "log.retention.ms".to_string(),
                        Some("9".to_string()),
                    )]),
                },
            ],
            false,
        )
        .await;
    assert!(outcomes.iter().all(|o| o.error.is_none()), "{outcomes:?}");
    handle.shutdown().await;

    let handle = start(cfg).await;
    let image = handle.image();
    assert_eq!(
        image
            .topic_config("t")
            .get("retention.ms")
            .map(String::as_str),
        Some("2")
    );
    assert_eq!(
        image
            .broker_config(None)
            .get("log.retention.ms")
            .map(String::as_str),
        Some("9")
    );
    handle.shutdown().await;
}

#[tokio::test]
async fn requests_too_large_for_one_log_entry_fail_and_the_quorum_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let handle = start(config(dir.path())).await;
    register_live(&handle, 1).await;

    let mut many_configs = topic("many-configs", 1);
    many_configs.configs = (0..10_001)
        .map(|i| (format!("k{i}"), "v".to_string()))
        .collect();
    let mut big_values = topic("big-values", 1);
    big_values.configs = (0..1_200)
        .map(|i| (format!("k{i}"), "v".repeat(30_000)))
        .collect();
    for request in [many_configs, big_values] {
        let outcomes = handle.create_topics(vec![request], false).await;
        assert_eq!(
            outcomes[0].error.as_ref().map(|e| e.code()),
            Some(44),
            "{:?}",
            outcomes[0].name
        );
    }
    assert_eq!(handle.image().topic_count(), 0);
    create_ok(&handle, "small", 1).await;
    handle.shutdown().await;
}

#[tokio::test]
async fn producer_id_blocks_never_repeat_across_restarts_and_snapshots() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = ControllerConfig {
        max_entries_between_snapshots: 3,
        log_segment_bytes: 1,
        ..config(dir.path())
    };
    let handle = start(cfg.clone()).await;
    let unregistered = handle.allocate_producer_ids(1, 1000).await;
    assert_eq!(unregistered.map_err(|e| e.code()), Err(102));
    register_live(&handle, 1).await;
    let mut firsts = Vec::new();
    for _ in 0..6 {
        let block = handle
            .allocate_producer_ids(1, 1000)
            .await
            .expect("a block is allocated");
        assert_eq!((block.broker_id, block.size), (1, 1000));
        firsts.push(block.first_producer_id);
    }
    assert_eq!(firsts, vec![0, 1000, 2000, 3000, 4000, 5000]);
    assert_eq!(handle.image().next_producer_id(), 6000);
    let metadata_dir = cfg.metadata_dir.clone();
    eventually("a snapshot is written", || {
        !files_with_suffix(&metadata_dir, ".checkpoint").is_empty()
    })
    .await;
    handle.shutdown().await;

    let handle = start(cfg.clone()).await;
    assert_eq!(handle.image().next_producer_id(), 6000);
    let block = handle
        .allocate_producer_ids(1, 1000)
        .await
        .expect("allocates after restart");
    assert_eq!(block.first_producer_id, 6000);
    handle.shutdown().await;

    let handle = start(cfg).await;
    assert_eq!(handle.image().next_producer_id(), 7000);
    handle.shutdown().await;
}
