//! Accept loop: one task per connection, all stopped by the shutdown signal.
//!
//! Before each accept the loop waits for a free slot under `max.connections`
//! (Kafka's acceptor does the same: clients wait in the listen backlog); an
//! accepted connection over its address's `max.connections.per.ip` is closed
//! at once. Accept errors (EMFILE when file handles run out, ECONNABORTED)
//! never end the loop: it logs once per burst and backs off briefly, so it
//! neither spins nor floods the log.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{info, warn};

use crate::broker::BrokerState;
use crate::connection;

/// The creation rates that apply to connections of `listener`: the broker-wide one except on
/// the inter-broker listener when there are others (Kafka's protected listener), and the
/// listener's own `listener.name.<l>.max.connection.creation.rate`.
fn creation_limits(
    state: &BrokerState,
    listener: &str,
) -> crate::connection_quotas::CreationLimits {
    let config = state.effective_config();
    let protected = config.listeners.len() > 1
        && config
            .quorum
            .inter_broker_listener_name
            .as_deref()
            .is_some_and(|l| l.eq_ignore_ascii_case(listener));
    crate::connection_quotas::CreationLimits {
        broker: (!protected).then_some(config.connections.max_connection_creation_rate),
        listener: config
            .listener_override(listener, "max.connection.creation.rate")
            .and_then(|v| v.trim().parse().ok()),
        window: config.quota_window,
    }
}

/// Pause after a failed accept (EMFILE and friends), so the loop does not spin.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

pub(crate) async fn run(
    state: Arc<BrokerState>,
    listener: TcpListener,
    name: Arc<str>,
    mut shutdown: watch::Receiver<bool>,
) {
    let tls = state.tls.get(&name);
    let mut connections = JoinSet::new();
    let mut failing_since: Option<std::time::Instant> = None;
    let mut failures = 0u64;
    loop {
        let quotas = state.connections.clone();
        let limits = || state.effective_config().connections.clone();
        tokio::select! {
            _ = quotas.wait_for_slot(limits) => {}
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            _ = shutdown.changed() => break,
        }
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Some(since) = failing_since.take() {
                        info!(listener = %name, failures, "accepting again after {:?} of failed accepts", since.elapsed());
                        failures = 0;
                    }
                    // KIP-612: above max.connection.creation.rate (broker-wide or this
                    // listener's), the acceptor waits before it serves this connection and
                    // accepts the next; nothing is refused.
                    let wait_ms = quotas.record_creation(&name, creation_limits(&state, &name), crate::broker::now_ms());
                    if wait_ms > 0 {
                        tokio::select! {
                            _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
                            _ = shutdown.changed() => break,
                        }
                    }
                    let throttle_ms = state.quotas.ip_connections.record(peer.ip(), crate::broker::now_ms());
                    if throttle_ms > 0 {
                        // KIP-612: over the address's connection_creation_rate,
                        // the connection is closed once the throttle time passed.
                        info!(peer = %peer, throttle_ms, "closing connection: over the connection_creation_rate of its address");
                        let mut stop = shutdown.clone();
                        connections.spawn(async move {
                            tokio::select! {
                                _ = tokio::time::sleep(Duration::from_millis(throttle_ms as u64)) => {}
                                _ = stop.changed() => {}
                            }
                            drop(stream);
                        });
                        continue;
                    }
                    let limits = state.effective_config().connections.clone();
                    match quotas.register(peer.ip(), &limits) {
                        Ok(slot) => {
                            connections.spawn(connection::serve(state.clone(), stream, peer, slot, name.clone(), tls.clone(), shutdown.clone()));
                        }
                        Err(refused) => {
                            info!(
                                peer = %peer,
                                limit = refused.limit,
                                "closing connection: {} already has max.connections.per.ip ({}) connections",
                                refused.ip, refused.limit
                            );
                            drop(stream);
                        }
                    }
                }
                Err(e) => {
                    failures += 1;
                    if failing_since.is_none() {
                        failing_since = Some(std::time::Instant::now());
                        // EMFILE: raise the file-handle limit (ulimit -n) or lower max.connections.
                        warn!(listener = %name, "accept failed: {e}; retrying every {ACCEPT_ERROR_BACKOFF:?} (if the process is out of file handles, raise ulimit -n or lower max.connections)");
                    }
                    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    // Connections see the same signal; give in-flight replies a moment.
    let drain = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(Duration::from_secs(5), drain)
        .await
        .is_err()
    {
        connections.abort_all();
    }
}
