use crate::{BrokerConfig, ConfigError, Listener, ProcessRoles, Properties, QuorumVoter};

fn config(text: &str) -> Result<BrokerConfig, ConfigError> {
    BrokerConfig::from_properties(&Properties::parse(text).expect("properties syntax"))
}

/// The error's text, which must name `key`.
fn refused(text: &str, key: &str) -> String {
    let err = config(text).expect_err("config must be refused");
    assert_eq!(err.key(), Some(key), "{err}");
    err.to_string()
}

const COMBINED_3: &str = "process.roles=broker,controller\nnode.id=2\n\
    controller.quorum.voters=1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093\n\
    listeners=PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093\n\
    controller.listener.names=CONTROLLER\n";

#[test]
fn zero_config_is_a_single_node_with_both_roles_and_kafka_timers() {
    let q = BrokerConfig::default().quorum;
    assert_eq!(
        q.roles,
        ProcessRoles {
            broker: true,
            controller: true
        }
    );
    assert!(q.is_single_node());
    assert!(!q.needs_formatted_storage());
    assert!(q.controller_listener.is_none());
    assert!(q.controller_listener_names.is_empty());
    assert_eq!(q.inter_broker_listener_name.as_deref(), Some("PLAINTEXT"));
    assert_eq!(
        (
            q.broker_heartbeat_interval_ms,
            q.broker_session_timeout_ms,
            q.election_timeout_ms,
            q.fetch_timeout_ms,
            q.request_timeout_ms,
            q.retry_backoff_ms,
            q.snapshot_max_bytes,
            q.snapshot_max_interval_ms
        ),
        (2000, 9000, 1000, 2000, 2000, 20, 20_971_520, 3_600_000)
    );
}

#[test]
fn kafkas_stock_single_node_config_without_a_quorum_still_starts() {
    // Explicit combined roles and a CONTROLLER listener, no voters: one node alone.
    let q = config(
        "process.roles=broker,controller\nnode.id=1\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
    )
    .unwrap()
    .quorum;
    assert!(q.is_single_node());
    assert_eq!(
        q.controller_listener,
        Some(Listener {
            name: "CONTROLLER".into(),
            host: String::new(),
            port: 9093
        })
    );
}

#[test]
fn a_static_three_voter_quorum_parses_in_order() {
    let q = config(COMBINED_3).unwrap().quorum;
    assert_eq!(
        q.voters,
        vec![
            QuorumVoter {
                id: 1,
                host: "127.0.0.1".into(),
                port: 19093
            },
            QuorumVoter {
                id: 2,
                host: "127.0.0.1".into(),
                port: 29093
            },
            QuorumVoter {
                id: 3,
                host: "127.0.0.1".into(),
                port: 39093
            },
        ]
    );
    assert!(!q.is_single_node());
    assert!(q.needs_formatted_storage());
    assert_eq!(q.controller_listener_names, vec!["CONTROLLER".to_owned()]);
    assert_eq!(q.controller_listener.as_ref().map(|l| l.port), Some(29093));
}

#[test]
fn a_static_quorum_of_this_node_alone_needs_no_format() {
    let q = config(
        "node.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=controller\n",
    )
    .unwrap()
    .quorum;
    assert!(!q.is_single_node());
    assert!(!q.needs_formatted_storage());
    assert_eq!(q.controller_listener_names, vec!["CONTROLLER".to_owned()]);
}

#[test]
fn bootstrap_servers_parse_hosts_and_ports_and_need_a_format() {
    let q = config(
        "process.roles=broker,controller\nnode.id=1\n\
         controller.quorum.bootstrap.servers=localhost:9093,[::1]:9094\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
    )
    .unwrap()
    .quorum;
    assert_eq!(
        q.bootstrap_servers,
        vec![("localhost".to_owned(), 9093), ("::1".to_owned(), 9094)]
    );
    assert!(!q.is_single_node());
    assert!(q.needs_formatted_storage());
}

#[test]
fn timers_take_their_kafka_keys() {
    let q = config(
        "broker.heartbeat.interval.ms=500\nbroker.session.timeout.ms=3000\n\
         controller.quorum.election.timeout.ms=300\ncontroller.quorum.fetch.timeout.ms=600\n\
         controller.quorum.request.timeout.ms=700\ncontroller.quorum.retry.backoff.ms=5\n\
         metadata.log.max.record.bytes.between.snapshots=1024\n\
         metadata.log.max.snapshot.interval.ms=0\n",
    )
    .unwrap()
    .quorum;
    assert_eq!(
        (
            q.broker_heartbeat_interval_ms,
            q.broker_session_timeout_ms,
            q.election_timeout_ms,
            q.fetch_timeout_ms,
            q.request_timeout_ms,
            q.retry_backoff_ms,
            q.snapshot_max_bytes,
            q.snapshot_max_interval_ms
        ),
        (500, 3000, 300, 600, 700, 5, 1024, 0)
    );
    assert!(config("controller.quorum.election.timeout.ms=0\n").is_err());
    assert!(config("metadata.log.max.record.bytes.between.snapshots=0\n").is_err());
}

#[test]
fn a_controller_in_a_quorum_needs_controller_listener_names() {
    let msg = refused(
        "node.id=1\ncontroller.quorum.voters=1@localhost:9093,2@localhost:9094\n\
         listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n",
        "controller.listener.names",
    );
    assert!(msg.contains("must contain at least one value"), "{msg}");
}

