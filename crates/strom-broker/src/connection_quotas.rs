//! Connection limits, as Kafka's `ConnectionQuotas` applies them: `max.connections` across
//! all listeners (at the limit the broker stops accepting until a connection closes; new
//! clients wait in the listen backlog), `max.connections.per.ip` with
//! `max.connections.per.ip.overrides` (a connection beyond its address's limit is accepted
//! and closed at once). Limits are read from the effective configuration at each accept, so
//! a dynamic change (IncrementalAlterConfigs) applies to the next connection; lowering a
//! limit closes no existing connection, as in Kafka.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{info, warn};

use strom_config::ConnectionLimits;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    /// Set while accepting is paused at `max.connections`, for one log line per episode.
    paused: bool,
}

/// Per-IP limits resolved from `max.connections.per.ip.overrides`, cached per text.
#[derive(Debug, Default)]
struct Overrides {
    source: Vec<(String, i32)>,
    by_ip: HashMap<IpAddr, i32>,
}

#[derive(Debug, Default)]
pub(crate) struct ConnectionQuotas {
    counts: Mutex<Counts>,
    overrides: Mutex<Overrides>,
    /// Signalled when a connection closes or the configuration changes.
    changed: Notify,
}

/// Why a connection was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TooManyConnections {
    pub ip: IpAddr,
    pub limit: i32,
}

/// A counted connection; dropping it frees its slot.
#[derive(Debug)]
pub(crate) struct ConnectionSlot {
    quotas: Arc<ConnectionQuotas>,
    ip: IpAddr,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        {
            let mut counts = self.quotas.counts.lock();
            counts.total = counts.total.saturating_sub(1);
            if let Some(n) = counts.per_ip.get_mut(&self.ip) {
                *n -= 1;
                if *n == 0 {
                    counts.per_ip.remove(&self.ip);
                }
            }
        }
        self.quotas.changed.notify_waiters();
    }
}

impl ConnectionQuotas {
    /// Connections counted now.
    #[cfg(test)]
    pub fn total(&self) -> usize {
        self.counts.lock().total
    }

    /// Wakes an accept loop paused at `max.connections` to look at the limit again.
    pub fn config_changed(&self) {
        self.changed.notify_waiters();
    }

    /// Returns once fewer than `max.connections` connections are open, as Kafka's acceptor
    /// blocks in `waitForConnectionSlot`. `limits` is called again after every change.
    pub async fn wait_for_slot(&self, limits: impl Fn() -> ConnectionLimits) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let max = usize::try_from(limits().max_connections).unwrap_or(0);
            {
                let mut counts = self.counts.lock();
                if counts.total < max {
                    if counts.paused {
                        counts.paused = false;
                        info!(
                            connections = counts.total,
                            max_connections = max,
                            "accepting connections again"
                        );
                    }
                    return;
                }
                if !counts.paused {
                    counts.paused = true;
                    warn!(
                        connections = counts.total,
                        max_connections = max,
                        "max.connections reached: new connections wait in the listen backlog until one closes"
                    );
                }
            }
            notified.await;
        }
    }

    /// Counts a new connection from `ip`, or refuses it when `ip` already has its
    /// `max.connections.per.ip` (or override) connections.
    pub fn register(
        self: &Arc<Self>,
        ip: IpAddr,
        limits: &ConnectionLimits,
    ) -> Result<ConnectionSlot, TooManyConnections> {
        let limit = self.limit_for(ip, limits);
        let mut counts = self.counts.lock();
        let from_ip = counts.per_ip.get(&ip).copied().unwrap_or(0);
        if from_ip >= usize::try_from(limit).unwrap_or(0) {
            return Err(TooManyConnections { ip, limit });
        }
        counts.total += 1;
        *counts.per_ip.entry(ip).or_insert(0) += 1;
        Ok(ConnectionSlot {
            quotas: self.clone(),
            ip,
        })
    }

    fn limit_for(&self, ip: IpAddr, limits: &ConnectionLimits) -> i32 {
        let mut overrides = self.overrides.lock();
        if overrides.source != limits.max_connections_per_ip_overrides {
            overrides.by_ip = resolve(&limits.max_connections_per_ip_overrides);
            overrides.source = limits.max_connections_per_ip_overrides.clone();
        }
        overrides
            .by_ip
            .get(&ip)
            .copied()
            .unwrap_or(limits.max_connections_per_ip)
    }
}

/// Each override's addresses: an IP address as written, a host name as it resolves now
/// (Kafka resolves them with `InetAddress.getByName` when the value is applied).
fn resolve(entries: &[(String, i32)]) -> HashMap<IpAddr, i32> {
    let mut by_ip = HashMap::new();
    for (host, limit) in entries {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = host.parse::<IpAddr>() {
            by_ip.insert(ip, *limit);
            continue;
        }
        match (host, 0u16).to_socket_addrs() {
            Ok(addrs) => {
                for addr in addrs {
                    by_ip.insert(addr.ip(), *limit);
                }
            }
            Err(e) => warn!(
                host,
                "max.connections.per.ip.overrides: cannot resolve {host} ({e}); its override is ignored"
            ),
        }
    }
    by_ip
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(max: i32, per_ip: i32, overrides: &[(&str, i32)]) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: max,
            max_connections_per_ip: per_ip,
            max_connections_per_ip_overrides: overrides
                .iter()
                .map(|(h, n)| (h.to_string(), *n))
                .collect(),
            connections_max_idle_ms: None,
            queued_max_request_bytes: 1,
        }
    }

    #[test]
    fn per_ip_limit_refuses_beyond_it_and_frees_on_close() {
        let q = Arc::new(ConnectionQuotas::default());
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let l = limits(100, 2, &[("10.0.0.2", 0)]);
        let first = q.register(a, &l).unwrap();
        let _second = q.register(a, &l).unwrap();
        assert_eq!(
            q.register(a, &l).unwrap_err(),
            TooManyConnections { ip: a, limit: 2 }
        );
        assert_eq!(
            q.register(b, &l).unwrap_err(),
            TooManyConnections { ip: b, limit: 0 }
        );
        assert_eq!(q.total(), 2);
        drop(first);
        assert_eq!(q.total(), 1);
        q.register(a, &l).expect("a slot was freed");
    }

    #[tokio::test]
    async fn accepting_waits_at_max_connections_until_one_closes_or_the_limit_rises() {
        let q = Arc::new(ConnectionQuotas::default());
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let max = Arc::new(parking_lot::Mutex::new(1));
        let current = {
            let max = max.clone();
            move || limits(*max.lock(), 100, &[])
        };
        let slot = q.register(ip, &current()).unwrap();
        let waiter = tokio::spawn({
            let q = q.clone();
            let current = current.clone();
            async move { q.wait_for_slot(current).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(
            !waiter.is_finished(),
            "one connection open, max.connections=1"
        );
        drop(slot);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("closing a connection frees a slot")
            .unwrap();

        let _slot = q.register(ip, &current()).unwrap();
        let waiter = tokio::spawn({
            let q = q.clone();
            let current = current.clone();
            async move { q.wait_for_slot(current).await }
        });
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished());
        *max.lock() = 2;
        q.config_changed();
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("raising max.connections frees a slot")
            .unwrap();
    }
}
