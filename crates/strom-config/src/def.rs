//! What a configuration key is: its Kafka type, default, valid values, documentation and whether
//! Strom acts on it. One [`ConfigDef`] per key, kept in the tables of `broker_defs` and
//! `topic_defs`, is the single source for validation, typed config, DescribeConfigs and docs.
//!
//! Parsing follows Kafka's `ConfigDef.parseType`: values are trimmed, booleans are `true`/`false`
//! in any case, numbers must fit the Kafka type (INT is 32-bit, LONG 64-bit), lists are comma
//! separated with blanks around items ignored.

use std::fmt::Write as _;

/// Kafka's configuration types, with their DescribeConfigs wire codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConfigType {
    Unknown,
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The `ConfigType` code of DescribeConfigs responses (v3+).
    pub fn code(self) -> i8 {
        match self {
            ConfigType::Unknown => 0,
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// Kafka's name for the type, as its error messages and docs spell it.
    pub fn kafka_name(self) -> &'static str {
        match self {
            ConfigType::Unknown => "UNKNOWN",
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }

    fn integer_bounds(self) -> Option<(i64, i64)> {
        match self {
            ConfigType::Short => Some((i16::MIN.into(), i16::MAX.into())),
            ConfigType::Int => Some((i32::MIN.into(), i32::MAX.into())),
            ConfigType::Long => Some((i64::MIN, i64::MAX)),
            _ => None,
        }
    }
}

/// The values a key accepts beyond its type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Validity {
    /// Anything of the right type.
    Any,
    /// An integer at least this large.
    AtLeast(i64),
    /// An integer between the two bounds, inclusive.
    Range(i64, i64),
    /// A number between the two bounds, inclusive.
    Between(f64, f64),
    /// One of these strings (case-sensitive, as in Kafka).
    OneOf(&'static [&'static str]),
    /// A list whose items are each one of these strings; may be empty.
    ListOf(&'static [&'static str]),
    /// A non-empty list without duplicates (directories).
    NonEmptyDistinctList,
    /// `NAME://host:port,...` as `listeners` takes it.
    Listeners,
    /// `http://host:port`, or empty for none.
    HttpListener,
    /// `NAME:PROTOCOL,...` as `listener.security.protocol.map` takes it.
    ProtocolMap,
    /// `id@host:port,...` as `controller.quorum.voters` takes it.
    QuorumVoters,
    /// `host:port,...`.
    HostPorts,
    /// A Kafka cluster id: a UUID in URL-safe base64 without padding (22 characters).
    ClusterId,
    /// `host:count,...` with counts >= 0, as `max.connections.per.ip.overrides` takes it.
    HostCounts,
    /// `partition:broker,...` or `*`, as `leader.replication.throttled.replicas` takes it.
    ThrottledReplicas,
}

/// How a broker-level synonym's value becomes the topic-level value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conversion {
    Identity,
    MinutesToMillis,
    HoursToMillis,
}

impl Conversion {
    pub(crate) fn apply(self, value: i64) -> i64 {
        match self {
            Conversion::Identity => value,
            Conversion::MinutesToMillis => value.saturating_mul(60_000),
            Conversion::HoursToMillis => value.saturating_mul(3_600_000),
        }
    }
}

/// A broker configuration that supplies a topic configuration's default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Synonym {
    pub name: &'static str,
    pub conversion: Conversion,
}

/// One configuration key.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ConfigDef {
    /// Kafka's key, e.g. `log.segment.bytes`; Strom's own keys start with `strom.`.
    pub name: &'static str,
    pub config_type: ConfigType,
    /// The default as Kafka would print it; `None` is Kafka's `null` (unset).
    pub default: Option<&'static str>,
    pub validity: Validity,
    /// The unit of a number (`bytes`, `ms`, `hours`...), empty when it has none.
    pub unit: &'static str,
    /// One line of documentation.
    pub doc: &'static str,
    /// Whether setting this key changes what Strom does today.
    pub acted_on: bool,
    /// For broker configurations: whether AlterConfigs may change it at run time, as the
    /// cluster-wide default or for one broker (Kafka's `DynamicBrokerConfig.AllDynamicConfigs`,
    /// update mode "cluster-wide"); otherwise it is read-only and only server.properties sets
    /// it. False for topic configurations, which are always set per topic.
    pub dynamic: bool,
    /// For topic configurations: the broker configurations that supply the default, in
    /// Kafka's order of precedence. Empty for broker configurations.
    pub synonyms: &'static [Synonym],
}

