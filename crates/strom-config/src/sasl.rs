//! SASL settings of each listener, with Kafka's keys and precedence:
//! `listener.name.<listener>.<key>` (listener name lower-case) overrides
//! `<key>` for that listener, and a login module is configured per listener
//! and mechanism with `listener.name.<listener>.<mechanism>.sasl.jaas.config`
//! (Kafka ignores an unprefixed `sasl.jaas.config` on a broker, with a
//! warning; so does Strom).

use std::collections::BTreeMap;

use crate::broker_config::{broker_config_def, Effective};
use crate::error::ConfigError;
use crate::jaas::{parse_jaas_config, JaasEntry};
use crate::properties::{Origin, Properties};
use crate::Listener;

/// The mechanisms a Strom broker serves.
pub const SUPPORTED_MECHANISMS: &[&str] =
    &["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

/// Keys that may be given per listener (`listener.name.<l>.<key>`) for SASL.
const PER_LISTENER_KEYS: &[&str] = &[
    "sasl.enabled.mechanisms",
    "connections.max.reauth.ms",
    "sasl.oauthbearer.jwks.endpoint.url",
    "sasl.oauthbearer.expected.audience",
    "sasl.oauthbearer.expected.issuer",
    "sasl.oauthbearer.sub.claim.name",
    "sasl.oauthbearer.scope.claim.name",
    "sasl.oauthbearer.clock.skew.seconds",
    "sasl.oauthbearer.jwks.endpoint.refresh.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.ms",
    "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
];

/// Kafka's validator of signed JWTs (KIP-768), and its pre-3.4 name.
pub const OAUTHBEARER_VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler";
const OAUTHBEARER_VALIDATOR_CLASS_OLD: &str =
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler";
/// Kafka's default OAUTHBEARER server callback handler (unsecured JWS).
pub const OAUTHBEARER_UNSECURED_VALIDATOR_CLASS: &str =
    "org.apache.kafka.common.security.oauthbearer.internals.unsecured.OAuthBearerUnsecuredValidatorCallbackHandler";

/// A `listener.name.<listener>.<rest>` property, split; `None` for any other key.
fn split_listener_key(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix("listener.name.")?;
    let dot = rest.find('.')?;
    Some((&rest[..dot], &rest[dot + 1..]))
}

/// Whether a `listener.name.<l>.<rest>` key is one this module reads: a
/// per-listener SASL key, or `<mechanism>.sasl.jaas.config` /
/// `<mechanism>.connections.max.reauth.ms`.
pub(crate) fn is_sasl_listener_key(key: &str) -> bool {
    let Some((listener, rest)) = split_listener_key(key) else {
        return false;
    };
    if listener.is_empty() {
        return false;
    }
    if PER_LISTENER_KEYS.contains(&rest) {
        return true;
    }
    mechanism_key(rest).is_some()
}

/// `plain.sasl.jaas.config` → ("PLAIN", "sasl.jaas.config").
fn mechanism_key(rest: &str) -> Option<(String, &str)> {
    for suffix in [
        "sasl.jaas.config",
        "connections.max.reauth.ms",
        "sasl.server.callback.handler.class",
    ] {
        if let Some(mech) = rest
            .strip_suffix(suffix)
            .and_then(|m| m.strip_suffix('.'))
            .filter(|m| !m.is_empty() && !m.contains('.'))
        {
            return Some((mech.to_ascii_uppercase(), suffix));
        }
    }
    None
}

/// Which server callback handler validates OAUTHBEARER tokens on a listener.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum OAuthBearerValidator {
    /// Kafka's default, `OAuthBearerUnsecuredValidatorCallbackHandler`: unsecured JWS.
    #[default]
    Unsecured,
    /// `OAuthBearerValidatorCallbackHandler` (KIP-768): JWTs signed by a key of the JWKS
    /// at `sasl.oauthbearer.jwks.endpoint.url`.
    Signed,
}

/// OAUTHBEARER validation settings of a listener (`sasl.oauthbearer.*`).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct OAuthBearerConfig {
    /// `listener.name.<l>.oauthbearer.sasl.server.callback.handler.class`.
    pub validator: OAuthBearerValidator,
    /// `sasl.oauthbearer.jwks.endpoint.url`: set, tokens must be signed JWTs (a listener
    /// with the URL but the unsecured validator refuses every token).
    pub jwks_endpoint_url: Option<String>,
    pub jwks_refresh_ms: i64,
    pub jwks_retry_backoff_ms: i64,
    pub jwks_retry_backoff_max_ms: i64,
    pub expected_audience: Vec<String>,
    pub expected_issuer: Option<String>,
    pub sub_claim_name: String,
    pub scope_claim_name: String,
    pub clock_skew_seconds: i64,
}

