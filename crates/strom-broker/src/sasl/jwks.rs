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
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tracing::{info, warn};

use super::jwt::{self, ClaimPolicy, Jwks, JwtError};
use super::oauthbearer::ValidToken;

/// The environment variable that plays Kafka's `org.apache.kafka.sasl.oauthbearer.allowed.urls`.
pub(crate) const ALLOWED_URLS_ENV: &str = "STROM_SASL_OAUTHBEARER_ALLOWED_URLS";
/// jose4j's `Get` defaults, which Kafka's JWKS fetch uses.
pub(crate) const MAX_JWKS_BYTES: usize = 512 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const READ_TIMEOUT: Duration = Duration::from_secs(20);
/// Kafka's `RefreshingHttpsJwks`: an unknown kid triggers a fetch once per minute.
const MISSING_KID_INTERVAL: Duration = Duration::from_secs(60);
const MISSING_KIDS_REMEMBERED: usize = 16;
const MAX_KID_LEN: usize = 1000;
const FILE_POLL: Duration = Duration::from_secs(1);

/// A parsed `sasl.oauthbearer.jwks.endpoint.url`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    File(std::path::PathBuf),
    Http {
        tls: bool,
        host: String,
        port: u16,
        /// Path and query, starting with `/`.
        path: String,
    },
}

pub(crate) fn parse_url(url: &str) -> Result<Source, String> {
    let url = url.trim();
    let (scheme, rest) = url
        .split_once(':')
        .ok_or("not a URL (expected file:, https: or http:)")?;
    match scheme.to_ascii_lowercase().as_str() {
        "file" => {
            // file:/path, file:///path, file://localhost/path
            let path = rest
                .strip_prefix("//localhost")
                .or_else(|| rest.strip_prefix("//"))
                .unwrap_or(rest);
            if !path.starts_with('/') {
                return Err(
                    "a file: URL needs an absolute path (file:///path/to/jwks.json)".into(),
                );
            }
            Ok(Source::File(path.into()))
        }
        s @ ("https" | "http") => {
            let rest = rest
                .strip_prefix("//")
                .ok_or("an http(s) URL starts with scheme://")?;
            let (authority, path) = match rest.find(['/', '?']) {
                Some(i) if rest[i..].starts_with('/') => (&rest[..i], rest[i..].to_owned()),
                Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
                None => (rest, "/".to_owned()),
            };
            let path = path.split('#').next().unwrap_or("/").to_owned();
            if authority.contains('@') {
                return Err("user information in the URL is not supported".into());
            }
            let tls = s == "https";
            let default_port = if tls { 443 } else { 80 };
            let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
                let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
                let port = match after.strip_prefix(':') {
                    Some(p) => p.parse().map_err(|_| "invalid port")?,
                    None if after.is_empty() => default_port,
                    None => return Err("invalid host".into()),
                };
                (host.to_owned(), port)
            } else {
                match authority.rsplit_once(':') {
                    Some((h, p)) => (h.to_owned(), p.parse().map_err(|_| "invalid port")?),
                    None => (authority.to_owned(), default_port),
                }
            };
            if host.is_empty() || path.bytes().any(|b| b.is_ascii_control() || b == b' ') {
                return Err("invalid host or path".into());
            }
            Ok(Source::Http {
                tls,
                host,
                port,
                path,
            })
        }
        other => Err(format!("scheme {other}: is not file:, https: or http:")),
    }
}

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

