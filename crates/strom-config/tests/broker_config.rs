//! BrokerConfig from properties: defaults, Kafka's precedence between derived keys, listeners,
//! the stock Kafka 4.x server.properties, and error messages that name the key.

use std::path::{Path, PathBuf};

use strom_config::{
    BrokerConfig, CleanupPolicy, CompressionType, ConfigError, Listener, Origin, Properties,
    TimestampType, BROKER_CONFIGS,
};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/server.properties")
}

fn config(text: &str) -> BrokerConfig {
    BrokerConfig::from_properties(&Properties::parse(text).unwrap())
        .unwrap_or_else(|e| panic!("{e}"))
}

fn error(text: &str) -> ConfigError {
    match BrokerConfig::from_properties(&Properties::parse(text).unwrap()) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e,
    }
}

fn listener(name: &str, host: &str, port: u16) -> Listener {
    Listener {
        name: name.into(),
        host: host.into(),
        port,
    }
}

#[test]
fn no_properties_gives_strom_defaults() {
    let c = BrokerConfig::from_properties(&Properties::new()).unwrap();
    assert_eq!(c, BrokerConfig::default());
    assert_eq!(c.node_id, 1);
    assert_eq!(c.listeners, vec![listener("PLAINTEXT", "127.0.0.1", 9092)]);
    assert_eq!(
        c.advertised_listeners,
        vec![listener("PLAINTEXT", "127.0.0.1", 9092)]
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("./strom-data")]);
    assert_eq!(c.broker_rack, None);
    assert_eq!(c.cluster_id, None);
    assert_eq!(c.num_partitions, 1);
    assert_eq!(c.default_replication_factor, 1);
    assert!(c.auto_create_topics_enable);
    assert!(c.delete_topic_enable);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(c.message_max_bytes, 1_048_588);
    assert_eq!(c.log_segment_bytes, 1_073_741_824);
    assert_eq!(c.log_roll_ms, 168 * 3_600_000);
    assert_eq!(c.log_roll_jitter_ms, 0);
    assert_eq!(c.log_index_interval_bytes, 4096);
    assert_eq!(c.log_index_size_max_bytes, 10_485_760);
    assert_eq!(c.log_flush_interval_messages, None);
    assert_eq!(c.log_flush_interval_ms, None);
    assert_eq!(c.log_message_timestamp_type, TimestampType::CreateTime);
    assert_eq!(c.log_retention_ms, Some(168 * 3_600_000));
    assert_eq!(c.log_retention_bytes, None);
    assert_eq!(
        c.log_cleanup_policy,
        CleanupPolicy {
            delete: true,
            compact: false
        }
    );
    assert_eq!(c.compression_type, CompressionType::Producer);
    assert_eq!(c.min_insync_replicas, 1);
    assert!(c.acks_all_fsync);
    assert!(c.inert_keys().is_empty());
}

#[test]
fn kafkas_stock_kraft_server_properties_loads() {
    let props = Properties::load(fixture()).unwrap();
    let c = BrokerConfig::from_properties(&props).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(c.node_id, 1);
    assert_eq!(
        c.listeners,
        vec![
            listener("PLAINTEXT", "", 9092),
            listener("CONTROLLER", "", 9093)
        ]
    );
    assert_eq!(
        c.advertised_listeners,
        vec![
            listener("PLAINTEXT", "localhost", 9092),
            listener("CONTROLLER", "localhost", 9093)
        ]
    );
    assert_eq!(c.log_dirs, vec![PathBuf::from("/tmp/kraft-combined-logs")]);
    assert_eq!(c.log_retention_ms, Some(604_800_000));
    assert_eq!(c.log_segment_bytes, 1_073_741_824);
    assert_eq!(c.socket_request_max_bytes, 104_857_600);
    assert_eq!(
        c.inert_keys(),
        vec![
            "inter.broker.listener.name",
            "num.network.threads",
            "num.io.threads",
            "socket.send.buffer.bytes",
            "socket.receive.buffer.bytes",
            "share.coordinator.state.topic.replication.factor",
            "share.coordinator.state.topic.min.isr",
        ]
    );
    // The stock file's single-broker replication factor for __consumer_offsets.
    assert_eq!(c.groups.offsets_topic_replication_factor, 1);
    let origin = c.origin_of("log.segment.bytes").unwrap();
    assert!(
        matches!(origin, Origin::File { path, line } if path == &fixture() && *line > 1),
        "{origin:?}"
    );
    assert_eq!(c.raw("node.id"), Some("1"));
}

