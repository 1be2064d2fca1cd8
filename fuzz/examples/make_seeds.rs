//! Writes the seed corpus of every fuzz target under `fuzz/corpus/<target>/`, from real
//! encodings: requests encoded by the codec for every advertised API and version, batches
//! built by `BatchBuilder` with each codec, log directories written by `Log`, coordinator
//! records and consumer-protocol messages written by their encoders.
//!
//! Run it with `scripts/fuzz --make-seeds` (a plain build, no fuzzing instrumentation).

use std::fs;
use std::path::{Path, PathBuf};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};
use strom_coordinator::consumer_protocol::{Assignment, Subscription};
use strom_coordinator::records::*;
use strom_fuzz::{join_pieces, log_file_code, LOG_DIR};
use strom_log::{CrashMode, FaultyFileSystem, Log, LogConfig};
use strom_records::{BatchBuilder, Compression, TimestampType};

#[allow(dead_code)]
#[path = "../../crates/strom-broker/src/api_table.rs"]
mod api_table;

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("corpus");
    requests(&root.join("request"));
    record_batches(&root.join("record_batch"));
    log_dirs(&root.join("log_loader"));
    coordinator_records(&root.join("coordinator_records"));
    consumer_protocol(&root.join("consumer_protocol"));
    tls_accept(&root.join("tls_accept"));
    sasl(&root.join("sasl"));
}

/// One seed per input of the `sasl` target (selector byte first, see strom_fuzz::sasl): a
/// JAAS entry and a SCRAM server-first message, a SCRAM client-first/client-final pair, an
/// OAUTHBEARER initial response with a validly signed token, that token with its JWKS, a
/// claims set, and a JWKS endpoint's response (length-delimited and chunked).
fn sasl(dir: &Path) {
    use strom_fuzz::sasl::*;
    let seed = |name: &str, selector: u8, body: &[u8]| {
        let mut bytes = vec![selector];
        bytes.extend_from_slice(body);
        write(dir, name, &bytes);
    };
    seed(
        "jaas_plain",
        JAAS_AND_SCRAM_CLIENT,
        br#"org.apache.kafka.common.security.plain.PlainLoginModule required username="admin" password="a" user_alice="s";"#,
    );
    seed(
        "scram_server_first",
        JAAS_AND_SCRAM_CLIENT,
        b"r=abcdefgh,s=MDEyMzQ1Njc4OWFiY2RlZg==,i=16",
    );
    seed(
        "scram_client_messages",
        SCRAM_SERVER,
        b"n,,n=u,r=fyko+d2lbbFgONRv9qkxdawL\nc=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
    );
    seed(
        "oauth_initial_signed",
        OAUTH_INITIAL,
        format!("n,,\x01auth=Bearer {SIGNED_TOKEN}\x01\x01").as_bytes(),
    );
    seed(
        "jwks_and_token",
        JWKS_AND_TOKEN,
        format!("{FIXED_JWKS}\n{SIGNED_TOKEN}").as_bytes(),
    );
    seed(
        "claims",
        CLAIMS,
        br#"{"sub":"alice","iss":"https://idp","aud":["kafka","x"],"iat":1699999990,"nbf":1699999990,"exp":1700003600,"scope":["read","write"]}"#,
    );
    seed(
        "jwks_http",
        JWKS_HTTP,
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{FIXED_JWKS}",
            FIXED_JWKS.len()
        )
        .as_bytes(),
    );
    let (a, b) = FIXED_JWKS.split_at(100);
    seed(
        "jwks_http_chunked",
        JWKS_HTTP,
        format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        )
        .as_bytes(),
    );
}

/// A rustls client's first flight (ClientHello) at each TLS version, a plaintext Kafka
/// request (the wrong protocol on a TLS port) and nothing.
fn tls_accept(dir: &Path) {
    use std::sync::Arc;
    let ca = include_str!("tls/ca.pem");
    let trusted = strom_client::tls::certificates_from_pem(ca.as_bytes()).unwrap();
    let roots = Arc::new(strom_client::tls::root_store(&trusted).unwrap());
    let provider = strom_client::tls::provider(&[]).unwrap();
    for (name, version) in [
        ("client_hello_tls13", &rustls::version::TLS13),
        ("client_hello_tls12", &rustls::version::TLS12),
    ] {
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[version])
            .unwrap()
            .with_root_certificates(roots.clone())
            .with_no_client_auth();
        let mut conn = rustls::ClientConnection::new(
            Arc::new(config),
            rustls::pki_types::ServerName::try_from("localhost").unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        while conn.wants_write() {
            conn.write_tls(&mut out).unwrap();
        }
        write(dir, name, &out);
    }
    write(
        dir,
        "plaintext_api_versions",
        &[0, 0, 0, 13, 0, 18, 0, 0, 0, 0, 0, 1, 0, 3, b'f', b'o', b'o'],
    );
    write(dir, "empty", &[]);
}

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join(name), bytes).unwrap();
}

