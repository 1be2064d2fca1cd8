//! One kind of client quota (Kafka's `ClientQuotaManager` with its
//! `DefaultQuotaCallback`): which configured entity applies to a request's
//! (user, client-id), the rate shared by everyone that entity covers, and
//! the throttle time when the rate goes over the quota.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use strom_config::QuotaWindow;
use strom_metadata::{ClientQuotas as QuotaImage, QUOTA_ENTITY_CLIENT_ID, QUOTA_ENTITY_USER};

use super::rate::SampledRate;

/// A part of a quota entity: absent, the type's default, or a name.
pub(crate) type Part = Option<Option<String>>;

/// The configured quotas of one key, by (user part, client-id part).
pub(crate) type QuotaTable = HashMap<(Part, Part), f64>;

/// The sensor a request records into (Kafka's quota metric tags): the user
/// and client-id it is counted under, either empty when the applying
/// entity does not name it.
pub(crate) type MetricTags = (String, String);

/// How many idle sensors may pile up before the ones idle for the whole
/// window are dropped (Kafka expires quota sensors after an hour idle).
const SENSOR_PRUNE_AT: usize = 10_000;

struct Sensor {
    rate: SampledRate,
    last_ms: i64,
    /// Throttle time given, summed, for the metrics endpoint.
    throttle_ms_total: u64,
}

pub(crate) struct ClientQuotaManager {
    /// Kafka's quota key this manager enforces, e.g. `producer_byte_rate`.
    pub key: &'static str,
    window: RwLock<QuotaWindow>,
    /// Whether any entity has this key: the only cost when none has.
    enabled: AtomicBool,
    table: RwLock<Arc<QuotaTable>>,
    sensors: Mutex<HashMap<MetricTags, Sensor>>,
    /// Throttle times are capped (Kafka's request quota caps at one window).
    max_throttle_ms: Option<i64>,
    /// Token buckets of `controller_mutation_rate`, by sensor.
    buckets: Mutex<HashMap<MetricTags, TokenBucket>>,
}

/// Kafka's `TokenBucket`: `burst` = quota × samples × window tokens, refilled
/// at the quota per second; a mutation takes its partitions' worth and may
/// leave it negative, which refuses (strict) or throttles (permissive) the
/// next ones until it is back at 0.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    tokens: f64,
    last_ms: i64,
}

impl TokenBucket {
    /// A full bucket (Kafka's starts at 0 tokens at time 0, so its first
    /// refill fills it).
    pub(crate) fn full(quota: f64, window: QuotaWindow, now_ms: i64) -> Self {
        TokenBucket {
            tokens: burst(quota, window),
            last_ms: now_ms,
        }
    }

    pub(crate) fn tokens(&mut self, quota: f64, window: QuotaWindow, now_ms: i64) -> f64 {
        let elapsed_s = (now_ms - self.last_ms).max(0) as f64 / 1000.0;
        self.tokens = (self.tokens + quota * elapsed_s).min(burst(quota, window));
        self.last_ms = now_ms;
        self.tokens
    }

    pub(crate) fn take(&mut self, quota: f64, window: QuotaWindow, permits: f64, now_ms: i64) {
        let tokens = self.tokens(quota, window, now_ms);
        self.tokens = (tokens - permits).min(burst(quota, window));
    }
}

fn burst(quota: f64, window: QuotaWindow) -> f64 {
    f64::from(window.samples) * f64::from(window.window_seconds) * quota
}

/// Kafka's `ControllerMutationQuotaManager.throttleTimeMs`: the time for a
/// negative bucket to refill to 0.
pub(crate) fn token_throttle_ms(tokens: f64, quota: f64) -> i32 {
    let ms = (-tokens / quota * 1000.0).round();
    if ms.is_finite() {
        ms.clamp(0.0, f64::from(i32::MAX)) as i32
    } else {
        i32::MAX
    }
}

/// What a mutation quota answers for one topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mutation {
    /// Go ahead; the response carries this throttle time (permissive
    /// quotas throttle after the fact).
    Allowed { throttle_ms: i32 },
    /// THROTTLING_QUOTA_EXCEEDED, with this throttle time (strict quotas).
    Refused { throttle_ms: i32 },
}