#[test]
fn errors_in_a_file_name_the_file_line_key_and_what_is_accepted() {
    let dir = std::env::temp_dir().join(format!("strom-config-errors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("server.properties");
    std::fs::write(&path, "# comment\nnode.id=1\n\nlog.segment.bytes=abc\n").unwrap();
    let props = Properties::load(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let err = BrokerConfig::from_properties(&props.unwrap()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}:4: log.segment.bytes: expected an integer >= 1048576 (bytes), got 'abc'",
            path.display()
        )
    );
}

#[test]
fn every_bad_value_names_its_key_and_origin() {
    let cases = [
        (
            "log.segment.bytes",
            "14",
            "expected an integer >= 1048576 (bytes), got '14'",
        ),
        (
            "log.segment.bytes",
            "4294967296",
            "expected an integer from 1048576 to 2147483647 (bytes)",
        ),
        ("node.id", "-1", "expected an integer >= 0"),
        ("num.partitions", "0", "expected an integer >= 1"),
        (
            "default.replication.factor",
            "40000",
            "expected an integer from 1 to 32767",
        ),
        (
            "auto.create.topics.enable",
            "yes",
            "expected true or false, got 'yes'",
        ),
        ("log.roll.hours", "0", "expected an integer >= 1 (hours)"),
        (
            "log.retention.ms",
            "forever",
            "expected an integer (ms), got 'forever'",
        ),
        (
            "log.message.timestamp.type",
            "createtime",
            "expected one of CreateTime, LogAppendTime",
        ),
        (
            "log.cleanup.policy",
            "delete,archive",
            "expected a comma-separated list of compact, delete",
        ),
        (
            "compression.type",
            "brotli",
            "expected one of uncompressed, zstd, lz4, snappy, gzip, producer",
        ),
        (
            "log.cleaner.min.cleanable.ratio",
            "1.5",
            "expected a number between 0.0 and 1.0",
        ),
        (
            "listeners",
            "localhost:9092",
            "expected a comma-separated list of NAME://host:port",
        ),
        (
            "advertised.listeners",
            "PLAINTEXT://host",
            "expected a comma-separated list of NAME://host:port",
        ),
        (
            "log.dirs",
            "/a,/a",
            "expected a comma-separated list of distinct directories",
        ),
        (
            "log.dirs",
            "",
            "expected a comma-separated list of distinct directories",
        ),
        (
            "controller.quorum.voters",
            "localhost:9093",
            "expected a comma-separated list of id@host:port",
        ),
        (
            "controller.quorum.bootstrap.servers",
            "localhost",
            "expected a comma-separated list of host:port",
        ),
        (
            "listener.security.protocol.map",
            "PLAINTEXT:TLS",
            "expected a comma-separated list of LISTENER_NAME:PROTOCOL",
        ),
        ("strom.cluster.id", "my-cluster", "expected a cluster id"),
        (
            "strom.metrics.listener",
            "127.0.0.1:9644",
            "expected http://host:port",
        ),
        (
            "strom.metrics.listener",
            "PLAINTEXT://127.0.0.1:9644",
            "expected http://host:port",
        ),
        (
            "strom.acks.all.fsync",
            "sometimes",
            "expected true or false",
        ),
        (
            "process.roles",
            "broker,observer",
            "expected a comma-separated list of broker, controller",
        ),
        (
            "socket.request.max.bytes",
            "0",
            "expected an integer >= 1 (bytes)",
        ),
    ];
    for (key, value, expected) in cases {
        let err = error(&format!("# first line\n{key}={value}\n"));
        let message = err.to_string();
        assert!(
            message.starts_with(&format!("line 2: {key}: ")),
            "{key}={value}: {message}"
        );
        assert!(message.contains(expected), "{key}={value}: {message}");
        assert_eq!(err.key(), Some(key));
    }
}

#[test]
fn an_override_error_says_it_came_from_the_command_line() {
    let mut props = Properties::parse("num.partitions=3").unwrap();
    props.apply_override("num.partitions=many").unwrap();
    let err = BrokerConfig::from_properties(&props).unwrap_err();
    assert_eq!(
        err.to_string(),
        "--override: num.partitions: expected an integer >= 1 (partitions), got 'many'"
    );
}

#[test]
fn overrides_win_over_the_file() {
    let mut props = Properties::load(fixture()).unwrap();
    props.apply_override("log.dirs=/var/lib/strom").unwrap();
    props.apply_override("node.id=7").unwrap();
    let c = BrokerConfig::from_properties(&props).unwrap();
    assert_eq!(c.log_dirs, vec![PathBuf::from("/var/lib/strom")]);
    assert_eq!(c.node_id, 7);
    assert_eq!(c.origin_of("node.id"), Some(&Origin::Override));
}

#[test]
fn unknown_keys_stop_start_up_with_a_hint() {
    let typo = error("log.segmnt.bytes=1048576");
    assert_eq!(
        typo.to_string(),
        "line 1: log.segmnt.bytes: not a configuration key Strom knows; did you mean log.segment.bytes?"
    );
    let zk = error("\nzookeeper.connect=localhost:2181");
    assert!(zk.to_string().starts_with("line 2: zookeeper.connect: not a configuration key Strom knows; Kafka 4 and Strom run without ZooKeeper"), "{zk}");
    let topic = error("retention.ms=1000");
    assert!(topic.to_string().contains("it is a topic configuration; set it per topic, or the broker-wide default with log.retention.ms or log.retention.minutes or log.retention.hours"), "{topic}");
    let strom = error("strom.fsync.everything=true");
    assert!(
        strom.to_string().contains(
            "Strom's own keys are strom.cluster.id, strom.log.open.files.max, strom.metrics.listener, strom.acks.all.fsync"
        ),
        "{strom}"
    );
    let other = error("confluent.balancer.enable=true");
    assert!(
        other
            .to_string()
            .ends_with("`strom configs` lists every key Strom accepts"),
        "{other}"
    );
    assert_eq!(other.key(), Some("confluent.balancer.enable"));
}

#[test]
fn every_kafka_broker_key_is_accepted_validated_and_named_when_not_acted_on() {
    // Keys of Kafka's catalogue that Strom's own table does not have: accepted, typed, inert.
    let c = config(
        "ssl.keymanager.algorithm=PKIX\n\
         sasl.kerberos.min.time.before.relogin=58000\n\
         remote.log.storage.system.enable=false\n\
         num.partitions=2\n",
    );
    assert_eq!(
        c.inert_keys(),
        vec![
            "remote.log.storage.system.enable",
            "sasl.kerberos.min.time.before.relogin",
            "ssl.keymanager.algorithm",
        ]
    );
    assert_eq!(c.num_partitions, 2);
    // Kafka's type and range apply to them.
    let wrong_type = error("sasl.kerberos.min.time.before.relogin=soon");
    assert_eq!(
        wrong_type.key(),
        Some("sasl.kerberos.min.time.before.relogin")
    );
    assert!(
        wrong_type.to_string().contains("an integer"),
        "{wrong_type}"
    );
    let below = error("remote.log.manager.task.interval.ms=0");
    assert!(below.to_string().contains(">= 1"), "{below}");
    let not_one_of = error("ssl.client.auth=sometimes");
    assert!(
        not_one_of
            .to_string()
            .contains("one of required, requested, none"),
        "{not_one_of}"
    );
    // Every default of the catalogue is a valid value for its key (Strom's own table decides
    // for the keys it has: `broker.id` -1, Kafka's "generate one", is not a Strom node id).
    for key in strom_config::KAFKA_BROKER_CONFIGS {
        let strom_has_it = strom_config::BROKER_CONFIGS
            .iter()
            .any(|d| d.name == key.def.name);
        if let (Some(default), false) = (key.def.default, strom_has_it) {
            let text = format!("{}={}\n", key.def.name, default.replace('\\', "\\\\"));
            BrokerConfig::from_properties(&Properties::parse(&text).unwrap())
                .unwrap_or_else(|e| panic!("{}: {e}", key.def.name));
        }
    }
}

#[test]
fn strom_s_table_agrees_with_kafka_s_catalogue_on_types() {
    let mut compared = 0;
    for def in strom_config::BROKER_CONFIGS {
        if let Some(kafka) = strom_config::kafka_broker_config(def.name) {
            // Kafka types these three STRING and splits them at commas where it reads them;
            // Strom parses them as the lists they are (same text, DescribeConfigs says LIST).
            if !["log.dirs", "log.dir", "controller.listener.names"].contains(&def.name) {
                assert_eq!(def.config_type, kafka.def.config_type, "{}", def.name);
            }
            compared += 1;
        } else {
            // Strom's own keys, and the two broker quotas Kafka keeps outside KafkaConfig
            // (`DynamicConfig.Broker`).
            // The authorizer's own keys (StandardAuthorizer reads them, not KafkaConfig) too.
            assert!(
                def.name.starts_with("strom.")
                    || def.name.ends_with(".replication.throttled.rate")
                    || ["super.users", "allow.everyone.if.no.acl.found"].contains(&def.name),
                "{} is not Kafka's",
                def.name
            );
        }
    }
    assert!(compared > 100, "{compared}");
}

#[test]
fn broker_id_is_an_alias_of_node_id_and_must_agree_with_it() {
    assert_eq!(config("broker.id=5").node_id, 5);
    assert_eq!(config("node.id=4\nbroker.id=4").node_id, 4);
    let err = error("node.id=4\nbroker.id=0");
    assert_eq!(err.to_string(), "line 2: broker.id: 0 disagrees with node.id 4; remove broker.id (node.id is its KRaft name)");
}

#[test]
fn log_dirs_wins_over_log_dir() {
    assert_eq!(config("log.dir=/one").log_dirs, vec![PathBuf::from("/one")]);
    assert_eq!(
        config("log.dir=/one\nlog.dirs=/two, /three").log_dirs,
        vec![PathBuf::from("/two"), PathBuf::from("/three")]
    );
}

#[test]
fn log_roll_ms_wins_over_log_roll_hours() {
    assert_eq!(config("log.roll.hours=2").log_roll_ms, 7_200_000);
    assert_eq!(
        config("log.roll.hours=2\nlog.roll.ms=1234").log_roll_ms,
        1234
    );
    assert_eq!(
        config("log.roll.ms=1234\nlog.roll.hours=2").log_roll_ms,
        1234
    );
    assert_eq!(
        config("log.roll.jitter.hours=1").log_roll_jitter_ms,
        3_600_000
    );
    assert_eq!(
        config("log.roll.jitter.hours=1\nlog.roll.jitter.ms=5").log_roll_jitter_ms,
        5
    );
}

#[test]
fn log_retention_ms_wins_over_minutes_wins_over_hours() {
    assert_eq!(
        config("log.retention.hours=1").log_retention_ms,
        Some(3_600_000)
    );
    assert_eq!(
        config("log.retention.hours=1\nlog.retention.minutes=2").log_retention_ms,
        Some(120_000)
    );
    assert_eq!(
        config("log.retention.hours=1\nlog.retention.minutes=2\nlog.retention.ms=3")
            .log_retention_ms,
        Some(3)
    );
    assert_eq!(config("log.retention.ms=-1").log_retention_ms, None);
    // Kafka turns any negative retention time into -1, forever.
    assert_eq!(config("log.retention.hours=-5").log_retention_ms, None);
    assert_eq!(
        config("log.retention.hours=-5")
            .topic_defaults()
            .retention_ms,
        None
    );
    assert_eq!(
        config("log.retention.bytes=1073741824").log_retention_bytes,
        Some(1_073_741_824)
    );
    assert_eq!(config("log.retention.bytes=-1").log_retention_bytes, None);
}

#[test]
fn log_flush_interval_ms_falls_back_to_the_scheduler_interval() {
    assert_eq!(
        config("log.flush.scheduler.interval.ms=2000").log_flush_interval_ms,
        Some(2000)
    );
    assert_eq!(
        config("log.flush.scheduler.interval.ms=2000\nlog.flush.interval.ms=1000")
            .log_flush_interval_ms,
        Some(1000)
    );
    assert_eq!(
        config("log.flush.interval.messages=10000").log_flush_interval_messages,
        Some(10_000)
    );
    assert_eq!(
        config("log.flush.interval.messages=9223372036854775807").log_flush_interval_messages,
        None
    );
}

#[test]
fn typed_fields_follow_their_keys() {
    let c = config(
        "log.message.timestamp.type=LogAppendTime\nlog.cleanup.policy=compact,delete\ncompression.type=zstd\n\
         min.insync.replicas=2\nstrom.acks.all.fsync=FALSE\nbroker.rack=rack-a\nstrom.cluster.id=MkU3OEVBNTcwNTJENDM2Qk\n\
         num.partitions=6\ndefault.replication.factor=3\nauto.create.topics.enable=false\ndelete.topic.enable=false\n\
         message.max.bytes=2000000\nlog.index.interval.bytes=8192\nlog.index.size.max.bytes=1024\n",
    );
    assert_eq!(c.log_message_timestamp_type, TimestampType::LogAppendTime);
    assert_eq!(
        c.log_cleanup_policy,
        CleanupPolicy {
            delete: true,
            compact: true
        }
    );
    assert_eq!(c.compression_type, CompressionType::Zstd);
    assert_eq!(c.min_insync_replicas, 2);
    assert!(!c.acks_all_fsync);
    assert_eq!(c.broker_rack.as_deref(), Some("rack-a"));
    assert_eq!(c.cluster_id.as_deref(), Some("MkU3OEVBNTcwNTJENDM2Qk"));
    assert_eq!((c.num_partitions, c.default_replication_factor), (6, 3));
    assert!(!c.auto_create_topics_enable && !c.delete_topic_enable);
    assert_eq!(c.message_max_bytes, 2_000_000);
    assert_eq!(
        (c.log_index_interval_bytes, c.log_index_size_max_bytes),
        (8192, 1024)
    );
    assert_eq!(c.topic_defaults().max_message_bytes, 2_000_000);
    assert!(c.inert_keys().is_empty(), "{:?}", c.inert_keys());
}

#[test]
fn listeners_bound_to_all_interfaces_are_advertised_on_loopback() {
    let c = config("listeners=PLAINTEXT://:9092,INTERNAL://0.0.0.0:9094,LOCAL://192.168.1.5:0\n\
                    listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:PLAINTEXT,LOCAL:PLAINTEXT");
    assert_eq!(c.listeners[0].bind_address(), "0.0.0.0:9092");
    assert_eq!(
        c.advertised_listeners,
        vec![
            listener("PLAINTEXT", "127.0.0.1", 9092),
            listener("INTERNAL", "127.0.0.1", 9094),
            listener("LOCAL", "192.168.1.5", 0)
        ]
    );
}

#[test]
fn explicit_advertised_listeners_must_be_routable_and_known() {
    let c = config(
        "listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://broker1.example.com:19092",
    );
    assert_eq!(
        c.advertised_listeners,
        vec![listener("PLAINTEXT", "broker1.example.com", 19092)]
    );
    let empty_host = config("listeners=PLAINTEXT://:9092\nadvertised.listeners=PLAINTEXT://:9092");
    assert_eq!(
        empty_host.advertised_listeners,
        vec![listener("PLAINTEXT", "127.0.0.1", 9092)]
    );

    let wildcard = error("advertised.listeners=PLAINTEXT://0.0.0.0:9092");
    assert!(wildcard.to_string().starts_with("line 1: advertised.listeners: PLAINTEXT://0.0.0.0:9092 uses the non-routable meta-address"), "{wildcard}");
    let unknown = error("advertised.listeners=EXTERNAL://example.com:9092");
    assert!(
        unknown
            .to_string()
            .contains("listener EXTERNAL is not in listeners"),
        "{unknown}"
    );
    let empty = error("advertised.listeners=");
    assert_eq!(empty.key(), Some("advertised.listeners"));
}

#[test]
fn listeners_need_distinct_names_and_ports() {
    assert!(error("listeners=PLAINTEXT://:9092,PLAINTEXT://:9093")
        .to_string()
        .contains("listener name PLAINTEXT is used twice"));
    let same_port = error("listeners=PLAINTEXT://:9092,CONTROLLER://localhost:9092\ncontroller.listener.names=CONTROLLER");
    assert!(
        same_port.to_string().contains("use the same port"),
        "{same_port}"
    );
    // Port 0 asks the OS for a port: several listeners may use it.
    let ephemeral = config("listeners=PLAINTEXT://127.0.0.1:0,CONTROLLER://127.0.0.1:0\ncontroller.listener.names=CONTROLLER");
    assert_eq!(ephemeral.listeners.len(), 2);
    assert!(error("listeners=")
        .to_string()
        .contains("at least one listener is needed"));
}

#[test]
fn every_security_protocol_is_served_controller_listeners_included() {
    let ssl = config(
        "listeners=SSL://:9093,INTERNAL://:9094\nlistener.security.protocol.map=INTERNAL:SSL",
    );
    assert_eq!(ssl.listener_security_protocol("SSL"), "SSL");
    assert_eq!(ssl.listener_security_protocol("INTERNAL"), "SSL");
    let sasl = config(&format!(
        "listeners=SASL_SSL://:9093\nlistener.name.sasl_ssl.plain.sasl.jaas.config={PLAIN_JAAS}\nsasl.enabled.mechanisms=PLAIN"
    ));
    assert_eq!(sasl.listener_security_protocol("SASL_SSL"), "SASL_SSL");
    // A controller listener may be SSL (the quorum transport does TLS) ...
    let controller = config("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL");
    assert_eq!(controller.listener_security_protocol("CONTROLLER"), "SSL");
    // ... or SASL, with PLAIN only: Kafka's default mechanism GSSAPI is refused with the fix.
    let sasl_controller = error("listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\nlistener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT");
    assert!(
        sasl_controller
            .to_string()
            .contains("set sasl.mechanism.controller.protocol=PLAIN"),
        "{sasl_controller}"
    );
    let unmapped = error("listeners=EXTERNAL://:9093");
    assert!(
        unmapped
            .to_string()
            .contains("add EXTERNAL:PLAINTEXT (or EXTERNAL:SSL) to listener.security.protocol.map"),
        "{unmapped}"
    );
    // Controller listeners default to PLAINTEXT, as in Kafka.
    assert_eq!(
        config(
            "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER"
        )
        .listeners
        .len(),
        2
    );
}

#[test]
fn inert_keys_lists_only_what_was_set_and_is_not_acted_on() {
    let c = config("num.io.threads=16\nlog.segment.bytes=1048576\nlog.cleaner.enable=false\nnum.network.threads=4");
    assert_eq!(
        c.inert_keys(),
        vec!["num.network.threads", "num.io.threads"]
    );
    for key in c.inert_keys() {
        let def = BROKER_CONFIGS.iter().find(|d| d.name == key).unwrap();
        assert!(!def.acted_on, "{key}");
    }
}

#[test]
fn every_default_in_the_table_is_a_valid_setting() {
    for def in BROKER_CONFIGS {
        if let Some(default) = def.default {
            let c = BrokerConfig::from_properties(
                &Properties::parse(&format!("{}={default}", def.name)).unwrap(),
            );
            assert!(c.is_ok(), "{}={default}: {:?}", def.name, c.err());
        }
    }
}

#[test]
fn connection_and_request_memory_limits_have_kafkas_defaults_and_parse() {
    let c = config("");
    assert_eq!(c.fetch_max_bytes, 55 * 1024 * 1024);
    assert_eq!(c.connections.max_connections, i32::MAX);
    assert_eq!(c.connections.max_connections_per_ip, i32::MAX);
    assert!(c.connections.max_connections_per_ip_overrides.is_empty());
    assert_eq!(c.connections.connections_max_idle_ms, Some(600_000));
    // Kafka's -1 (no pool) is twice socket.request.max.bytes in Strom.
    assert_eq!(c.connections.queued_max_request_bytes, 2 * 104_857_600);

    let c = config(
        "max.connections=10\nmax.connections.per.ip=2\n\
         max.connections.per.ip.overrides=127.0.0.2:5, broker1:0\n\
         connections.max.idle.ms=-1\nqueued.max.request.bytes=1000000\nfetch.max.bytes=1024\n",
    );
    assert_eq!(c.connections.max_connections, 10);
    assert_eq!(c.connections.max_connections_per_ip, 2);
    assert_eq!(
        c.connections.max_connections_per_ip_overrides,
        vec![("127.0.0.2".to_owned(), 5), ("broker1".to_owned(), 0)]
    );
    assert_eq!(c.connections.connections_max_idle_ms, None);
    assert_eq!(c.connections.queued_max_request_bytes, 1_000_000);
    assert_eq!(c.fetch_max_bytes, 1024);
}

#[test]
fn malformed_connection_overrides_and_tiny_fetch_max_bytes_are_refused() {
    for bad in [
        "max.connections.per.ip.overrides=127.0.0.1",
        "max.connections.per.ip.overrides=127.0.0.1:-1",
        "max.connections.per.ip.overrides=:5",
        "max.connections.per.ip.overrides=host:many",
        "fetch.max.bytes=1023",
    ] {
        let key = bad.split('=').next().unwrap();
        let e = error(bad);
        assert!(e.to_string().contains(key), "{bad}: {e}");
    }
}

#[test]
fn listener_prefixed_keys_override_the_unprefixed_ones() {
    let c = config(
        "listeners=SSL://:9093,INTERNAL://:9094\n\
         listener.security.protocol.map=SSL:SSL,INTERNAL:SSL\n\
         ssl.client.auth=requested\n\
         listener.name.internal.ssl.client.auth=required\n\
         listener.name.internal.ssl.keystore.location=/etc/internal.pem",
    );
    assert_eq!(
        c.listener_value("INTERNAL", "ssl.client.auth").as_deref(),
        Some("required")
    );
    assert_eq!(
        c.listener_value("SSL", "ssl.client.auth").as_deref(),
        Some("requested")
    );
    assert_eq!(
        c.listener_value("internal", "ssl.keystore.location")
            .as_deref(),
        Some("/etc/internal.pem")
    );
    assert_eq!(c.listener_value("SSL", "ssl.keystore.location"), None);
    // Kafka's defaults show through.
    assert_eq!(
        c.listener_value("SSL", "ssl.enabled.protocols").as_deref(),
        Some("TLSv1.2,TLSv1.3")
    );
    // Prefixed values are validated as their key.
    let bad = error("listener.name.ssl.ssl.client.auth=sometimes");
    assert!(bad.to_string().contains("ssl.client.auth"), "{bad}");
    // Kafka looks the listener up in lower case only.
    let upper = error("listener.name.SSL.ssl.client.auth=required");
    assert!(
        upper
            .to_string()
            .contains("listener.name.ssl.ssl.client.auth"),
        "{upper}"
    );
    // Keys Kafka does not allow per listener stay unknown.
    assert!(error("listener.name.ssl.log.retention.ms=1")
        .to_string()
        .contains("listener.name.ssl.log.retention.ms"));
}

#[test]
fn dynamic_listener_keys_are_per_broker_and_layer_over_the_static_ones() {
    use std::collections::BTreeMap;
    let c = config("listeners=SSL://:9093\nlistener.name.ssl.ssl.keystore.location=/a.pem");
    let mut per_broker = BTreeMap::new();
    per_broker.insert(
        "listener.name.ssl.ssl.keystore.location".to_owned(),
        "/b.pem".to_owned(),
    );
    let dynamic = c.with_dynamic(&BTreeMap::new(), &per_broker);
    assert_eq!(
        dynamic
            .listener_value("SSL", "ssl.keystore.location")
            .as_deref(),
        Some("/b.pem")
    );
    assert_eq!(
        c.listener_value("SSL", "ssl.keystore.location").as_deref(),
        Some("/a.pem")
    );
    let changes: BTreeMap<String, Option<String>> = [(
        "listener.name.ssl.ssl.keystore.location".to_owned(),
        Some("/c.pem".to_owned()),
    )]
    .into();
    assert!(strom_config::validate_dynamic_broker_update(&changes, true).is_ok());
    let err = strom_config::validate_dynamic_broker_update(&changes, false).unwrap_err();
    assert_eq!(err.kafka_error_code(), strom_config::INVALID_REQUEST);
    // The unprefixed keystore keys are refused dynamically, as in Kafka.
    let unprefixed: BTreeMap<String, Option<String>> = [(
        "ssl.keystore.location".to_owned(),
        Some("/c.pem".to_owned()),
    )]
    .into();
    assert!(strom_config::validate_dynamic_broker_update(&unprefixed, true).is_err());
}

#[test]
fn bad_principal_mapping_rules_stop_start_up() {
    let e = error("ssl.principal.mapping.rules=RULE:^CN=(.*)$/$1/LU");
    assert!(e.to_string().contains("ssl.principal.mapping.rules"), "{e}");
    assert!(BrokerConfig::from_properties(
        &Properties::parse("ssl.principal.mapping.rules=RULE:^CN=([^,]+).*$/$1/L,DEFAULT").unwrap()
    )
    .is_ok());
}

const PLAIN_JAAS: &str = "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"a\" user_admin=\"a\" user_alice=\"b\";";

#[test]
fn sasl_listeners_take_kafkas_per_listener_keys() {
    let c = config(&format!(
        "listeners=SASL_PLAINTEXT://:9092,PLAINTEXT://:9093\n\
         sasl.enabled.mechanisms=SCRAM-SHA-512\n\
         listener.name.sasl_plaintext.sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}\n\
         connections.max.reauth.ms=60000\n\
         listener.name.sasl_plaintext.plain.connections.max.reauth.ms=1000\n\
         sasl.mechanism.inter.broker.protocol=PLAIN"
    ));
    assert_eq!(c.security.protocol("SASL_PLAINTEXT"), "SASL_PLAINTEXT");
    assert_eq!(c.security.protocol("PLAINTEXT"), "PLAINTEXT");
    let l = c.security.sasl_listener("SASL_PLAINTEXT").unwrap();
    assert_eq!(l.enabled_mechanisms, vec!["PLAIN", "SCRAM-SHA-256"]);
    assert_eq!(l.jaas["PLAIN"].plain_users()["alice"], "b");
    assert_eq!(l.max_reauth_ms("PLAIN"), 1000);
    assert_eq!(l.max_reauth_ms("SCRAM-SHA-256"), 60000);
    assert!(c.security.sasl_listener("PLAINTEXT").is_none());
    assert_eq!(c.security.failed_authentication_delay_ms, 100);
    assert_eq!(c.security.sasl_mechanism_inter_broker, "PLAIN");
}

#[test]
fn sasl_misconfigurations_stop_start_up() {
    // PLAIN without users.
    let e = error("listeners=SASL_PLAINTEXT://:9092\nsasl.enabled.mechanisms=PLAIN");
    assert!(
        e.to_string().contains("enables PLAIN but has no users"),
        "{e}"
    );
    // Kafka's default GSSAPI is not served.
    let e = error("listeners=SASL_PLAINTEXT://:9092");
    assert!(
        e.to_string().contains("GSSAPI, which Strom does not serve"),
        "{e}"
    );
    // A broken JAAS entry names the key, never the value.
    let e = error(
        "listeners=SASL_PLAINTEXT://:9092\nsasl.enabled.mechanisms=PLAIN\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config=x.Y required password=\"s3cret\"",
    );
    let text = e.to_string();
    assert!(
        text.contains("listener.name.sasl_plaintext.plain.sasl.jaas.config"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
    // A per-listener key for a listener that is not a SASL one.
    let e = error(&format!(
        "listeners=PLAINTEXT://:9092\nlistener.name.plaintext.plain.sasl.jaas.config={PLAIN_JAAS}"
    ));
    assert!(e.to_string().contains("not a SASL listener"), "{e}");
    // A SASL controller listener authenticates with PLAIN: the mechanism must say so ...
    let controller_sasl = format!(
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n\
         sasl.enabled.mechanisms=PLAIN\nlistener.name.controller.plain.sasl.jaas.config={PLAIN_JAAS}"
    );
    let e = error(&controller_sasl);
    assert!(
        e.to_string()
            .contains("GSSAPI: controller listener CONTROLLER uses SASL_PLAINTEXT"),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("set sasl.mechanism.controller.protocol=PLAIN"),
        "{e}"
    );
    let c = config(&format!(
        "{controller_sasl}\nsasl.mechanism.controller.protocol=PLAIN"
    ));
    let login = &c.security.sasl_listener("CONTROLLER").unwrap().jaas["PLAIN"];
    assert_eq!(login.option("username"), Some("admin"));
    // ... the listener must enable PLAIN ...
    let e = error(&format!(
        "{}\nsasl.mechanism.controller.protocol=PLAIN\nlistener.name.controller.sasl.enabled.mechanisms=SCRAM-SHA-256",
        controller_sasl
    ));
    assert!(
        e.to_string()
            .contains("set listener.name.controller.sasl.enabled.mechanisms=PLAIN"),
        "{e}"
    );
    // ... and its login module must name the user this node presents.
    let e = error(
        "listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n\
         sasl.enabled.mechanisms=PLAIN\nsasl.mechanism.controller.protocol=PLAIN\n\
         listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_admin=\"x\";",
    );
    assert!(
        e.to_string()
            .contains("with the username and password this node presents"),
        "{e}"
    );
    // A broker-only node dials a SASL_SSL controller listener it does not serve: only the
    // login module's username and password are needed, not the enabled mechanisms.
    let c = config(&format!(
        "process.roles=broker\nnode.id=4\ncontroller.quorum.bootstrap.servers=127.0.0.1:9093\n\
         listeners=PLAINTEXT://:9092\ncontroller.listener.names=CONTROLLER\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_SSL\n\
         sasl.mechanism.controller.protocol=PLAIN\n\
         listener.name.controller.plain.sasl.jaas.config={PLAIN_JAAS}"
    ));
    assert_eq!(c.listener_security_protocol("CONTROLLER"), "SASL_SSL");
    assert!(c
        .security
        .sasl_listener("CONTROLLER")
        .unwrap()
        .jaas
        .contains_key("PLAIN"));
}

#[test]
fn oauthbearer_validator_class_and_jwks_keys() {
    const CLASS: &str =
        "listener.name.sasl_plaintext.oauthbearer.sasl.server.callback.handler.class";
    let base = "listeners=SASL_PLAINTEXT://:9092\nsasl.enabled.mechanisms=OAUTHBEARER";
    // Default: Kafka's unsecured validator, Kafka's JWKS timings.
    let c = config(base);
    let o = &c
        .security
        .sasl_listener("SASL_PLAINTEXT")
        .unwrap()
        .oauthbearer;
    assert_eq!(o.validator, strom_config::OAuthBearerValidator::Unsecured);
    assert_eq!(
        (
            o.jwks_refresh_ms,
            o.jwks_retry_backoff_ms,
            o.jwks_retry_backoff_max_ms
        ),
        (3_600_000, 100, 10_000)
    );
    assert_eq!(c.security.sasl_server_max_receive_size, 524_288);
    // Kafka's class (and its pre-3.4 name) selects the signed-JWT validator, per listener.
    for class in [
        "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
        "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
    ] {
        let c = config(&format!(
            "{base}\n{CLASS}={class}\n\
             listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.url=file:///j.json\n\
             listener.name.sasl_plaintext.sasl.oauthbearer.jwks.endpoint.refresh.ms=5000"
        ));
        let o = &c
            .security
            .sasl_listener("SASL_PLAINTEXT")
            .unwrap()
            .oauthbearer;
        assert_eq!(o.validator, strom_config::OAuthBearerValidator::Signed);
        assert_eq!(o.jwks_endpoint_url.as_deref(), Some("file:///j.json"));
        assert_eq!(o.jwks_refresh_ms, 5000);
    }
    // The signed validator needs its keys.
    let e = error(&format!(
        "{base}\n{CLASS}=org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler"
    ));
    assert!(e.to_string().contains("needs the keys"), "{e}");
    // An unknown class says which ones are accepted.
    let e = error(&format!("{base}\n{CLASS}=com.example.MyHandler"));
    assert!(
        e.to_string().contains("OAuthBearerValidatorCallbackHandler or org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler"),
        "{e}"
    );
    // Only OAUTHBEARER takes a class.
    let e = error(&format!(
        "listeners=SASL_PLAINTEXT://:9092\nsasl.enabled.mechanisms=PLAIN\n\
         listener.name.sasl_plaintext.plain.sasl.jaas.config={PLAIN_JAAS}\n\
         listener.name.sasl_plaintext.plain.sasl.server.callback.handler.class=x.Y"
    ));
    assert!(
        e.to_string()
            .contains("only OAUTHBEARER takes a handler class"),
        "{e}"
    );
}
