//! OAUTHBEARER on the client side (RFC 7628 as Kafka speaks it, KIP-255 and KIP-768):
//! the GS2 initial response that carries a bearer token, and where the token comes from.
//!
//! - [`TokenSource::unsecured`]: Kafka's default login
//!   (`OAuthBearerUnsecuredLoginCallbackHandler`), an unsigned JWS built from the JAAS
//!   options `unsecuredLoginStringClaim_<name>`, `unsecuredLoginNumberClaim_<name>`,
//!   `unsecuredLoginListClaim_<name>` (the value's first character separates the items),
//!   `unsecuredLoginPrincipalClaimName` (default `sub`), `unsecuredLoginLifetimeSeconds`
//!   (default 3600) and the SASL extensions `unsecuredLoginExtension_<name>`. A broker
//!   accepts such tokens only with Kafka's unsecured validator: for development.
//! - [`TokenSource::client_credentials`]: Kafka's `OAuthBearerLoginCallbackHandler`, the
//!   OAuth client credentials grant: a POST of `grant_type=client_credentials` (and
//!   `scope`) to `sasl.oauthbearer.token.endpoint.url` with HTTP basic authentication of
//!   `clientId:clientSecret`, and the `access_token` of the JSON answer. A `file:`
//!   endpoint URL names a file that holds the token, re-read for every new token.
//!
//! A token is reused until 80 % of its lifetime has passed (Kafka's
//! `sasl.login.refresh.window.factor`), then fetched again for the next connection.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{Map, Value};

use crate::http::{self, Limits, Url};

/// Kafka's `sasl.login.refresh.window.factor`.
const REFRESH_WINDOW: f64 = 0.8;
/// Kafka's `sasl.login.connect.timeout.ms` and `sasl.login.read.timeout.ms` are unset by
/// default (the JDK's, unbounded); a bound keeps a silent endpoint from hanging a client.
const LIMITS: Limits = Limits {
    connect_timeout: Duration::from_secs(10),
    read_timeout: Duration::from_secs(30),
    max_body_bytes: 1 << 20,
};

/// Where OAUTHBEARER tokens come from; cheap to clone (clones share the cached token).
#[derive(Clone)]
pub struct TokenSource {
    login: Arc<Login>,
    cache: Arc<Mutex<Option<(String, Instant)>>>,
}

impl std::fmt::Debug for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.login {
            Login::Unsecured { .. } => f.write_str("TokenSource::Unsecured"),
            Login::ClientCredentials(c) => f
                .debug_struct("TokenSource::ClientCredentials")
                .field("endpoint", &c.endpoint)
                .field("client_id", &c.client_id)
                .finish_non_exhaustive(),
        }
    }
}

impl PartialEq for TokenSource {
    fn eq(&self, other: &Self) -> bool {
        self.login == other.login
    }
}

impl Eq for TokenSource {}

#[derive(PartialEq)]
enum Login {
    Unsecured {
        claims: Map<String, Value>,
        lifetime: Duration,
        extensions: Vec<(String, String)>,
    },
    ClientCredentials(ClientCredentials),
}

