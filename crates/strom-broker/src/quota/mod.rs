//! Client quotas (KIP-13, KIP-55, KIP-124, KIP-219): byte rates of
//! produce and fetch and the share of request handling time, per user,
//! client-id or both, from the metadata image's `ClientQuota` records.
//!
//! A request over its quota is answered with `throttle_time_ms` and its
//! connection is muted for that long ([`ConnectionThrottle`]); a throttled
//! Fetch answers without records, as Kafka's.

mod ip_connections;
mod manager;
pub(crate) mod rate;
mod throttle_time;

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use strom_config::BrokerConfig;
use strom_metadata::MetadataImage;

pub(crate) use manager::{ClientQuotaManager, Mutation};
pub(crate) use throttle_time::ThrottleTime;

/// Kafka's request quota turns nanoseconds of handling into percent of one
/// second (`ClientRequestQuotaManager.nanosToPercentage`).
pub(crate) fn nanos_to_percentage(nanos: u128) -> f64 {
    nanos as f64 * 100.0 / 1e9
}

/// The broker's client quota managers.
pub(crate) struct ClientQuotas {
    /// `producer_byte_rate`: request bytes of Produce.
    pub produce: ClientQuotaManager,
    /// `consumer_byte_rate`: response bytes of Fetch.
    pub fetch: ClientQuotaManager,
    /// `request_percentage`: handling time of every request, in percent of one thread.
    pub request: ClientQuotaManager,
    /// `controller_mutation_rate`: partitions created or deleted per second.
    pub controller_mutation: ClientQuotaManager,
    /// `connection_creation_rate` of `ip` entities.
    pub ip_connections: ip_connections::IpConnectionRates,
    applied: Mutex<Option<Arc<MetadataImage>>>,
}

impl ClientQuotas {
    pub(crate) fn new(config: &BrokerConfig) -> Self {
        let window = config.quota_window;
        ClientQuotas {
            produce: ClientQuotaManager::new("producer_byte_rate", window),
            fetch: ClientQuotaManager::new("consumer_byte_rate", window),
            // Kafka's request quota throttles at most one window.
            request: ClientQuotaManager::new("request_percentage", window)
                .with_max_throttle_ms(i64::from(window.window_seconds) * 1000),
            controller_mutation: ClientQuotaManager::new(
                "controller_mutation_rate",
                config.controller_quota_window,
            ),
            ip_connections: Default::default(),
            applied: Mutex::new(None),
        }
    }

    /// Follows the image's client quotas (and the window settings).
    pub(crate) fn apply_image(&self, image: &Arc<MetadataImage>, config: &BrokerConfig) {
        let mut applied = self.applied.lock();
        if applied
            .as_ref()
            .is_some_and(|a| a.client_quotas() == image.client_quotas())
        {
            return;
        }
        for manager in [&self.produce, &self.fetch, &self.request] {
            manager.set_window(config.quota_window);
            manager.apply(image.client_quotas());
        }
        self.controller_mutation
            .set_window(config.controller_quota_window);
        self.controller_mutation.apply(image.client_quotas());
        self.ip_connections
            .apply(image.client_quotas(), config.quota_window);
        *applied = Some(image.clone());
    }
}

/// A connection's mute (KIP-219): after a throttled response the broker
/// reads nothing more from the connection until the throttle time passed.
#[derive(Clone, Debug, Default)]
pub(crate) struct ConnectionThrottle(Arc<Mutex<Option<Instant>>>);

impl ConnectionThrottle {
    /// Mutes the connection for `throttle_ms` from now (a later end wins).
    pub(crate) fn mute_for(&self, throttle_ms: i32) {
        if throttle_ms <= 0 {
            return;
        }
        let until = Instant::now() + Duration::from_millis(throttle_ms as u64);
        let mut muted = self.0.lock();
        if muted.is_none_or(|m| m < until) {
            *muted = Some(until);
        }
    }

    /// How long the connection stays muted, if it is.
    pub(crate) fn remaining(&self) -> Option<Duration> {
        let mut muted = self.0.lock();
        match *muted {
            Some(until) => {
                let now = Instant::now();
                if until > now {
                    Some(until - now)
                } else {
                    *muted = None;
                    None
                }
            }
            None => None,
        }
    }
}

/// What a consumer's Fetch needs to be checked against its quotas once
/// its response is complete (the long poll may end much later).
#[derive(Clone, Debug)]
pub(crate) struct FetchQuota {
    pub user: String,
    pub client_id: String,
    pub throttle: ConnectionThrottle,
}