impl ConfigDef {
    pub(crate) const fn new(
        name: &'static str,
        config_type: ConfigType,
        default: Option<&'static str>,
        validity: Validity,
        unit: &'static str,
        acted_on: bool,
        doc: &'static str,
    ) -> ConfigDef {
        ConfigDef {
            name,
            config_type,
            default,
            validity,
            unit,
            doc,
            acted_on,
            dynamic: false,
            synonyms: &[],
        }
    }

    /// Marks a broker configuration as dynamically updatable.
    pub(crate) const fn dynamic(self) -> ConfigDef {
        ConfigDef {
            dynamic: true,
            ..self
        }
    }

    pub(crate) const fn with_synonyms(self, synonyms: &'static [Synonym]) -> ConfigDef {
        ConfigDef { synonyms, ..self }
    }

    /// Whether DescribeConfigs must hide the value.
    pub fn is_sensitive(&self) -> bool {
        self.config_type == ConfigType::Password
    }

    /// Parses and validates a raw value.
    pub(crate) fn parse(&self, raw: &str) -> Result<Value, Problem> {
        let trimmed = raw.trim();
        let value = match self.config_type {
            ConfigType::Boolean => {
                if trimmed.eq_ignore_ascii_case("true") {
                    Value::Bool(true)
                } else if trimmed.eq_ignore_ascii_case("false") {
                    Value::Bool(false)
                } else {
                    return Err(Problem::WrongType);
                }
            }
            ConfigType::Short | ConfigType::Int | ConfigType::Long => {
                let (min, max) = self
                    .config_type
                    .integer_bounds()
                    .unwrap_or((i64::MIN, i64::MAX));
                match trimmed.parse::<i64>() {
                    Ok(n) if n >= min && n <= max => Value::Int(n),
                    Ok(_) => return Err(Problem::TooLargeForType),
                    Err(_) if is_integer_syntax(trimmed) => return Err(Problem::TooLargeForType),
                    Err(_) => return Err(Problem::WrongType),
                }
            }
            ConfigType::Double => match trimmed.parse::<f64>() {
                Ok(x) if x.is_finite() => Value::Double(x),
                _ => return Err(Problem::WrongType),
            },
            ConfigType::List => {
                if trimmed.is_empty() {
                    Value::List(Vec::new())
                } else {
                    let items: Vec<String> =
                        trimmed.split(',').map(|s| s.trim().to_owned()).collect();
                    if items.iter().any(String::is_empty) {
                        return Err(Problem::Malformed);
                    }
                    Value::List(items)
                }
            }
            ConfigType::String | ConfigType::Class | ConfigType::Password | ConfigType::Unknown => {
                Value::Str(trimmed.to_owned())
            }
        };
        self.check(&value)?;
        Ok(value)
    }

    fn check(&self, value: &Value) -> Result<(), Problem> {
        match (self.validity, value) {
            (Validity::Any, _) => Ok(()),
            (Validity::AtLeast(min), Value::Int(n)) if *n < min => {
                Err(Problem::BelowMinimum(min.to_string()))
            }
            (Validity::AtLeast(_), _) => Ok(()),
            (Validity::Range(min, _), Value::Int(n)) if *n < min => {
                Err(Problem::BelowMinimum(min.to_string()))
            }
            (Validity::Range(_, max), Value::Int(n)) if *n > max => {
                Err(Problem::AboveMaximum(max.to_string()))
            }
            (Validity::Range(..), _) => Ok(()),
            (Validity::Between(min, _), Value::Double(x)) if *x < min => {
                Err(Problem::BelowMinimum(format_double(min)))
            }
            (Validity::Between(_, max), Value::Double(x)) if *x > max => {
                Err(Problem::AboveMaximum(format_double(max)))
            }
            (Validity::Between(..), _) => Ok(()),
            (Validity::OneOf(allowed), Value::Str(s)) if !allowed.contains(&s.as_str()) => {
                Err(Problem::NotOneOf)
            }
            (Validity::OneOf(_), _) => Ok(()),
            (Validity::ListOf(allowed), Value::List(items))
                if items.iter().any(|i| !allowed.contains(&i.as_str())) =>
            {
                Err(Problem::NotOneOf)
            }
            (Validity::ListOf(_), _) => Ok(()),
            (Validity::NonEmptyDistinctList, Value::List(items)) => {
                let distinct: std::collections::BTreeSet<&String> = items.iter().collect();
                if items.is_empty() || distinct.len() != items.len() {
                    Err(Problem::Malformed)
                } else {
                    Ok(())
                }
            }
            (Validity::NonEmptyDistinctList, _) => Ok(()),
            (Validity::Listeners, Value::Str(s)) => crate::listener::parse_endpoints(s)
                .map(|_| ())
                .map_err(|_| Problem::Malformed),
            (Validity::HttpListener, Value::Str(s)) => crate::listener::parse_http_listener(s)
                .map(|_| ())
                .map_err(|_| Problem::Malformed),
            (Validity::ProtocolMap, Value::Str(s)) => crate::listener::parse_protocol_map(s)
                .map(|_| ())
                .map_err(|_| Problem::Malformed),
            (Validity::QuorumVoters, Value::List(items)) => ok_if(items.iter().all(|i| {
                i.split_once('@')
                    .is_some_and(|(id, hp)| is_node_id(id) && is_host_port(hp))
            })),
            (Validity::HostPorts, Value::List(items)) => {
                ok_if(items.iter().all(|i| is_host_port(i)))
            }
            (Validity::ClusterId, Value::Str(s)) => ok_if(is_cluster_id(s)),
            (Validity::HostCounts, Value::Str(s)) => parse_host_counts(s)
                .map(|_| ())
                .map_err(|_| Problem::Malformed),
            (Validity::ThrottledReplicas, Value::List(items)) => ok_if(
                (items.len() == 1 && items[0] == "*")
                    || items.iter().all(|i| {
                        i.split_once(':').is_some_and(|(p, b)| {
                            p.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok()
                        })
                    }),
            ),
            (Validity::Listeners | Validity::ProtocolMap | Validity::QuorumVoters, _)
            | (Validity::HttpListener, _)
            | (Validity::HostPorts | Validity::ClusterId | Validity::HostCounts, _)
            | (Validity::ThrottledReplicas, _) => Ok(()),
        }
    }

