//! The quorum's network protocol between processes: Raft RPCs (openraft's
//! AppendEntries, Vote, InstallSnapshot) and the controller requests other
//! nodes forward to the active controller, over TCP on the controller
//! listener (`controller.listener.names`).
//!
//! A connection starts with the client's [`HELLO`] (so a Kafka client that
//! dials the controller port by mistake is told so and closed), then carries
//! one request and one response at a time, each a frame as in the metadata
//! log ([`super::frame`]: length, CRC-32C, JSON payload). A client that sees
//! any error (refused, reset, timeout, a bad frame) drops the connection and
//! dials again on its next call, so a peer that restarts is picked up by the
//! next RPC. Payloads are read as they arrive (the buffer grows with the
//! bytes received, never with a declared length alone), and each is bounded
//! by [`super::frame::MAX_FRAME_BYTES`].
//!
//! # Security (the controller listener's security protocol)
//!
//! A connection is set up in three steps, all within [`SETUP_TIMEOUT`]; a failure in any
//! closes it before a single request is read, and is logged on both sides (the server's
//! line names the peer address, rate-limited per address, since a misconfigured peer
//! retries several times a second):
//!
//! 1. `SSL` and `SASL_SSL`: the TLS handshake, first, as on a Kafka listener (a peer that
//!    speaks plaintext to a TLS port fails here and is named so). The server's
//!    configuration is the listener's (key store, trust store, `ssl.client.auth`), the
//!    client's trusts the listener's trust store and presents its key store. Everything
//!    below runs inside TLS.
//! 2. [`HELLO`].
//! 3. `SASL_PLAINTEXT` and `SASL_SSL`: the client's first frame is an [`AuthRequest`]
//!    (PLAIN: user name and password, RFC 4616's fields as JSON), the server answers one
//!    [`AuthResponse`]: `Authenticated`, or `Failed` with the reason, after which it closes
//!    the connection. No [`PeerRequest`] is read before `Authenticated`.

use std::fmt;
use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use openraft::error::{InstallSnapshotError, NetworkError, RPCError, RaftError, Unreachable};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::{BasicNode, Raft, RaftNetwork, RaftNetworkFactory};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::rustls::pki_types::ServerName;

use super::frame::{self, FRAME_HEADER_BYTES, MAX_FRAME_BYTES};
use super::TypeConfig;
use crate::rpc::{ControllerRequest, ControllerResponse};
use crate::security::{PlainCredentials, QuorumSecurity};

/// The first bytes a client sends: the protocol's name and version.
pub(crate) const HELLO: &[u8; 16] = b"strom-quorum/1\r\n";

/// How long dialing a peer may take before the call counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a new connection's TLS handshake, HELLO and SASL exchange may take, together.
pub(crate) const SETUP_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the server logs refused connections from one address at `warn`.
const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// A quorum connection's bytes: TCP, or TLS over TCP.
pub(crate) trait QuorumStream: AsyncRead + AsyncWrite + Unpin + Send + Sync {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> QuorumStream for T {}

/// A SASL client's first frame on a SASL controller listener.
#[derive(Serialize, Deserialize)]
pub(crate) enum AuthRequest {
    Plain { username: String, password: String },
}

/// The server's answer to an [`AuthRequest`].
#[derive(Serialize, Deserialize, Debug, PartialEq, Eq)]
pub(crate) enum AuthResponse {
    Authenticated,
    Failed(String),
}

/// One request on a quorum connection.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum PeerRequest {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A controller request forwarded to the node believed to be active.
    Controller(ControllerRequest),
}

/// The answer to a [`PeerRequest`], of the same kind.
#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
pub(crate) enum PeerResponse {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Controller(ControllerResponse),
}

/// Writes `value` as one frame.
async fn write_frame<W: AsyncWrite + Unpin, T: Serialize>(
    out: &mut W,
    value: &T,
) -> io::Result<()> {
    let payload = serde_json::to_vec(value).map_err(io::Error::other)?;
    let mut buffer = Vec::with_capacity(payload.len() + FRAME_HEADER_BYTES);
    frame::encode(&payload, &mut buffer).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "a quorum message of {} bytes is larger than the {MAX_FRAME_BYTES}-byte limit",
                payload.len()
            ),
        )
    })?;
    out.write_all(&buffer).await?;
    out.flush().await
}

