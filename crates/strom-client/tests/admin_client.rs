//! `AdminClient` against a scripted fake broker on 127.0.0.1:0 that does
//! not know ConsumerGroupDescribe (a broker from before KIP-848).

use std::time::Duration;

use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use strom_client::kafka_protocol::messages::ApiKey;
use strom_client::{AdminClient, AdminConfig, Error};

const API_VERSIONS: i16 = 18;
const FIND_COORDINATOR: i16 = 10;

/// (api key, version, correlation id) of the next request; `None` once the
/// client has hung up.
async fn read_request(s: &mut TcpStream) -> Option<(i16, i16, i32)> {
    let size = s.read_i32().await.ok()?;
    let mut buf = vec![0u8; size as usize];
    s.read_exact(&mut buf).await.ok()?;
    let api = i16::from_be_bytes([buf[0], buf[1]]);
    let version = i16::from_be_bytes([buf[2], buf[3]]);
    let correlation_id = i32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Some((api, version, correlation_id))
}

/// A response frame with header v0.
async fn answer(s: &mut TcpStream, correlation_id: i32, body: &[u8]) {
    let mut frame = BytesMut::new();
    frame.put_i32(4 + body.len() as i32);
    frame.put_i32(correlation_id);
    frame.extend_from_slice(body);
    s.write_all(&frame).await.unwrap();
}

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

/// FindCoordinator v0: this broker (node 1) coordinates every group.
fn find_coordinator_body(port: u16) -> Vec<u8> {
    let host = b"127.0.0.1";
    let mut b = BytesMut::new();
    b.put_i16(0);
    b.put_i32(1);
    b.put_i16(host.len() as i16);
    b.extend_from_slice(host);
    b.put_i32(port.into());
    b.to_vec()
}

#[tokio::test]
async fn consumer_group_describe_on_a_broker_without_it_is_unsupported_api() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let addr = format!("127.0.0.1:{port}");
    let broker = tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut seen = Vec::new();
        while let Some((api, version, corr)) = read_request(&mut s).await {
            seen.push(api);
            match (api, version) {
                (API_VERSIONS, 4) => {
                    let body = api_versions_body(35, &[(API_VERSIONS, 0, 2)], false);
                    answer(&mut s, corr, &body).await
                }
                (API_VERSIONS, 2) => {
                    let apis = [(API_VERSIONS, 0, 2), (FIND_COORDINATOR, 0, 0)];
                    answer(&mut s, corr, &api_versions_body(0, &apis, true)).await
                }
                (FIND_COORDINATOR, 0) => answer(&mut s, corr, &find_coordinator_body(port)).await,
                other => panic!("unexpected request {other:?}"),
            }
        }
        seen
    });
    let mut config = AdminConfig::new(&addr);
    config.connection.request_timeout = Duration::from_secs(5);
    config.api_timeout = Duration::from_secs(5);
    let mut admin = AdminClient::connect(config).await.unwrap();
    let err = admin
        .consumer_group_describe(&["g".to_owned()])
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            Error::UnsupportedApi { addr: a, api: ApiKey::ConsumerGroupDescribe } if *a == addr
        ),
        "{err}"
    );
    drop(admin);
    // The request was never sent: the broker's ApiVersions ruled it out.
    assert_eq!(
        broker.await.unwrap(),
        vec![API_VERSIONS, API_VERSIONS, FIND_COORDINATOR]
    );
}