/// One SASL listener's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslListenerConfig {
    /// `SASL_PLAINTEXT` or `SASL_SSL`.
    pub security_protocol: String,
    /// `sasl.enabled.mechanisms`, upper-case, in the order given.
    pub enabled_mechanisms: Vec<String>,
    /// The login module of each mechanism, by upper-case mechanism name.
    pub jaas: BTreeMap<String, JaasEntry>,
    /// `connections.max.reauth.ms` per mechanism (0 = sessions do not expire).
    pub connections_max_reauth_ms: BTreeMap<String, i64>,
    pub oauthbearer: OAuthBearerConfig,
}

impl SaslListenerConfig {
    pub fn is_enabled(&self, mechanism: &str) -> bool {
        self.enabled_mechanisms.iter().any(|m| m == mechanism)
    }

    pub fn max_reauth_ms(&self, mechanism: &str) -> i64 {
        self.connections_max_reauth_ms
            .get(mechanism)
            .copied()
            .unwrap_or(0)
    }
}

/// Every listener's security protocol, and the SASL settings of the SASL ones.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct SecurityConfig {
    /// Listener name (upper-case) → security protocol.
    pub protocols: BTreeMap<String, String>,
    /// Listener name (upper-case) → its SASL settings, for SASL listeners.
    pub sasl: BTreeMap<String, SaslListenerConfig>,
    /// `connection.failed.authentication.delay.ms`.
    pub failed_authentication_delay_ms: u64,
    /// `sasl.mechanism.inter.broker.protocol`.
    pub sasl_mechanism_inter_broker: String,
    /// `sasl.mechanism.controller.protocol`.
    pub sasl_mechanism_controller: String,
    /// `sasl.server.max.receive.size`: the largest request before a SASL
    /// connection has first authenticated.
    pub sasl_server_max_receive_size: usize,
}

impl SecurityConfig {
    pub fn protocol(&self, listener: &str) -> &str {
        self.protocols
            .get(listener)
            .map(String::as_str)
            .unwrap_or("PLAINTEXT")
    }

    pub fn sasl_listener(&self, listener: &str) -> Option<&SaslListenerConfig> {
        self.sasl.get(listener)
    }
}

pub(crate) fn is_sasl(protocol: &str) -> bool {
    protocol == "SASL_PLAINTEXT" || protocol == "SASL_SSL"
}

