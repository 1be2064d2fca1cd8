//! Where a listener's JWKS comes from, kept fresh off the connection tasks: a task per
//! listener fetches `sasl.oauthbearer.jwks.endpoint.url` and swaps the parsed set in;
//! validation only reads the latest set.
//!
//! - `file:` URL: read at start-up, then re-read when its size or modification time
//!   changes (checked every second).
//! - `https:`/`http:` URL: fetched at start-up, then every
//!   `sasl.oauthbearer.jwks.endpoint.refresh.ms`; a failed fetch is retried after
//!   `...retry.backoff.ms`, doubling up to `...retry.backoff.max.ms`, and the last good
//!   set stays in use meanwhile. A token naming an unknown `kid` asks for an early
//!   fetch, at most once a minute per kid (at most 16 kids remembered) and never more
//!   often than the retry backoff, as Kafka's `RefreshingHttpsJwks`. The token that
//!   asked is refused; its client's retry finds the new key.
//! - Until a first set is loaded every token is refused, with a log line that says why;
//!   the broker starts regardless.
//!
//! Bounds, jose4j's defaults (what Kafka uses): the body is at most 512 KiB, connecting
//! and reading each at most 20 s. A JWKS over plain `http:` is accepted, as Kafka does;
//! the operator chose the URL.
//!
//! URLs must be allowed as Kafka 4's `org.apache.kafka.sasl.oauthbearer.allowed.urls`
//! system property demands (its default allows none): Strom reads the same list from
//! the environment variable `STROM_SASL_OAUTHBEARER_ALLOWED_URLS` (comma-separated exact
//! URLs), and a listener whose URL is not in it does not start.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tracing::{info, warn};

use super::jwt::{self, ClaimPolicy, Jwks, JwtError};
use super::oauthbearer::ValidToken;

/// The environment variable that plays Kafka's `org.apache.kafka.sasl.oauthbearer.allowed.urls`.
pub(crate) const ALLOWED_URLS_ENV: &str = "STROM_SASL_OAUTHBEARER_ALLOWED_URLS";
/// jose4j's `Get` defaults, which Kafka's JWKS fetch uses.
pub(crate) const MAX_JWKS_BYTES: usize = 512 * 1024;
const LIMITS: strom_client::http::Limits = strom_client::http::Limits {
    connect_timeout: Duration::from_secs(20),
    read_timeout: Duration::from_secs(20),
    max_body_bytes: MAX_JWKS_BYTES,
};
/// Kafka's `RefreshingHttpsJwks`: an unknown kid triggers a fetch once per minute.
const MISSING_KID_INTERVAL: Duration = Duration::from_secs(60);
const MISSING_KIDS_REMEMBERED: usize = 16;
const MAX_KID_LEN: usize = 1000;
const FILE_POLL: Duration = Duration::from_secs(1);

/// Where a JWKS comes from: a parsed `sasl.oauthbearer.jwks.endpoint.url`.
pub(crate) type Source = strom_client::http::Url;

/// Whether the environment allows `url` (Kafka 4's allowed-URLs rule: exact match).
pub(crate) fn url_allowed(url: &str, allowed: Option<&str>) -> bool {
    allowed
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .any(|a| !a.is_empty() && a == url.trim())
}

/// Timing of the refresh task (`sasl.oauthbearer.jwks.endpoint.*`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Refresh {
    pub every: Duration,
    pub backoff: Duration,
    pub backoff_max: Duration,
}

/// A listener's validator of signed tokens: the latest key set and its policy.
pub(crate) struct SignedValidator {
    listener: String,
    url: String,
    policy: ClaimPolicy,
    keys: RwLock<Option<Arc<Jwks>>>,
    /// Why the last load failed, while no set is loaded.
    last_error: Mutex<Option<String>>,
    wake: Arc<Notify>,
    missing_kids: Mutex<HashMap<String, Instant>>,
    last_expedited: Mutex<Option<Instant>>,
    backoff: Duration,
}

impl std::fmt::Debug for SignedValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedValidator")
            .field("listener", &self.listener)
            .field("url", &self.url)
            .finish()
    }
}

