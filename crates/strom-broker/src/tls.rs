//! TLS listeners (Kafka's `SSL` security protocol, and the transport of `SASL_SSL`).
//!
//! Each TLS listener has an acceptor built from its keys (`listener.name.<l>.ssl.*`, else
//! `ssl.*`): a PEM key store (the broker's key and certificate chain), a PEM trust store (the
//! CAs client certificates must chain to), `ssl.client.auth`, `ssl.enabled.protocols` and
//! `ssl.cipher.suites`. A bad file or password stops start-up with a message naming the key.
//!
//! Revocation: Kafka has no broker key for CRLs (Java takes them from JVM properties), so a
//! PEM trust store may hold `-----BEGIN X509 CRL-----` blocks beside its CA certificates; a
//! client certificate one of them lists is refused at the handshake (only the client's own
//! certificate is checked, and one whose CA has no CRL in the file is not refused for it).
//! The CRLs are read with the trust store, so they are reloaded with it.
//!
//! The acceptor can be replaced at run time (KIP-226): AlterConfigs of this broker's
//! listener SSL keys builds a new one from the configuration as it would become, refuses the
//! change (INVALID_CONFIG) if it does not load, and installs it once the controller has
//! stored the change; altering a key to the same value re-reads the files (a rotated
//! certificate at the same path), as Kafka does. A configuration change seen in the metadata
//! (another broker forwarded it) rebuilds the acceptor when the keys' values differ. New
//! connections use the new acceptor; open ones keep theirs.
//!
//! The handshake is bounded by `connections.max.idle.ms` (a client that opens the port and
//! says nothing is closed, as Kafka's selector closes it) and holds its `max.connections`
//! slot meanwhile. A client certificate's subject becomes the principal through
//! `ssl.principal.mapping.rules`; without one the principal stays `User:ANONYMOUS`.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;
use rustls::server::WebPkiClientVerifier;
use strom_client::tls::{
    protocol_versions, provider, read_stores, root_store, subject_name, ClientTls,
};
use strom_config::{BrokerConfig, SslPrincipalMapper};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;
use tracing::{error, info};

use crate::session::KafkaPrincipal;

/// The keys an acceptor is built from (each also per listener).
pub(crate) const SSL_KEYS: &[&str] = &[
    "ssl.keystore.type",
    "ssl.keystore.location",
    "ssl.keystore.certificate.chain",
    "ssl.keystore.key",
    "ssl.key.password",
    "ssl.truststore.type",
    "ssl.truststore.location",
    "ssl.truststore.certificates",
    "ssl.client.auth",
    "ssl.enabled.protocols",
    "ssl.cipher.suites",
];

/// Every TLS listener of the broker.
#[derive(Default)]
pub(crate) struct TlsListeners {
    listeners: Vec<Arc<ListenerTls>>,
}

/// A new acceptor for a listener, not yet installed, the keys' values it was built from, and
/// (for the inter-broker listener) the new client of this broker's connections to others.
pub(crate) type Prepared = (
    Arc<ListenerTls>,
    TlsAcceptor,
    Vec<Option<String>>,
    Option<ClientTls>,
);

/// The TLS client of this broker's connections to other brokers, replaced when the
/// inter-broker listener's stores are reloaded: each new connection (a replica fetcher
/// reconnecting, a transaction marker sender) takes the current one; open ones keep theirs.
#[derive(Clone, Default)]
pub(crate) struct InterBrokerTls(Arc<RwLock<Option<ClientTls>>>);

impl InterBrokerTls {
    pub fn new(client: Option<ClientTls>) -> InterBrokerTls {
        InterBrokerTls(Arc::new(RwLock::new(client)))
    }

    /// The client for a connection opened now; `None` when the listener has no TLS.
    pub fn current(&self) -> Option<ClientTls> {
        self.0.read().clone()
    }

    fn replace(&self, client: ClientTls) {
        *self.0.write() = Some(client);
    }
}

