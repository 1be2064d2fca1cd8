//! SASL authentication on SASL_PLAINTEXT listeners, as Kafka's
//! `SaslServerAuthenticator`: SaslHandshake (v0-1) names a mechanism,
//! SaslAuthenticate (v0-2) carries its messages (after a v0 handshake, the
//! messages come as bare size-prefixed tokens instead, as Kafka 4 still
//! allows). Until a connection has authenticated, only ApiVersions and
//! SaslHandshake are served before the handshake and only SaslAuthenticate
//! after it; anything else closes the connection, without an answer.
//!
//! Mechanisms: PLAIN (users from the listener's PlainLoginModule entry),
//! SCRAM-SHA-256/512 (credentials from the metadata image), OAUTHBEARER
//! (Kafka's unsecured-JWS validator by default; signed JWTs checked against a
//! JWKS with `OAuthBearerValidatorCallbackHandler`, see `jwt` and `jwks`). A failure answers
//! SASL_AUTHENTICATION_FAILED (UNSUPPORTED_SASL_MECHANISM for a mechanism
//! not enabled) after `connection.failed.authentication.delay.ms` and closes.
//!
//! KIP-368: with `connections.max.reauth.ms` (or a token that expires) a
//! session has a lifetime, returned in SaslAuthenticate v1+; a client that
//! used v1+ re-authenticates in-band with SaslHandshake + SaslAuthenticate
//! (same mechanism, same principal), and a request on an expired session
//! closes the connection.

pub(crate) mod jwks;
pub(crate) mod jwt;
pub(crate) mod oauthbearer;
pub(crate) mod scram;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use kafka_protocol::protocol::StrBytes;
use tracing::{debug, info, warn};

use strom_client::scram::{constant_time_eq, ScramMechanism};
use strom_config::SaslListenerConfig;
use strom_protocol::{decode_body, encode_response, RequestPreamble, ResponseFrame};

use crate::broker::BrokerState;
use crate::connection::Reply;
use crate::session::{KafkaPrincipal, Session};

const ILLEGAL_SASL_STATE: i16 = 34;
const UNSUPPORTED_SASL_MECHANISM: i16 = 33;
const SASL_AUTHENTICATION_FAILED: i16 = 58;

/// The SASL state of a connection on a SASL listener.
#[derive(Debug)]
pub(crate) struct SaslSession {
    phase: Phase,
    /// The mechanism of the last completed authentication.
    mechanism: Option<String>,
    /// When the session ends (KIP-368); `None` never.
    expires_at: Option<Instant>,
    /// The lifetime the last authentication gave the session, in ms (0: none).
    lifetime_ms: i64,
    /// The client used SaslAuthenticate v1+, so it can re-authenticate.
    client_supports_reauth: bool,
    /// During re-authentication: who the connection was.
    reauthenticating: Option<KafkaPrincipal>,
}

#[derive(Debug)]
enum Phase {
    Handshake,
    Authenticating { exchange: Exchange, raw: bool },
    Authenticated,
}

enum Exchange {
    Plain,
    Scram(scram::ScramServer),
    /// After a refused token: the JSON error sent, waiting for the client's %x01.
    OAuthBearer {
        error: Option<String>,
    },
    /// Re-authentication asked for another mechanism than the session's.
    BadMechanism(String),
}

impl std::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Exchange::Plain => "PLAIN",
            Exchange::Scram(_) => "SCRAM",
            Exchange::OAuthBearer { .. } => "OAUTHBEARER",
            Exchange::BadMechanism(_) => "bad mechanism",
        })
    }
}

/// The outcome of one mechanism step.
enum Step {
    Challenge(Vec<u8>),
    Done {
        principal: KafkaPrincipal,
        response: Vec<u8>,
        /// The credential's own expiry (an OAUTHBEARER token's `exp`), ms since the epoch.
        credential_expires_ms: Option<i64>,
    },
}

impl SaslSession {
    fn new() -> Self {
        SaslSession {
            phase: Phase::Handshake,
            mechanism: None,
            expires_at: None,
            lifetime_ms: 0,
            client_supports_reauth: false,
            reauthenticating: None,
        }
    }

