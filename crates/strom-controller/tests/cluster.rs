//! A quorum of three voters in one process, talking over loopback TCP with
//! the real transport: election, forwarding from followers, failover when
//! the leader stops, catching up after a restart, and broker fencing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use strom_controller::{
    BrokerHeartbeat, Controller, ControllerConfig, ControllerHandle, CreateTopic,
};
use strom_metadata::{BrokerEndpoint, BrokerRegistration};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

struct Cluster {
    dirs: Vec<PathBuf>,
    voters: Vec<(i32, String)>,
    session_timeout: Duration,
}

impl Cluster {
    fn new(root: &Path, nodes: i32) -> Cluster {
        let voters: Vec<(i32, String)> = (1..=nodes)
            .map(|id| (id, format!("127.0.0.1:{}", free_port())))
            .collect();
        let dirs = (1..=nodes)
            .map(|id| root.join(format!("node-{id}")).join("__cluster_metadata-0"))
            .collect();
        Cluster {
            dirs,
            voters,
            session_timeout: Duration::from_millis(1500),
        }
    }

    fn config(&self, id: i32) -> ControllerConfig {
        let index = (id - 1) as usize;
        ControllerConfig {
            voters: self.voters.clone(),
            listen_address: Some(self.voters[index].1.clone()),
            election_timeout: Duration::from_millis(300),
            // Elections on a loaded 2-core machine (the whole test suite in parallel) can take
            // seconds: requests wait for them instead of failing.
            request_timeout: Duration::from_secs(15),
            broker_session_timeout: self.session_timeout,
            startup_timeout: Some(Duration::from_secs(30)),
            rng_seed: Some(u64::from(id as u32)),
            ..ControllerConfig::single_node(id, self.dirs[index].clone())
        }
    }

    async fn start_all(&self) -> Vec<ControllerHandle> {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let starts: Vec<_> = self
            .voters
            .iter()
            .map(|(id, _)| tokio::spawn(Controller::start(self.config(*id))))
            .collect();
        let mut handles = Vec::new();
        for start in starts {
            match start.await.expect("start task") {
                Ok(handle) => handles.push(handle),
                Err(e) => panic!("a voter should start: {e}"),
            }
        }
        handles
    }
}

fn topic(name: &str) -> CreateTopic {
    CreateTopic {
        name: name.into(),
        num_partitions: 2,
        replication_factor: -1,
        assignments: vec![],
        configs: BTreeMap::new(),
    }
}

fn registration(broker_id: i32) -> BrokerRegistration {
    BrokerRegistration {
        broker_id,
        incarnation_id: 1000 + broker_id as u128,
        listeners: vec![BrokerEndpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9000 + broker_id as u16,
            security_protocol: "PLAINTEXT".into(),
        }],
        rack: None,
        fenced: true,
        in_controlled_shutdown: false,
        epoch: -1,
    }
}