    /// What the key accepts, for broker error messages: "an integer >= 1048576 (bytes)".
    pub fn expected(&self) -> String {
        let mut text = match (self.config_type, self.validity) {
            (ConfigType::Boolean, _) => "true or false".to_owned(),
            (ConfigType::Short | ConfigType::Int | ConfigType::Long, Validity::AtLeast(min)) => {
                format!("an integer >= {min}")
            }
            (ConfigType::Short | ConfigType::Int | ConfigType::Long, Validity::Range(min, max)) => {
                format!("an integer from {min} to {max}")
            }
            (ConfigType::Short | ConfigType::Int | ConfigType::Long, _) => "an integer".to_owned(),
            (ConfigType::Double, Validity::Between(min, max)) => {
                format!("a number between {} and {}", format_double(min), format_double(max))
            }
            (ConfigType::Double, _) => "a number".to_owned(),
            (_, Validity::OneOf(allowed)) => format!("one of {}", allowed.join(", ")),
            (_, Validity::ListOf(allowed)) => format!("a comma-separated list of {}", allowed.join(", ")),
            (_, Validity::NonEmptyDistinctList) => "a comma-separated list of distinct directories".to_owned(),
            (_, Validity::Listeners) => {
                "a comma-separated list of NAME://host:port (empty host = all interfaces, port 0-65535)".to_owned()
            }
            (_, Validity::HttpListener) => {
                "http://host:port (empty host = all interfaces, port 0-65535), or empty for none".to_owned()
            }
            (_, Validity::ProtocolMap) => {
                "a comma-separated list of LISTENER_NAME:PROTOCOL, protocol one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL"
                    .to_owned()
            }
            (_, Validity::QuorumVoters) => "a comma-separated list of id@host:port".to_owned(),
            (_, Validity::HostPorts) => "a comma-separated list of host:port".to_owned(),
            (_, Validity::HostCounts) => {
                "a comma-separated list of host:count, count an integer >= 0".to_owned()
            }
            (_, Validity::ClusterId) => {
                "a cluster id: 22 characters of URL-safe base64 encoding a UUID, as `kafka-storage.sh random-uuid` prints"
                    .to_owned()
            }
            (ConfigType::List, _) => "a comma-separated list".to_owned(),
            _ => "a string".to_owned(),
        };
        if !self.unit.is_empty() && !matches!(self.config_type, ConfigType::Boolean) {
            let _ = write!(text, " ({})", self.unit);
        }
        text
    }

