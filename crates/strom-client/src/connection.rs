//! One TCP connection to one broker: size-prefixed frames, correlation ids,
//! request header v1 or v2 (v2 for flexible versions), and ApiVersions on
//! connect to settle on the highest version of each API both sides know.
//!
//! One request is in flight at a time. Every request has a timeout; after a
//! timeout, or any failure that leaves the stream in an unknown position,
//! the connection refuses further requests ([`Error::Broken`]) instead of
//! reading a late answer as the reply to the next request.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::debug;

use crate::api::{client_versions, highest_common, ApiRequest};
use crate::tls::ClientTls;

/// A connection's byte stream: a TCP socket, or TLS over one.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + Sync> Stream for T {}
use crate::error::{Error, ErrorCode};

/// How a connection identifies itself and how long it waits.
#[derive(Debug, Clone)]
pub struct ConnectionConfig {
    /// The `client_id` of every request header.
    pub client_id: String,
    /// Limit for connecting and for each request (default 30 s).
    pub request_timeout: Duration,
    /// Larger response frames are refused (default 100 MiB).
    pub max_response_bytes: usize,
    /// TLS (`security.protocol=SSL`); `None` speaks plaintext.
    pub tls: Option<ClientTls>,
    /// SASL authentication after connecting (`security.protocol=SASL_PLAINTEXT`);
    /// `None` for PLAINTEXT.
    pub sasl: Option<SaslCredentials>,
}

/// A SASL mechanism and the client's credentials (`sasl.mechanism`,
/// `sasl.jaas.config` or `sasl.username`/`sasl.password`).
#[derive(Clone, PartialEq, Eq)]
pub struct SaslCredentials {
    /// `PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512` or `OAUTHBEARER`.
    pub mechanism: String,
    pub username: String,
    pub password: String,
    /// Where OAUTHBEARER's tokens come from (`None` for the other mechanisms).
    pub oauthbearer: Option<crate::oauthbearer::TokenSource>,
}

impl std::fmt::Debug for SaslCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SaslCredentials")
            .field("mechanism", &self.mechanism)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig {
            client_id: "strom".to_owned(),
            request_timeout: Duration::from_secs(30),
            max_response_bytes: 100 << 20,
            tls: None,
            sasl: None,
        }
    }
}

pub struct Connection {
    addr: String,
    stream: Box<dyn Stream>,
    config: ConnectionConfig,
    correlation_id: i32,
    /// api key → (min, max) as the broker advertised them.
    broker_versions: BTreeMap<i16, (i16, i16)>,
    broken: bool,
    /// The SASL session's lifetime as the last SaslAuthenticate gave it (ms, 0: none).
    session_lifetime_ms: i64,
    /// When to authenticate again in-band (KIP-368), before the session expires.
    reauthenticate_at: Option<tokio::time::Instant>,
}

