//! Connection limits, as Kafka's `ConnectionQuotas` applies them: `max.connections` across
//! all listeners (at the limit the broker stops accepting until a connection closes; new
//! clients wait in the listen backlog), `max.connections.per.ip` with
//! `max.connections.per.ip.overrides` (a connection beyond its address's limit is accepted
//! and closed at once). Limits are read from the effective configuration at each accept, so
//! a dynamic change (IncrementalAlterConfigs) applies to the next connection; lowering a
//! limit closes no existing connection, as in Kafka.
//!
//! Connection creation rates (KIP-612): `max.connection.creation.rate` across the listeners
//! (all but the inter-broker listener when there are others) and
//! `listener.name.<l>.max.connection.creation.rate` for one listener, measured as Kafka's
//! sensors do (a `Rate` over `quota.window.num` windows of `quota.window.size.seconds`). A
//! connection above the rate is not refused: the acceptor waits the throttle time (at most
//! one window) before it serves it and accepts the next, as Kafka's `waitForConnectionSlot`.

use std::collections::HashMap;
use std::net::{IpAddr, ToSocketAddrs};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::Notify;
use tracing::{info, warn};

use strom_config::{ConnectionLimits, QuotaWindow};

use crate::quota::rate::SampledRate;

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

/// The connection creation rates: broker-wide and per listener.
#[derive(Debug, Default)]
struct CreationRates {
    broker: SampledRate,
    listeners: HashMap<String, SampledRate>,
}

/// What limits the creation of connections on one listener.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct CreationLimits {
    /// `max.connection.creation.rate`; `None` on the protected inter-broker listener.
    pub broker: Option<i32>,
    /// `listener.name.<l>.max.connection.creation.rate`.
    pub listener: Option<i32>,
    pub window: QuotaWindow,
}

#[derive(Debug, Default)]
pub(crate) struct ConnectionQuotas {
    counts: Mutex<Counts>,
    overrides: Mutex<Overrides>,
    rates: Mutex<CreationRates>,
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

    /// Records a new connection on `listener` against its creation rates and returns how
    /// long (ms) the acceptor waits before serving it: the larger of the broker-wide and the
    /// listener's throttle time, each at most one quota window (Kafka's
    /// `recordConnectionAndGetThrottleTimeMs`). The connection stays recorded, as Kafka's
    /// sensor keeps it. A rate of `i32::MAX` (the default) is no limit and records nothing.
    pub fn record_creation(&self, listener: &str, limits: CreationLimits, now_ms: i64) -> i64 {
        let limited = |r: Option<i32>| r.filter(|r| *r < i32::MAX).map(f64::from);
        let (broker, on_listener) = (limited(limits.broker), limited(limits.listener));
        if broker.is_none() && on_listener.is_none() {
            return 0;
        }
        let max_ms = i64::from(limits.window.window_seconds) * 1000;
        let mut rates = self.rates.lock();
        let mut throttle = 0;
        if let Some(bound) = broker {
            throttle = rates
                .broker
                .record_and_throttle_ms(limits.window, 1.0, bound, now_ms)
                .min(max_ms);
        }
        if let Some(bound) = on_listener {
            let rate = rates.listeners.entry(listener.to_owned()).or_default();
            throttle = throttle.max(
                rate.record_and_throttle_ms(limits.window, 1.0, bound, now_ms)
                    .min(max_ms),
            );
        }
        throttle
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
            max_connection_creation_rate: i32::MAX,
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
    fn creation_above_the_rate_waits_and_the_inter_broker_listener_is_exempt() {
        let q = ConnectionQuotas::default();
        // Two windows of 1 s: the rate counts at least one full window.
        let window = QuotaWindow {
            samples: 2,
            window_seconds: 1,
        };
        let limits = CreationLimits {
            broker: Some(10),
            listener: None,
            window,
        };
        let waits: Vec<i64> = (0..12)
            .map(|_| q.record_creation("plaintext", limits, 0))
            .collect();
        // 10 in the first second are free; the 11th is 10% over: 10% of a window.
        assert_eq!(&waits[..10], &[0; 10]);
        assert_eq!(waits[10], 100);
        assert_eq!(waits[11], 200);
        // The inter-broker listener has no broker-wide limit, only its own.
        let protected = CreationLimits {
            broker: None,
            listener: Some(1),
            window,
        };
        assert_eq!(q.record_creation("replication", protected, 0), 0);
        assert_eq!(q.record_creation("replication", protected, 0), 1000);
        // At most one window.
        for _ in 0..100 {
            q.record_creation("plaintext", limits, 0);
        }
        assert_eq!(q.record_creation("plaintext", limits, 0), 1000);
        let unlimited = CreationLimits {
            broker: Some(i32::MAX),
            listener: None,
            window,
        };
        assert_eq!(q.record_creation("other", unlimited, 0), 0);
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
