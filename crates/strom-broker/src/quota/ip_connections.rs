//! `connection_creation_rate` per IP (KIP-612, Kafka's
//! `ConnectionQuotas.recordIpConnectionMaybeThrottle`): each accepted
//! connection counts against its address's quota (the `ip` entity of that
//! address, else the `ip` default); one over it is not served and is closed
//! after the throttle time, so a client that reconnects in a loop waits.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use strom_config::QuotaWindow;
use strom_metadata::{ClientQuotas as QuotaImage, QUOTA_ENTITY_IP};

use super::rate::SampledRate;

const KEY: &str = "connection_creation_rate";

/// Addresses tracked before idle ones are dropped.
const PRUNE_AT: usize = 10_000;

#[derive(Default)]
struct State {
    window: Option<QuotaWindow>,
    /// By address; `None` is the default for every address.
    quotas: HashMap<Option<IpAddr>, f64>,
    rates: HashMap<IpAddr, (SampledRate, i64)>,
}

#[derive(Default)]
pub(crate) struct IpConnectionRates {
    enabled: AtomicBool,
    state: Mutex<State>,
}

impl IpConnectionRates {
    pub(crate) fn apply(&self, image: &QuotaImage, window: QuotaWindow) {
        let mut quotas = HashMap::new();
        for (entity, values) in image {
            let (Some(ip), Some(value)) = (entity.get(QUOTA_ENTITY_IP), values.get(KEY)) else {
                continue;
            };
            match ip {
                None => {
                    quotas.insert(None, value.0);
                }
                Some(ip) => {
                    // The controller only accepts addresses; a name is skipped.
                    if let Ok(ip) = ip.parse::<IpAddr>() {
                        quotas.insert(Some(ip), value.0);
                    }
                }
            }
        }
        let mut state = self.state.lock();
        self.enabled.store(!quotas.is_empty(), Ordering::Relaxed);
        state.quotas = quotas;
        state.window = Some(window);
    }

    /// Counts a new connection from `ip` and answers the time to wait
    /// before closing it when it is over its address's rate (0: serve it).
    pub(crate) fn record(&self, ip: IpAddr, now_ms: i64) -> i64 {
        if !self.enabled.load(Ordering::Relaxed) {
            return 0;
        }
        let mut state = self.state.lock();
        let Some(window) = state.window else {
            return 0;
        };
        let Some(quota) = state
            .quotas
            .get(&Some(ip))
            .or_else(|| state.quotas.get(&None))
            .copied()
        else {
            return 0;
        };
        if state.rates.len() >= PRUNE_AT {
            let idle_ms = i64::from(window.samples) * i64::from(window.window_seconds) * 1000;
            state.rates.retain(|_, (_, last)| now_ms - *last < idle_ms);
        }
        let (rate, last) = state.rates.entry(ip).or_default();
        *last = now_ms;
        let throttle = rate.record_and_throttle_ms(window, 1.0, quota, now_ms);
        if throttle > 0 {
            // Not accepted, so not counted (Kafka unrecords it).
            rate.record(window, -1.0, now_ms);
        }
        // Kafka bounds it by one window.
        throttle.min(i64::from(window.window_seconds) * 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_metadata::{ClientQuotaEntity, QuotaValue};

    #[test]
    fn connections_over_an_addresss_rate_are_refused_and_others_are_not() {
        let window = QuotaWindow {
            samples: 11,
            window_seconds: 1,
        };
        let rates = IpConnectionRates::default();
        let mut image = QuotaImage::new();
        image
            .entry(ClientQuotaEntity::new([("ip", Some("10.0.0.1"))]))
            .or_default()
            .insert(KEY.into(), QuotaValue(1.0));
        rates.apply(&image, window);
        let limited: IpAddr = "10.0.0.1".parse().unwrap();
        let other: IpAddr = "10.0.0.2".parse().unwrap();
        // 1/s over at least 10 windows: 10 connections at once, not 11.
        let accepted = (0..15).filter(|_| rates.record(limited, 0) == 0).count();
        assert_eq!(accepted, 10);
        assert!(rates.record(limited, 0) > 0);
        assert_eq!(rates.record(other, 0), 0);
    }
}