impl Connection {
    /// Connects to `addr` (`HOST:PORT`) and negotiates API versions.
    pub async fn connect(addr: &str, config: &ConnectionConfig) -> Result<Connection, Error> {
        check_address(addr)?;
        let timeout = config.request_timeout;
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Err(_) => {
                return Err(Error::ConnectTimeout {
                    addr: addr.to_owned(),
                    timeout,
                })
            }
            Ok(Err(source)) => {
                return Err(Error::Connect {
                    addr: addr.to_owned(),
                    source,
                })
            }
            Ok(Ok(s)) => s,
        };
        // Requests are written whole; Nagle would only add latency.
        let _ = stream.set_nodelay(true);
        let stream: Box<dyn Stream> = match &config.tls {
            None => Box::new(stream),
            Some(tls) => {
                let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
                match tokio::time::timeout(timeout, tls.connect(host, stream)).await {
                    Err(_) => {
                        return Err(Error::ConnectTimeout {
                            addr: addr.to_owned(),
                            timeout,
                        })
                    }
                    Ok(Err(e)) => {
                        return Err(Error::Connect {
                            addr: addr.to_owned(),
                            source: std::io::Error::new(
                                e.kind(),
                                format!("TLS handshake failed: {e}"),
                            ),
                        })
                    }
                    Ok(Ok(tls_stream)) => Box::new(tls_stream),
                }
            }
        };
        let mut conn = Connection {
            addr: addr.to_owned(),
            stream,
            config: config.clone(),
            correlation_id: 0,
            broker_versions: BTreeMap::new(),
            broken: false,
            session_lifetime_ms: 0,
            reauthenticate_at: None,
        };
        conn.negotiate_versions().await?;
        if let Some(sasl) = config.sasl.clone() {
            conn.authenticate(&sasl).await?;
        }
        Ok(conn)
    }

    /// KIP-368: a broker with `connections.max.reauth.ms` (or a token that expires) ends
    /// the SASL session after the lifetime it announced, closing the connection on the
    /// next request. As Kafka's Java client does, authenticate again on the same
    /// connection, between requests, once 85-95 % of the lifetime has passed.
    async fn reauthenticate_if_due(&mut self) -> Result<(), Error> {
        let Some(at) = self.reauthenticate_at else {
            return Ok(());
        };
        if tokio::time::Instant::now() < at || self.broken {
            return Ok(());
        }
        let Some(sasl) = self.config.sasl.clone() else {
            return Ok(());
        };
        debug!(addr = %self.addr, "re-authenticating (KIP-368)");
        self.authenticate(&sasl)
            .await
            .inspect_err(|_| self.broken = true)
    }

    /// SaslHandshake v1 and SaslAuthenticate, as Kafka's Java client does.
    async fn authenticate(&mut self, sasl: &SaslCredentials) -> Result<(), Error> {
        use crate::scram::{ScramClient, ScramMechanism};
        use kafka_protocol::messages::{SaslHandshakeRequest, SaslHandshakeResponse};
        let failed = |api: ApiKey, code: i16, message: Option<String>| Error::Kafka {
            api,
            code: ErrorCode(code),
            message,
        };
        let api = ApiKey::SaslHandshake;
        let mut hs = SaslHandshakeRequest::default();
        hs.mechanism = StrBytes::from_string(sasl.mechanism.clone());
        let body = self.round_trip(api, 1, &hs).await?;
        let resp = SaslHandshakeResponse::decode(&mut body.clone(), 1)
            .map_err(|e| self.decode_error(api, 1, &e))?;
        if resp.error_code != 0 {
            let enabled: Vec<&str> = resp.mechanisms.iter().map(|m| m.as_str()).collect();
            return Err(failed(
                api,
                resp.error_code,
                Some(format!(
                    "{} is not enabled; the broker enables {}",
                    sasl.mechanism,
                    enabled.join(", ")
                )),
            ));
        }
        let api = ApiKey::SaslAuthenticate;
        let version = self.version(api).unwrap_or(1).min(2);
        match sasl.mechanism.as_str() {
            "PLAIN" => {
                let token = format!("\0{}\0{}", sasl.username, sasl.password);
                self.sasl_step(version, token.into_bytes()).await?;
            }
            "OAUTHBEARER" => {
                let Some(source) = &sasl.oauthbearer else {
                    return Err(failed(
                        api,
                        ErrorCode::SASL_AUTHENTICATION_FAILED.0,
                        Some("OAUTHBEARER needs a token source (sasl.jaas.config with org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule)".into()),
                    ));
                };
                let token = source
                    .token()
                    .await
                    .map_err(|e| failed(api, ErrorCode::SASL_AUTHENTICATION_FAILED.0, Some(e)))?;
                let initial = crate::oauthbearer::initial_response(&token, source.extensions());
                let challenge = self.sasl_step(version, initial).await?;
                if !challenge.is_empty() {
                    // RFC 7628: the server refused the token and said why; the client
                    // acknowledges with %x01 and the server fails the exchange.
                    let why = String::from_utf8_lossy(&challenge).into_owned();
                    return match self.sasl_step(version, vec![0x01]).await {
                        Err(Error::Kafka { api, code, message }) => Err(Error::Kafka {
                            api,
                            code,
                            message: Some(match message {
                                Some(m) => format!("{m} ({why})"),
                                None => why,
                            }),
                        }),
                        Err(e) => Err(e),
                        Ok(_) => Err(failed(
                            api,
                            ErrorCode::SASL_AUTHENTICATION_FAILED.0,
                            Some(format!("the broker refused the token: {why}")),
                        )),
                    };
                }
            }
            name => {
                let Some(m) = ScramMechanism::from_name(name) else {
                    return Err(failed(
                        ApiKey::SaslHandshake,
                        ErrorCode::UNSUPPORTED_SASL_MECHANISM.0,
                        Some(format!("strom's client speaks PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER, not {name}")),
                    ));
                };
                let mut client = ScramClient::new(m, &sasl.username, &sasl.password);
                let server_first = self.sasl_step(version, client.client_first()).await?;
                let client_final = client
                    .client_final(&server_first)
                    .map_err(|e| failed(api, ErrorCode::SASL_AUTHENTICATION_FAILED.0, Some(e)))?;
                let server_final = self.sasl_step(version, client_final).await?;
                client
                    .verify_server_final(&server_final)
                    .map_err(|e| failed(api, ErrorCode::SASL_AUTHENTICATION_FAILED.0, Some(e)))?;
            }
        }
        debug!(addr = %self.addr, mechanism = %sasl.mechanism, "authenticated");
        self.reauthenticate_at = (self.session_lifetime_ms > 0).then(|| {
            let lifetime = Duration::from_millis(self.session_lifetime_ms as u64);
            tokio::time::Instant::now() + lifetime.mul_f64(reauthentication_point())
        });
        Ok(())
    }

    /// One SaslAuthenticate round trip: the server's bytes, or its error.
    async fn sasl_step(&mut self, version: i16, auth_bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
        use kafka_protocol::messages::{SaslAuthenticateRequest, SaslAuthenticateResponse};
        let api = ApiKey::SaslAuthenticate;
        let mut req = SaslAuthenticateRequest::default();
        req.auth_bytes = Bytes::from(auth_bytes);
        let body = self.round_trip(api, version, &req).await?;
        let resp = SaslAuthenticateResponse::decode(&mut body.clone(), version)
            .map_err(|e| self.decode_error(api, version, &e))?;
        if resp.error_code != 0 {
            return Err(Error::Kafka {
                api,
                code: ErrorCode(resp.error_code),
                message: resp.error_message.map(|m| m.to_string()),
            });
        }
        self.session_lifetime_ms = resp.session_lifetime_ms.max(0);
        Ok(resp.auth_bytes.to_vec())
    }

    /// The address this connection was opened to.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Whether an earlier failure made this connection unusable.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The broker's advertised range for `api`, if it advertised one.
    pub fn broker_versions(&self, api: ApiKey) -> Option<(i16, i16)> {
        self.broker_versions.get(&(api as i16)).copied()
    }

    /// The highest version of `api` both this client and the broker support.
    pub fn version(&self, api: ApiKey) -> Result<i16, Error> {
        let unsupported = || Error::UnsupportedApi {
            addr: self.addr.clone(),
            api,
        };
        let client = client_versions(api).ok_or_else(unsupported)?;
        let broker = self.broker_versions(api).ok_or_else(unsupported)?;
        highest_common(client, broker).ok_or_else(|| Error::NoCommonVersion {
            addr: self.addr.clone(),
            api,
            broker_min: broker.0,
            broker_max: broker.1,
            client_min: client.0,
            client_max: client.1,
        })
    }

    /// Sends `req` at the negotiated version and decodes the answer.
    pub async fn send<R: ApiRequest>(&mut self, req: &R) -> Result<R::Response, Error> {
        let version = self.version(R::API_KEY)?;
        self.send_at(version, req).await
    }

    /// Sends `req` at the negotiated version without waiting for an answer:
    /// a Produce request with `acks=0`, which the broker never answers.
    pub async fn send_oneway<R: ApiRequest>(&mut self, req: &R) -> Result<(), Error> {
        if self.broken {
            return Err(Error::Broken {
                addr: self.addr.clone(),
            });
        }
        self.reauthenticate_if_due().await?;
        let version = self.version(R::API_KEY)?;
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let frame = encode_request(
            R::API_KEY,
            version,
            self.correlation_id,
            &self.config.client_id,
            req,
        )?;
        let timeout = self.config.request_timeout;
        let written = match tokio::time::timeout(timeout, self.stream.write_all(&frame)).await {
            Err(_) => Err(Error::Timeout {
                addr: self.addr.clone(),
                api: R::API_KEY,
                timeout,
            }),
            Ok(r) => r.map_err(|e| self.io_error(e)),
        };
        written.inspect_err(|e| self.broken = e.breaks_connection())
    }

    /// Sends `req` at `version` (which must suit the fields set) and decodes
    /// the answer.
    pub async fn send_at<R: ApiRequest>(
        &mut self,
        version: i16,
        req: &R,
    ) -> Result<R::Response, Error> {
        self.reauthenticate_if_due().await?;
        let mut body = self.round_trip(R::API_KEY, version, req).await?;
        R::Response::decode(&mut body, version)
            .map_err(|e| self.decode_error(R::API_KEY, version, &e))
    }

    /// ApiVersions at the highest version this client knows; a broker that
    /// does not know it answers UNSUPPORTED_VERSION in v0 with its own
    /// range, and the request is repeated at the highest common version.
    async fn negotiate_versions(&mut self) -> Result<(), Error> {
        let api = ApiKey::ApiVersions;
        let (client_min, client_max) = client_versions(api).unwrap_or((0, 0));
        let mut version = client_max;
        loop {
            let mut req = ApiVersionsRequest::default();
            if version >= 3 {
                req.client_software_name = StrBytes::from_static_str("strom-client");
                req.client_software_version = StrBytes::from_static_str(env!("CARGO_PKG_VERSION"));
            }
            let body = self.round_trip(api, version, &req).await?;
            // error_code is the first field at every version, so it can be
            // read before knowing which version the body is in.
            let error_code = body
                .get(..2)
                .map(|b| i16::from_be_bytes([b[0], b[1]]))
                .unwrap_or(0);
            let answered_in = if error_code == ErrorCode::UNSUPPORTED_VERSION.0 {
                0
            } else {
                version
            };
            let resp = ApiVersionsResponse::decode(&mut body.clone(), answered_in)
                .map_err(|e| self.decode_error(api, answered_in, &e))?;
            if error_code == ErrorCode::UNSUPPORTED_VERSION.0 {
                let theirs = resp.api_keys.iter().find(|k| k.api_key == api as i16);
                let common = theirs.and_then(|k| {
                    highest_common((client_min, client_max), (k.min_version, k.max_version))
                });
                match (theirs, common) {
                    (_, Some(v)) if v < version => {
                        debug!(addr = %self.addr, from = version, to = v, "retrying ApiVersions at a lower version");
                        version = v;
                        continue;
                    }
                    (Some(k), _) => {
                        return Err(Error::NoCommonVersion {
                            addr: self.addr.clone(),
                            api,
                            broker_min: k.min_version,
                            broker_max: k.max_version,
                            client_min,
                            client_max,
                        })
                    }
                    (None, _) => {
                        return Err(Error::UnsupportedApi {
                            addr: self.addr.clone(),
                            api,
                        })
                    }
                }
            }
            if let Some(code) = ErrorCode::from_code(resp.error_code) {
                return Err(Error::Kafka {
                    api,
                    code,
                    message: None,
                });
            }
            self.broker_versions = resp
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect();
            debug!(addr = %self.addr, apis = self.broker_versions.len(), "negotiated API versions");
            return Ok(());
        }
    }

    /// Writes one request and reads its answer, returning the body after
    /// the response header.
    async fn round_trip<R: Encodable>(
        &mut self,
        api: ApiKey,
        version: i16,
        req: &R,
    ) -> Result<Bytes, Error> {
        if self.broken {
            return Err(Error::Broken {
                addr: self.addr.clone(),
            });
        }
        self.correlation_id = self.correlation_id.wrapping_add(1);
        let correlation_id = self.correlation_id;
        let frame = encode_request(api, version, correlation_id, &self.config.client_id, req)?;
        let timeout = self.config.request_timeout;
        let result = match tokio::time::timeout(timeout, self.exchange(&frame)).await {
            Err(_) => Err(Error::Timeout {
                addr: self.addr.clone(),
                api,
                timeout,
            }),
            Ok(r) => r,
        };
        let mut body = result.inspect_err(|e| self.broken = e.breaks_connection())?;
        let header = match ResponseHeader::decode(&mut body, api.response_header_version(version)) {
            Ok(h) => h,
            Err(e) => {
                self.broken = true;
                return Err(self.decode_error(api, version, &e));
            }
        };
        if header.correlation_id != correlation_id {
            self.broken = true;
            return Err(Error::CorrelationMismatch {
                addr: self.addr.clone(),
                expected: correlation_id,
                got: header.correlation_id,
            });
        }
        Ok(body)
    }

    async fn exchange(&mut self, frame: &[u8]) -> Result<Bytes, Error> {
        self.stream
            .write_all(frame)
            .await
            .map_err(|e| self.io_error(e))?;
        let mut len = [0u8; 4];
        self.stream
            .read_exact(&mut len)
            .await
            .map_err(|e| self.io_error(e))?;
        let size = i32::from_be_bytes(len);
        let max = self.config.max_response_bytes;
        if size < 0 || size as usize > max {
            return Err(Error::FrameTooLarge {
                addr: self.addr.clone(),
                size: size.into(),
                max,
            });
        }
        let mut buf = vec![0u8; size as usize];
        self.stream
            .read_exact(&mut buf)
            .await
            .map_err(|e| self.io_error(e))?;
        Ok(Bytes::from(buf))
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::Closed {
                addr: self.addr.clone(),
            }
        } else {
            Error::Io {
                addr: self.addr.clone(),
                source: e,
            }
        }
    }

    fn decode_error(&self, api: ApiKey, version: i16, e: &impl std::fmt::Display) -> Error {
        Error::Decode {
            addr: self.addr.clone(),
            api,
            version,
            message: e.to_string(),
        }
    }
}