/// Reads one frame and decodes it; `Ok(None)` at a clean end of stream.
async fn read_frame<R: AsyncRead + Unpin, T: DeserializeOwned>(
    input: &mut R,
) -> io::Result<Option<T>> {
    let mut header = [0u8; FRAME_HEADER_BYTES];
    match input.read_exact(&mut header[..1]).await {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    input.read_exact(&mut header[1..]).await?;
    let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
    if length == 0 || length > MAX_FRAME_BYTES {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a quorum frame declares {length} bytes (1..={MAX_FRAME_BYTES} allowed)"),
        ));
    }
    // Grows with what arrives: a declared length alone allocates nothing.
    let mut buffer = header.to_vec();
    input.take(length as u64).read_to_end(&mut buffer).await?;
    if buffer.len() != FRAME_HEADER_BYTES + length {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    match frame::read(&buffer, 0) {
        frame::FrameRead::Frame { payload, .. } => serde_json::from_slice(payload)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        frame::FrameRead::End => Ok(None),
        frame::FrameRead::Incomplete(why) | frame::FrameRead::Corrupt(why) => {
            Err(io::Error::new(io::ErrorKind::InvalidData, why))
        }
    }
}

/// What the server side does with requests: the local Raft node and the
/// local controller.
pub(crate) trait PeerService: Send + Sync + 'static {
    /// The local Raft member; `None` on a node that is not a controller.
    fn raft(&self) -> Option<&Raft<TypeConfig>>;
    /// A leader's AppendEntries or InstallSnapshot was accepted, or a
    /// candidate got this node's vote: the election timer starts over
    /// ([`super::election`]).
    fn heard_from_leader(&self) {}
    fn controller(
        &self,
        request: ControllerRequest,
    ) -> impl Future<Output = ControllerResponse> + Send;
}