/// One TLS listener's acceptor (replaceable) and principal rules.
pub(crate) struct ListenerTls {
    /// The listener name, upper-case.
    pub name: String,
    current: RwLock<Installed>,
    mapper: SslPrincipalMapper,
    /// On the inter-broker listener: the client rebuilt with the acceptor.
    inter_broker: Option<InterBrokerTls>,
}

struct Installed {
    acceptor: TlsAcceptor,
    /// The keys' values it was built from.
    fingerprint: Vec<Option<String>>,
}

/// A connection's TLS outcome: the stream and the principal its certificate maps to.
pub(crate) struct Accepted<S> {
    pub stream: TlsStream<S>,
    pub principal: KafkaPrincipal,
}

impl TlsListeners {
    /// Builds the acceptor of every listener named whose security protocol is SSL or
    /// SASL_SSL; the error says which listener and key to fix.
    pub fn new(config: &BrokerConfig, names: &[String]) -> Result<TlsListeners, String> {
        let mut listeners = Vec::new();
        for name in names {
            if !matches!(config.listener_security_protocol(name), "SSL" | "SASL_SSL") {
                continue;
            }
            let acceptor = build_acceptor(config, name)?;
            let rules = config
                .listener_value(name, "ssl.principal.mapping.rules")
                .unwrap_or_else(|| "DEFAULT".into());
            let mapper = SslPrincipalMapper::parse(&rules)
                .map_err(|e| format!("listener {name}: ssl.principal.mapping.rules: {e}"))?;
            let inter_broker = match &config.quorum.inter_broker_listener_name {
                Some(l) if l == name => Some(InterBrokerTls::new(inter_broker_client(config)?)),
                _ => None,
            };
            listeners.push(Arc::new(ListenerTls {
                name: name.clone(),
                current: RwLock::new(Installed {
                    acceptor,
                    fingerprint: fingerprint(config, name),
                }),
                mapper,
                inter_broker,
            }));
        }
        Ok(TlsListeners { listeners })
    }

    pub fn get(&self, name: &str) -> Option<Arc<ListenerTls>> {
        self.listeners.iter().find(|l| l.name == name).cloned()
    }

    /// The client of connections to other brokers: reloaded with the inter-broker
    /// listener's acceptor when that listener is one of these; else built once from
    /// `config` (no TLS: empty).
    pub fn inter_broker(&self, config: &BrokerConfig) -> Result<InterBrokerTls, String> {
        if let Some(handle) = self.listeners.iter().find_map(|l| l.inter_broker.clone()) {
            return Ok(handle);
        }
        inter_broker_client(config).map(InterBrokerTls::new)
    }

    /// New acceptors for the listeners whose keys `changed` names (or all of them, for an
    /// unprefixed key), built from `config`: the configuration as the change would make it.
    pub fn prepare(
        &self,
        config: &BrokerConfig,
        changed: &[String],
    ) -> Result<Vec<Prepared>, String> {
        let mut prepared = Vec::new();
        for listener in &self.listeners {
            let touched = changed.iter().any(|key| {
                let base = match strom_config::split_listener_key(key) {
                    Some((l, base)) if l.eq_ignore_ascii_case(&listener.name) => base,
                    Some(_) => return false,
                    None => key.as_str(),
                };
                SSL_KEYS.contains(&base)
            });
            if !touched {
                continue;
            }
            let acceptor = build_acceptor(config, &listener.name)?;
            let client = match &listener.inter_broker {
                Some(_) => inter_broker_client(config)?,
                None => None,
            };
            prepared.push((
                listener.clone(),
                acceptor,
                fingerprint(config, &listener.name),
                client,
            ));
        }
        Ok(prepared)
    }

    /// Installs acceptors from [`TlsListeners::prepare`]: new connections use them.
    pub fn install(prepared: Vec<Prepared>) {
        for (listener, acceptor, fingerprint, client) in prepared {
            *listener.current.write() = Installed {
                acceptor,
                fingerprint,
            };
            info!(listener = %listener.name, "TLS key and trust stores reloaded; new connections use them");
            if let (Some(handle), Some(client)) = (&listener.inter_broker, client) {
                handle.replace(client);
                info!(listener = %listener.name, "inter-broker TLS client reloaded; new connections to other brokers use it");
            }
        }
    }