/// `HOST:PORT` with a numeric port (`[v6]:PORT` included).
fn check_address(addr: &str) -> Result<(), Error> {
    let valid = addr
        .rsplit_once(':')
        .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    if valid {
        Ok(())
    } else {
        Err(Error::InvalidAddress {
            addr: addr.to_owned(),
        })
    }
}

/// The whole request frame: size, header at the version the API's
/// flexibility requires, body.
pub(crate) fn encode_request<R: Encodable>(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    client_id: &str,
    req: &R,
) -> Result<BytesMut, Error> {
    let header = RequestHeader::default()
        .with_request_api_key(api as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation_id)
        .with_client_id(Some(StrBytes::from_string(client_id.to_owned())));
    let mut frame = BytesMut::with_capacity(64);
    frame.put_i32(0);
    header
        .encode(&mut frame, api.request_header_version(version))
        .map_err(|e| encode_error(api, version, e))?;
    req.encode(&mut frame, version)
        .map_err(|e| encode_error(api, version, e))?;
    let size = i32::try_from(frame.len() - 4).map_err(|_| Error::Encode {
        api,
        version,
        message: format!("request of {} bytes is too large", frame.len()),
    })?;
    frame[..4].copy_from_slice(&size.to_be_bytes());
    Ok(frame)
}