fn batch(codec: Compression, n: usize, producer: bool) -> Bytes {
    let mut b = BatchBuilder::new(codec, TimestampType::CreateTime);
    if producer {
        b = b.producer(1000, 0, 0);
    }
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i * 7));
        let headers = [strom_records::Header::new("h", Some(b"v".as_slice()))];
        b.append(
            1_700_000_000_000 + i as i64,
            Some(key.as_bytes()),
            Some(value.as_bytes()),
            &headers,
        );
    }
    b.build(0)
}

fn requests(dir: &Path) {
    fn frame<T: Encodable>(api: ApiKey, version: i16, body: &T) -> Option<Vec<u8>> {
        let header = RequestHeader::default()
            .with_request_api_key(api as i16)
            .with_request_api_version(version)
            .with_correlation_id(7)
            .with_client_id(Some(StrBytes::from_static_str("seed")));
        let mut buf = BytesMut::new();
        header
            .encode(&mut buf, api.request_header_version(version))
            .ok()?;
        body.encode(&mut buf, version).ok()?;
        Some(buf.to_vec())
    }
    let topic = || TopicName(StrBytes::from_static_str("orders"));
    for &(api, min, max) in api_table::SUPPORTED_APIS {
        for version in min..=max {
            macro_rules! seed {
                ($($key:ident => $body:expr),* $(,)?) => {
                    match api {
                        $(ApiKey::$key => frame(api, version, &$body),)*
                        _ => None,
                    }
                };
            }
            let produce = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![
                    kafka_protocol::messages::produce_request::TopicProduceData::default()
                        .with_name(topic())
                        .with_partition_data(vec![
                        kafka_protocol::messages::produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(batch(Compression::None, 2, false))),
                    ]),
                ]);
            let metadata = MetadataRequest::default().with_topics(Some(vec![
                kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                    .with_name(Some(topic())),
            ]));
            let describe_topic_partitions = DescribeTopicPartitionsRequest::default()
                .with_topics(vec![
                    kafka_protocol::messages::describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic()),
                ])
                .with_response_partition_limit(100)
                .with_cursor(Some(
                    kafka_protocol::messages::describe_topic_partitions_request::Cursor::default()
                        .with_topic_name(topic())
                        .with_partition_index(3),
                ));
            let bytes = seed!(
                Produce => produce,
                Fetch => FetchRequest::default(),
                ListOffsets => ListOffsetsRequest::default(),
                Metadata => metadata,
                FindCoordinator => FindCoordinatorRequest::default().with_key(StrBytes::from_static_str("my-group")),
                ApiVersions => ApiVersionsRequest::default(),
                CreateTopics => CreateTopicsRequest::default(),
                DeleteTopics => DeleteTopicsRequest::default(),
                DescribeConfigs => DescribeConfigsRequest::default(),
                CreatePartitions => CreatePartitionsRequest::default(),
                ElectLeaders => ElectLeadersRequest::default(),
                AlterPartitionReassignments => AlterPartitionReassignmentsRequest::default(),
                ListPartitionReassignments => ListPartitionReassignmentsRequest::default(),
                DescribeCluster => DescribeClusterRequest::default(),
                DescribeTopicPartitions => describe_topic_partitions,
                DescribeQuorum => DescribeQuorumRequest::default(),
                AddRaftVoter => AddRaftVoterRequest::default(),
                RemoveRaftVoter => RemoveRaftVoterRequest::default(),
                InitProducerId => InitProducerIdRequest::default(),
                JoinGroup => JoinGroupRequest::default(),
                SyncGroup => SyncGroupRequest::default(),
                Heartbeat => HeartbeatRequest::default(),
                LeaveGroup => LeaveGroupRequest::default(),
                OffsetCommit => OffsetCommitRequest::default(),
                OffsetFetch => OffsetFetchRequest::default(),
                DescribeGroups => DescribeGroupsRequest::default(),
                ListGroups => ListGroupsRequest::default(),
                DeleteGroups => DeleteGroupsRequest::default(),
                OffsetDelete => OffsetDeleteRequest::default(),
                DeleteRecords => DeleteRecordsRequest::default(),
                DescribeLogDirs => DescribeLogDirsRequest::default(),
                AlterConfigs => AlterConfigsRequest::default(),
                IncrementalAlterConfigs => IncrementalAlterConfigsRequest::default(),
                ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest::default(),
                ConsumerGroupDescribe => ConsumerGroupDescribeRequest::default(),
                AddPartitionsToTxn => AddPartitionsToTxnRequest::default(),
                AddOffsetsToTxn => AddOffsetsToTxnRequest::default(),
                EndTxn => EndTxnRequest::default(),
                WriteTxnMarkers => WriteTxnMarkersRequest::default(),
                TxnOffsetCommit => TxnOffsetCommitRequest::default(),
                DescribeTransactions => DescribeTransactionsRequest::default(),
                ListTransactions => ListTransactionsRequest::default(),
                DescribeProducers => DescribeProducersRequest::default(),
                SaslHandshake => SaslHandshakeRequest::default(),
                SaslAuthenticate => SaslAuthenticateRequest::default(),
                DescribeUserScramCredentials => DescribeUserScramCredentialsRequest::default(),
                AlterUserScramCredentials => AlterUserScramCredentialsRequest::default(),
                DescribeClientQuotas => DescribeClientQuotasRequest::default().with_components(vec![
                    describe_client_quotas_request::ComponentData::default()
                        .with_entity_type(StrBytes::from_static_str("user"))
                        .with_match_type(2)
                ]),
                AlterClientQuotas => AlterClientQuotasRequest::default().with_entries(vec![
                    alter_client_quotas_request::EntryData::default()
                        .with_entity(vec![alter_client_quotas_request::EntityData::default()
                            .with_entity_type(StrBytes::from_static_str("user"))
                            .with_entity_name(Some(StrBytes::from_static_str("alice")))])
                        .with_ops(vec![alter_client_quotas_request::OpData::default()
                            .with_key(StrBytes::from_static_str("producer_byte_rate"))
                            .with_value(1024.0)])
                ]),
                CreateAcls => CreateAclsRequest::default(),
                DescribeAcls => DescribeAclsRequest::default(),
                DeleteAcls => DeleteAclsRequest::default(),
            );
            if let Some(bytes) = bytes {
                write(dir, &format!("{api:?}-v{version}"), &bytes);
            }
        }
    }
}

