//! Per-listener configuration, Kafka's rule: `listener.name.<listener>.<key>` (the listener
//! name lower-case) overrides `<key>` for connections of that listener. The keys Kafka allows
//! per listener are the security ones (`ssl.*`, `sasl.*`), the re-authentication interval and
//! the connection limits; any of them may be set in server.properties with the prefix, and
//! (when the key is dynamic) changed for one broker by AlterConfigs.

use crate::broker_config::broker_config_def;
use crate::def::ConfigDef;

/// The prefix of a per-listener key.
pub const LISTENER_PREFIX: &str = "listener.name.";

/// Whether `key` may be set per listener.
pub fn listener_overridable(key: &str) -> bool {
    key.starts_with("ssl.")
        || key.starts_with("sasl.")
        || matches!(
            key,
            "connections.max.reauth.ms"
                | "max.connections"
                | "max.connection.creation.rate"
                | "principal.builder.class"
        )
}

/// `listener.name.<l>.<key>` as (`l`, `key`) when `key` may be set per listener; `None` for
/// any other name. The listener part is returned as written (Kafka expects it lower-case).
pub fn split_listener_key(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix(LISTENER_PREFIX)?;
    let (listener, key) = rest.split_once('.')?;
    let valid_name = !listener.is_empty()
        && listener
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    (valid_name && listener_overridable(key)).then_some((listener, key))
}

/// The definition that validates a key: its own, or for `listener.name.<l>.<key>` the one of
/// `<key>`.
pub fn config_def_for(name: &str) -> Option<&'static ConfigDef> {
    broker_config_def(name).or_else(|| {
        let (_, key) = split_listener_key(name)?;
        broker_config_def(key)
    })
}

/// The per-listener name of `key` for `listener` (any case): `listener.name.ssl.<key>`.
pub fn listener_key(listener: &str, key: &str) -> String {
    format!("{LISTENER_PREFIX}{}.{key}", listener.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_keys_split_into_listener_and_key() {
        assert_eq!(
            split_listener_key("listener.name.external.ssl.keystore.location"),
            Some(("external", "ssl.keystore.location"))
        );
        assert_eq!(
            split_listener_key("listener.name.sasl_ssl.sasl.enabled.mechanisms"),
            Some(("sasl_ssl", "sasl.enabled.mechanisms"))
        );
        assert_eq!(split_listener_key("listener.name.x.log.retention.ms"), None);
        assert_eq!(split_listener_key("listener.name..ssl.client.auth"), None);
        assert_eq!(split_listener_key("ssl.client.auth"), None);
        assert_eq!(
            listener_key("EXTERNAL", "ssl.client.auth"),
            "listener.name.external.ssl.client.auth"
        );
    }

    #[test]
    fn a_listener_key_is_validated_as_its_base_key() {
        let def = config_def_for("listener.name.ssl.ssl.client.auth").unwrap();
        assert_eq!(def.name, "ssl.client.auth");
        assert!(def.parse("required").is_ok());
        assert!(def.parse("sometimes").is_err());
        assert!(config_def_for("listener.name.ssl.no.such.key").is_none());
    }
}