/// Accepts quorum connections on `listener` until `shutdown` turns true, secured as
/// `security` says.
pub(crate) async fn serve<S: PeerService>(
    listener: TcpListener,
    service: Arc<S>,
    security: QuorumSecurity,
    mut shutdown: watch::Receiver<bool>,
) {
    let security = Arc::new(security);
    let refusals = Arc::new(RefusalLog::default());
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                let service = service.clone();
                let shutdown = shutdown.clone();
                let security = security.clone();
                let refusals = refusals.clone();
                tokio::spawn(async move {
                    let setup =
                        tokio::time::timeout(SETUP_TIMEOUT, accept_connection(stream, &security))
                            .await
                            .unwrap_or_else(|_| {
                                Err(format!(
                            "no TLS handshake, hello and authentication within {SETUP_TIMEOUT:?}"
                        ))
                            });
                    let stream = match setup {
                        Ok(stream) => stream,
                        Err(why) => {
                            refusals.refused(peer, &security.protocol, &why);
                            return;
                        }
                    };
                    if let Err(e) = serve_connection(stream, service, shutdown).await {
                        tracing::debug!(%peer, "quorum connection closed: {e}");
                    }
                });
            }
            Err(e) => {
                // Out of file handles, say: back off instead of spinning.
                tracing::warn!("accepting a quorum connection failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Logs refused connections: at `warn` once per [`REFUSAL_LOG_INTERVAL`] and address, else
/// at `debug`.
#[derive(Default)]
struct RefusalLog {
    last: std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, tokio::time::Instant>>,
}

impl RefusalLog {
    fn refused(&self, peer: std::net::SocketAddr, protocol: &str, why: &str) {
        let now = tokio::time::Instant::now();
        let loud = {
            let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            if last.len() > 1024 {
                last.clear();
            }
            match last.get(&peer.ip()) {
                Some(at) if now.duration_since(*at) < REFUSAL_LOG_INTERVAL => false,
                _ => {
                    last.insert(peer.ip(), now);
                    true
                }
            }
        };
        let protocol = if protocol.is_empty() {
            "PLAINTEXT"
        } else {
            protocol
        };
        if loud {
            tracing::warn!(%peer, "quorum connection refused (controller listener {protocol}): {why}");
        } else {
            tracing::debug!(%peer, "quorum connection refused (controller listener {protocol}): {why}");
        }
    }
}

/// The server side of a connection's set-up: TLS, HELLO, SASL (see the module doc). The
/// error is one line for the log.
async fn accept_connection(
    stream: TcpStream,
    security: &QuorumSecurity,
) -> Result<Box<dyn QuorumStream>, String> {
    let mut stream: Box<dyn QuorumStream> = match &security.tls {
        None => Box::new(stream),
        Some(tls) => {
            let acceptor = tls
                .acceptor()
                .ok_or("this node does not serve the controller listener")?;
            let stream = acceptor.accept(stream).await.map_err(|e| {
                let text = e.to_string();
                if text.contains("InvalidContentType") || text.contains("invalid content type") {
                    format!("TLS handshake failed ({text}): the peer speaks plaintext to a TLS controller listener")
                } else {
                    format!("TLS handshake failed: {text}")
                }
            })?;
            Box::new(stream)
        }
    };
    let mut hello = [0u8; HELLO.len()];
    stream
        .read_exact(&mut hello)
        .await
        .map_err(|e| format!("no hello: {e}"))?;
    if &hello != HELLO {
        return Err("not a Strom quorum client (Kafka clients connect to a broker listener, not the controller listener)".into());
    }
    if let Some(sasl) = &security.sasl {
        let request = read_frame::<_, AuthRequest>(&mut stream)
            .await
            .map_err(|e| {
                format!("expected SASL PLAIN authentication (the controller listener is {}), read something else: {e}", security.protocol)
            })?
            .ok_or("closed before authenticating")?;
        let AuthRequest::Plain { username, password } = request;
        if !sasl.verify(&username, &password) {
            let reason = "Authentication failed: Invalid username or password".to_owned();
            let _ = write_frame(&mut stream, &AuthResponse::Failed(reason.clone())).await;
            return Err(format!("SASL PLAIN user {username:?}: {reason}"));
        }
        write_frame(&mut stream, &AuthResponse::Authenticated)
            .await
            .map_err(|e| format!("answering the authentication: {e}"))?;
        tracing::debug!(user = %username, "quorum peer authenticated with SASL PLAIN");
    }
    Ok(stream)
}

async fn serve_connection<S: PeerService>(
    mut stream: Box<dyn QuorumStream>,
    service: Arc<S>,
    mut shutdown: watch::Receiver<bool>,
) -> io::Result<()> {
    loop {
        let request = tokio::select! {
            request = read_frame::<_, PeerRequest>(&mut stream) => request?,
            _ = shutdown.changed() => return Ok(()),
        };
        let Some(request) = request else {
            return Ok(());
        };
        let response = dispatch(&*service, request).await;
        write_frame(&mut stream, &response).await?;
    }
}

/// Hands one request to the local node and returns its answer.
pub(crate) async fn dispatch<S: PeerService>(service: &S, request: PeerRequest) -> PeerResponse {
    let Some(raft) = service.raft() else {
        let stopped = || RaftError::Fatal(openraft::error::Fatal::Stopped);
        return match request {
            PeerRequest::AppendEntries(_) => PeerResponse::AppendEntries(Err(stopped())),
            PeerRequest::Vote(_) => PeerResponse::Vote(Err(stopped())),
            PeerRequest::InstallSnapshot(_) => PeerResponse::InstallSnapshot(Err(
                RaftError::Fatal(openraft::error::Fatal::Stopped),
            )),
            PeerRequest::Controller(request) => {
                PeerResponse::Controller(service.controller(request).await)
            }
        };
    };
    match request {
        PeerRequest::AppendEntries(rpc) => {
            let response = raft.append_entries(rpc).await;
            if matches!(&response, Ok(r) if !matches!(r, AppendEntriesResponse::HigherVote(_))) {
                service.heard_from_leader();
            }
            PeerResponse::AppendEntries(response)
        }
        PeerRequest::Vote(rpc) => {
            let response = raft.vote(rpc).await;
            if matches!(&response, Ok(r) if r.vote_granted) {
                service.heard_from_leader();
            }
            PeerResponse::Vote(response)
        }
        PeerRequest::InstallSnapshot(rpc) => {
            let vote = rpc.vote;
            let response = raft.install_snapshot(rpc).await;
            if matches!(&response, Ok(r) if r.vote == vote) {
                service.heard_from_leader();
            }
            PeerResponse::InstallSnapshot(response)
        }
        PeerRequest::Controller(request) => {
            PeerResponse::Controller(service.controller(request).await)
        }
    }
}

/// A boxed future, for the object-safe transport traits.
pub(crate) type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How a node reaches its peers: TCP between processes ([`TcpTransport`]);
/// the simulation substitutes an in-memory network with injected faults.
pub(crate) trait Transport: Send + Sync + 'static {
    /// A connection to node `target` at `address` (dialed lazily).
    fn connect(&self, target: u64, address: &str) -> Box<dyn PeerConnection>;

    /// Where peers' requests to this node go when it does not listen on
    /// TCP (the simulation's network hands them to `service`).
    fn attach(&self, _service: crate::controller::LocalService) {}
}

/// One connection to a peer: one call at a time.
pub(crate) trait PeerConnection: Send + Sync + 'static {
    fn call<'a>(
        &'a mut self,
        request: &'a PeerRequest,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<PeerResponse, CallError>>;
}