impl ClientQuotaManager {
    pub(crate) fn new(key: &'static str, window: QuotaWindow) -> Self {
        ClientQuotaManager {
            key,
            window: RwLock::new(window),
            enabled: AtomicBool::new(false),
            table: RwLock::new(Arc::default()),
            sensors: Mutex::new(HashMap::new()),
            max_throttle_ms: None,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    pub(crate) fn with_max_throttle_ms(mut self, max: i64) -> Self {
        self.max_throttle_ms = Some(max);
        self
    }

    /// Whether any quota of this kind is set: one atomic load, so requests
    /// cost nothing more while no quota is configured.
    #[inline]
    pub(crate) fn enabled(&self) -> bool {
        self.enabled.load(Ordering::Relaxed)
    }

    pub(crate) fn set_window(&self, window: QuotaWindow) {
        *self.window.write() = window;
    }

    /// Takes this key's quotas from the image's.
    pub(crate) fn apply(&self, image: &QuotaImage) {
        let mut table = QuotaTable::new();
        for (entity, values) in image {
            let Some(value) = values.get(self.key) else {
                continue;
            };
            let user = entity.get(QUOTA_ENTITY_USER).map(|n| n.map(str::to_owned));
            let client = entity
                .get(QUOTA_ENTITY_CLIENT_ID)
                .map(|n| n.map(str::to_owned));
            if user.is_none() && client.is_none() {
                continue;
            }
            table.insert((user, client), value.0);
        }
        let enabled = !table.is_empty();
        *self.table.write() = Arc::new(table);
        self.enabled.store(enabled, Ordering::Relaxed);
    }

    /// Records `value` for (user, client-id) and answers the throttle time
    /// in ms, 0 when within the quota or when no quota applies.
    pub(crate) fn record_and_throttle_ms(
        &self,
        user: &str,
        client_id: &str,
        value: f64,
        now_ms: i64,
    ) -> i32 {
        if !self.enabled() {
            return 0;
        }
        let table = self.table.read().clone();
        let tags = metric_tags(&table, user, client_id);
        let Some(bound) = quota_limit(&table, &tags) else {
            return 0;
        };
        let window = *self.window.read();
        let mut sensors = self.sensors.lock();
        if sensors.len() >= SENSOR_PRUNE_AT {
            let idle_ms = i64::from(window.samples) * i64::from(window.window_seconds) * 1000;
            sensors.retain(|_, s| now_ms - s.last_ms < idle_ms);
        }
        let sensor = sensors.entry(tags).or_insert_with(|| Sensor {
            rate: SampledRate::default(),
            last_ms: now_ms,
            throttle_ms_total: 0,
        });
        sensor.last_ms = now_ms;
        let mut throttle = sensor
            .rate
            .record_and_throttle_ms(window, value, bound, now_ms);
        if let Some(max) = self.max_throttle_ms {
            throttle = throttle.min(max);
        }
        i32::try_from(throttle).unwrap_or(i32::MAX)
    }

    /// Records `permits` partition mutations against
    /// `controller_mutation_rate` (Kafka's Strict/Permissive
    /// `ControllerMutationQuota.record`): a strict quota refuses once the
    /// bucket is below 0 and records nothing; a permissive one records and
    /// answers the throttle time.
    pub(crate) fn record_mutation(
        &self,
        user: &str,
        client_id: &str,
        permits: f64,
        strict: bool,
        now_ms: i64,
    ) -> Mutation {
        if !self.enabled() {
            return Mutation::Allowed { throttle_ms: 0 };
        }
        let table = self.table.read().clone();
        let tags = metric_tags(&table, user, client_id);
        let Some(quota) = quota_limit(&table, &tags) else {
            return Mutation::Allowed { throttle_ms: 0 };
        };
        let window = *self.window.read();
        let mut buckets = self.buckets.lock();
        if buckets.len() >= SENSOR_PRUNE_AT {
            buckets.clear();
        }
        let bucket = buckets
            .entry(tags)
            .or_insert_with(|| TokenBucket::full(quota, window, now_ms));
        let tokens = bucket.tokens(quota, window, now_ms);
        if strict {
            if tokens < 0.0 {
                return Mutation::Refused {
                    throttle_ms: token_throttle_ms(tokens, quota),
                };
            }
            bucket.take(quota, window, permits, now_ms);
            Mutation::Allowed { throttle_ms: 0 }
        } else {
            bucket.take(quota, window, permits, now_ms);
            let after = bucket.tokens(quota, window, now_ms);
            Mutation::Allowed {
                throttle_ms: if after < 0.0 {
                    token_throttle_ms(after, quota)
                } else {
                    0
                },
            }
        }
    }

    /// Takes back a value recorded for a response that is not sent as read
    /// (a throttled Fetch answers empty; Kafka's `unrecordQuotaSensor`).
    pub(crate) fn unrecord(&self, user: &str, client_id: &str, value: f64, now_ms: i64) {
        if !self.enabled() {
            return;
        }
        let table = self.table.read().clone();
        let tags = metric_tags(&table, user, client_id);
        let window = *self.window.read();
        if let Some(sensor) = self.sensors.lock().get_mut(&tags) {
            sensor.rate.record(window, -value, now_ms);
        }
    }

    /// Counts a throttle given to (user, client-id), for the metrics.
    pub(crate) fn throttled(&self, user: &str, client_id: &str, throttle_ms: i32) {
        if throttle_ms <= 0 {
            return;
        }
        let table = self.table.read().clone();
        let tags = metric_tags(&table, user, client_id);
        if let Some(sensor) = self.sensors.lock().get_mut(&tags) {
            sensor.throttle_ms_total += throttle_ms as u64;
        }
    }

    /// The most that can be recorded at once without a certain throttle
    /// (Kafka's `getMaxValueInQuotaWindow`): the quota over all windows but
    /// one. A Fetch reads no more than this.
    pub(crate) fn max_value_in_window(&self, user: &str, client_id: &str) -> Option<f64> {
        if !self.enabled() {
            return None;
        }
        let table = self.table.read().clone();
        let tags = metric_tags(&table, user, client_id);
        let window = *self.window.read();
        quota_limit(&table, &tags).map(|q| {
            q * f64::from(window.samples.saturating_sub(1)) * f64::from(window.window_seconds)
        })
    }

    /// Each sensor's (user, client-id, rate now, throttle ms given in
    /// total), for the metrics endpoint.
    pub(crate) fn totals(&self, now_ms: i64) -> Vec<(String, String, f64, u64)> {
        let window = *self.window.read();
        let mut out: Vec<_> = self
            .sensors
            .lock()
            .iter_mut()
            .map(|((u, c), s)| {
                (
                    u.clone(),
                    c.clone(),
                    s.rate.measure(window, now_ms),
                    s.throttle_ms_total,
                )
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

fn named(name: &str) -> Part {
    Some(Some(name.to_owned()))
}

const DEFAULT: Part = Some(None);

/// Kafka's `DefaultQuotaCallback.quotaMetricTags`: the first of the eight
/// levels configured for (user, client-id) decides whom the request is
/// counted with:
/// 1. /users/<user>/clients/<client-id>, 2. /users/<user>/clients/<default>
///    → (user, client-id)
/// 3. /users/<user> → (user, "")
/// 4. /users/<default>/clients/<client-id>, 5. /users/<default>/clients/<default>
///    → (user, client-id)
/// 6. /users/<default> → (user, "")
/// 7. /clients/<client-id>, 8. /clients/<default> (or nothing) → ("", client-id)
pub(crate) fn metric_tags(table: &QuotaTable, user: &str, client_id: &str) -> MetricTags {
    let has = |u: Part, c: Part| table.contains_key(&(u, c));
    let both = (user.to_owned(), client_id.to_owned());
    let user_only = (user.to_owned(), String::new());
    if has(named(user), named(client_id)) || has(named(user), DEFAULT) {
        both
    } else if has(named(user), None) {
        user_only
    } else if has(DEFAULT, named(client_id)) || has(DEFAULT, DEFAULT) {
        both
    } else if has(DEFAULT, None) {
        user_only
    } else {
        (String::new(), client_id.to_owned())
    }
}

/// Kafka's `DefaultQuotaCallback.quotaLimit` for a sensor's tags.
pub(crate) fn quota_limit(table: &QuotaTable, tags: &MetricTags) -> Option<f64> {
    let (user, client_id) = tags;
    let get = |u: Part, c: Part| table.get(&(u, c)).copied();
    if !user.is_empty() && !client_id.is_empty() {
        get(named(user), named(client_id))
            .or_else(|| get(named(user), DEFAULT))
            .or_else(|| get(DEFAULT, named(client_id)))
            .or_else(|| get(DEFAULT, DEFAULT))
    } else if !user.is_empty() {
        get(named(user), None).or_else(|| get(DEFAULT, None))
    } else if !client_id.is_empty() {
        get(None, named(client_id)).or_else(|| get(None, DEFAULT))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The eight levels, most specific first, as (user part, client part).
    fn levels() -> Vec<(Part, Part)> {
        vec![
            (named("alice"), named("app")),
            (named("alice"), DEFAULT),
            (named("alice"), None),
            (DEFAULT, named("app")),
            (DEFAULT, DEFAULT),
            (DEFAULT, None),
            (None, named("app")),
            (None, DEFAULT),
        ]
    }

    proptest! {
        /// Whatever subset of the eight levels is configured, alice's "app"
        /// gets the quota of the most specific level present.
        #[test]
        fn the_most_specific_configured_level_applies(present in proptest::collection::vec(any::<bool>(), 8)) {
            let mut table = QuotaTable::new();
            for (i, level) in levels().into_iter().enumerate() {
                if present[i] {
                    table.insert(level, (i + 1) as f64);
                }
            }
            let tags = metric_tags(&table, "alice", "app");
            let expected = present.iter().position(|p| *p).map(|i| (i + 1) as f64);
            prop_assert_eq!(quota_limit(&table, &tags), expected);
        }
    }

    #[test]
    fn a_user_quota_is_shared_by_all_the_users_clients() {
        let mut table = QuotaTable::new();
        table.insert((named("alice"), None), 100.0);
        assert_eq!(
            metric_tags(&table, "alice", "a"),
            ("alice".into(), "".into())
        );
        assert_eq!(
            metric_tags(&table, "alice", "b"),
            ("alice".into(), "".into())
        );
        // Another user falls through to the client-id levels: no quota.
        let bob = metric_tags(&table, "bob", "a");
        assert_eq!(bob, ("".into(), "a".into()));
        assert_eq!(quota_limit(&table, &bob), None);
    }

    #[test]
    fn an_unauthenticated_client_is_the_user_anonymous() {
        let mut table = QuotaTable::new();
        table.insert((DEFAULT, None), 5.0);
        let tags = metric_tags(&table, "ANONYMOUS", "x");
        assert_eq!(quota_limit(&table, &tags), Some(5.0));
    }

    #[test]
    fn a_strict_mutation_quota_refuses_once_the_bucket_is_below_zero() {
        let window = QuotaWindow {
            samples: 11,
            window_seconds: 1,
        };
        let quota = ClientQuotaManager::new("controller_mutation_rate", window);
        let entity = strom_metadata::ClientQuotaEntity::new([("client-id", Some("admin"))]);
        let mut image = strom_metadata::ClientQuotas::new();
        image.entry(entity).or_default().insert(
            "controller_mutation_rate".into(),
            strom_metadata::QuotaValue(1.0),
        );
        quota.apply(&image);
        // Burst: 11 × 1 s × 1/s = 11 tokens; 20 partitions take the bucket to -9.
        assert_eq!(
            quota.record_mutation("u", "admin", 20.0, true, 0),
            Mutation::Allowed { throttle_ms: 0 }
        );
        assert_eq!(
            quota.record_mutation("u", "admin", 1.0, true, 0),
            Mutation::Refused { throttle_ms: 9000 }
        );
        // 9 s later the bucket is back at 0 and takes mutations again.
        assert_eq!(
            quota.record_mutation("u", "admin", 1.0, true, 9000),
            Mutation::Allowed { throttle_ms: 0 }
        );
        // A permissive quota (old request versions) lets it through and throttles.
        assert_eq!(
            quota.record_mutation("u", "admin", 4.0, false, 9000),
            Mutation::Allowed { throttle_ms: 5000 }
        );
        // Other clients have no quota.
        assert_eq!(
            quota.record_mutation("u", "other", 1000.0, true, 9000),
            Mutation::Allowed { throttle_ms: 0 }
        );
    }

    #[test]
    fn with_no_quota_nothing_is_recorded_and_nothing_throttled() {
        let quota = ClientQuotaManager::new(
            "producer_byte_rate",
            QuotaWindow {
                samples: 11,
                window_seconds: 1,
            },
        );
        assert!(!quota.enabled());
        assert_eq!(quota.record_and_throttle_ms("u", "c", 1e12, 0), 0);
        assert!(quota.totals(0).is_empty());
    }
}