    /// The effective configuration changed (a metadata image): rebuilds the acceptor of each
    /// listener whose keys now have other values. One that does not load is logged and the
    /// old one kept.
    pub fn config_changed(&self, config: &BrokerConfig) {
        for listener in &self.listeners {
            let now = fingerprint(config, &listener.name);
            if listener.current.read().fingerprint == now {
                continue;
            }
            let built = build_acceptor(config, &listener.name).and_then(|acceptor| {
                let client = match &listener.inter_broker {
                    Some(_) => inter_broker_client(config)?,
                    None => None,
                };
                Ok((acceptor, client))
            });
            match built {
                Ok((acceptor, client)) => {
                    Self::install(vec![(listener.clone(), acceptor, now, client)])
                }
                Err(e) => {
                    error!(listener = %listener.name, "new TLS configuration not used (the previous one stays): {e}");
                    listener.current.write().fingerprint = now;
                }
            }
        }
    }
}

impl ListenerTls {
    /// The TLS handshake within `timeout`, and the principal of the client certificate.
    /// The error is one line for the log.
    pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        timeout: Option<Duration>,
    ) -> Result<Accepted<S>, String> {
        let acceptor = self.current.read().acceptor.clone();
        let handshake = acceptor.accept(stream);
        let stream = match timeout {
            Some(limit) => tokio::time::timeout(limit, handshake).await.map_err(|_| {
                format!("no TLS handshake within connections.max.idle.ms ({limit:?})")
            })?,
            None => handshake.await,
        }
        .map_err(|e| describe_handshake_error(&e))?;
        let principal = {
            let (_, connection) = stream.get_ref();
            match connection.peer_certificates().and_then(|c| c.first()) {
                None => KafkaPrincipal::anonymous(),
                Some(cert) => {
                    let dn = subject_name(cert)
                        .ok_or("the client certificate's subject does not parse")?;
                    let name = self.mapper.name(&dn).ok_or_else(|| {
                        format!("no ssl.principal.mapping.rules rule applies to {dn}")
                    })?;
                    KafkaPrincipal::user(name)
                }
            }
        };
        Ok(Accepted { stream, principal })
    }
}

/// A failed handshake as one line: plaintext Kafka spoken to a TLS port is named as such.
fn describe_handshake_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    if text.contains("InvalidContentType") || text.contains("invalid content type") {
        format!("TLS handshake failed ({text}): the client speaks plaintext to a TLS listener (use security.protocol=SSL)")
    } else if text.contains("Revoked") {
        format!("TLS handshake failed ({text}): the client certificate is revoked by a CRL of the listener's trust store")
    } else {
        format!("TLS handshake failed: {text}")
    }
}

fn fingerprint(config: &BrokerConfig, listener: &str) -> Vec<Option<String>> {
    SSL_KEYS
        .iter()
        .map(|key| config.listener_value(listener, key))
        .collect()
}

