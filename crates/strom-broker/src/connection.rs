//! One client connection.
//!
//! Requests are read and dispatched strictly in order (a Produce's append
//! happens before the next request on the connection is looked at), but a
//! reply may complete later: acks=all waits for the flush, a Fetch waits for
//! data. Such replies are futures queued to the writer, which awaits them in
//! order, so responses leave in request order while the reader moves on —
//! the pipelining Kafka clients rely on (several in-flight requests).
//!
//! A connection costs little while idle: the read buffer grows only as
//! request bytes arrive (from the broker's request memory pool,
//! `queued.max.request.bytes`), replies are written as they are, and a
//! connection with nothing to read and nothing owed for
//! `connections.max.idle.ms` is closed, as Kafka's selector does.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use strom_protocol::{FrameReader, ResponseFrame};

use crate::broker::BrokerState;
use crate::connection_quotas::ConnectionSlot;
use crate::dispatch::dispatch;
use crate::metrics::{RequestTiming, FETCH_FOLLOWER_SLOT};
use crate::session::Session;
use crate::tls::ListenerTls;

/// How many replies may be queued behind the writer before the reader stops
/// reading more requests from this connection.
const MAX_IN_FLIGHT: usize = 64;

pub(crate) type LaterReply = Pin<Box<dyn Future<Output = Option<ResponseFrame>> + Send>>;

pub(crate) enum Reply {
    /// Encoded and ready to write.
    Now(ResponseFrame),
    /// Completes later (long poll, acks=all); `None` closes the connection.
    Later(LaterReply),
    /// Nothing to send (Produce with acks=0).
    Nothing,
    /// The request cannot be answered in Kafka's protocol: close, as Kafka does.
    Close,
    /// Send this reply (if any) when it completes, then close: a failed
    /// authentication, answered after `connection.failed.authentication.delay.ms`.
    Last(LaterReply),
}

#[allow(clippy::too_many_arguments)]
pub(crate) async fn serve(
    state: Arc<BrokerState>,
    stream: TcpStream,
    peer_addr: SocketAddr,
    slot: ConnectionSlot,
    listener: Arc<str>,
    tls: Option<Arc<ListenerTls>>,
    shutdown: watch::Receiver<bool>,
) {
    let _slot = slot;
    let mut session = Session::new(peer_addr, listener);
    session.sasl = crate::sasl::session_for(&state, &session.listener);
    let _ = stream.set_nodelay(true);
    match tls {
        None => {
            let (read_half, write_half) = stream.into_split();
            serve_stream(state, read_half, write_half, session, shutdown).await;
        }
        // Boxed: a TLS connection's state (rustls' buffers) is large, and
        // inline it would grow every plaintext connection's task as well.
        Some(tls) => Box::pin(serve_tls(state, tls, stream, session, shutdown)).await,
    }
}

async fn serve_tls(
    state: Arc<BrokerState>,
    tls: Arc<ListenerTls>,
    stream: TcpStream,
    mut session: Session,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(accepted) = tls_handshake(&state, &tls, stream, &session, &mut shutdown).await else {
        return;
    };
    session.principal = accepted.principal;
    let (read_half, write_half) = tokio::io::split(accepted.stream);
    serve_stream(state, read_half, write_half, session, shutdown).await;
}

/// The TLS handshake of a connection to a TLS listener, bounded by
/// `connections.max.idle.ms`; `None` (logged in one line) closes it.
async fn tls_handshake(
    state: &BrokerState,
    tls: &ListenerTls,
    stream: TcpStream,
    session: &Session,
    shutdown: &mut watch::Receiver<bool>,
) -> Option<crate::tls::Accepted<TcpStream>> {
    let timeout = state
        .effective_config()
        .connections
        .connections_max_idle_ms
        .map(Duration::from_millis);
    tokio::select! {
        accepted = tls.accept(stream, timeout) => match accepted {
            Ok(accepted) => {
                debug!(peer = %session.peer, listener = %session.listener, principal = %accepted.principal, "TLS connection");
                Some(accepted)
            }
            Err(e) => {
                info!(peer = %session.peer, listener = %session.listener, "closing connection: {e}");
                None
            }
        },
        _ = shutdown.changed() => None,
    }
}