/// The real network: a [`PeerClient`] per connection, secured as the controller listener
/// says.
#[derive(Clone, Debug, Default)]
pub(crate) struct TcpTransport {
    pub(crate) security: QuorumSecurity,
}

impl Transport for TcpTransport {
    fn connect(&self, _target: u64, address: &str) -> Box<dyn PeerConnection> {
        Box::new(PeerClient::new(address, self.security.clone()))
    }
}

impl PeerConnection for PeerClient {
    fn call<'a>(
        &'a mut self,
        request: &'a PeerRequest,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<PeerResponse, CallError>> {
        Box::pin(PeerClient::call(self, request, timeout))
    }
}

/// A connection to one peer, dialed on first use and after any error.
pub(crate) struct PeerClient {
    address: String,
    security: QuorumSecurity,
    stream: Option<Box<dyn QuorumStream>>,
}

impl PeerClient {
    pub(crate) fn new(address: impl Into<String>, security: QuorumSecurity) -> PeerClient {
        PeerClient {
            address: address.into(),
            security,
            stream: None,
        }
    }

    /// Sends `request` and waits for the answer, all within `timeout`.
    pub(crate) async fn call(
        &mut self,
        request: &PeerRequest,
        timeout: Duration,
    ) -> Result<PeerResponse, CallError> {
        let result = tokio::time::timeout(timeout, self.exchange(request)).await;
        match result {
            Ok(Ok(response)) => Ok(response),
            Ok(Err(e)) => {
                self.stream = None;
                Err(e)
            }
            Err(_) => {
                self.stream = None;
                Err(CallError::Timeout {
                    address: self.address.clone(),
                    timeout,
                })
            }
        }
    }