/// The listener's acceptor from its keys; every error names the listener and the key.
fn build_acceptor(config: &BrokerConfig, listener: &str) -> Result<TlsAcceptor, String> {
    let get = |key: &str| config.listener_value(listener, key);
    let fail = |e: String| format!("listener {listener}: {e}");
    let list = |key: &str| -> Vec<String> {
        get(key)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let stores = read_stores(&get).map_err(fail)?;
    let Some((chain, key)) = stores.identity else {
        return Err(fail(format!(
            "an SSL listener needs its key and certificate: set ssl.keystore.type=PEM and ssl.keystore.location (one PEM file: private key and certificate chain), or listener.name.{}.ssl.keystore.location",
            listener.to_ascii_lowercase()
        )));
    };
    let provider = provider(&list("ssl.cipher.suites"))
        .map_err(|e| fail(format!("ssl.cipher.suites: {e}")))?;
    let versions = protocol_versions(&list("ssl.enabled.protocols"))
        .map_err(|e| fail(format!("ssl.enabled.protocols: {e}")))?;
    let client_auth = get("ssl.client.auth").unwrap_or_else(|| "none".into());
    let verifier = match client_auth.trim() {
        "none" => WebPkiClientVerifier::no_client_auth(),
        mode @ ("required" | "requested") => {
            let Some(trusted) = &stores.trusted else {
                return Err(fail(format!(
                    "ssl.client.auth={mode} needs ssl.truststore.location (a PEM file of the CAs client certificates are signed by) and ssl.truststore.type=PEM"
                )));
            };
            let roots = Arc::new(root_store(trusted).map_err(fail)?);
            let mut builder = WebPkiClientVerifier::builder_with_provider(roots, provider.clone());
            if !stores.crls.is_empty() {
                // Revocation of the client's own certificate, by the CRLs the trust store
                // holds; a certificate whose CA has no CRL there is not refused for it.
                builder = builder
                    .with_crls(stores.crls.iter().cloned())
                    .only_check_end_entity_revocation()
                    .allow_unknown_revocation_status();
            }
            let builder = if mode == "requested" {
                builder.allow_unauthenticated()
            } else {
                builder
            };
            builder
                .build()
                .map_err(|e| fail(format!("the trust store cannot verify clients: {e}")))?
        }
        other => {
            return Err(fail(format!(
                "ssl.client.auth={other}: use required, requested or none"
            )))
        }
    };
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&versions)
        .map_err(|e| {
            fail(format!(
                "ssl.enabled.protocols and ssl.cipher.suites have no suite in common: {e}"
            ))
        })?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key.clone_key())
        .map_err(|e| {
            fail(format!(
                "the key store's private key does not fit its certificate (or is of a kind rustls cannot use): {e}"
            ))
        })?;
    Ok(TlsAcceptor::from(Arc::new(server)))
}

/// The TLS client of this broker's own connections to other brokers (the replica fetcher,
/// transaction markers and verification) when `inter.broker.listener.name` is an SSL
/// listener: it trusts that listener's trust store, presents its key store (for listeners
/// with `ssl.client.auth`), and checks host names unless
/// `ssl.endpoint.identification.algorithm` is empty. `None` for a plaintext listener.
pub(crate) fn inter_broker_client(config: &BrokerConfig) -> Result<Option<ClientTls>, String> {
    let Some(listener) = &config.quorum.inter_broker_listener_name else {
        return Ok(None);
    };
    listener_client(
        config,
        listener,
        "inter-broker listener",
        "brokers connect to each other",
    )
}

/// The TLS client of connections to `listener` of other nodes, from that listener's keys;
/// `None` for a listener without TLS. Errors name `what` and the listener.
fn listener_client(
    config: &BrokerConfig,
    listener: &str,
    what: &str,
    who: &str,
) -> Result<Option<strom_client::tls::ClientTls>, String> {
    if !matches!(
        config.listener_security_protocol(listener),
        "SSL" | "SASL_SSL"
    ) {
        return Ok(None);
    }
    let get = |key: &str| config.listener_value(listener, key);
    let fail = |e: String| format!("{what} {listener}: {e}");
    let list = |key: &str| -> Vec<String> {
        get(key)
            .unwrap_or_default()
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect()
    };
    let stores = read_stores(&get).map_err(fail)?;
    let Some(trusted) = stores.trusted else {
        return Err(fail(format!(
            "{who} over TLS and need to trust each other's certificates: set ssl.truststore.type=PEM and ssl.truststore.location (the CA's PEM), or listener.name.{}.ssl.truststore.location",
            listener.to_ascii_lowercase()
        )));
    };
    let settings = strom_client::tls::ClientTlsSettings {
        trusted,
        identity: stores.identity,
        verify_hostname: !get("ssl.endpoint.identification.algorithm")
            .unwrap_or_default()
            .trim()
            .is_empty(),
        protocols: list("ssl.enabled.protocols"),
        cipher_suites: list("ssl.cipher.suites"),
    };
    strom_client::tls::ClientTls::new(&settings)
        .map(Some)
        .map_err(fail)
}