    /// Whether requests other than the SASL ones may be served.
    fn authenticated(&self) -> bool {
        matches!(self.phase, Phase::Authenticated)
    }
}

/// Whether `session` is on a SASL listener and has not authenticated yet
/// (a re-authentication does not count: the session was authenticated).
pub(crate) fn before_first_authentication(session: &Session) -> bool {
    session
        .sasl
        .as_ref()
        .is_some_and(|sasl| !sasl.authenticated() && sasl.reauthenticating.is_none())
}

/// The validators of signed OAUTHBEARER tokens, by listener name (upper-case): one per
/// SASL listener configured with `OAuthBearerValidatorCallbackHandler`.
#[derive(Debug, Default)]
pub(crate) struct OAuthValidators(std::collections::BTreeMap<String, Arc<jwks::SignedValidator>>);

impl OAuthValidators {
    /// Checks each such listener's JWKS URL (allowed, parsable, a file that exists, a
    /// trust store for https:) and starts its refresh task. An error stops the start-up.
    pub(crate) fn start(config: &strom_config::BrokerConfig) -> Result<Self, String> {
        let allowed = std::env::var(jwks::ALLOWED_URLS_ENV).ok();
        let mut validators = std::collections::BTreeMap::new();
        for (listener, sasl) in &config.security.sasl {
            let oauth = &sasl.oauthbearer;
            let Some(url) = &oauth.jwks_endpoint_url else {
                continue;
            };
            if oauth.validator != strom_config::OAuthBearerValidator::Signed {
                if sasl.is_enabled("OAUTHBEARER") {
                    warn!(listener, "sasl.oauthbearer.jwks.endpoint.url is set but listener.name.{}.oauthbearer.sasl.server.callback.handler.class is not {}: Kafka would run its unsecured validator here; Strom refuses every OAUTHBEARER token on this listener instead", listener.to_ascii_lowercase(), strom_config::OAUTHBEARER_VALIDATOR_CLASS);
                }
                continue;
            }
            let fail = |e: String| {
                format!("listener {listener}: sasl.oauthbearer.jwks.endpoint.url {url}: {e}")
            };
            if !jwks::url_allowed(url, allowed.as_deref()) {
                return Err(fail(format!(
                    "not an allowed URL; list it in the environment variable {} (comma-separated URLs; Strom's counterpart of Kafka's system property org.apache.kafka.sasl.oauthbearer.allowed.urls, which allows none by default)",
                    jwks::ALLOWED_URLS_ENV
                )));
            }
            let source = jwks::Source::parse(url).map_err(fail)?;
            let tls = match &source {
                jwks::Source::File(path) => {
                    if !path.is_file() {
                        return Err(fail(format!("{} is not a readable file", path.display())));
                    }
                    None
                }
                jwks::Source::Http { tls: false, .. } => None,
                jwks::Source::Http { tls: true, .. } => {
                    Some(jwks_tls_config(config, listener).map_err(fail)?)
                }
            };
            let refresh = jwks::Refresh {
                every: Duration::from_millis(oauth.jwks_refresh_ms.max(1) as u64),
                backoff: Duration::from_millis(oauth.jwks_retry_backoff_ms.max(1) as u64),
                backoff_max: Duration::from_millis(oauth.jwks_retry_backoff_max_ms.max(1) as u64),
            };
            let validator = Arc::new(jwks::SignedValidator::new(
                listener,
                url,
                jwt::ClaimPolicy::from_config(oauth),
                refresh.backoff,
            ));
            jwks::spawn_refresh(&validator, source, refresh, tls);
            validators.insert(listener.clone(), validator);
        }
        Ok(OAuthValidators(validators))
    }

    fn get(&self, listener: &str) -> Option<&jwks::SignedValidator> {
        self.0.get(listener).map(|v| &**v)
    }
}

/// The TLS client configuration for an https: JWKS URL: the listener's
/// `ssl.truststore.*` when set, else the system's CA bundle.
fn jwks_tls_config(
    config: &strom_config::BrokerConfig,
    listener: &str,
) -> Result<Arc<rustls::ClientConfig>, String> {
    let get = |key: &str| {
        key.starts_with("ssl.truststore.")
            .then(|| config.listener_value(listener, key))
            .flatten()
    };
    let stores = strom_client::tls::read_stores(&get)?;
    strom_client::http::tls_config(stores.trusted.as_deref())
}