async fn eventually<F: FnMut() -> bool>(what: &str, within: Duration, mut condition: F) {
    let deadline = Instant::now() + within;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Registers `broker_id` through `handle` and heartbeats until unfenced;
/// returns its epoch.
async fn join(handle: &ControllerHandle, broker_id: i32) -> i64 {
    let epoch = handle
        .register_broker(registration(broker_id))
        .await
        .expect("registers");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let outcome = handle
            .broker_heartbeat(BrokerHeartbeat {
                broker_id,
                broker_epoch: epoch,
                current_metadata_offset: handle.image().offset(),
                want_fence: false,
                want_shut_down: false,
            })
            .await
            .expect("heartbeat");
        if !outcome.is_fenced {
            return epoch;
        }
        assert!(Instant::now() < deadline, "broker {broker_id} stays fenced");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_elect_one_leader_and_followers_forward() {
    let root = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::new(root.path(), 3);
    let handles = cluster.start_all().await;
    let leaders: Vec<Option<i32>> = handles.iter().map(|h| h.active_controller()).collect();
    let leader = leaders[0].expect("a leader is known");
    assert!(leaders.iter().all(|l| *l == Some(leader)), "{leaders:?}");

    for (i, h) in handles.iter().enumerate() {
        join(h, i as i32 + 1).await;
    }
    // Create through a follower: the reply comes once the follower's own
    // image has the topic.
    let follower = handles
        .iter()
        .find(|h| h.node_id() != leader)
        .expect("a follower");
    let outcomes = follower
        .create_topics(vec![topic("via-follower")], false)
        .await;
    assert_eq!(outcomes[0].error, None);
    assert!(follower.image().topic("via-follower").is_some());
    // Every voter applies it.
    for h in &handles {
        eventually("every voter has the topic", Duration::from_secs(5), || {
            h.image().topic("via-follower").is_some()
        })
        .await;
    }
    let quorum = follower.describe_quorum().await.expect("describe quorum");
    assert_eq!(quorum.leader_id, leader);
    let mut voters: Vec<i32> = quorum.voters.iter().map(|v| v.replica_id).collect();
    voters.sort();
    assert_eq!(voters, vec![1, 2, 3]);
    assert!(quorum.high_watermark > 0);
    for h in handles {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_elects_another_and_a_restarted_voter_catches_up() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut cluster = Cluster::new(root.path(), 3);
    // Brokers stay unfenced without heartbeats for the whole test.
    cluster.session_timeout = Duration::from_secs(600);
    let mut handles: Vec<Option<ControllerHandle>> =
        cluster.start_all().await.into_iter().map(Some).collect();
    let first = handles[0].as_ref().expect("node 1");
    let old_leader = first.active_controller().expect("a leader");
    for id in 1..=3 {
        join(first, id).await;
    }
    let created = first.create_topics(vec![topic("before")], false).await;
    assert_eq!(created[0].error, None);

    // Stop the leader.
    let stopped = handles[(old_leader - 1) as usize]
        .take()
        .expect("leader handle");
    let stop_at = Instant::now();
    stopped.shutdown().await;
    let survivor = handles
        .iter()
        .flatten()
        .next()
        .expect("a surviving voter")
        .clone();
    let outcomes = survivor.create_topics(vec![topic("after")], false).await;
    assert_eq!(outcomes[0].error, None, "create after failover");
    let failover = stop_at.elapsed();
    assert!(
        failover < Duration::from_secs(12),
        "failover took {failover:?}"
    );
    let new_leader = survivor.active_controller().expect("new leader");
    assert_ne!(new_leader, old_leader);

    // The old leader restarts and catches up with what it missed.
    let restarted = Controller::start(cluster.config(old_leader))
        .await
        .expect("restart");
    let image = restarted.image();
    assert!(image.topic("before").is_some() && image.topic("after").is_some());
    handles[(old_leader - 1) as usize] = Some(restarted);

    // With two of three stopped, nothing commits: a clear timeout, no split brain.
    let mut alive: Vec<ControllerHandle> = handles.into_iter().flatten().collect();
    let last = alive.pop().expect("a voter");
    for h in alive {
        h.shutdown().await;
    }
    let outcomes = last.create_topics(vec![topic("no-quorum")], false).await;
    let error = outcomes[0].error.clone().expect("no quorum, no create");
    assert_eq!(error.code(), 7, "REQUEST_TIMED_OUT: {error}");
    assert!(last.image().topic("no-quorum").is_none());
    last.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_without_heartbeats_is_fenced_and_unfenced_when_it_returns() {
    let root = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::new(root.path(), 3);
    let handles = cluster.start_all().await;
    let epoch = join(&handles[1], 7).await;
    assert!(handles[1].image().broker(7).is_some_and(|b| b.is_alive()));
    // No heartbeats: fenced after the session timeout (1.5 s here).
    eventually("broker 7 is fenced", Duration::from_secs(10), || {
        handles[2].image().broker(7).is_some_and(|b| b.fenced)
    })
    .await;
    // It comes back with a heartbeat from where it is.
    let outcome = handles[2]
        .broker_heartbeat(BrokerHeartbeat {
            broker_id: 7,
            broker_epoch: epoch,
            current_metadata_offset: handles[2].image().offset(),
            want_fence: false,
            want_shut_down: false,
        })
        .await
        .expect("heartbeat");
    assert!(!outcome.is_fenced);
    eventually(
        "broker 7 is alive everywhere",
        Duration::from_secs(5),
        || handles[0].image().broker(7).is_some_and(|b| b.is_alive()),
    )
    .await;
    for h in handles {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_that_is_not_a_controller_follows_the_image_and_forwards() {
    let root = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::new(root.path(), 3);
    let voters = cluster.start_all().await;
    let observer_config = ControllerConfig {
        voters: cluster.voters.clone(),
        listen_address: None,
        request_timeout: Duration::from_secs(5),
        startup_timeout: Some(Duration::from_secs(20)),
        ..ControllerConfig::single_node(9, root.path().join("observer"))
    };
    let observer = Controller::start_observer(observer_config)
        .await
        .expect("observer starts");
    assert!(observer.image().offset() >= 0, "it has the committed image");
    // Writes go through it to the active controller; the reply waits for
    // its own image.
    join(&observer, 9).await;
    let outcomes = observer
        .create_topics(vec![topic("via-observer")], false)
        .await;
    assert_eq!(outcomes[0].error, None);
    assert!(observer.image().topic("via-observer").is_some());
    for v in &voters {
        eventually("voters have the topic", Duration::from_secs(5), || {
            v.image().topic("via-observer").is_some()
        })
        .await;
    }
    // Changes made elsewhere reach it.
    let created = voters[0]
        .create_topics(vec![topic("elsewhere")], false)
        .await;
    assert_eq!(created[0].error, None);
    eventually("the observer follows", Duration::from_secs(5), || {
        observer.image().topic("elsewhere").is_some()
    })
    .await;
    // DescribeQuorum lists it as an observer, not a voter.
    let quorum = observer.describe_quorum().await.expect("describe");
    assert!(quorum.voters.iter().all(|v| v.replica_id != 9));
    let me = quorum
        .observers
        .iter()
        .find(|o| o.replica_id == 9)
        .expect("the broker is an observer");
    assert!(me.log_end_offset > 0 && me.last_fetch_timestamp > 0);
    // The active controller going away does not stop it.
    let leader = observer.active_controller().expect("a leader");
    let mut rest = Vec::new();
    for v in voters {
        if v.node_id() == leader {
            v.shutdown().await;
        } else {
            rest.push(v);
        }
    }
    let outcomes = observer.create_topics(vec![topic("after")], false).await;
    assert_eq!(outcomes[0].error, None, "create after the leader left");
    observer.shutdown().await;
    for v in rest {
        v.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voters_are_added_and_removed_at_runtime() {
    let root = tempfile::tempdir().expect("tempdir");
    // Node 1 alone in a dynamic quorum (it keeps its network), node 2 waits
    // to be added.
    let first = Cluster::new(root.path(), 1);
    let second_address = format!("127.0.0.1:{}", free_port());
    let one = Controller::start(first.config(1)).await.expect("node 1");
    join(&one, 1).await;
    let created = one.create_topics(vec![topic("before")], false).await;
    assert_eq!(created[0].error, None);
    let join_config = ControllerConfig {
        voters: Vec::new(),
        join_quorum: true,
        listen_address: Some(second_address.clone()),
        election_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(5),
        startup_timeout: Some(Duration::from_secs(30)),
        ..ControllerConfig::single_node(2, root.path().join("node-2").join("__cluster_metadata-0"))
    };
    let joining = tokio::spawn(Controller::start(join_config));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!joining.is_finished(), "a node not yet added waits");

    let duplicate = one.add_voter(1, first.voters[0].1.clone()).await;
    assert_eq!(duplicate.map_err(|e| e.code()), Err(126), "DUPLICATE_VOTER");
    one.add_voter(2, second_address.clone())
        .await
        .expect("node 2 is added");
    let two = joining
        .await
        .expect("task")
        .expect("node 2 starts once added");
    assert!(two.image().topic("before").is_some(), "it caught up");
    let quorum = two.describe_quorum().await.expect("describe");
    let mut voters: Vec<i32> = quorum.voters.iter().map(|v| v.replica_id).collect();
    voters.sort();
    assert_eq!(voters, vec![1, 2]);

    let missing = one.remove_voter(9).await;
    assert_eq!(missing.map_err(|e| e.code()), Err(127), "VOTER_NOT_FOUND");
    two.remove_voter(2).await.expect("node 2 is removed");
    let quorum = one.describe_quorum().await.expect("describe");
    assert_eq!(
        quorum
            .voters
            .iter()
            .map(|v| v.replica_id)
            .collect::<Vec<_>>(),
        vec![1]
    );
    let last = one.remove_voter(1).await;
    assert_eq!(last.map_err(|e| e.code()), Err(42), "the last voter stays");
    two.shutdown().await;
    one.shutdown().await;
}

/// Metadata records/s a three-voter quorum commits on this machine, with
/// concurrent CreateTopics through every voter (10 partitions each: 11
/// records per entry). A measurement, not a check: run with
/// `cargo test --release -p strom-controller --test cluster -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_metadata_records_per_second() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut cluster = Cluster::new(root.path(), 3);
    cluster.session_timeout = Duration::from_secs(600);
    let handles = cluster.start_all().await;
    for (i, h) in handles.iter().enumerate() {
        join(h, i as i32 + 1).await;
    }
    let started = Instant::now();
    let window = Duration::from_secs(5);
    let mut tasks = Vec::new();
    for worker in 0..12 {
        let h = handles[worker % 3].clone();
        tasks.push(tokio::spawn(async move {
            let mut created = 0u64;
            let mut n = 0;
            while started.elapsed() < window {
                let mut t = topic(&format!("bench-{worker}-{n}"));
                t.num_partitions = 10;
                n += 1;
                if h.create_topics(vec![t], false).await[0].error.is_none() {
                    created += 1;
                }
            }
            created
        }));
    }
    let mut topics = 0;
    for t in tasks {
        topics += t.await.expect("worker");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{topics} CreateTopics in {secs:.1} s: {:.0} entries/s, {:.0} metadata records/s",
        topics as f64 / secs,
        (topics * 11) as f64 / secs
    );
    assert!(topics > 0);
    for h in handles {
        h.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_voter_added_to_an_old_quorum_catches_up_from_a_snapshot() {
    let root = tempfile::tempdir().expect("tempdir");
    let first = Cluster::new(root.path(), 1);
    let config = ControllerConfig {
        max_entries_between_snapshots: 5,
        ..first.config(1)
    };
    let one = Controller::start(config).await.expect("node 1");
    join(&one, 1).await;
    for i in 0..20 {
        let created = one
            .create_topics(vec![topic(&format!("old-{i}"))], false)
            .await;
        assert_eq!(created[0].error, None);
    }
    let snapshots = root.path().join("node-1").join("__cluster_metadata-0");
    eventually("node 1 wrote a snapshot", Duration::from_secs(10), || {
        std::fs::read_dir(&snapshots)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
            })
            .unwrap_or(false)
    })
    .await;
    let address = format!("127.0.0.1:{}", free_port());
    let join_config = ControllerConfig {
        voters: Vec::new(),
        join_quorum: true,
        listen_address: Some(address.clone()),
        election_timeout: Duration::from_millis(300),
        request_timeout: Duration::from_secs(10),
        startup_timeout: Some(Duration::from_secs(30)),
        ..ControllerConfig::single_node(2, root.path().join("node-2").join("__cluster_metadata-0"))
    };
    let joining = tokio::spawn(Controller::start(join_config));
    one.add_voter(2, address).await.expect("node 2 is added");
    let two = joining.await.expect("task").expect("node 2 starts");
    let image = two.image();
    assert_eq!(
        (0..20)
            .filter(|i| image.topic(&format!("old-{i}")).is_some())
            .count(),
        20,
        "every topic of the old quorum reached the new voter"
    );
    let node2 = root.path().join("node-2").join("__cluster_metadata-0");
    let installed = std::fs::read_dir(&node2)
        .map(|d| {
            d.filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().ends_with(".checkpoint"))
        })
        .unwrap_or(false);
    assert!(
        installed,
        "the new voter has the leader's snapshot installed"
    );
    two.shutdown().await;
    one.shutdown().await;
}

/// AlterPartition, reassignments and ElectLeaders asked of a follower go
/// to the active controller; the answer comes once the follower's image
/// has the change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replication_requests_are_forwarded_and_their_changes_visible_where_asked() {
    use strom_controller::{AlterPartitionItem, ElectionType, ReassignPartition};
    let root = tempfile::tempdir().expect("tempdir");
    let cluster = Cluster::new(root.path(), 3);
    let handles = cluster.start_all().await;
    let leader = handles[0].active_controller().expect("a leader");
    let mut epochs = Vec::new();
    for (i, h) in handles.iter().enumerate() {
        epochs.push(join(h, i as i32 + 1).await);
    }
    let follower = handles
        .iter()
        .find(|h| h.node_id() != leader)
        .expect("a follower");
    let created = follower
        .create_topics(
            vec![CreateTopic {
                assignments: vec![(0, vec![1, 2])],
                num_partitions: -1,
                ..topic("r")
            }],
            false,
        )
        .await;
    assert_eq!(created[0].error, None);
    let image = follower.image();
    let t = image.topic("r").expect("created");
    let p = t.partitions[&0].clone();
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1, 2]));

    // The leader, broker 1, drops 2 from the ISR.
    let item = AlterPartitionItem {
        topic_id: t.topic_id,
        partition: 0,
        leader_epoch: p.leader_epoch,
        partition_epoch: p.partition_epoch,
        new_isr: vec![1],
    };
    let outcomes = follower
        .alter_partition(1, epochs[0], vec![item.clone()])
        .await
        .expect("decided");
    let altered = outcomes[0].result.clone().expect("accepted");
    assert_eq!(altered.isr, vec![1]);
    assert_eq!(altered.partition_epoch, p.partition_epoch + 1);
    assert_eq!(
        follower.image().topic("r").expect("r").partitions[&0].isr,
        vec![1]
    );
    // Asked again with the old partition epoch: INVALID_UPDATE_VERSION.
    let again = follower
        .alter_partition(1, epochs[0], vec![item])
        .await
        .expect("decided");
    assert_eq!(again[0].result, Err(95));

    // Reassign to [2, 3]: 3 is new, so it stays in progress until 3 is in
    // the ISR.
    let reassigned = follower
        .alter_partition_reassignments(vec![ReassignPartition {
            topic: "r".into(),
            partition: 0,
            replicas: Some(vec![2, 3]),
        }])
        .await
        .expect("decided");
    assert_eq!(reassigned[0].error_code, 0);
    let listed = follower
        .list_partition_reassignments(None)
        .await
        .expect("listed");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].replicas, vec![2, 3, 1]);
    assert_eq!(listed[0].adding_replicas, vec![3]);
    assert_eq!(listed[0].removing_replicas, vec![1]);
    // Cancelled: the added replica goes (the others keep their current
    // order, as Kafka's revert keeps it).
    let cancelled = follower
        .alter_partition_reassignments(vec![ReassignPartition {
            topic: "r".into(),
            partition: 0,
            replicas: None,
        }])
        .await
        .expect("decided");
    assert_eq!(cancelled[0].error_code, 0, "{cancelled:?}");

    let p = follower.image().topic("r").expect("r").partitions[&0].clone();
    assert_eq!(
        (p.replicas.clone(), p.is_reassigning()),
        (vec![2, 1], false)
    );
    assert_eq!((p.leader, p.isr.clone()), (1, vec![1]));

    // The preferred leader, now 2, is not in the ISR.
    let elected = follower
        .elect_leaders(ElectionType::Preferred, Some(vec![("r".into(), vec![0])]))
        .await
        .expect("decided");
    assert_eq!(elected[0].error_code, 80, "PREFERRED_LEADER_NOT_AVAILABLE");
    for h in handles {
        h.shutdown().await;
    }
}