/// Reads the SASL settings; `protocols` maps every listener to its protocol.
pub(crate) fn security_config(
    props: &Properties,
    cfg: &Effective<'_>,
    listeners: &[Listener],
    protocols: BTreeMap<String, String>,
) -> Result<SecurityConfig, ConfigError> {
    // listener (upper) → rest → (value, origin)
    let mut per_listener: BTreeMap<String, BTreeMap<String, (String, Origin)>> = BTreeMap::new();
    for p in props.iter() {
        if let Some((listener, rest)) = split_listener_key(&p.key) {
            if is_sasl_listener_key(&p.key) {
                per_listener
                    .entry(listener.to_ascii_uppercase())
                    .or_default()
                    .insert(rest.to_owned(), (p.value.clone(), p.origin.clone()));
            }
        }
    }
    let invalid =
        |key: String, value: &str, expected: String, origin: &Origin| ConfigError::InvalidValue {
            key,
            value: value.to_owned(),
            expected,
            origin: origin.clone(),
        };
    let mut sasl = BTreeMap::new();
    let controller_names = crate::broker_config::controller_names(cfg);
    let controller_mechanism = cfg
        .string("sasl.mechanism.controller.protocol")
        .unwrap_or_else(|| "GSSAPI".into())
        .trim()
        .to_ascii_uppercase();
    for (name, protocol) in &protocols {
        if !is_sasl(protocol) {
            continue;
        }
        // A controller listener a broker-only node does not serve: only how it dials.
        let served = listeners.iter().any(|l| &l.name == name);
        let is_controller = controller_names.contains(name);
        // Only the name is used below.
        let l = Listener {
            name: name.clone(),
            host: String::new(),
            port: 0,
        };
        let own = per_listener.remove(&l.name).unwrap_or_default();
        let prefix = format!("listener.name.{}.", l.name.to_ascii_lowercase());
        if is_controller && controller_mechanism != "PLAIN" {
            return Err(cfg.conflict(
                "sasl.mechanism.controller.protocol",
                format!(
                    "{controller_mechanism}: controller listener {} uses {protocol}, and Strom's controller quorum authenticates with PLAIN only (GSSAPI is not supported; SCRAM cannot work there, its credentials live in the metadata the quorum serves); set sasl.mechanism.controller.protocol=PLAIN",
                    l.name
                ),
            ));
        }
        let string_of = |key: &str| -> Option<String> {
            match own.get(key) {
                Some((v, _)) => Some(v.clone()),
                None => cfg.string(key),
            }
        };
        let list_of = |key: &str| -> Vec<String> {
            match own.get(key) {
                Some((v, _)) => v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect(),
                None => cfg.list(key).unwrap_or_default(),
            }
        };
        let int_of = |key: &str| -> Result<i64, ConfigError> {
            match own.get(key) {
                Some((v, origin)) => v
                    .trim()
                    .parse::<i64>()
                    .map_err(|_| invalid(format!("{prefix}{key}"), v, "an integer".into(), origin)),
                None => Ok(cfg.int(key)),
            }
        };
        let enabled_mechanisms: Vec<String> = if served {
            list_of("sasl.enabled.mechanisms")
                .into_iter()
                .map(|m| m.to_ascii_uppercase())
                .collect()
        } else {
            Vec::new()
        };
        if is_controller && served && !enabled_mechanisms.iter().any(|m| m == "PLAIN") {
            return Err(cfg.conflict(
                "sasl.enabled.mechanisms",
                format!(
                    "controller listener {} must enable PLAIN, the mechanism of sasl.mechanism.controller.protocol: set {prefix}sasl.enabled.mechanisms=PLAIN",
                    l.name
                ),
            ));
        }
        // The mechanisms whose login module is read: the enabled ones, and on a controller
        // listener PLAIN, whose username and password this node presents.
        let mut with_login = enabled_mechanisms.clone();
        if is_controller && !with_login.iter().any(|m| m == "PLAIN") {
            with_login.push("PLAIN".into());
        }
        let mut jaas = BTreeMap::new();
        let mut reauth = BTreeMap::new();
        let listener_reauth = int_of("connections.max.reauth.ms")?;
        for mechanism in &with_login {
            if !SUPPORTED_MECHANISMS.contains(&mechanism.as_str()) {
                let (key, value, origin) = match own.get("sasl.enabled.mechanisms") {
                    Some((v, o)) => (
                        format!("{prefix}sasl.enabled.mechanisms"),
                        v.clone(),
                        Some(o),
                    ),
                    None => (
                        "sasl.enabled.mechanisms".to_owned(),
                        enabled_mechanisms.join(","),
                        None,
                    ),
                };
                let message = format!(
                    "{value}: listener {} enables {mechanism}, which Strom does not serve (it serves {}); set sasl.enabled.mechanisms (or {prefix}sasl.enabled.mechanisms)",
                    l.name,
                    SUPPORTED_MECHANISMS.join(", ")
                );
                return Err(match origin {
                    Some(o) => ConfigError::Conflict {
                        key,
                        origin: Some(o.clone()),
                        message,
                    },
                    None => cfg.conflict("sasl.enabled.mechanisms", message),
                });
            }
            let lower = mechanism.to_ascii_lowercase();
            let jaas_key = format!("{lower}.sasl.jaas.config");
            if let Some((text, origin)) = own.get(&jaas_key) {
                let entry = parse_jaas_config(text).map_err(|problem| {
                    invalid(
                        format!("{prefix}{jaas_key}"),
                        "[hidden]",
                        format!("one JAAS login module entry ({problem})"),
                        origin,
                    )
                })?;
                jaas.insert(mechanism.clone(), entry);
            }
            let mech_reauth_key = format!("{lower}.connections.max.reauth.ms");
            let value = match own.get(&mech_reauth_key) {
                Some((v, origin)) => v.trim().parse::<i64>().map_err(|_| {
                    invalid(
                        format!("{prefix}{mech_reauth_key}"),
                        v,
                        "an integer".into(),
                        origin,
                    )
                })?,
                None => listener_reauth,
            };
            reauth.insert(mechanism.clone(), value);
        }
        if enabled_mechanisms.iter().any(|m| m == "PLAIN") && !jaas.contains_key("PLAIN") {
            return Err(cfg.conflict(
                "sasl.enabled.mechanisms",
                format!(
                    "listener {} enables PLAIN but has no users: set {prefix}plain.sasl.jaas.config to a PlainLoginModule entry with user_<name>=\"<password>\" options",
                    l.name
                ),
            ));
        }
        if is_controller {
            let login = jaas.get("PLAIN");
            if login.is_none_or(|e: &JaasEntry| {
                e.option("username").is_none() || e.option("password").is_none()
            }) {
                return Err(cfg.conflict(
                    "sasl.mechanism.controller.protocol",
                    format!(
                        "controller listener {} uses {protocol}: set {prefix}plain.sasl.jaas.config to a PlainLoginModule entry with the username and password this node presents to the controllers{}",
                        l.name,
                        if served { " and the user_<name>=\"<password>\" options it accepts" } else { "" }
                    ),
                ));
            }
        }
        let mut validator = OAuthBearerValidator::Unsecured;
        for (rest, (value, origin)) in &own {
            let Some((mechanism, "sasl.server.callback.handler.class")) = mechanism_key(rest)
            else {
                continue;
            };
            let key = format!("{prefix}{rest}");
            let accepted = format!(
                "{OAUTHBEARER_VALIDATOR_CLASS} or {OAUTHBEARER_UNSECURED_VALIDATOR_CLASS} (Strom loads no classes; it has Kafka's built-in handlers)"
            );
            if mechanism != "OAUTHBEARER" {
                return Err(invalid(
                    key,
                    value,
                    format!("nothing: Strom's {mechanism} handler is built in; only OAUTHBEARER takes a handler class, {accepted}"),
                    origin,
                ));
            }
            validator = match value.trim() {
                OAUTHBEARER_VALIDATOR_CLASS | OAUTHBEARER_VALIDATOR_CLASS_OLD => {
                    OAuthBearerValidator::Signed
                }
                OAUTHBEARER_UNSECURED_VALIDATOR_CLASS => OAuthBearerValidator::Unsecured,
                _ => return Err(invalid(key, value, accepted, origin)),
            };
        }
        let jwks_endpoint_url =
            string_of("sasl.oauthbearer.jwks.endpoint.url").filter(|s| !s.trim().is_empty());
        if validator == OAuthBearerValidator::Signed && jwks_endpoint_url.is_none() {
            return Err(cfg.conflict(
                "sasl.oauthbearer.jwks.endpoint.url",
                format!(
                    "listener {} validates OAUTHBEARER tokens with {OAUTHBEARER_VALIDATOR_CLASS}, which needs the keys: set sasl.oauthbearer.jwks.endpoint.url (or {prefix}sasl.oauthbearer.jwks.endpoint.url) to a file: or https: URL of a JWKS",
                    l.name
                ),
            ));
        }
        let non_negative = |key: &str| -> Result<i64, ConfigError> {
            let v = int_of(key)?;
            if v < 0 {
                return Err(cfg.conflict(key, format!("{key} must be at least 0, not {v}")));
            }
            Ok(v)
        };
        let oauthbearer = OAuthBearerConfig {
            validator,
            jwks_refresh_ms: non_negative("sasl.oauthbearer.jwks.endpoint.refresh.ms")?,
            jwks_retry_backoff_ms: non_negative("sasl.oauthbearer.jwks.endpoint.retry.backoff.ms")?,
            jwks_retry_backoff_max_ms: non_negative(
                "sasl.oauthbearer.jwks.endpoint.retry.backoff.max.ms",
            )?,
            jwks_endpoint_url,
            expected_audience: list_of("sasl.oauthbearer.expected.audience"),
            expected_issuer: string_of("sasl.oauthbearer.expected.issuer")
                .filter(|s| !s.is_empty()),
            sub_claim_name: string_of("sasl.oauthbearer.sub.claim.name")
                .unwrap_or_else(|| "sub".into()),
            scope_claim_name: string_of("sasl.oauthbearer.scope.claim.name")
                .unwrap_or_else(|| "scope".into()),
            clock_skew_seconds: int_of("sasl.oauthbearer.clock.skew.seconds")?,
        };
        sasl.insert(
            l.name.clone(),
            SaslListenerConfig {
                security_protocol: protocol.to_owned(),
                enabled_mechanisms,
                jaas,
                connections_max_reauth_ms: reauth,
                oauthbearer,
            },
        );
    }
    if let Some((listener, keys)) = per_listener.into_iter().next() {
        if let Some((rest, (_, origin))) = keys.into_iter().next() {
            return Err(ConfigError::Conflict {
                key: format!("listener.name.{}.{rest}", listener.to_ascii_lowercase()),
                origin: Some(origin),
                message: format!(
                    "names listener {listener}, which is not a SASL listener of this broker"
                ),
            });
        }
    }
    // Kept for the catalogue check: these keys exist.
    debug_assert!(broker_config_def("sasl.enabled.mechanisms").is_some());
    Ok(SecurityConfig {
        protocols,
        sasl,
        failed_authentication_delay_ms: u64::try_from(
            cfg.int("connection.failed.authentication.delay.ms"),
        )
        .unwrap_or(100),
        sasl_mechanism_inter_broker: cfg
            .string("sasl.mechanism.inter.broker.protocol")
            .unwrap_or_else(|| "GSSAPI".into()),
        sasl_mechanism_controller: cfg
            .string("sasl.mechanism.controller.protocol")
            .unwrap_or_else(|| "GSSAPI".into()),
        sasl_server_max_receive_size: usize::try_from(cfg.int("sasl.server.max.receive.size"))
            .unwrap_or(524_288),
    })
}