/// One GET of the JWKS: HTTP/1.1, `Connection: close`, status 200, body bounded.
pub(crate) async fn fetch(
    source: &Source,
    tls: Option<&Arc<rustls::ClientConfig>>,
) -> Result<Vec<u8>, String> {
    let Source::Http {
        tls: https,
        host,
        port,
        path,
    } = source
    else {
        return Err("not an http(s) source".into());
    };
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), *port)))
        .await
        .map_err(|_| format!("connecting to {host}:{port} timed out"))?
        .map_err(|e| format!("connecting to {host}:{port}: {e}"))?;
    let host_header = if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host_header}\r\nAccept: application/json\r\nUser-Agent: strom\r\nConnection: close\r\n\r\n"
    );
    let raw = if *https {
        let config = tls.ok_or("no TLS client configuration for an https: URL")?;
        let name = ServerName::try_from(host.clone()).map_err(|e| format!("host {host}: {e}"))?;
        let connector = tokio_rustls::TlsConnector::from(config.clone());
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name, tcp))
            .await
            .map_err(|_| format!("TLS handshake with {host}:{port} timed out"))?
            .map_err(|e| format!("TLS handshake with {host}:{port}: {e}"))?;
        exchange(stream, request.as_bytes()).await?
    } else {
        exchange(tcp, request.as_bytes()).await?
    };
    let (raw, clean_end) = raw;
    let (body, framed) = parse_framed(&raw)?;
    if !clean_end && !framed {
        return Err("the TLS connection ended without close_notify before a body of unknown length was known to be complete".into());
    }
    Ok(body)
}

/// Sends the request and reads the response to the end: the bytes, and whether the end
/// was clean (a TLS peer may close without close_notify, as many HTTP servers do; that is
/// acceptable only for a body whose length is known, see `fetch`).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
) -> Result<(Vec<u8>, bool), String> {
    let limit = MAX_JWKS_BYTES + 16 * 1024;
    let io = async {
        stream.write_all(request).await?;
        stream.flush().await?;
        let mut raw = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            match stream.read(&mut chunk).await {
                Ok(0) => return Ok((raw, true)),
                Ok(n) => {
                    raw.extend_from_slice(&chunk[..n]);
                    // Headers get 16 KiB beyond the body limit.
                    if raw.len() > limit {
                        return Ok((raw, true));
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok((raw, false)),
                Err(e) => return Err(e),
            }
        }
    };
    let (raw, clean) = tokio::time::timeout(READ_TIMEOUT, io)
        .await
        .map_err(|_| format!("no complete response within {} s", READ_TIMEOUT.as_secs()))?
        .map_err(|e| format!("reading the response: {e}"))?;
    if raw.len() > limit {
        return Err(format!(
            "the response is larger than {MAX_JWKS_BYTES} bytes"
        ));
    }
    Ok((raw, clean))
}

/// The body of a complete HTTP/1.x response with status 200 (length-delimited,
/// chunked, or up to the close).
pub(crate) fn parse_response(raw: &[u8]) -> Result<Vec<u8>, String> {
    parse_framed(raw).map(|(body, _)| body)
}

/// The body, and whether its length was known (Content-Length or chunked).
fn parse_framed(raw: &[u8]) -> Result<(Vec<u8>, bool), String> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no complete HTTP response header")?;
    let head = std::str::from_utf8(&raw[..end]).map_err(|_| "the HTTP header is not text")?;
    let body = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut status = status_line.splitn(3, ' ');
    let (Some(version), Some(code)) = (status.next(), status.next()) else {
        return Err("not an HTTP response".into());
    };
    if !version.starts_with("HTTP/1.") {
        return Err("not an HTTP/1.x response".into());
    }
    if code != "200" {
        return Err(format!("HTTP status {}", jwt::truncate(status_line)));
    }
    let mut length = None;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(
                value
                    .parse::<usize>()
                    .map_err(|_| "invalid Content-Length")?,
            );
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.to_ascii_lowercase().contains("chunked");
        }
    }
    let (body, framed) = if chunked {
        (dechunk(body)?, true)
    } else if let Some(n) = length {
        let body = body
            .get(..n)
            .ok_or("the body is shorter than its Content-Length")?;
        (body.to_vec(), true)
    } else {
        (body.to_vec(), false)
    };
    if body.len() > MAX_JWKS_BYTES {
        return Err(format!("the body is larger than {MAX_JWKS_BYTES} bytes"));
    }
    Ok((body, framed))
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("a truncated chunk")?;
        let size_text = std::str::from_utf8(&rest[..line_end]).map_err(|_| "a bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "a bad chunk size")?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if size > MAX_JWKS_BYTES.saturating_sub(out.len()) {
            return Err(format!("the body is larger than {MAX_JWKS_BYTES} bytes"));
        }
        let chunk = rest.get(..size).ok_or("a truncated chunk")?;
        out.extend_from_slice(chunk);
        rest = rest
            .get(size..)
            .and_then(|r| r.strip_prefix(b"\r\n"))
            .ok_or("a chunk without its CRLF")?;
    }
}