impl SignedValidator {
    pub(crate) fn new(listener: &str, url: &str, policy: ClaimPolicy, backoff: Duration) -> Self {
        SignedValidator {
            listener: listener.to_owned(),
            url: url.to_owned(),
            policy,
            keys: RwLock::new(None),
            last_error: Mutex::new(None),
            wake: Arc::new(Notify::new()),
            missing_kids: Mutex::new(HashMap::new()),
            last_expedited: Mutex::new(None),
            backoff,
        }
    }

    /// Installs a freshly loaded set (logged when it changes).
    pub(crate) fn install(&self, jwks: Jwks) {
        let mut keys = self.keys.write();
        if keys.as_deref() != Some(&jwks) {
            info!(listener = %self.listener, url = %self.url, kids = ?jwks.kids(), skipped = ?jwks.skipped, "OAUTHBEARER: loaded the JWKS ({} usable keys)", jwks.keys.len());
            if jwks.keys.is_empty() {
                warn!(listener = %self.listener, url = %self.url, "OAUTHBEARER: the JWKS has no usable key; every token is refused");
            }
        }
        *keys = Some(Arc::new(jwks));
        *self.last_error.lock() = None;
    }

    fn failed(&self, why: String) {
        let first = self.keys.read().is_none();
        let mut last = self.last_error.lock();
        if first {
            warn!(listener = %self.listener, url = %self.url, "OAUTHBEARER: cannot load the JWKS: {why}; tokens are refused until it loads");
        } else {
            warn!(listener = %self.listener, url = %self.url, "OAUTHBEARER: cannot refresh the JWKS: {why}; the keys loaded before stay in use");
        }
        *last = Some(why);
    }

    /// Validates a token with the latest set; an unknown kid wakes the refresh task.
    pub(crate) fn validate(&self, token: &str, now_ms: i64) -> Result<ValidToken, String> {
        let Some(keys) = self.keys.read().clone() else {
            let why = self.last_error.lock().clone();
            return Err(format!(
                "no JWKS loaded yet from {} ({})",
                self.url,
                why.unwrap_or_else(|| "first fetch in progress".into())
            ));
        };
        match jwt::validate_signed(token, &keys, &self.policy, now_ms) {
            Ok(valid) => Ok(valid),
            Err(JwtError::UnknownKid(kid)) => {
                let asked = self.expedite(&kid);
                Err(format!(
                    "{}{}",
                    JwtError::UnknownKid(kid),
                    if asked {
                        "; fetching the JWKS again"
                    } else {
                        ""
                    }
                ))
            }
            Err(e) => Err(e.to_string()),
        }
    }

    /// Asks for an early fetch for an unknown kid, rate-limited; whether it asked.
    fn expedite(&self, kid: &str) -> bool {
        if kid.len() > MAX_KID_LEN {
            return false;
        }
        let now = Instant::now();
        {
            let mut last = self.last_expedited.lock();
            if last.is_some_and(|t| now.duration_since(t) < self.backoff) {
                return false;
            }
            let mut missing = self.missing_kids.lock();
            missing.retain(|_, at| now.duration_since(*at) < MISSING_KID_INTERVAL);
            if missing.contains_key(kid) || missing.len() >= MISSING_KIDS_REMEMBERED {
                return false;
            }
            missing.insert(kid.to_owned(), now);
            *last = Some(now);
        }
        self.wake.notify_one();
        true
    }
}

/// Starts the task that keeps `validator`'s keys fresh; it ends when the validator is dropped.
pub(crate) fn spawn_refresh(
    validator: &Arc<SignedValidator>,
    source: Source,
    refresh: Refresh,
    tls: Option<Arc<rustls::ClientConfig>>,
) {
    let weak = Arc::downgrade(validator);
    tokio::spawn(async move {
        match source {
            Source::File(path) => watch_file(weak, path).await,
            Source::Http { .. } => poll_http(weak, source, refresh, tls).await,
        }
    });
}

async fn watch_file(weak: Weak<SignedValidator>, path: std::path::PathBuf) {
    let mut seen: Option<(u64, Option<SystemTime>)> = None;
    loop {
        let Some(v) = weak.upgrade() else { return };
        // File I/O off the async workers (tokio's fs feature is not enabled here).
        let p = path.clone();
        let stamp = tokio::task::spawn_blocking(move || {
            std::fs::metadata(&p).map(|m| (m.len(), m.modified().ok()))
        })
        .await
        .unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
        match stamp {
            Ok(stamp) => {
                if seen != Some(stamp) {
                    seen = Some(stamp);
                    let p = path.clone();
                    let read = tokio::task::spawn_blocking(move || read_file(&p))
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()));
                    match read.and_then(|b| jwt::parse_jwks(&b)) {
                        Ok(jwks) => v.install(jwks),
                        Err(why) => v.failed(why),
                    }
                }
            }
            Err(e) => {
                if seen.take().is_some() || v.keys.read().is_none() {
                    v.failed(format!("{}: {e}", path.display()));
                }
            }
        }
        drop(v);
        tokio::time::sleep(FILE_POLL).await;
    }
}