    /// [`ConfigDef::expected`], completed with the type's upper bound when the value overflowed it.
    pub(crate) fn expected_for(&self, problem: &Problem) -> String {
        match (problem, self.config_type.integer_bounds(), self.validity) {
            (Problem::TooLargeForType, Some((_, max)), Validity::AtLeast(min)) => {
                let unit = if self.unit.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", self.unit)
                };
                format!("an integer from {min} to {max}{unit}")
            }
            (Problem::TooLargeForType, Some((min, max)), _) => {
                format!("an integer from {min} to {max}")
            }
            _ => self.expected(),
        }
    }

    /// Kafka's wording of why a value is invalid, as in its `ConfigException` messages.
    pub(crate) fn kafka_reason(&self, problem: &Problem) -> String {
        match problem {
            Problem::WrongType | Problem::TooLargeForType => match self.config_type {
                ConfigType::Boolean => "Expected value to be either true or false".to_owned(),
                other => format!("Not a number of type {}", other.kafka_name()),
            },
            Problem::BelowMinimum(min) => format!("Value must be at least {min}"),
            Problem::AboveMaximum(max) => format!("Value must be no more than {max}"),
            Problem::NotOneOf => match self.validity {
                Validity::OneOf(allowed) | Validity::ListOf(allowed) => {
                    format!("String must be one of: {}", allowed.join(", "))
                }
                _ => format!("expected {}", self.expected()),
            },
            Problem::Malformed => format!("expected {}", self.expected()),
        }
    }

    /// The default as a parsed value; `None` when Kafka's default is `null`.
    pub(crate) fn default_value(&self) -> Option<Value> {
        // Every default in the tables parses; `tables_are_consistent` tests it.
        self.default.and_then(|d| self.parse(d).ok())
    }
}

fn ok_if(condition: bool) -> Result<(), Problem> {
    if condition {
        Ok(())
    } else {
        Err(Problem::Malformed)
    }
}

fn is_integer_syntax(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_node_id(s: &str) -> bool {
    s.parse::<i32>().is_ok_and(|id| id >= 0)
}

/// `host:count,...` (Kafka's `max.connections.per.ip.overrides`): the host (an IP address or
/// a host name) and its connection limit; empty text is no override. The last colon splits,
/// so an IPv6 address may be written as it is.
pub fn parse_host_counts(s: &str) -> Result<Vec<(String, i32)>, String> {
    s.split(',')
        .map(str::trim)
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (host, count) = entry
                .rsplit_once(':')
                .ok_or_else(|| format!("{entry} is not host:count"))?;
            let count: i32 = count
                .trim()
                .parse()
                .map_err(|_| format!("{entry}: the count is not an integer"))?;
            if host.trim().is_empty() || count < 0 {
                return Err(format!("{entry} is not host:count with a count >= 0"));
            }
            Ok((host.trim().to_owned(), count))
        })
        .collect()
}

fn is_host_port(s: &str) -> bool {
    match s.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok(),
        None => false,
    }
}

/// 16 bytes in unpadded URL-safe base64 are 22 characters. Like Java's decoder (which Kafka's
/// `Uuid.fromString` uses), the unused low bits of the last character are not checked: the
/// documentation's example id `MkU3OEVBNTcwNTJENDM2Qk` has them set.
fn is_cluster_id(s: &str) -> bool {
    s.len() == 22
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Java's `Double.toString` for the values configs use: always a decimal point.
pub(crate) fn format_double(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 {
        format!("{x:.1}")
    } else {
        format!("{x}")
    }
}

/// A parsed configuration value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    List(Vec<String>),
}