/// The client credentials grant (KIP-768).
#[derive(Clone)]
pub struct ClientCredentials {
    /// `sasl.oauthbearer.token.endpoint.url`: `https:`, `http:` or `file:`.
    pub endpoint: String,
    /// The JAAS options `clientId` and `clientSecret`.
    pub client_id: String,
    pub client_secret: String,
    /// The JAAS option `scope`, sent when set.
    pub scope: Option<String>,
    /// `sasl.oauthbearer.header.urlencode`: percent-encode the id and secret before
    /// the basic authentication header is built (RFC 6749 2.3.1; Kafka's default: no).
    pub urlencode_header: bool,
    /// For an `https:` endpoint (the JAAS options `ssl.truststore.*`, else the system's
    /// CA bundle).
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

impl PartialEq for ClientCredentials {
    fn eq(&self, other: &Self) -> bool {
        self.endpoint == other.endpoint
            && self.client_id == other.client_id
            && self.client_secret == other.client_secret
            && self.scope == other.scope
            && self.urlencode_header == other.urlencode_header
    }
}

impl TokenSource {
    /// Kafka's unsecured login from its JAAS options (every option of the
    /// `OAuthBearerLoginModule` entry; others are ignored).
    pub fn unsecured(options: &[(String, String)]) -> Result<TokenSource, String> {
        let mut claims = Map::new();
        let mut extensions = Vec::new();
        let mut principal_claim = "sub".to_owned();
        let mut lifetime = Duration::from_secs(3600);
        for (key, value) in options {
            if let Some(name) = key.strip_prefix("unsecuredLoginStringClaim_") {
                claims.insert(claim_name(name)?, Value::String(value.clone()));
            } else if let Some(name) = key.strip_prefix("unsecuredLoginNumberClaim_") {
                let number: f64 = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("{key}={value} is not a number"))?;
                let number = serde_json::Number::from_f64(number)
                    .ok_or_else(|| format!("{key}={value} is not a finite number"))?;
                claims.insert(claim_name(name)?, Value::Number(number));
            } else if let Some(name) = key.strip_prefix("unsecuredLoginListClaim_") {
                let mut chars = value.chars();
                let Some(separator) = chars.next() else {
                    return Err(format!(
                        "{key} is empty; its first character separates the items"
                    ));
                };
                let items: Vec<Value> = chars
                    .as_str()
                    .split(separator)
                    .filter(|s| !s.is_empty())
                    .map(|s| Value::String(s.to_owned()))
                    .collect();
                claims.insert(claim_name(name)?, Value::Array(items));
            } else if let Some(name) = key.strip_prefix("unsecuredLoginExtension_") {
                check_extension(name, value)?;
                extensions.push((name.to_owned(), value.clone()));
            } else if key == "unsecuredLoginPrincipalClaimName" {
                principal_claim = value.trim().to_owned();
            } else if key == "unsecuredLoginLifetimeSeconds" {
                let seconds: u64 = value.trim().parse().map_err(|_| {
                    format!("unsecuredLoginLifetimeSeconds={value} is not a whole number")
                })?;
                lifetime = Duration::from_secs(seconds);
            }
        }
        match claims.get(&principal_claim) {
            Some(Value::String(p)) if !p.trim().is_empty() => {}
            _ => {
                return Err(format!(
                    "the unsecured OAUTHBEARER login needs a principal: add unsecuredLoginStringClaim_{principal_claim}=\"<name>\" to sasl.jaas.config"
                ))
            }
        }
        Ok(TokenSource::new(Login::Unsecured {
            claims,
            lifetime,
            extensions,
        }))
    }

    /// The client credentials grant against `credentials.endpoint`.
    pub fn client_credentials(credentials: ClientCredentials) -> Result<TokenSource, String> {
        let url = Url::parse(&credentials.endpoint)
            .map_err(|e| format!("sasl.oauthbearer.token.endpoint.url: {e}"))?;
        if !matches!(url, Url::File(_)) {
            if credentials.client_id.trim().is_empty() {
                return Err(
                    "the OAuth client credentials grant needs clientId=\"...\" in sasl.jaas.config"
                        .into(),
                );
            }
            if credentials.client_secret.is_empty() {
                return Err("the OAuth client credentials grant needs clientSecret=\"...\" in sasl.jaas.config".into());
            }
        }
        Ok(TokenSource::new(Login::ClientCredentials(credentials)))
    }

    fn new(login: Login) -> TokenSource {
        TokenSource {
            login: Arc::new(login),
            cache: Arc::new(Mutex::new(None)),
        }
    }

    /// The SASL extensions sent with every token.
    pub fn extensions(&self) -> &[(String, String)] {
        match &*self.login {
            Login::Unsecured { extensions, .. } => extensions,
            Login::ClientCredentials(_) => &[],
        }
    }

    /// A token to send: the cached one while it is fresh, else a new one.
    pub async fn token(&self) -> Result<String, String> {
        if let Some((token, refresh_at)) = self
            .cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            if Instant::now() < *refresh_at {
                return Ok(token.clone());
            }
        }
        let (token, lifetime) = match &*self.login {
            Login::Unsecured {
                claims, lifetime, ..
            } => (unsecured_token(claims, *lifetime, now()), Some(*lifetime)),
            Login::ClientCredentials(c) => {
                let token = fetch(c).await?;
                let lifetime = token_lifetime(&token.0, now()).or(token.1);
                (token.0, lifetime)
            }
        };
        if let Some(lifetime) = lifetime {
            let refresh_at = Instant::now() + lifetime.mul_f64(REFRESH_WINDOW);
            *self.cache.lock().unwrap_or_else(PoisonError::into_inner) =
                Some((token.clone(), refresh_at));
        }
        Ok(token)
    }
}

/// `gs2-header %x01 auth=Bearer <token> %x01 *(key=value %x01) %x01`, without an authzid.
pub fn initial_response(token: &str, extensions: &[(String, String)]) -> Vec<u8> {
    let mut out = format!("n,,\x01auth=Bearer {token}\x01");
    for (key, value) in extensions {
        out.push_str(&format!("{key}={value}\x01"));
    }
    out.push('\x01');
    out.into_bytes()
}