fn record_batches(dir: &Path) {
    for codec in CODECS {
        for (n, producer) in [(1, false), (5, true)] {
            let b = batch(codec, n, producer);
            let name = format!("{}-{n}", codec.name());
            // Modes 0 and 1 take a batch as it is.
            write(
                dir,
                &format!("raw-{name}"),
                &[[0u8].as_slice(), &b].concat(),
            );
            write(
                dir,
                &format!("framed-{name}"),
                &[[1u8].as_slice(), &b].concat(),
            );
            // Mode 2 takes the uncompressed records section and compresses it itself.
            let plain = batch(Compression::None, n, producer);
            let mut input = vec![2u8, codec.id()];
            input.extend_from_slice(&(n as i32).to_be_bytes());
            input.extend_from_slice(&plain[61..]);
            write(dir, &format!("section-{name}"), &input);
        }
    }
}

fn log_dirs(dir: &Path) {
    for (name, crash) in [
        ("clean", None),
        ("lost-unsynced", Some(CrashMode::LoseUnsynced)),
        ("torn", Some(CrashMode::TearLastWrite { keep_bytes: 30 })),
    ] {
        let fs = FaultyFileSystem::new();
        let config = LogConfig {
            segment_bytes: 4096,
            index_interval_bytes: 64,
            ..LogConfig::default()
        };
        let mut log = Log::open(fs.shared(), PathBuf::from(LOG_DIR), config, false, 0).unwrap();
        for (i, codec) in CODECS.iter().cycle().take(12).enumerate() {
            log.append(
                batch(*codec, 1 + i % 4, i == 0),
                1_700_000_000_000 + i as i64,
            )
            .unwrap();
            if i == 8 {
                log.flush().unwrap();
            }
        }
        match crash {
            None => log.close().unwrap(),
            Some(mode) => {
                drop(log);
                fs.crash(mode);
            }
        }
        let mut input = vec![if crash.is_some() { 3u8 } else { 2u8 }];
        for path in fs.file_paths() {
            let file_name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some((suffix, base)) = log_file_code(file_name) else {
                continue;
            };
            let bytes = fs.contents(&path).unwrap_or_default();
            input.extend_from_slice(&[suffix, base]);
            input.extend_from_slice(&join_pieces([bytes.as_slice()]));
        }
        write(dir, name, &input);
    }
}