/// The controller listener's TLS for the quorum transport: this node's acceptor when it is
/// a controller (the listener's key store, trust store and `ssl.client.auth`, as on a Kafka
/// listener), and the client configuration it dials the controllers with (the same
/// listener's trust store, and its key store for mutual TLS).
pub(crate) struct ControllerTls {
    server: Option<Arc<ListenerTls>>,
    client: RwLock<tokio_rustls::TlsConnector>,
}

impl strom_controller::QuorumTls for ControllerTls {
    fn acceptor(&self) -> Option<TlsAcceptor> {
        self.server
            .as_ref()
            .map(|l| l.current.read().acceptor.clone())
    }

    fn connector(&self) -> tokio_rustls::TlsConnector {
        self.client.read().clone()
    }
}

/// How this node's quorum connections are secured: the security protocol of the first
/// controller listener (`controller.listener.names`), its TLS stores, and PLAIN credentials
/// from its `plain.sasl.jaas.config` (`username`/`password` presented, `user_<name>`
/// accepted). `serve`: this node is a controller and accepts quorum connections. Every
/// error names the listener and the key.
pub(crate) fn controller_quorum_security(
    config: &BrokerConfig,
    serve: bool,
) -> Result<(strom_controller::QuorumSecurity, Option<Arc<ListenerTls>>), String> {
    let Some(listener) = config.quorum.controller_listener_names.first() else {
        return Ok((strom_controller::QuorumSecurity::default(), None));
    };
    let protocol = config.listener_security_protocol(listener);
    let mut security = strom_controller::QuorumSecurity {
        protocol: protocol.to_owned(),
        ..Default::default()
    };
    let mut server_tls = None;
    if let Some(client) = listener_client(
        config,
        listener,
        "controller listener",
        "controllers, and brokers reaching them, connect",
    )? {
        if serve {
            server_tls = TlsListeners::new(config, std::slice::from_ref(listener))?.get(listener);
        }
        security.tls = Some(Arc::new(ControllerTls {
            server: server_tls.clone(),
            client: RwLock::new(client.connector()),
        }));
    }
    if matches!(protocol, "SASL_PLAINTEXT" | "SASL_SSL") {
        // Checked at start-up (strom-config): a SASL controller listener has a PLAIN login
        // module with a username and password.
        let login = config
            .security
            .sasl_listener(listener)
            .and_then(|l| l.jaas.get("PLAIN"))
            .ok_or_else(|| {
                format!(
                    "controller listener {listener}: set listener.name.{}.plain.sasl.jaas.config",
                    listener.to_ascii_lowercase()
                )
            })?;
        security.sasl = Some(strom_controller::QuorumSasl {
            client: match (login.option("username"), login.option("password")) {
                (Some(username), Some(password)) => Some(strom_controller::PlainCredentials {
                    username: username.to_owned(),
                    password: password.to_owned(),
                }),
                _ => None,
            },
            users: if serve {
                login.plain_users()
            } else {
                Default::default()
            },
        });
    }
    Ok((security, server_tls))
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_config::Properties;

    fn config(text: &str) -> BrokerConfig {
        BrokerConfig::from_properties(&Properties::parse(text).unwrap()).unwrap()
    }

    #[test]
    fn an_ssl_listener_without_a_key_store_stops_start_up_naming_the_key() {
        let c = config("listeners=PLAINTEXT://:9092,SSL://:9093");
        let names = vec!["PLAINTEXT".to_owned(), "SSL".to_owned()];
        let err = TlsListeners::new(&c, &names).err().unwrap();
        assert!(err.starts_with("listener SSL: "), "{err}");
        assert!(err.contains("ssl.keystore.location"), "{err}");
        // Plaintext listeners need nothing.
        let plain = config("listeners=PLAINTEXT://:9092");
        let tls = TlsListeners::new(&plain, &["PLAINTEXT".to_owned()]).unwrap();
        assert!(tls.get("PLAINTEXT").is_none());
    }

    #[test]
    fn key_store_errors_name_the_per_listener_key_and_the_fix() {
        let c = config(
            "listeners=SSL://:9093\n\
             listener.name.ssl.ssl.keystore.location=/nonexistent/broker.pem",
        );
        let err = TlsListeners::new(&c, &["SSL".to_owned()]).err().unwrap();
        assert!(err.contains("ssl.keystore.type=PEM"), "{err}");
        let c = config(
            "listeners=SSL://:9093\n\
             listener.name.ssl.ssl.keystore.type=PEM\n\
             listener.name.ssl.ssl.keystore.location=/nonexistent/broker.pem",
        );
        let err = TlsListeners::new(&c, &["SSL".to_owned()]).err().unwrap();
        assert!(
            err.contains("ssl.keystore.location /nonexistent/broker.pem cannot be read"),
            "{err}"
        );
    }

    #[test]
    fn an_inter_broker_ssl_listener_needs_a_trust_store() {
        let c = config(
            "listeners=PLAINTEXT://:9092,INTERNAL://:9094\n\
             listener.security.protocol.map=PLAINTEXT:PLAINTEXT,INTERNAL:SSL\n\
             inter.broker.listener.name=INTERNAL",
        );
        let err = inter_broker_client(&c).err().unwrap();
        assert!(err.contains("inter-broker listener INTERNAL"), "{err}");
        assert!(err.contains("ssl.truststore.location"), "{err}");
        assert!(inter_broker_client(&config("listeners=PLAINTEXT://:9092"))
            .unwrap()
            .is_none());
    }

    #[test]
    fn the_quorum_follows_the_controller_listener_security_protocol() {
        let base = "node.id=1\ncontroller.quorum.voters=1@127.0.0.1:9093,2@127.0.0.1:9095\n\
                    listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n";
        // PLAINTEXT: nothing to secure.
        let (plain, _) = controller_quorum_security(&config(base), true).unwrap();
        assert!(plain.tls.is_none() && plain.sasl.is_none());
        // SSL without a trust store: the error names the listener and the key.
        let ssl = config(&format!(
            "{base}listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SSL"
        ));
        let err = controller_quorum_security(&ssl, true).err().unwrap();
        assert!(err.starts_with("controller listener CONTROLLER: "), "{err}");
        assert!(
            err.contains("listener.name.controller.ssl.truststore.location"),
            "{err}"
        );
        // SASL_PLAINTEXT: PLAIN credentials presented, users accepted on a controller only.
        let sasl = config(&format!(
            "{base}listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:SASL_PLAINTEXT\n\
             sasl.mechanism.controller.protocol=PLAIN\nsasl.enabled.mechanisms=PLAIN\n\
             listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username=\"c\" password=\"s\" user_c=\"s\";"
        ));
        let (served, _) = controller_quorum_security(&sasl, true).unwrap();
        let plain = served.sasl.unwrap();
        assert_eq!(plain.client.unwrap().username, "c");
        assert_eq!(plain.users.get("c").map(String::as_str), Some("s"));
        assert!(served.tls.is_none());
        let (dialing, _) = controller_quorum_security(&sasl, false).unwrap();
        assert!(dialing.sasl.unwrap().users.is_empty());
    }

    #[test]
    fn handshake_errors_name_a_plaintext_client() {
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "received corrupt message of type InvalidContentType",
        );
        assert!(describe_handshake_error(&e).contains("speaks plaintext to a TLS listener"));
        let e = std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "invalid peer certificate: Revoked",
        );
        assert!(describe_handshake_error(&e).contains("the client certificate is revoked"));
        let e = std::io::Error::new(std::io::ErrorKind::InvalidData, "peer sent no certificates");
        assert_eq!(
            describe_handshake_error(&e),
            "TLS handshake failed: peer sent no certificates"
        );
    }
}