    /// The client side of a connection's set-up: TCP, TLS, HELLO, SASL.
    async fn dial(&self) -> Result<Box<dyn QuorumStream>, CallError> {
        let unreachable = |reason: String| CallError::Unreachable {
            address: self.address.clone(),
            reason,
        };
        let connect = TcpStream::connect(&self.address);
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, connect)
            .await
            .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
            .map_err(|e| unreachable(e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        let refused = |reason: String| CallError::Refused {
            address: self.address.clone(),
            protocol: self.security.protocol.clone(),
            reason,
        };
        let setup = async {
            let mut stream: Box<dyn QuorumStream> = match &self.security.tls {
                None => Box::new(tcp),
                Some(tls) => {
                    let host = host_of(&self.address);
                    let name = ServerName::try_from(host.to_owned()).map_err(|e| {
                        refused(format!("{host} is not a host name TLS can check: {e}"))
                    })?;
                    let stream = tls
                        .connector()
                        .connect(name, tcp)
                        .await
                        .map_err(|e| refused(format!("TLS handshake failed: {e}")))?;
                    Box::new(stream)
                }
            };
            stream
                .write_all(HELLO)
                .await
                .map_err(|e| refused(e.to_string()))?;
            if let Some(sasl) = &self.security.sasl {
                let Some(PlainCredentials { username, password }) = &sasl.client else {
                    return Err(refused(
                        "no SASL PLAIN user name and password to present (username and password of the controller listener's plain.sasl.jaas.config)".into(),
                    ));
                };
                let request = AuthRequest::Plain {
                    username: username.clone(),
                    password: password.clone(),
                };
                write_frame(&mut stream, &request)
                    .await
                    .map_err(|e| refused(format!("sending SASL PLAIN authentication: {e}")))?;
                match read_frame::<_, AuthResponse>(&mut stream).await {
                    Ok(Some(AuthResponse::Authenticated)) => {}
                    Ok(Some(AuthResponse::Failed(reason))) => {
                        return Err(refused(format!("SASL PLAIN as {username:?}: {reason}")))
                    }
                    Ok(None) => {
                        return Err(refused(
                            "the controller closed the connection during SASL authentication"
                                .into(),
                        ))
                    }
                    Err(e) => {
                        return Err(refused(format!(
                            "no answer to SASL PLAIN authentication: {e}"
                        )))
                    }
                }
            }
            Ok(stream)
        };
        tokio::time::timeout(SETUP_TIMEOUT, setup)
            .await
            .map_err(|_| {
                refused(format!(
                    "no TLS handshake and authentication within {SETUP_TIMEOUT:?}"
                ))
            })?
    }

    async fn exchange(&mut self, request: &PeerRequest) -> Result<PeerResponse, CallError> {
        let fresh = self.stream.is_none();
        if fresh {
            self.stream = Some(self.dial().await?);
        }
        let Some(stream) = self.stream.as_mut() else {
            return Err(CallError::Unreachable {
                address: self.address.clone(),
                reason: "not connected".into(),
            });
        };
        let address = &self.address;
        let protocol = &self.security.protocol;
        // A first request that fails on a new connection is most often a peer that secures
        // its listener differently (a TLS server closes a plaintext client): say so.
        let io_error = |e: io::Error| CallError::Io {
            address: address.clone(),
            reason: if fresh {
                format!(
                    "{e} (the first request on a new connection; does the controller listener's security protocol match this node's {}?)",
                    if protocol.is_empty() { "PLAINTEXT" } else { protocol }
                )
            } else {
                e.to_string()
            },
        };
        write_frame(stream, request).await.map_err(io_error)?;
        match read_frame(stream).await.map_err(io_error)? {
            Some(response) => Ok(response),
            None => Err(io_error(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the peer closed the connection",
            ))),
        }
    }
}

/// The host of `host:port` (brackets of an IPv6 address removed).
fn host_of(address: &str) -> &str {
    let host = address.rsplit_once(':').map_or(address, |(h, _)| h);
    host.trim_start_matches('[').trim_end_matches(']')
}

/// Why a call to a peer failed.
#[derive(Debug, Clone)]
pub(crate) enum CallError {
    /// It could not be dialed: down, or not listening yet.
    Unreachable {
        address: String,
        reason: String,
    },
    /// The connection failed mid-call.
    Io {
        address: String,
        reason: String,
    },
    Timeout {
        address: String,
        timeout: Duration,
    },
    /// It answered with a response of another kind.
    Protocol {
        address: String,
    },
    /// The TLS handshake or the SASL authentication failed.
    Refused {
        address: String,
        protocol: String,
        reason: String,
    },
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Unreachable { address, reason } => {
                write!(f, "controller {address} is unreachable: {reason}")
            }
            CallError::Io { address, reason } => {
                write!(f, "the connection to controller {address} failed: {reason}")
            }
            CallError::Timeout { address, timeout } => {
                write!(f, "controller {address} did not answer within {timeout:?}")
            }
            CallError::Refused {
                address,
                protocol,
                reason,
            } => write!(
                f,
                "controller {address} refused this node's {} connection: {reason}",
                if protocol.is_empty() {
                    "PLAINTEXT"
                } else {
                    protocol
                }
            ),
            CallError::Protocol { address } => {
                write!(
                    f,
                    "controller {address} answered with the wrong kind of response"
                )
            }
        }
    }
}

