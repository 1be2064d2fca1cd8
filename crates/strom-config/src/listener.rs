//! Listeners as Kafka writes them: `NAME://host:port`, comma separated.
//!
//! Following Kafka: the listener name is case-insensitive and kept upper-case; an empty host
//! means every interface; an IPv6 host is written in brackets (`PLAINTEXT://[::1]:9092`) and
//! kept without them. A listener's security protocol comes from
//! `listener.security.protocol.map`, or is its own name when that name is a protocol.

/// One listener: where the broker accepts connections, or what it tells clients to use.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    /// The listener name, upper-case (`PLAINTEXT`, `CONTROLLER`, ...).
    pub name: String,
    /// Host name or IP address without brackets; empty means all interfaces.
    pub host: String,
    /// 0 asks the operating system for a free port (useful in tests).
    pub port: u16,
}

impl Listener {
    /// Whether the host stands for every interface (empty, `0.0.0.0` or `::`).
    pub fn is_wildcard(&self) -> bool {
        matches!(self.host.as_str(), "" | "0.0.0.0" | "::")
    }

    /// The address to bind, as `host:port` with IPv6 in brackets; an empty host binds `0.0.0.0`.
    pub fn bind_address(&self) -> String {
        if self.host.is_empty() {
            format!("0.0.0.0:{}", self.port)
        } else if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "{}://[{}]:{}", self.name, self.host, self.port)
        } else {
            write!(f, "{}://{}:{}", self.name, self.host, self.port)
        }
    }
}

/// Kafka's security protocols.
pub(crate) const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

/// Parses `NAME://host:port,...`; an empty string is an empty list.
pub(crate) fn parse_endpoints(text: &str) -> Result<Vec<Listener>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| parse_endpoint(item.trim()))
        .collect()
}

/// Parses `strom.metrics.listener`: `http://host:port`, or empty for none.
pub fn parse_http_listener(text: &str) -> Result<Option<Listener>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let listener = parse_endpoint(text)?;
    if listener.name != "HTTP" {
        return Err(format!("'{text}' is not http://host:port"));
    }
    Ok(Some(listener))
}

fn parse_endpoint(item: &str) -> Result<Listener, String> {
    let (name, address) = item
        .split_once("://")
        .ok_or_else(|| format!("'{item}' has no NAME://"))?;
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(format!("'{item}' has no valid listener name"));
    }
    let (host, port) = match address.strip_prefix('[') {
        Some(bracketed) => {
            let (host, rest) = bracketed
                .split_once(']')
                .ok_or_else(|| format!("'{item}' has an unclosed '['"))?;
            let port = rest
                .strip_prefix(':')
                .ok_or_else(|| format!("'{item}' has no :port"))?;
            (host, port)
        }
        None => address
            .rsplit_once(':')
            .ok_or_else(|| format!("'{item}' has no :port"))?,
    };
    if !host
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-%._:".contains(&b))
    {
        return Err(format!("'{item}' has an invalid host"));
    }
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("'{item}' has an invalid port"))?;
    let host = if host == "[::]" { "::" } else { host };
    Ok(Listener {
        name: name.to_ascii_uppercase(),
        host: host.to_owned(),
        port,
    })
}

/// Parses `LISTENER_NAME:PROTOCOL,...` into upper-case pairs.
pub(crate) fn parse_protocol_map(text: &str) -> Result<Vec<(String, String)>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    text.split(',')
        .map(|item| {
            let (name, protocol) = item
                .trim()
                .split_once(':')
                .ok_or_else(|| format!("'{item}' is not NAME:PROTOCOL"))?;
            let (name, protocol) = (
                name.trim().to_ascii_uppercase(),
                protocol.trim().to_ascii_uppercase(),
            );
            if name.is_empty() || !SECURITY_PROTOCOLS.contains(&protocol.as_str()) {
                return Err(format!("'{item}' is not NAME:PROTOCOL"));
            }
            Ok((name, protocol))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listener(name: &str, host: &str, port: u16) -> Listener {
        Listener {
            name: name.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn listeners_parse_names_hosts_and_ports() {
        assert_eq!(
            parse_endpoints("PLAINTEXT://:9092, controller://localhost:9093,EXTERNAL://10.0.0.1:0")
                .unwrap(),
            vec![
                listener("PLAINTEXT", "", 9092),
                listener("CONTROLLER", "localhost", 9093),
                listener("EXTERNAL", "10.0.0.1", 0)
            ]
        );
    }

    #[test]
    fn ipv6_hosts_are_bracketed_on_input_and_in_bind_addresses() {
        let parsed = parse_endpoints("PLAINTEXT://[::1]:9092,WILD://[::]:9093").unwrap();
        assert_eq!(parsed[0], listener("PLAINTEXT", "::1", 9092));
        assert_eq!(parsed[0].bind_address(), "[::1]:9092");
        assert_eq!(parsed[0].to_string(), "PLAINTEXT://[::1]:9092");
        assert!(parsed[1].is_wildcard());
    }

    #[test]
    fn an_empty_host_binds_every_interface() {
        let l = listener("PLAINTEXT", "", 9092);
        assert!(l.is_wildcard());
        assert_eq!(l.bind_address(), "0.0.0.0:9092");
        assert!(!listener("PLAINTEXT", "127.0.0.1", 1).is_wildcard());
    }

    #[test]
    fn malformed_listeners_are_rejected() {
        for bad in [
            "localhost:9092",
            "PLAINTEXT://localhost",
            "PLAINTEXT://localhost:65536",
            "://:9092",
            "PLAINTEXT://[::1:9092",
            "PLAIN TEXT://:1",
            "PLAINTEXT://a b:1",
            "PLAINTEXT://:-1",
        ] {
            assert!(parse_endpoints(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_endpoints(" ").unwrap(), vec![]);
    }

    #[test]
    fn the_metrics_listener_is_http_host_port_or_nothing() {
        let l = parse_http_listener("http://127.0.0.1:9644")
            .unwrap()
            .unwrap();
        assert_eq!((l.host.as_str(), l.port), ("127.0.0.1", 9644));
        assert_eq!(
            parse_http_listener("HTTP://:0")
                .unwrap()
                .unwrap()
                .bind_address(),
            "0.0.0.0:0"
        );
        assert_eq!(parse_http_listener("  ").unwrap(), None);
        for bad in [
            "127.0.0.1:9644",
            "PLAINTEXT://127.0.0.1:9644",
            "https://127.0.0.1:9644",
            "http://127.0.0.1",
            "http://a:1,http://b:2",
        ] {
            assert!(parse_http_listener(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn protocol_maps_parse_and_reject_unknown_protocols() {
        assert_eq!(
            parse_protocol_map("CONTROLLER:PLAINTEXT, external:ssl").unwrap(),
            vec![
                ("CONTROLLER".into(), "PLAINTEXT".into()),
                ("EXTERNAL".into(), "SSL".into())
            ]
        );
        assert!(parse_protocol_map("A:TLS").is_err());
        assert!(parse_protocol_map("A").is_err());
    }
}
