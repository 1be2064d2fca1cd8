//! `Connection` against scripted fake brokers on 127.0.0.1:0: version
//! negotiation with an older broker, timeouts, and frames it must refuse.

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use strom_client::kafka_protocol::messages::ApiKey;
use strom_client::{Connection, ConnectionConfig, Error};

const API_VERSIONS: i16 = 18;
const LIST_GROUPS: i16 = 16;

/// (api key, version, correlation id) of the next request.
async fn read_request(s: &mut TcpStream) -> (i16, i16, i32) {
    let size = s.read_i32().await.unwrap();
    let mut buf = vec![0u8; size as usize];
    s.read_exact(&mut buf).await.unwrap();
    let api = i16::from_be_bytes([buf[0], buf[1]]);
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    let correlation_id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    (api, version, correlation_id)
}

/// A response frame with header v0.
async fn answer(s: &mut TcpStream, correlation_id: i32, body: &[u8]) {
    let mut frame = BytesMut::new();
    frame.put_i32(4 + body.len() as i32);
    frame.put_i32(correlation_id);
    frame.extend_from_slice(body);
    s.write_all(&frame).await.unwrap();
}

/// An ApiVersions body at v0 (`throttle: false`) or v1-v2 (`true`).
fn api_versions_body(error_code: i16, apis: &[(i16, i16, i16)], throttle: bool) -> Vec<u8> {
    let mut b = BytesMut::new();
    b.put_i16(error_code);
    b.put_i32(apis.len() as i32);
    for &(key, min, max) in apis {
        b.put_i16(key);
        b.put_i16(min);
        b.put_i16(max);
    }
    if throttle {
        b.put_i32(0);
    }
    b.to_vec()
}

async fn listener() -> (TcpListener, String) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    (l, addr)
}

fn config(timeout_ms: u64) -> ConnectionConfig {
    ConnectionConfig {
        request_timeout: Duration::from_millis(timeout_ms),
        ..ConnectionConfig::default()
    }
}

#[tokio::test]
async fn an_older_broker_answering_v0_gets_api_versions_again_at_its_highest() {
    let (l, addr) = listener().await;
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (api, version, corr) = read_request(&mut s).await;
        assert_eq!((api, version), (API_VERSIONS, 4));
        answer(
            &mut s,
            corr,
            &api_versions_body(35, &[(API_VERSIONS, 0, 2)], false),
        )
        .await;
        let (api, version, corr) = read_request(&mut s).await;
        assert_eq!((api, version), (API_VERSIONS, 2));
        answer(
            &mut s,
            corr,
            &api_versions_body(0, &[(API_VERSIONS, 0, 2), (LIST_GROUPS, 0, 3)], true),
        )
        .await;
        s
    });
    let conn = Connection::connect(&addr, &config(5_000)).await.unwrap();
    let _stream = broker.await.unwrap();
    assert_eq!(conn.broker_versions(ApiKey::ListGroups), Some((0, 3)));
    assert_eq!(conn.version(ApiKey::ListGroups).unwrap(), 3);
    assert_eq!(conn.version(ApiKey::ApiVersions).unwrap(), 2);
    let err = conn.version(ApiKey::DescribeGroups).unwrap_err();
    assert!(
        matches!(
            err,
            Error::UnsupportedApi {
                api: ApiKey::DescribeGroups,
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test]
async fn api_versions_without_overlap_name_both_ranges() {
    let (l, addr) = listener().await;
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (_, _, corr) = read_request(&mut s).await;
        answer(
            &mut s,
            corr,
            &api_versions_body(35, &[(API_VERSIONS, 5, 7)], false),
        )
        .await;
        s
    });
    let err = Connection::connect(&addr, &config(5_000))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::NoCommonVersion {
                api: ApiKey::ApiVersions,
                broker_min: 5,
                broker_max: 7,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("{addr} supports ApiVersions versions 5-7, this client 0-4")
    );
    drop(broker.await.unwrap());
}

#[tokio::test]
async fn an_answer_in_another_version_is_a_decode_error() {
    let (l, addr) = listener().await;
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (_, _, corr) = read_request(&mut s).await;
        answer(
            &mut s,
            corr,
            &api_versions_body(0, &[(API_VERSIONS, 0, 4), (LIST_GROUPS, 6, 9)], true),
        )
        .await;
        s
    });
    // A v1 body without error is read as the v4 (flexible) body asked for.
    let err = Connection::connect(&addr, &config(5_000))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::Decode {
                api: ApiKey::ApiVersions,
                version: 4,
                ..
            }
        ),
        "{err}"
    );
    drop(broker.await.unwrap());
}

#[tokio::test]
async fn a_silent_broker_times_out_with_the_api_named() {
    let (l, addr) = listener().await;
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        read_request(&mut s).await;
        // Keep the socket open without answering until the client gives up.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
    });
    let err = Connection::connect(&addr, &config(200))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::Timeout {
                api: ApiKey::ApiVersions,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(
        err.to_string(),
        format!("ApiVersions request to {addr} timed out after 200 ms")
    );
    broker.await.unwrap();
}

#[tokio::test]
async fn oversized_and_negative_frames_are_refused_without_allocating() {
    for size in [i32::MAX, -5] {
        let (l, addr) = listener().await;
        let broker = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            read_request(&mut s).await;
            s.write_i32(size).await.unwrap();
            s
        });
        let err = Connection::connect(&addr, &config(5_000))
            .await
            .err()
            .unwrap();
        assert!(
            matches!(err, Error::FrameTooLarge { size: s, .. } if s == i64::from(size)),
            "{err}"
        );
        drop(broker.await.unwrap());
    }
}

#[tokio::test]
async fn a_wrong_correlation_id_is_an_error() {
    let (l, addr) = listener().await;
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (_, _, corr) = read_request(&mut s).await;
        answer(
            &mut s,
            corr + 7,
            &api_versions_body(35, &[(API_VERSIONS, 0, 2)], false),
        )
        .await;
        s
    });
    let err = Connection::connect(&addr, &config(5_000))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            err,
            Error::CorrelationMismatch {
                expected: 1,
                got: 8,
                ..
            }
        ),
        "{err}"
    );
    drop(broker.await.unwrap());
}

#[tokio::test]
async fn a_closed_port_is_a_connect_error() {
    let (l, addr) = listener().await;
    drop(l);
    let err = Connection::connect(&addr, &config(5_000))
        .await
        .err()
        .unwrap();
    match err {
        Error::Connect { source, .. } => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionRefused)
        }
        other => panic!("expected a connect error, got {other}"),
    }
}