fn read_file(path: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_JWKS_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() > MAX_JWKS_BYTES {
        return Err(format!(
            "{} is larger than {MAX_JWKS_BYTES} bytes",
            path.display()
        ));
    }
    Ok(bytes)
}

async fn poll_http(
    weak: Weak<SignedValidator>,
    source: Source,
    refresh: Refresh,
    tls: Option<Arc<rustls::ClientConfig>>,
) {
    let mut backoff = refresh.backoff;
    loop {
        let Some(v) = weak.upgrade() else { return };
        let wait = match fetch(&source, tls.as_ref())
            .await
            .and_then(|b| jwt::parse_jwks(&b))
        {
            Ok(jwks) => {
                v.install(jwks);
                backoff = refresh.backoff;
                refresh.every
            }
            Err(why) => {
                v.failed(why);
                let wait = backoff;
                backoff = (backoff * 2).min(refresh.backoff_max.max(refresh.backoff));
                wait
            }
        };
        // An unknown kid may wake the task early; the validator rate-limits that. The
        // task holds no strong reference while it waits, so a dropped validator ends it.
        let wake = v.wake.clone();
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        drop(v);
        tokio::select! {
            _ = notified => {}
            _ = tokio::time::sleep(wait.max(Duration::from_millis(1))) => {}
        }
    }
}

/// One GET of the JWKS: status 200, body bounded.
pub(crate) async fn fetch(
    source: &Source,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Vec<u8>, String> {
    let headers = [("Accept", "application/json".to_owned())];
    strom_client::http::send(source, "GET", &headers, &[], tls, LIMITS)
        .await?
        .ok_body()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_urls() {
        assert!(url_allowed("https://a/j", Some("file:///x, https://a/j")));
        assert!(!url_allowed("https://a/j", Some("https://a/")));
        assert!(!url_allowed("https://a/j", None));
        assert!(!url_allowed("", Some(",")));
    }

    #[tokio::test]
    async fn refresh_task_recovers_and_follows_a_file() {
        use super::super::jwt::tests::{claims, rsa_jwk, rsa_key, sign, Signer, NOW};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwks.json");
        let v = Arc::new(SignedValidator::new(
            "SASL",
            "file:///x",
            ClaimPolicy {
                sub_claim_name: "sub".into(),
                scope_claim_name: "scope".into(),
                clock_skew_seconds: 30,
                ..Default::default()
            },
            Duration::from_millis(10),
        ));
        spawn_refresh(
            &v,
            Source::File(path.clone()),
            Refresh {
                every: Duration::from_secs(3600),
                backoff: Duration::from_millis(10),
                backoff_max: Duration::from_millis(10),
            },
            None,
        );
        let key = rsa_key();
        let token = sign(
            &serde_json::json!({"alg": "RS256", "kid": "k2"}),
            &claims("alice"),
            Signer::Rsa(&key, &ring::signature::RSA_PKCS1_SHA256),
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        // No file yet: refused, with the reason.
        let err = v.validate(&token, NOW).unwrap_err();
        assert!(err.contains("no JWKS loaded"), "{err}");
        // The file appears with another kid: unknown kid.
        let write = |kids: &[&str]| {
            let keys: Vec<_> = kids.iter().map(|k| rsa_jwk(&key, k)).collect();
            std::fs::write(&path, serde_json::json!({ "keys": keys }).to_string()).unwrap();
        };
        write(&["k1"]);
        let deadline = Instant::now() + Duration::from_secs(10);
        while v.keys.read().is_none() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let err = v.validate(&token, NOW).unwrap_err();
        assert!(err.contains("no key with the token's kid k2"), "{err}");
        // Rotation: k2 added, picked up without a restart.
        write(&["k1", "k2"]);
        while v.validate(&token, NOW).is_err() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(v.validate(&token, NOW).unwrap().principal, "alice");
    }
}