/// kafka-protocol's codecs fail with `anyhow::Error`, which is only displayed.
fn encode_error(api: ApiKey, version: i16, e: impl std::fmt::Display) -> Error {
    Error::Encode {
        api,
        version,
        message: e.to_string(),
    }
}

/// Where in a SASL session's lifetime to authenticate again: 85-95 %, spread so that a
/// client's connections do not all do it at once (Kafka's Java client draws the same range).
fn reauthentication_point() -> f64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    0.85 + f64::from(nanos % 1000) / 10_000.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::{ListGroupsRequest, MetadataRequest};

    #[test]
    fn non_flexible_requests_use_header_v1() {
        let frame =
            encode_request(ApiKey::Metadata, 1, 7, "cli", &MetadataRequest::default()).unwrap();
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 17,          // size
            0, 3, 0, 1,           // api key 3, version 1
            0, 0, 0, 7,           // correlation id
            0, 3, b'c', b'l', b'i', // client id
            0, 0, 0, 0,           // topics: empty array
        ];
        assert_eq!(&frame[..], &expected);
    }

    #[test]
    fn flexible_requests_use_header_v2() {
        let frame =
            encode_request(ApiKey::ListGroups, 3, 1, "c", &ListGroupsRequest::default()).unwrap();
        #[rustfmt::skip]
        let expected = [
            0, 0, 0, 13,
            0, 16, 0, 3,
            0, 0, 0, 1,
            0, 1, b'c',           // client id stays a non-compact string
            0,                    // header tagged fields
            0,                    // body tagged fields
        ];
        assert_eq!(&frame[..], &expected);
    }

    #[test]
    fn fields_the_version_lacks_are_an_encode_error() {
        let mut req = ListGroupsRequest::default();
        req.states_filter = vec![StrBytes::from_static_str("Empty")];
        let err = encode_request(ApiKey::ListGroups, 3, 1, "c", &req).unwrap_err();
        assert!(
            matches!(
                err,
                Error::Encode {
                    api: ApiKey::ListGroups,
                    version: 3,
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn addresses_need_a_host_and_a_numeric_port() {
        assert!(check_address("127.0.0.1:9092").is_ok());
        assert!(check_address("broker-1.example:19092").is_ok());
        assert!(check_address("[::1]:9092").is_ok());
        for bad in ["localhost", ":9092", "host:", "host:port", "host:70000"] {
            assert!(
                matches!(check_address(bad), Err(Error::InvalidAddress { .. })),
                "{bad}"
            );
        }
    }
}