impl Value {
    /// The value as Kafka prints it in DescribeConfigs (lists joined with commas).
    pub(crate) fn to_kafka_string(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Double(x) => format_double(*x),
            Value::Str(s) => s.clone(),
            Value::List(items) => items.join(","),
        }
    }

    pub(crate) fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    pub(crate) fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub(crate) fn as_double(&self) -> Option<f64> {
        match self {
            Value::Double(x) => Some(*x),
            _ => None,
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_list(&self) -> Option<&[String]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

/// Why a value was rejected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Problem {
    WrongType,
    TooLargeForType,
    BelowMinimum(String),
    AboveMaximum(String),
    NotOneOf,
    Malformed,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEGMENT: ConfigDef = ConfigDef::new(
        "log.segment.bytes",
        ConfigType::Int,
        Some("1073741824"),
        Validity::AtLeast(1_048_576),
        "bytes",
        true,
        "doc",
    );

    #[test]
    fn integers_are_trimmed_range_checked_and_bounded_by_their_kafka_type() {
        assert_eq!(SEGMENT.parse(" 2097152 "), Ok(Value::Int(2_097_152)));
        assert_eq!(SEGMENT.parse("+2097152"), Ok(Value::Int(2_097_152)));
        assert_eq!(
            SEGMENT.parse("14"),
            Err(Problem::BelowMinimum("1048576".into()))
        );
        assert_eq!(SEGMENT.parse("abc"), Err(Problem::WrongType));
        assert_eq!(SEGMENT.parse("1.5"), Err(Problem::WrongType));
        assert_eq!(SEGMENT.parse("2147483648"), Err(Problem::TooLargeForType));
        assert_eq!(
            SEGMENT.parse("99999999999999999999"),
            Err(Problem::TooLargeForType)
        );
    }

    #[test]
    fn messages_say_what_is_expected_in_both_styles() {
        assert_eq!(SEGMENT.expected(), "an integer >= 1048576 (bytes)");
        assert_eq!(
            SEGMENT.expected_for(&Problem::TooLargeForType),
            "an integer from 1048576 to 2147483647 (bytes)"
        );
        assert_eq!(
            SEGMENT.kafka_reason(&Problem::WrongType),
            "Not a number of type INT"
        );
        assert_eq!(
            SEGMENT.kafka_reason(&Problem::BelowMinimum("1048576".into())),
            "Value must be at least 1048576"
        );
    }

    #[test]
    fn booleans_ignore_case_and_nothing_else() {
        let def = ConfigDef::new(
            "b",
            ConfigType::Boolean,
            Some("true"),
            Validity::Any,
            "",
            true,
            "doc",
        );
        assert_eq!(def.parse("TRUE"), Ok(Value::Bool(true)));
        assert_eq!(def.parse(" false "), Ok(Value::Bool(false)));
        assert_eq!(def.parse("yes"), Err(Problem::WrongType));
        assert_eq!(
            def.kafka_reason(&Problem::WrongType),
            "Expected value to be either true or false"
        );
    }

    #[test]
    fn doubles_must_be_finite_and_in_range() {
        let def = ConfigDef::new(
            "r",
            ConfigType::Double,
            Some("0.5"),
            Validity::Between(0.0, 1.0),
            "",
            true,
            "doc",
        );
        assert_eq!(def.parse("0.25"), Ok(Value::Double(0.25)));
        assert_eq!(def.parse("NaN"), Err(Problem::WrongType));
        assert_eq!(def.parse("1.5"), Err(Problem::AboveMaximum("1.0".into())));
        assert_eq!(def.parse("-0.1"), Err(Problem::BelowMinimum("0.0".into())));
        assert_eq!(Value::Double(1.0).to_kafka_string(), "1.0");
        assert_eq!(Value::Double(0.5).to_kafka_string(), "0.5");
    }

    #[test]
    fn lists_split_on_commas_and_reject_empty_items() {
        let def = ConfigDef::new(
            "l",
            ConfigType::List,
            Some("delete"),
            Validity::ListOf(&["compact", "delete"]),
            "",
            true,
            "d",
        );
        assert_eq!(
            def.parse(" compact , delete "),
            Ok(Value::List(vec!["compact".into(), "delete".into()]))
        );
        assert_eq!(def.parse(""), Ok(Value::List(vec![])));
        assert_eq!(def.parse("compact,,delete"), Err(Problem::Malformed));
        assert_eq!(def.parse("Compact"), Err(Problem::NotOneOf));
        assert_eq!(
            def.kafka_reason(&Problem::NotOneOf),
            "String must be one of: compact, delete"
        );
    }

    #[test]
    fn cluster_ids_are_kafka_base64_uuids() {
        assert!(is_cluster_id("MkU3OEVBNTcwNTJENDM2Qg"));
        assert!(is_cluster_id("4L6g3nShT-eMCtK--X86sw"));
        assert!(is_cluster_id("MkU3OEVBNTcwNTJENDM2Qk"));
        assert!(!is_cluster_id("short"));
        assert!(!is_cluster_id("MkU3OEVBNTcwNTJENDM2Q+"));
    }

    #[test]
    fn host_ports_and_voters_are_checked() {
        assert!(is_host_port("localhost:9093"));
        assert!(is_host_port("[::1]:9093"));
        assert!(!is_host_port("localhost"));
        assert!(!is_host_port(":9093"));
        assert!(!is_host_port("localhost:99999"));
        let voters = ConfigDef::new(
            "v",
            ConfigType::List,
            Some(""),
            Validity::QuorumVoters,
            "",
            false,
            "d",
        );
        assert!(voters.parse("1@localhost:9093,2@host2:9093").is_ok());
        assert_eq!(voters.parse("localhost:9093"), Err(Problem::Malformed));
        assert_eq!(voters.parse("x@localhost:9093"), Err(Problem::Malformed));
    }
}