impl std::error::Error for CallError {}

impl CallError {
    fn into_rpc<E: std::error::Error>(self) -> RPCError<u64, BasicNode, E> {
        match self {
            CallError::Unreachable { .. } | CallError::Refused { .. } => {
                RPCError::Unreachable(Unreachable::new(&self))
            }
            _ => RPCError::Network(NetworkError::new(&self)),
        }
    }
}

/// openraft's network: one connection per openraft client (its replication
/// stream to a target, an election's vote requests), at the address the
/// membership gives for the target (`BasicNode::addr`, `host:port` of its
/// controller listener).
#[derive(Clone)]
pub(crate) struct QuorumNetwork {
    pub(crate) transport: Arc<dyn Transport>,
    /// Told when a voter refuses a vote for holding a longer log.
    pub(crate) election: Arc<super::election::ElectionClock>,
}

/// openraft's connection to one target.
pub(crate) struct QuorumPeer {
    target: u64,
    address: String,
    connection: Box<dyn PeerConnection>,
    /// Whether the last call failed: a peer going away and coming back is
    /// logged once each way, not at every retry.
    failing: bool,
    election: Arc<super::election::ElectionClock>,
}

impl RaftNetworkFactory<TypeConfig> for QuorumNetwork {
    type Network = QuorumPeer;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> QuorumPeer {
        QuorumPeer {
            target,
            address: node.addr.clone(),
            connection: self.transport.connect(target, &node.addr),
            failing: false,
            election: self.election.clone(),
        }
    }
}

impl QuorumPeer {
    async fn rpc<T, E: std::error::Error>(
        &mut self,
        request: PeerRequest,
        option: &RPCOption,
        pick: impl FnOnce(PeerResponse) -> Option<Result<T, RaftError<u64, E>>>,
    ) -> Result<T, RPCError<u64, BasicNode, RaftError<u64, E>>> {
        let response = match self.connection.call(&request, option.hard_ttl()).await {
            Ok(response) => {
                if std::mem::take(&mut self.failing) {
                    tracing::info!(node = self.target, address = %self.address, "controller is reachable again");
                }
                response
            }
            Err(e) => {
                if !std::mem::replace(&mut self.failing, true) {
                    tracing::warn!(node = self.target, "{e}");
                }
                return Err(e.into_rpc());
            }
        };
        match pick(response) {
            Some(Ok(value)) => Ok(value),
            Some(Err(remote)) => Err(RPCError::RemoteError(openraft::error::RemoteError::new(
                0, remote,
            ))),
            None => Err(CallError::Protocol {
                address: self.address.clone(),
            }
            .into_rpc()),
        }
    }
}

impl RaftNetwork<TypeConfig> for QuorumPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        self.rpc(PeerRequest::AppendEntries(rpc), &option, |r| match r {
            PeerResponse::AppendEntries(r) => Some(r),
            _ => None,
        })
        .await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        self.rpc(PeerRequest::InstallSnapshot(rpc), &option, |r| match r {
            PeerResponse::InstallSnapshot(r) => Some(r),
            _ => None,
        })
        .await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        let last_log_id = rpc.last_log_id;
        let response = self
            .rpc(PeerRequest::Vote(rpc), &option, |r| match r {
                PeerResponse::Vote(r) => Some(r),
                _ => None,
            })
            .await;
        if let Ok(refused) = &response {
            if !refused.vote_granted && refused.last_log_id > last_log_id {
                self.election.saw_greater_log();
            }
        }
        response
    }
}
