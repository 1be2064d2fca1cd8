//! One client connection.
//!
//! Requests are read and dispatched strictly in order (a Produce's append
//! happens before the next request on the connection is looked at), but a
//! reply may complete later: acks=all waits for the flush, a Fetch waits for
//! data. Such replies are futures queued to the writer, which awaits them in
//! order, so responses leave in request order while the reader moves on —
//! the pipelining Kafka clients rely on (several in-flight requests).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::io::{AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info};

use strom_protocol::{FrameReader, ResponseFrame};

use crate::broker::BrokerState;
use crate::dispatch::dispatch;

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
}

pub(crate) async fn serve(
    state: Arc<BrokerState>,
    stream: TcpStream,
    listener: Arc<str>,
    mut shutdown: watch::Receiver<bool>,
) {
    let peer = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "?".into());
    let _ = stream.set_nodelay(true);
    let (read_half, write_half) = stream.into_split();
    let (tx, mut rx) = mpsc::channel::<Reply>(MAX_IN_FLIGHT);

    let writer = tokio::spawn(async move {
        let mut out = BufWriter::with_capacity(64 * 1024, write_half);
        while let Some(reply) = rx.recv().await {
            let frame = match reply {
                Reply::Now(frame) => frame,
                Reply::Later(fut) => match fut.await {
                    Some(frame) => frame,
                    None => break,
                },
                Reply::Nothing => continue,
                Reply::Close => break,
            };
            if out.write_all(&frame).await.is_err() {
                break;
            }
            if rx.is_empty() && out.flush().await.is_err() {
                break;
            }
        }
        let _ = out.flush().await;
        let _ = out.shutdown().await;
    });

    let mut frames = FrameReader::new(read_half, state.config.socket_request_max_bytes as usize);
    loop {
        let frame = tokio::select! {
            frame = frames.next_frame() => frame,
            _ = shutdown.changed() => break,
        };
        match frame {
            Ok(Some(frame)) => {
                let reply = dispatch(&state, frame, &peer, &listener).await;
                let close = matches!(reply, Reply::Close);
                if tx.send(reply).await.is_err() || close {
                    break;
                }
            }
            Ok(None) => break,
            Err(e) => {
                info!(peer = %peer, "closing connection: {e}");
                break;
            }
        }
    }
    drop(tx);
    let _ = writer.await;
    debug!(peer = %peer, "connection closed");
}