/// The SASL state a new connection on `listener` starts with: `None` on a
/// listener without SASL.
pub(crate) fn session_for(state: &BrokerState, listener: &str) -> Option<Box<SaslSession>> {
    let config = state.effective_config();
    config
        .security
        .sasl_listener(listener)
        .map(|_| Box::new(SaslSession::new()))
}

/// The credentials this broker authenticates with when it connects to
/// another broker's `endpoint` (replica fetchers, transaction markers):
/// `sasl.mechanism.inter.broker.protocol`, with the `username` and
/// `password` options of that mechanism's login module on the listener of
/// the same name here, as Kafka takes them. `None` for a listener without SASL.
pub(crate) fn inter_broker_credentials(
    security: &strom_config::SecurityConfig,
    endpoint: &strom_metadata::BrokerEndpoint,
) -> Option<strom_client::SaslCredentials> {
    // The registration names the protocol; a broker registered before it did says
    // PLAINTEXT, so this broker's own map for the same listener name decides too.
    if !endpoint.security_protocol.starts_with("SASL_")
        && !security.protocol(&endpoint.name).starts_with("SASL_")
    {
        return None;
    }
    let mechanism = security.sasl_mechanism_inter_broker.clone();
    let jaas = security
        .sasl_listener(&endpoint.name)
        .and_then(|l| l.jaas.get(&mechanism));
    let option = |k: &str| {
        jaas.and_then(|j| j.option(k))
            .unwrap_or_default()
            .to_owned()
    };
    // OAUTHBEARER between brokers: Kafka's default (unsecured) login, from the listener's
    // OAuthBearerLoginModule options; a login that cannot work is logged and fails at
    // authentication, where the peer's log says why too.
    let oauthbearer = (mechanism == "OAUTHBEARER").then(|| {
        let options: Vec<(String, String)> = jaas
            .map(|j| {
                j.options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
            .unwrap_or_default();
        strom_client::oauthbearer::TokenSource::unsecured(&options)
            .map_err(|e| tracing::warn!(listener = %endpoint.name, "inter-broker OAUTHBEARER: {e}"))
            .ok()
    });
    Some(strom_client::SaslCredentials {
        mechanism,
        username: option("username"),
        password: option("password"),
        oauthbearer: oauthbearer.flatten(),
    })
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Looks at a request before dispatch: answers the SASL APIs, closes
/// connections that ask for anything else before authenticating, and
/// closes expired sessions. `None`: dispatch the request as usual.
pub(crate) async fn intercept(
    state: &Arc<BrokerState>,
    frame: &mut Bytes,
    session: &mut Session,
) -> Option<Reply> {
    let listener = session.listener.clone();
    let Some(sasl) = session.sasl.as_mut() else {
        return not_a_sasl_listener(frame);
    };
    let config = state.effective_config();
    let Some(listener_config) = config.security.sasl_listener(&listener) else {
        return Some(Reply::Close);
    };
    let delay = Duration::from_millis(config.security.failed_authentication_delay_ms);

    // After a v0 handshake the client's messages are bare tokens.
    if let Phase::Authenticating { raw: true, .. } = sasl.phase {
        let token = frame.clone();
        return Some(
            match step(
                state,
                &listener,
                listener_config,
                sasl,
                &session.peer,
                &token,
            ) {
                Ok((response, done)) => {
                    if let Some(principal) = done {
                        session.principal = principal;
                    }
                    match response {
                        Some(bytes) => Reply::Now(raw_frame(&bytes)),
                        None => Reply::Nothing,
                    }
                }
                // No way to say why in the v0 protocol: close after the delay.
                Err(_) => delayed_close(None, delay),
            },
        );
    }

    let Ok(preamble) = RequestPreamble::parse(frame) else {
        return Some(Reply::Close);
    };
    let Ok(api) = ApiKey::try_from(preamble.api_key) else {
        return match sasl.authenticated() {
            true => None,
            false => Some(Reply::Close),
        };
    };
    match (&sasl.phase, api) {
        (Phase::Authenticated, ApiKey::SaslHandshake)
            if sasl.client_supports_reauth && sasl.mechanism.is_some() =>
        {
            debug!(peer = %session.peer, "re-authentication begins");
            sasl.reauthenticating = Some(session.principal.clone());
            sasl.phase = Phase::Handshake;
            Some(handshake(sasl, listener_config, preamble, frame, delay))
        }
        (Phase::Authenticated, _) => {
            if sasl.expires_at.is_some_and(|at| Instant::now() >= at) {
                info!(peer = %session.peer, principal = %session.principal, "closing connection: SASL session expired without re-authentication");
                return Some(Reply::Close);
            }
            match api {
                // Kafka answers these on an authenticated connection with ILLEGAL_SASL_STATE.
                ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => {
                    illegal_state(api, preamble, frame)
                }
                _ => None,
            }
        }
        (Phase::Handshake, ApiKey::ApiVersions) if sasl.reauthenticating.is_none() => None,
        (Phase::Handshake, ApiKey::SaslHandshake) => {
            Some(handshake(sasl, listener_config, preamble, frame, delay))
        }
        (Phase::Authenticating { raw: false, .. }, ApiKey::SaslAuthenticate) => {
            let version = preamble.api_version;
            if !(0..=2).contains(&version) {
                return Some(Reply::Close);
            }
            if preamble.decode_header(api, frame).is_err() {
                return Some(Reply::Close);
            }
            let Ok(req) = decode_body::<SaslAuthenticateRequest>(api, version, frame) else {
                return Some(Reply::Close);
            };
            if version > 0 {
                sasl.client_supports_reauth = true;
            }
            let corr = preamble.correlation_id;
            let mut resp = SaslAuthenticateResponse::default();
            Some(
                match step(
                    state,
                    &listener,
                    listener_config,
                    sasl,
                    &session.peer,
                    &req.auth_bytes,
                ) {
                    Ok((bytes, done)) => {
                        resp.auth_bytes = Bytes::from(bytes.unwrap_or_default());
                        if let Some(principal) = done {
                            resp.session_lifetime_ms = sasl.lifetime_ms;
                            info!(peer = %session.peer, %principal, mechanism = ?sasl.mechanism, "authenticated");
                            session.principal = principal;
                        }
                        encode(api, version, corr, &resp)
                    }
                    Err(message) => {
                        resp.error_code = SASL_AUTHENTICATION_FAILED;
                        resp.error_message = Some(StrBytes::from_string(message));
                        match encode_response(api, version, corr, &resp) {
                            Ok(frame) => delayed_close(Some(frame), delay),
                            Err(_) => Reply::Close,
                        }
                    }
                },
            )
        }
        (phase, api) => {
            let during = match phase {
                Phase::Handshake => "SASL handshake",
                _ => "SASL authentication",
            };
            warn!(peer = %session.peer, ?api, "closing connection: unexpected Kafka request of type {api:?} during {during}");
            Some(Reply::Close)
        }
    }
}

/// SaslHandshake and SaslAuthenticate on a listener without SASL: Kafka
/// answers ILLEGAL_SASL_STATE.
fn not_a_sasl_listener(frame: &mut Bytes) -> Option<Reply> {
    let preamble = RequestPreamble::parse(frame).ok()?;
    let api = ApiKey::try_from(preamble.api_key).ok()?;
    match api {
        ApiKey::SaslHandshake | ApiKey::SaslAuthenticate => illegal_state(api, preamble, frame),
        _ => None,
    }
}

fn illegal_state(api: ApiKey, preamble: RequestPreamble, frame: &mut Bytes) -> Option<Reply> {
    let version = preamble.api_version;
    let corr = preamble.correlation_id;
    if preamble.decode_header(api, frame).is_err() {
        return Some(Reply::Close);
    }
    Some(match api {
        ApiKey::SaslHandshake if (0..=1).contains(&version) => {
            let mut resp = SaslHandshakeResponse::default();
            resp.error_code = ILLEGAL_SASL_STATE;
            encode(api, version, corr, &resp)
        }
        ApiKey::SaslAuthenticate if (0..=2).contains(&version) => {
            let mut resp = SaslAuthenticateResponse::default();
            resp.error_code = ILLEGAL_SASL_STATE;
            resp.error_message = Some(StrBytes::from_static_str(
                "Unexpected SASL authentication request: the connection is not authenticating",
            ));
            encode(api, version, corr, &resp)
        }
        _ => Reply::Close,
    })
}

fn handshake(
    sasl: &mut SaslSession,
    listener: &SaslListenerConfig,
    preamble: RequestPreamble,
    frame: &mut Bytes,
    delay: Duration,
) -> Reply {
    let api = ApiKey::SaslHandshake;
    let version = preamble.api_version;
    if !(0..=1).contains(&version) || preamble.decode_header(api, frame).is_err() {
        return Reply::Close;
    }
    let Ok(req) = decode_body::<SaslHandshakeRequest>(api, version, frame) else {
        return Reply::Close;
    };
    let mechanism = req.mechanism.as_str().to_owned();
    let mut resp = SaslHandshakeResponse::default();
    resp.mechanisms = listener
        .enabled_mechanisms
        .iter()
        .map(|m| StrBytes::from_string(m.clone()))
        .collect();
    let corr = preamble.correlation_id;
    if !listener.is_enabled(&mechanism) {
        debug!(
            mechanism,
            "SASL mechanism requested by client is not supported"
        );
        resp.error_code = UNSUPPORTED_SASL_MECHANISM;
        return match encode_response(api, version, corr, &resp) {
            Ok(frame) => delayed_close(Some(frame), delay),
            Err(_) => Reply::Close,
        };
    }
    let exchange = match (&sasl.reauthenticating, &sasl.mechanism) {
        (Some(_), Some(previous)) if *previous != mechanism => Exchange::BadMechanism(format!(
            "SASL mechanism '{mechanism}' requested by client is not supported for re-authentication of mechanism '{previous}'"
        )),
        _ => match mechanism.as_str() {
            "PLAIN" => Exchange::Plain,
            "OAUTHBEARER" => Exchange::OAuthBearer { error: None },
            other => match ScramMechanism::from_name(other) {
                Some(m) => Exchange::Scram(scram::ScramServer::new(m)),
                None => return Reply::Close,
            },
        },
    };
    sasl.phase = Phase::Authenticating {
        exchange,
        raw: version == 0,
    };
    if sasl.reauthenticating.is_none() {
        sasl.mechanism = Some(mechanism);
    }
    encode(api, version, corr, &resp)
}

/// One message of the exchange: `Ok((bytes to send, principal when done))`,
/// or the failure message. On success the session moves to Authenticated
/// with its expiry set.
fn step(
    state: &BrokerState,
    listener_name: &str,
    listener: &SaslListenerConfig,
    sasl: &mut SaslSession,
    peer: &str,
    message: &[u8],
) -> Result<(Option<Vec<u8>>, Option<KafkaPrincipal>), String> {
    let Phase::Authenticating { exchange, .. } = &mut sasl.phase else {
        return Err("Unexpected SASL authentication request".into());
    };
    let result = match exchange {
        Exchange::BadMechanism(message) => Err(message.clone()),
        Exchange::Plain => plain(listener, message),
        Exchange::Scram(server) => {
            let m = server.mechanism();
            let image = state.image();
            server
                .step(message, |user| {
                    image.scram_credential(user, m.type_id()).cloned()
                })
                .map(|s| match s {
                    scram::ScramStep::Challenge(c) => Step::Challenge(c),
                    scram::ScramStep::Done { user, response } => Step::Done {
                        principal: KafkaPrincipal::user(user),
                        response,
                        credential_expires_ms: None,
                    },
                })
        }
        Exchange::OAuthBearer { error } => match error.take() {
            Some(json) if message == b"\x01" => Err(json),
            Some(_) => {
                Err("Authentication failed: unexpected message after an invalid token".into())
            }
            None => match oauth(
                listener,
                state.oauth_validators.get(listener_name),
                peer,
                message,
            ) {
                Ok(step) => Ok(step),
                Err(OAuthFailure::Token(json)) => {
                    *error = Some(json.clone());
                    return Ok((Some(json.into_bytes()), None));
                }
                Err(OAuthFailure::Message(m)) => Err(m),
            },
        },
    };
    match result {
        Ok(Step::Challenge(bytes)) => Ok((Some(bytes), None)),
        Ok(Step::Done {
            principal,
            response,
            credential_expires_ms,
        }) => {
            if let Some(previous) = &sasl.reauthenticating {
                if *previous != principal {
                    return Err(format!(
                        "Cannot change principals during re-authentication from {}.{}: {}.{}",
                        previous.principal_type,
                        previous.name,
                        principal.principal_type,
                        principal.name
                    ));
                }
            }
            let mechanism = sasl.mechanism.clone().unwrap_or_default();
            let max_reauth = listener.max_reauth_ms(&mechanism);
            let until_credential_expiry =
                credential_expires_ms.map(|exp| exp.saturating_sub(now_ms()).max(0));
            let lifetime_ms = match (until_credential_expiry, max_reauth > 0) {
                (None, false) => None,
                (None, true) => Some(max_reauth),
                (Some(c), false) => Some(c),
                (Some(c), true) => Some(c.min(max_reauth)),
            };
            sasl.expires_at =
                lifetime_ms.map(|ms| Instant::now() + Duration::from_millis(ms.max(0) as u64));
            sasl.lifetime_ms = lifetime_ms.unwrap_or(0);
            sasl.phase = Phase::Authenticated;
            if sasl.reauthenticating.take().is_some() {
                debug!(peer, "re-authenticated");
            }
            Ok((Some(response), Some(principal)))
        }
        Err(message) => {
            info!(peer, "failed SASL authentication: {message}");
            Err(message)
        }
    }
}

/// RFC 4616: `[authzid] NUL authcid NUL passwd`, checked against the
/// listener's `user_<name>` options in constant time. Unknown user and
/// wrong password fail alike (Kafka's message).
fn plain(listener: &SaslListenerConfig, message: &[u8]) -> Result<Step, String> {
    let invalid = || "Authentication failed: Invalid username or password".to_owned();
    let text = std::str::from_utf8(message).map_err(|_| invalid())?;
    let parts: Vec<&str> = text.split('\u{0}').collect();
    let [authzid, user, password] = parts.as_slice() else {
        return Err("Invalid SASL/PLAIN response: expected 3 tokens".into());
    };
    if user.is_empty() {
        return Err("Authentication failed: username not specified".into());
    }
    if password.is_empty() {
        return Err("Authentication failed: password not specified".into());
    }
    if !authzid.is_empty() && authzid != user {
        return Err("Authentication failed: Client requested an authorization id that is different from username".into());
    }
    let expected = listener
        .jaas
        .get("PLAIN")
        .and_then(|entry| entry.option(&format!("user_{user}")));
    // Compare against something even for an unknown user, so the time taken
    // does not depend on whether the user exists.
    let matches = match expected {
        Some(expected) => constant_time_eq(expected.as_bytes(), password.as_bytes()),
        None => {
            let _ = constant_time_eq(password.as_bytes(), password.as_bytes());
            false
        }
    };
    if !matches {
        return Err(invalid());
    }
    Ok(Step::Done {
        principal: KafkaPrincipal::user(*user),
        response: Vec::new(),
        credential_expires_ms: None,
    })
}

enum OAuthFailure {
    /// The token was refused: send this JSON as a challenge.
    Token(String),
    /// The message itself is wrong: fail now.
    Message(String),
}

fn oauth(
    listener: &SaslListenerConfig,
    signed: Option<&jwks::SignedValidator>,
    peer: &str,
    message: &[u8],
) -> Result<Step, OAuthFailure> {
    let initial = oauthbearer::parse_initial_response(message).map_err(|e| {
        OAuthFailure::Message(format!(
            "Authentication failed: invalid OAUTHBEARER message ({e})"
        ))
    })?;
    let validated = match (signed, &listener.oauthbearer.jwks_endpoint_url) {
        (Some(validator), _) => validator
            .validate(&initial.token, now_ms())
            .map_err(|reason| oauthbearer::Refused {
                reason,
                scope: None,
            }),
        // A JWKS URL without Kafka's validator class: nothing unsigned gets in.
        (None, Some(_)) => Err(oauthbearer::Refused {
            reason: format!(
                "the listener has sasl.oauthbearer.jwks.endpoint.url but not {} as its oauthbearer.sasl.server.callback.handler.class",
                strom_config::OAUTHBEARER_VALIDATOR_CLASS
            ),
            scope: None,
        }),
        (None, None) => oauthbearer::validate_unsecured(
            &initial.token,
            listener.jaas.get("OAUTHBEARER"),
            now_ms(),
        ),
    };
    let token = validated.map_err(|refused| {
        info!(peer, "OAUTHBEARER token refused: {}", refused.reason);
        OAuthFailure::Token(oauthbearer::invalid_token_json(refused.scope.as_deref()))
    })?;
    if !initial.authzid.is_empty() && initial.authzid != token.principal {
        return Err(OAuthFailure::Message(format!(
            "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
            initial.authzid, token.principal
        )));
    }
    Ok(Step::Done {
        principal: KafkaPrincipal::user(token.principal),
        response: Vec::new(),
        credential_expires_ms: Some(token.expires_at_ms),
    })
}

fn raw_frame(bytes: &[u8]) -> ResponseFrame {
    let mut buf = BytesMut::with_capacity(4 + bytes.len());
    buf.put_i32(bytes.len() as i32);
    buf.put_slice(bytes);
    ResponseFrame::from_pieces([buf.freeze()])
}

fn encode<T: kafka_protocol::protocol::Encodable>(
    api: ApiKey,
    version: i16,
    corr: i32,
    body: &T,
) -> Reply {
    crate::dispatch::encode(api, version, corr, body)
}

/// Kafka delays the answer to a failed authentication, and the close, by
/// `connection.failed.authentication.delay.ms`, so a client cannot try
/// passwords at full speed.
fn delayed_close(frame: Option<ResponseFrame>, delay: Duration) -> Reply {
    Reply::Last(Box::pin(async move {
        tokio::time::sleep(delay).await;
        frame
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(jaas: &str) -> SaslListenerConfig {
        let mut j = std::collections::BTreeMap::new();
        j.insert(
            "PLAIN".to_owned(),
            strom_config::parse_jaas_config(jaas).unwrap(),
        );
        SaslListenerConfig {
            security_protocol: "SASL_PLAINTEXT".into(),
            enabled_mechanisms: vec!["PLAIN".into()],
            jaas: j,
            connections_max_reauth_ms: Default::default(),
            oauthbearer: Default::default(),
        }
    }

    fn principal(step: Result<Step, String>) -> Result<String, String> {
        match step? {
            Step::Done { principal, .. } => Ok(principal.name),
            Step::Challenge(_) => Err("challenge".into()),
        }
    }

    /// The peer bug to avoid: PLAIN accepting any password.
    #[test]
    fn plain_checks_the_password() {
        let l = listener(
            "org.apache.kafka.common.security.plain.PlainLoginModule required username=\"admin\" password=\"a\" user_admin=\"a\" user_alice=\"alice-secret\";",
        );
        assert_eq!(
            principal(plain(&l, b"\0alice\0alice-secret")).unwrap(),
            "alice"
        );
        assert_eq!(
            principal(plain(&l, b"alice\0alice\0alice-secret")).unwrap(),
            "alice"
        );
        let wrong = principal(plain(&l, b"\0alice\0alice-secreT")).unwrap_err();
        let unknown = principal(plain(&l, b"\0bob\0alice-secret")).unwrap_err();
        assert_eq!(wrong, "Authentication failed: Invalid username or password");
        assert_eq!(wrong, unknown);
        // The broker's own login (username/password options) is not a user.
        assert!(principal(plain(&l, b"\0admin\0b")).is_err());
        assert!(principal(plain(&l, b"\0alice\0")).is_err());
        assert!(principal(plain(&l, b"\0\0x")).is_err());
        assert!(principal(plain(&l, b"bob\0alice\0alice-secret")).is_err());
        assert!(principal(plain(&l, b"alice-secret")).is_err());
        assert!(principal(plain(&l, b"\0alice\0alice-secret\0")).is_err());
        // A prefix of the password is not the password.
        assert!(principal(plain(&l, b"\0alice\0alice")).is_err());
    }
}
