//! Who is on the other end of a connection: the listener it came in on, its
//! address and its principal. Handlers read it to answer in the listener's
//! terms and (with an authorizer) to decide what the principal may do.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// Kafka's `KafkaPrincipal`: a type (`User`) and a name. A connection that has
/// not authenticated is `User:ANONYMOUS`, as in Kafka.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct KafkaPrincipal {
    pub principal_type: String,
    pub name: String,
}

impl KafkaPrincipal {
    pub const USER_TYPE: &'static str = "User";

    pub fn user(name: impl Into<String>) -> Self {
        KafkaPrincipal {
            principal_type: Self::USER_TYPE.to_owned(),
            name: name.into(),
        }
    }

    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }
}

impl fmt::Display for KafkaPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// One connection's identity, owned by its connection task and lent to each
/// request's dispatch.
#[derive(Debug)]
pub(crate) struct Session {
    /// The peer's address as text, for log lines.
    pub peer: String,
    pub client_address: SocketAddr,
    /// The listener's name (e.g. `PLAINTEXT`): addresses in answers are given
    /// in its terms.
    pub listener: Arc<str>,
    pub principal: KafkaPrincipal,
    /// SASL state on a SASL listener (`None` elsewhere): until it says
    /// authenticated, only the SASL exchange is served.
    pub sasl: Option<Box<crate::sasl::SaslSession>>,
    /// The connection's mute after a throttled response (KIP-219).
    pub throttle: crate::quota::ConnectionThrottle,
}

impl Session {
    pub fn new(client_address: SocketAddr, listener: Arc<str>) -> Self {
        Session {
            peer: client_address.to_string(),
            client_address,
            listener,
            principal: KafkaPrincipal::anonymous(),
            sasl: None,
            throttle: Default::default(),
        }
    }

    /// The client's host as Kafka's group APIs show it (`/127.0.0.1`).
    pub fn client_host(&self) -> String {
        format!("/{}", self.client_address.ip())
    }
}