impl FetchQuota {
    /// Kafka's handleFetchRequest: records the response's bytes against
    /// `consumer_byte_rate` and checks `request_percentage`; over either,
    /// the bytes are taken back (the response goes out without records),
    /// the connection is muted, and the throttle time is answered.
    pub(crate) fn throttle_ms(&self, quotas: &ClientQuotas, response_bytes: usize) -> i32 {
        let now = crate::broker::now_ms();
        let bandwidth = quotas.fetch.record_and_throttle_ms(
            &self.user,
            &self.client_id,
            response_bytes as f64,
            now,
        );
        let request = quotas
            .request
            .record_and_throttle_ms(&self.user, &self.client_id, 0.0, now);
        let throttle = bandwidth.max(request);
        if throttle > 0 {
            quotas
                .fetch
                .unrecord(&self.user, &self.client_id, response_bytes as f64, now);
            if bandwidth >= request {
                quotas
                    .fetch
                    .throttled(&self.user, &self.client_id, bandwidth);
            } else {
                quotas
                    .request
                    .throttled(&self.user, &self.client_id, request);
            }
            self.throttle.mute_for(throttle);
        }
        throttle
    }

    /// The most bytes one Fetch may read (Kafka caps `fetch.max.bytes` by
    /// the quota's window), `None` without a byte rate.
    pub(crate) fn max_bytes(&self, quotas: &ClientQuotas) -> Option<usize> {
        quotas
            .fetch
            .max_value_in_window(&self.user, &self.client_id)
            .map(|b| b.clamp(1.0, usize::MAX as f64) as usize)
    }
}

/// Who a controller mutation is counted for (CreateTopics, DeleteTopics,
/// CreatePartitions).
pub(crate) struct MutationQuota<'a> {
    pub user: &'a str,
    pub client_id: &'a str,
    pub throttle: &'a ConnectionThrottle,
}

impl MutationQuota<'_> {
    pub(crate) fn record(&self, quotas: &ClientQuotas, permits: f64, strict: bool) -> Mutation {
        let mutation = quotas.controller_mutation.record_mutation(
            self.user,
            self.client_id,
            permits,
            strict,
            crate::broker::now_ms(),
        );
        let (Mutation::Allowed { throttle_ms } | Mutation::Refused { throttle_ms }) = mutation;
        quotas
            .controller_mutation
            .throttled(self.user, self.client_id, throttle_ms);
        mutation
    }

    pub(crate) fn mute_for(&self, throttle_ms: i32) {
        self.throttle.mute_for(throttle_ms);
    }

    /// Charges each item's partition mutations in request order, as Kafka's
    /// controller does once it has validated a topic (KIP-599): `permits`
    /// is `None` for an item the controller refuses anyway, which is not
    /// charged. A strict quota (the request versions that know
    /// THROTTLING_QUOTA_EXCEEDED) refuses an item once the bucket is below
    /// 0; a permissive one admits it and answers a throttle time. Returns
    /// (admitted, refused, throttle ms) and mutes the connection for the
    /// throttle time. With no quota configured, everything is admitted.
    pub(crate) fn charge<T>(
        &self,
        quotas: &ClientQuotas,
        items: Vec<T>,
        strict: bool,
        permits: impl Fn(&T) -> Option<f64>,
    ) -> (Vec<T>, Vec<T>, i32) {
        if !quotas.controller_mutation.enabled() {
            return (items, Vec::new(), 0);
        }
        let mut throttle_ms = 0;
        let (mut admitted, mut refused) = (Vec::new(), Vec::new());
        for item in items {
            let Some(n) = permits(&item) else {
                admitted.push(item);
                continue;
            };
            match self.record(quotas, n, strict) {
                Mutation::Allowed { throttle_ms: t } => {
                    throttle_ms = throttle_ms.max(t);
                    admitted.push(item);
                }
                Mutation::Refused { throttle_ms: t } => {
                    throttle_ms = throttle_ms.max(t);
                    refused.push(item);
                }
            }
        }
        self.mute_for(throttle_ms);
        (admitted, refused, throttle_ms)
    }
}

/// The message of a THROTTLING_QUOTA_EXCEEDED answer.
pub(crate) const THROTTLED_MESSAGE: &str = "The throttling quota has been exceeded.";