fn coordinator_records(dir: &Path) {
    let tp = |p: Vec<i32>| TopicPartitions {
        topic_id: uuid_from(7),
        partitions: p,
    };
    let member = MemberMetadata {
        member_id: "member-1".into(),
        group_instance_id: Some("instance-1".into()),
        client_id: "client".into(),
        client_host: "/127.0.0.1".into(),
        rebalance_timeout: 300_000,
        session_timeout: 45_000,
        subscription: Bytes::from(
            Subscription {
                topics: vec!["orders".into()],
                ..Subscription::default()
            }
            .encode(3),
        ),
        assignment: Bytes::from(
            Assignment {
                assigned_partitions: vec![("orders".into(), vec![0, 1])],
                user_data: None,
            }
            .encode(3),
        ),
    };
    let key = |k: RecordKey| k.encode();
    let group = || "my-group".to_string();
    let member_id = || "member-1".to_string();
    let records: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        (
            "offset-commit",
            key(RecordKey::OffsetCommit {
                group: group(),
                topic: "orders".into(),
                partition: 3,
            }),
            OffsetCommitValue {
                offset: 42,
                leader_epoch: 5,
                metadata: "meta".into(),
                commit_timestamp: 1_700_000_000_000,
                expire_timestamp: -1,
            }
            .encode(),
        ),
        (
            "group-metadata",
            key(RecordKey::GroupMetadata { group: group() }),
            GroupMetadataValue {
                protocol_type: "consumer".into(),
                generation: 3,
                protocol: Some("range".into()),
                leader: Some("member-1".into()),
                current_state_timestamp: 1_700_000_000_000,
                members: vec![member],
            }
            .encode(),
        ),
        (
            "consumer-group-metadata",
            key(RecordKey::ConsumerGroupMetadata { group: group() }),
            ConsumerGroupMetadataValue {
                epoch: 4,
                metadata_hash: 99,
                creation_time_ms: 1,
            }
            .encode(),
        ),
        (
            "consumer-group-partition-metadata",
            key(RecordKey::ConsumerGroupPartitionMetadata { group: group() }),
            ConsumerGroupPartitionMetadataValue::default().encode(),
        ),
        (
            "consumer-group-member-metadata",
            key(RecordKey::ConsumerGroupMemberMetadata {
                group: group(),
                member_id: member_id(),
            }),
            ConsumerGroupMemberMetadataValue {
                client_id: "client".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["orders".into()],
                rebalance_timeout_ms: 300_000,
                server_assignor: Some("uniform".into()),
                classic_member_metadata: Some(ClassicMemberMetadata::default()),
                ..ConsumerGroupMemberMetadataValue::default()
            }
            .encode(),
        ),
        (
            "consumer-group-target-assignment-metadata",
            key(RecordKey::ConsumerGroupTargetAssignmentMetadata { group: group() }),
            ConsumerGroupTargetAssignmentMetadataValue::default().encode(),
        ),
        (
            "consumer-group-target-assignment-member",
            key(RecordKey::ConsumerGroupTargetAssignmentMember {
                group: group(),
                member_id: member_id(),
            }),
            ConsumerGroupTargetAssignmentMemberValue {
                topic_partitions: vec![tp(vec![0, 1, 2])],
            }
            .encode(),
        ),
        (
            "consumer-group-current-member-assignment",
            key(RecordKey::ConsumerGroupCurrentMemberAssignment {
                group: group(),
                member_id: member_id(),
            }),
            ConsumerGroupCurrentMemberAssignmentValue {
                member_epoch: 4,
                previous_member_epoch: 3,
                state: 0,
                assigned_partitions: vec![tp(vec![0])],
                partitions_pending_revocation: vec![tp(vec![1])],
            }
            .encode(),
        ),
    ];
    let mut all = Vec::new();
    for (name, key, value) in &records {
        write(dir, name, &join_pieces([key.as_slice(), value.as_slice()]));
        // The value alone first, so every value decoder sees it in the first piece.
        write(
            dir,
            &format!("{name}-value"),
            &join_pieces([value.as_slice()]),
        );
        all.extend_from_slice(&[key.as_slice(), value.as_slice()]);
    }
    // A whole partition: every record, then a tombstone for the group.
    all.extend_from_slice(&[records[1].1.as_slice(), b"".as_slice()]);
    write(dir, "partition", &join_pieces(all));
}

fn uuid_from(n: u8) -> uuid::Uuid {
    uuid::Uuid::from_bytes([n; 16])
}

fn consumer_protocol(dir: &Path) {
    let subscription = Subscription {
        topics: vec!["orders".into(), "payments".into()],
        user_data: Some(Bytes::from_static(b"user")),
        owned_partitions: vec![("orders".into(), vec![0, 2])],
        generation_id: 5,
        rack_id: Some("rack-a".into()),
    };
    let assignment = Assignment {
        assigned_partitions: vec![("orders".into(), vec![0, 1, 2])],
        user_data: Some(Bytes::from_static(b"data")),
    };
    for version in 0..=3 {
        write(
            dir,
            &format!("subscription-v{version}"),
            &subscription.encode(version),
        );
        write(
            dir,
            &format!("assignment-v{version}"),
            &assignment.encode(version),
        );
    }
}
