//! How quorum connections are secured: the controller listener's security protocol
//! (`listener.security.protocol.map`) applied to the quorum transport.
//!
//! The TLS configurations are built by the caller (the broker crate reads the listener's
//! `ssl.*` keys with the same loaders as its Kafka listeners) and handed over as a
//! [`QuorumTls`], so this crate knows rustls' types but no configuration keys. SASL is
//! PLAIN only, as Kafka allows for controller listeners besides GSSAPI: SCRAM cannot work
//! there, since its credentials live in the metadata log the quorum serves.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// The TLS side of the controller listener (SSL or SASL_SSL).
pub trait QuorumTls: Send + Sync + 'static {
    /// The server configuration for a connection accepted now (it may have been reloaded);
    /// `None` on a node that does not serve the controller listener.
    fn acceptor(&self) -> Option<TlsAcceptor>;
    /// The client configuration for a connection dialed now.
    fn connector(&self) -> TlsConnector;
}

/// A [`QuorumTls`] whose configurations never change.
#[derive(Clone)]
pub struct FixedQuorumTls {
    pub acceptor: Option<TlsAcceptor>,
    pub connector: TlsConnector,
}

impl QuorumTls for FixedQuorumTls {
    fn acceptor(&self) -> Option<TlsAcceptor> {
        self.acceptor.clone()
    }

    fn connector(&self) -> TlsConnector {
        self.connector.clone()
    }
}

/// The PLAIN credentials this node presents (`username`/`password` of the controller
/// listener's `plain.sasl.jaas.config`).
#[derive(Clone, PartialEq, Eq)]
pub struct PlainCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for PlainCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PlainCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// SASL PLAIN on the controller listener.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct QuorumSasl {
    /// What this node presents when it dials a controller; `None`: it cannot dial
    /// (a start-up check refuses that configuration).
    pub client: Option<PlainCredentials>,
    /// The users a controller accepts (`user_<name>="<password>"` options).
    pub users: BTreeMap<String, String>,
}

impl fmt::Debug for QuorumSasl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuorumSasl")
            .field("client", &self.client)
            .field("users", &self.users.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl QuorumSasl {
    /// Whether `username` with `password` is one of the users, compared in constant time
    /// for a known user (an unknown one costs the same comparison).
    pub(crate) fn verify(&self, username: &str, password: &str) -> bool {
        match self.users.get(username) {
            Some(expected) => constant_time_eq(expected.as_bytes(), password.as_bytes()),
            None => {
                let _ = constant_time_eq(password.as_bytes(), password.as_bytes());
                false
            }
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i).copied().unwrap_or(0));
    }
    diff == 0
}

/// How quorum connections are secured; the default is PLAINTEXT.
#[derive(Clone, Default)]
pub struct QuorumSecurity {
    /// The controller listener's security protocol, for log lines.
    pub protocol: String,
    /// SSL and SASL_SSL.
    pub tls: Option<Arc<dyn QuorumTls>>,
    /// SASL_PLAINTEXT and SASL_SSL.
    pub sasl: Option<QuorumSasl>,
}

impl fmt::Debug for QuorumSecurity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QuorumSecurity")
            .field("protocol", &self.protocol)
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_verification_needs_the_exact_password_of_a_known_user() {
        let sasl = QuorumSasl {
            client: None,
            users: [("admin".to_owned(), "admin-secret".to_owned())].into(),
        };
        assert!(sasl.verify("admin", "admin-secret"));
        assert!(!sasl.verify("admin", "admin-secre"));
        assert!(!sasl.verify("admin", "admin-secret!"));
        assert!(!sasl.verify("nobody", "admin-secret"));
        assert!(!sasl.verify("admin", ""));
    }
}