#[test]
fn controller_listener_names_must_name_a_listener() {
    let msg = refused(
        "node.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         listeners=PLAINTEXT://:9092\ncontroller.listener.names=CONTROLLER\n",
        "controller.listener.names",
    );
    assert!(
        msg.contains("CONTROLLER is not a listener") && msg.contains("add CONTROLLER://"),
        "{msg}"
    );
}

#[test]
fn a_controllers_node_id_must_be_a_voter() {
    let msg = refused(
        &COMBINED_3.replace("node.id=2", "node.id=4"),
        "controller.quorum.voters",
    );
    assert!(
        msg.contains("node id 4 must be included") && msg.contains("[1, 2, 3]"),
        "{msg}"
    );
}

#[test]
fn voter_ids_are_unique() {
    let msg = refused(
        &COMBINED_3.replace("3@127.0.0.1:39093", "2@127.0.0.1:39093"),
        "controller.quorum.voters",
    );
    assert!(msg.contains("voter id 2 appears twice"), "{msg}");
}

#[test]
fn voters_must_be_routable() {
    let msg = refused(
        &COMBINED_3.replace("1@127.0.0.1:19093", "1@0.0.0.0:19093"),
        "controller.quorum.voters",
    );
    assert!(msg.contains("not routable"), "{msg}");
}

#[test]
fn malformed_voters_and_bootstrap_servers_are_refused() {
    assert!(config("controller.quorum.voters=1@localhost\n").is_err());
    assert!(config("controller.quorum.voters=-1@localhost:9093\n").is_err());
    assert!(config("controller.quorum.bootstrap.servers=localhost\n").is_err());
}

#[test]
fn a_broker_only_node_needs_a_quorum() {
    let msg = refused("process.roles=broker\n", "process.roles");
    assert!(
        msg.contains("controller.quorum.voters") && msg.contains("'broker' role"),
        "{msg}"
    );
    let msg = refused(
        "process.roles=controller\nlisteners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
        "process.roles",
    );
    assert!(msg.contains("'controller' role"), "{msg}");
}

#[test]
fn a_broker_only_node_must_not_be_a_voter() {
    let msg = refused(
        "process.roles=broker\nnode.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         controller.listener.names=CONTROLLER\n",
        "controller.quorum.voters",
    );
    assert!(msg.contains("must not be included"), "{msg}");
}

#[test]
fn a_broker_only_node_needs_controller_listener_names_but_not_the_listener() {
    let broker = "process.roles=broker\nnode.id=4\ncontroller.quorum.voters=1@localhost:9093\n";
    let msg = refused(broker, "controller.listener.names");
    assert!(msg.contains("just the broker role"), "{msg}");
    let msg = refused(
        &format!(
            "{broker}controller.listener.names=CONTROLLER\n\
             listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"
        ),
        "listeners",
    );
    assert!(msg.contains("remove CONTROLLER://:9093"), "{msg}");
    let q = config(&format!("{broker}controller.listener.names=CONTROLLER\n"))
        .unwrap()
        .quorum;
    assert_eq!(
        q.roles,
        ProcessRoles {
            broker: true,
            controller: false
        }
    );
    assert!(q.controller_listener.is_none());
    assert!(q.needs_formatted_storage());
}

#[test]
fn a_controller_only_node_has_only_controller_listeners() {
    let controller = "process.roles=controller\nnode.id=1\n\
        controller.quorum.voters=1@localhost:9093\ncontroller.listener.names=CONTROLLER\n";
    let msg = refused(
        &format!("{controller}listeners=PLAINTEXT://:9092,CONTROLLER://:9093\n"),
        "listeners",
    );
    assert!(
        msg.contains("must only contain KRaft controller listeners"),
        "{msg}"
    );
    let q = config(&format!("{controller}listeners=CONTROLLER://:9093\n"))
        .unwrap()
        .quorum;
    assert!(!q.roles.broker && q.roles.controller);
    assert!(q.needs_formatted_storage());
    assert_eq!(q.controller_listener.map(|l| l.port), Some(9093));
}

#[test]
fn a_broker_needs_a_listener_that_is_not_the_controllers() {
    let msg = refused(
        "node.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
         listeners=CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
        "listeners",
    );
    assert!(msg.contains("at least one broker listener"), "{msg}");
}

#[test]
fn process_roles_must_be_distinct() {
    let msg = refused("process.roles=broker,broker\n", "process.roles");
    assert!(msg.contains("duplicate role names"), "{msg}");
    assert!(config("process.roles=zookeeper\n").is_err());
}

#[test]
fn inter_broker_listener_name_must_be_a_broker_listener() {
    let msg = refused(
        &format!("{COMBINED_3}inter.broker.listener.name=controller\n"),
        "inter.broker.listener.name",
    );
    assert!(
        msg.contains("valid options") && msg.contains("PLAINTEXT"),
        "{msg}"
    );
    let q = config(&format!(
        "{}inter.broker.listener.name=internal\n",
        COMBINED_3.replace("PLAINTEXT://", "INTERNAL://")
    )
    .replace(
        "controller.listener.names=CONTROLLER",
        "controller.listener.names=CONTROLLER\nlistener.security.protocol.map=INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT",
    ))
    .unwrap()
    .quorum;
    assert_eq!(q.inter_broker_listener_name.as_deref(), Some("INTERNAL"));
}

#[test]
fn dynamic_configuration_keeps_the_quorum() {
    let config = config(COMBINED_3).unwrap();
    let dynamic = config.with_dynamic(
        &[("log.retention.ms".to_owned(), "1000".to_owned())].into(),
        &Default::default(),
    );
    assert_eq!(dynamic.quorum, config.quorum);
}