/// The CA certificates of the system (`SSL_CERT_FILE`, else the usual bundle paths),
/// for an https: JWKS URL on a listener without `ssl.truststore.*`.
pub(crate) fn system_roots() -> Result<rustls::RootCertStore, String> {
    let mut candidates: Vec<std::path::PathBuf> = Vec::new();
    if let Some(f) = std::env::var_os("SSL_CERT_FILE") {
        candidates.push(f.into());
    }
    for p in [
        "/etc/ssl/certs/ca-certificates.crt",
        "/etc/pki/tls/certs/ca-bundle.crt",
        "/etc/ssl/ca-bundle.pem",
        "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
        "/etc/ssl/cert.pem",
    ] {
        candidates.push(p.into());
    }
    for path in candidates {
        let Ok(pem) = std::fs::read(&path) else {
            continue;
        };
        let Ok(certs) = strom_client::tls::certificates_from_pem(&pem) else {
            continue;
        };
        let mut roots = rustls::RootCertStore::empty();
        let (added, _) = roots.add_parsable_certificates(certs);
        if added > 0 {
            return Ok(roots);
        }
    }
    Err(
        "no system CA bundle found (set SSL_CERT_FILE, or the listener's ssl.truststore.location)"
            .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            parse_url("file:///etc/jwks.json").unwrap(),
            Source::File("/etc/jwks.json".into())
        );
        assert_eq!(parse_url("file:/x").unwrap(), Source::File("/x".into()));
        assert_eq!(
            parse_url("https://idp.example:8443/keys?x=1").unwrap(),
            Source::Http {
                tls: true,
                host: "idp.example".into(),
                port: 8443,
                path: "/keys?x=1".into()
            }
        );
        assert_eq!(
            parse_url("http://[::1]/j").unwrap(),
            Source::Http {
                tls: false,
                host: "::1".into(),
                port: 80,
                path: "/j".into()
            }
        );
        assert_eq!(
            parse_url("https://idp").unwrap(),
            Source::Http {
                tls: true,
                host: "idp".into(),
                port: 443,
                path: "/".into()
            }
        );
        for bad in [
            "ftp://x/y",
            "file:relative",
            "https:/x",
            "https://u@h/",
            "https://h:port/",
            "x",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        assert!(url_allowed("https://a/j", Some("file:///x, https://a/j")));
        assert!(!url_allowed("https://a/j", Some("https://a/")));
        assert!(!url_allowed("https://a/j", None));
        assert!(!url_allowed("", Some(",")));
    }

    #[test]
    fn responses() {
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}xx").unwrap(),
            b"{}"
        );
        assert_eq!(
            parse_response(b"HTTP/1.0 200 OK\r\n\r\n{\"keys\":[]}").unwrap(),
            b"{\"keys\":[]}"
        );
        assert_eq!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{\"\r\n3;x=y\r\nk\":\r\n0\r\n\r\n")
                .unwrap(),
            b"{\"k\":"
        );
        for bad in [
            &b"HTTP/1.1 404 Not Found\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort",
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
            b"HTTP/2 200\r\n\r\n",
            b"garbage",
        ] {
            assert!(parse_response(bad).is_err(), "{bad:?}");
        }
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