/// Serves requests on one connection's halves until it closes.
async fn serve_stream<R, W>(
    state: Arc<BrokerState>,
    read_half: R,
    mut write_half: W,
    mut session: Session,
    mut shutdown: watch::Receiver<bool>,
) where
    R: AsyncRead + Unpin + Send + 'static,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let peer = session.peer.clone();
    // The timing is boxed: the channel's slots are allocated up front in every
    // connection, idle ones included, and an unboxed timing would add its
    // size to each of them (10,000 idle connections: about 20 MiB).
    let (tx, mut rx) = mpsc::channel::<(Reply, Option<Box<RequestTiming>>)>(MAX_IN_FLIGHT);
    let metrics = state.metrics.clone();
    let activity = Arc::new(Activity::default());

    // Each reply is one vectored write of its pieces (a Fetch's record bytes
    // go from the log's read buffers to the socket): no buffer per
    // connection beyond the reply itself.
    let writer = tokio::spawn({
        let activity = activity.clone();
        async move {
            while let Some((reply, timing)) = rx.recv().await {
                let picked_up = timing.as_ref().map(|_| Instant::now());
                let frame = match reply {
                    Reply::Now(frame) => Some(frame),
                    Reply::Later(fut) => match fut.await {
                        Some(frame) => Some(frame),
                        None => break,
                    },
                    Reply::Nothing => None,
                    Reply::Close => break,
                    Reply::Last(fut) => {
                        if let Some(frame) = fut.await {
                            let _ = frame.write_to(&mut write_half).await;
                        }
                        break;
                    }
                };
                let ready = timing.as_ref().map(|_| Instant::now());
                let written = match frame {
                    Some(frame) => frame.write_to(&mut write_half).await.is_ok(),
                    None => true,
                };
                if let (Some(timing), Some(picked_up), Some(ready)) = (timing, picked_up, ready) {
                    if written {
                        metrics.request_done(&timing, picked_up, ready, Instant::now());
                    }
                }
                activity.reply_done();
                if !written {
                    break;
                }
            }
            let _ = write_half.shutdown().await;
        }
    });

    let config = state.effective_config();
    let idle_timeout = config
        .connections
        .connections_max_idle_ms
        .map(Duration::from_millis);
    let mut frames = FrameReader::with_pool(
        read_half,
        config.socket_request_max_bytes as usize,
        state.request_memory.clone(),
    );
    let unauthenticated_max = config.security.sasl_server_max_receive_size;
    let authenticated_max = config.socket_request_max_bytes as usize;
    loop {
        if !wait_out_throttle(&session, &mut shutdown).await {
            break;
        }
        // Before a SASL connection first authenticates, requests are small
        // (sasl.server.max.receive.size, as Kafka's SaslServerAuthenticator).
        frames.set_max_frame_bytes(if crate::sasl::before_first_authentication(&session) {
            unauthenticated_max.min(authenticated_max)
        } else {
            authenticated_max
        });
        let idle_deadline = idle_timeout.map(|idle| {
            tokio::time::Instant::from_std(frames.last_activity().max(activity.last())) + idle
        });
        let frame = tokio::select! {
            frame = frames.next_frame() => frame,
            _ = shutdown.changed() => break,
            _ = sleep_until_some(idle_deadline) => {
                if frames.is_waiting_for_memory() || activity.replies_pending() {
                    // Waiting on the broker (memory, a long poll) is not idleness.
                    activity.touch();
                    continue;
                }
                info!(peer = %peer, "closing connection idle for connections.max.idle.ms ({:?})", idle_timeout.unwrap_or_default());
                break;
            }
        };
        match frame {
            Ok(Some(frame)) => {
                // Request phases are timed only when someone can read them.
                let received = state.metrics.timing().then(Instant::now);
                let header = request_slot(&frame.body);
                let mut follower_fetch = false;
                // Boxed: the dispatch future (every handler's state) is large and
                // exists only while a request is handled, not in every idle connection.
                let dispatched = received.map(|_| Instant::now());
                let reply = Box::pin(dispatch(
                    &state,
                    frame.body,
                    &mut session,
                    &mut follower_fetch,
                ))
                .await;
                // The request has been handled; its bytes go back to the pool.
                drop(frame.memory);
                let timing = match (received, dispatched) {
                    (Some(received), Some(dispatched)) => Some(Box::new(RequestTiming {
                        slot: header.map(|(slot, _)| {
                            if follower_fetch {
                                FETCH_FOLLOWER_SLOT
                            } else {
                                slot
                            }
                        }),
                        version: header.map_or(0, |(_, version)| version),
                        received,
                        dispatched,
                        handled: Instant::now(),
                    })),
                    _ => None,
                };
                let close = matches!(reply, Reply::Close | Reply::Last(_));
                activity.reply_queued();
                if tx.send((reply, timing)).await.is_err() || close {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                let before_auth = crate::sasl::before_first_authentication(&session)
                    .then_some(" before authentication (sasl.server.max.receive.size)");
                info!(peer = %peer, "closing connection: {}{}", describe_frame_error(&e), before_auth.unwrap_or(""));
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
    debug!(peer = %peer, "connection closed");
}

/// A frame error for the log; a TLS ClientHello read as a frame size is named as such.
fn describe_frame_error(e: &strom_protocol::ProtocolError) -> String {
    match e {
        strom_protocol::ProtocolError::FrameTooLarge { size, .. }
            if (*size as u64 >> 24) == 0x16 && ((*size as u64 >> 16) & 0xff) == 0x03 =>
        {
            format!("{e}: the client speaks TLS to a plaintext listener (use security.protocol=PLAINTEXT, or connect to the SSL listener)")
        }
        _ => e.to_string(),
    }
}

/// KIP-219: after a throttled response nothing more is read from the
/// connection until its throttle time has passed (Kafka mutes the channel).
/// False when the broker shuts down meanwhile.
async fn wait_out_throttle(session: &Session, shutdown: &mut watch::Receiver<bool>) -> bool {
    let Some(muted) = session.throttle.remaining() else {
        return true;
    };
    tokio::select! {
        _ = tokio::time::sleep(muted) => true,
        _ = shutdown.changed() => false,
    }
}

/// The API key (as a metrics slot) and version at the head of a request;
/// `None` for a frame too short to hold them.
fn request_slot(body: &[u8]) -> Option<(usize, i16)> {
    let key = i16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let version = i16::from_be_bytes([*body.get(2)?, *body.get(3)?]);
    Some((usize::try_from(key).ok()?, version))
}

async fn sleep_until_some(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What the idle check needs from the writer: replies still owed and when
/// the last one left.
struct Activity {
    pending: AtomicUsize,
    last: parking_lot::Mutex<Instant>,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            pending: AtomicUsize::new(0),
            last: parking_lot::Mutex::new(Instant::now()),
        }
    }
}

impl Activity {
    fn reply_queued(&self) {
        self.pending.fetch_add(1, Ordering::AcqRel);
    }

    fn reply_done(&self) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.touch();
    }

    fn touch(&self) {
        *self.last.lock() = Instant::now();
    }

    fn last(&self) -> Instant {
        *self.last.lock()
    }

    fn replies_pending(&self) -> bool {
        self.pending.load(Ordering::Acquire) > 0
    }
}