fn claim_name(name: &str) -> Result<String, String> {
    match name {
        "" => Err("a claim option names no claim".into()),
        "iat" | "exp" => Err(format!(
            "the {name} claim of an unsecured token is set by the login itself (see unsecuredLoginLifetimeSeconds)"
        )),
        _ => Ok(name.to_owned()),
    }
}

/// RFC 7628: a key is ALPHA only, `auth` is reserved; a value is printable or white space.
fn check_extension(name: &str, value: &str) -> Result<(), String> {
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphabetic()) || name == "auth" {
        return Err(format!(
            "SASL extension name {name:?}: letters only, and not \"auth\""
        ));
    }
    if !value
        .bytes()
        .all(|b| (0x21..=0x7e).contains(&b) || matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
    {
        return Err(format!(
            "SASL extension {name}: the value has characters RFC 7628 does not allow"
        ));
    }
    Ok(())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as f64 / 1000.0)
        .unwrap_or(0.0)
}

fn unsecured_token(claims: &Map<String, Value>, lifetime: Duration, now: f64) -> String {
    let mut payload = claims.clone();
    payload.insert("iat".into(), number(now));
    payload.insert("exp".into(), number(now + lifetime.as_secs_f64()));
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(Value::Object(payload).to_string())
    )
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// How long a JWT has left (its `exp` claim), if it is a JWT with one.
fn token_lifetime(token: &str, now: f64) -> Option<Duration> {
    let payload = token.split('.').nth(1)?;
    let json: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let exp = json.get("exp")?.as_f64()?;
    Some(Duration::from_secs_f64((exp - now).max(0.0)))
}

/// A token from the endpoint: the token and the `expires_in` the answer gave.
async fn fetch(c: &ClientCredentials) -> Result<(String, Option<Duration>), String> {
    let url = Url::parse(&c.endpoint).map_err(|e| format!("{}: {e}", c.endpoint))?;
    if let Url::File(path) = &url {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("reading the token file {}: {e}", path.display()))?;
        let token = text.trim().to_owned();
        if token.is_empty() {
            return Err(format!("the token file {} is empty", path.display()));
        }
        return Ok((token, None));
    }
    let (id, secret) = if c.urlencode_header {
        (
            http::percent_encode(&c.client_id),
            http::percent_encode(&c.client_secret),
        )
    } else {
        (c.client_id.clone(), c.client_secret.clone())
    };
    let basic = STANDARD.encode(format!("{id}:{secret}"));
    let mut body = "grant_type=client_credentials".to_owned();
    if let Some(scope) = c.scope.as_deref().filter(|s| !s.trim().is_empty()) {
        body.push_str("&scope=");
        body.push_str(&http::percent_encode(scope));
    }
    let headers = [
        ("Accept", "application/json".to_owned()),
        ("Authorization", format!("Basic {basic}")),
        ("Cache-Control", "no-cache".to_owned()),
        (
            "Content-Type",
            "application/x-www-form-urlencoded".to_owned(),
        ),
    ];
    let tls = match (&url, &c.tls) {
        (Url::Http { tls: true, .. }, None) => Some(http::tls_config(None)?),
        (_, tls) => tls.clone(),
    };
    let answer = http::send(
        &url,
        "POST",
        &headers,
        body.as_bytes(),
        tls.as_ref(),
        LIMITS,
    )
    .await
    .and_then(http::Response::ok_body)
    .map_err(|e| format!("the OAuth token endpoint {}: {e}", c.endpoint))?;
    parse_token_answer(&answer).map_err(|e| format!("the OAuth token endpoint {}: {e}", c.endpoint))
}

fn parse_token_answer(answer: &[u8]) -> Result<(String, Option<Duration>), String> {
    let json: Value =
        serde_json::from_slice(answer).map_err(|_| "the answer is not JSON".to_owned())?;
    let token = json
        .get("access_token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or("the answer has no access_token")?;
    let expires_in = json
        .get("expires_in")
        .and_then(Value::as_f64)
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(Duration::from_secs_f64);
    Ok((token.to_owned(), expires_in))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn payload(token: &str) -> Value {
        let mut parts = token.split('.');
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts.next().unwrap()).unwrap(),
            br#"{"alg":"none"}"#
        );
        let payload = parts.next().unwrap();
        assert_eq!(parts.next(), Some(""), "an unsigned JWS ends with a dot");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    #[tokio::test]
    async fn unsecured_tokens_carry_the_configured_claims() {
        let source = TokenSource::unsecured(&opts(&[
            ("unsecuredLoginStringClaim_sub", "alice"),
            ("unsecuredLoginNumberClaim_level", "3"),
            ("unsecuredLoginListClaim_scope", ",read,,write"),
            ("unsecuredLoginLifetimeSeconds", "60"),
            ("unsecuredLoginExtension_traceId", "abc"),
            ("username", "ignored"),
        ]))
        .unwrap();
        let token = source.token().await.unwrap();
        let claims = payload(&token);
        assert_eq!(claims["sub"], "alice");
        assert_eq!(claims["level"], 3.0);
        assert_eq!(claims["scope"], serde_json::json!(["read", "write"]));
        let (iat, exp) = (
            claims["iat"].as_f64().unwrap(),
            claims["exp"].as_f64().unwrap(),
        );
        assert!((exp - iat - 60.0).abs() < 0.001, "{claims}");
        assert!((iat - now()).abs() < 5.0);
        assert!(claims.get("username").is_none());
        // Fresh tokens are reused.
        assert_eq!(source.token().await.unwrap(), token);
        assert_eq!(
            initial_response(&token, source.extensions()),
            format!("n,,\x01auth=Bearer {token}\x01traceId=abc\x01\x01").into_bytes()
        );
    }

    #[test]
    fn unsecured_logins_that_cannot_work_are_refused() {
        for (bad, says) in [
            (vec![], "unsecuredLoginStringClaim_sub"),
            (
                vec![
                    ("unsecuredLoginStringClaim_user", "a"),
                    ("unsecuredLoginPrincipalClaimName", "name"),
                ],
                "unsecuredLoginStringClaim_name",
            ),
            (
                vec![
                    ("unsecuredLoginStringClaim_sub", "a"),
                    ("unsecuredLoginNumberClaim_exp", "1"),
                ],
                "set by the login",
            ),
            (
                vec![
                    ("unsecuredLoginStringClaim_sub", "a"),
                    ("unsecuredLoginNumberClaim_n", "x"),
                ],
                "not a number",
            ),
            (
                vec![
                    ("unsecuredLoginStringClaim_sub", "a"),
                    ("unsecuredLoginExtension_auth", "x"),
                ],
                "not \"auth\"",
            ),
            (
                vec![
                    ("unsecuredLoginStringClaim_sub", "a"),
                    ("unsecuredLoginExtension_x1", "x"),
                ],
                "letters only",
            ),
        ] {
            let error = TokenSource::unsecured(&opts(&bad)).unwrap_err();
            assert!(error.contains(says), "{bad:?}: {error}");
        }
    }

    #[test]
    fn token_answers_and_lifetimes() {
        assert_eq!(
            parse_token_answer(br#"{"access_token":"a.b.c","expires_in":600}"#).unwrap(),
            ("a.b.c".to_owned(), Some(Duration::from_secs(600)))
        );
        assert_eq!(
            parse_token_answer(br#"{"access_token":"t"}"#).unwrap(),
            ("t".to_owned(), None)
        );
        for bad in [&b"{}"[..], b"{\"access_token\":\"\"}", b"<html>", b"[]"] {
            assert!(parse_token_answer(bad).is_err(), "{bad:?}");
        }
        let jwt = format!(
            "h.{}.s",
            URL_SAFE_NO_PAD.encode(br#"{"sub":"a","exp":1000.5}"#)
        );
        assert_eq!(token_lifetime(&jwt, 900.5), Some(Duration::from_secs(100)));
        assert_eq!(token_lifetime(&jwt, 2000.0), Some(Duration::ZERO));
        assert_eq!(token_lifetime("opaque", 0.0), None);
    }

    #[tokio::test]
    async fn a_file_endpoint_is_read_for_each_new_token() {
        let dir = std::env::temp_dir().join(format!("strom-oauth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("token");
        std::fs::write(&file, "  first.token.x \n").unwrap();
        let source = TokenSource::client_credentials(ClientCredentials {
            endpoint: format!("file://{}", file.display()),
            client_id: String::new(),
            client_secret: String::new(),
            scope: None,
            urlencode_header: false,
            tls: None,
        })
        .unwrap();
        assert_eq!(source.token().await.unwrap(), "first.token.x");
        // Not a JWT with exp and no expires_in: not cached.
        std::fs::write(&file, "second").unwrap();
        assert_eq!(source.token().await.unwrap(), "second");
        std::fs::remove_dir_all(&dir).unwrap();
        let missing = TokenSource::client_credentials(ClientCredentials {
            endpoint: "https://idp.example/token".into(),
            client_id: "app".into(),
            client_secret: String::new(),
            scope: None,
            urlencode_header: false,
            tls: None,
        })
        .unwrap_err();
        assert!(missing.contains("clientSecret"), "{missing}");
    }
}
