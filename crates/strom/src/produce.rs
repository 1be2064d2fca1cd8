//! `strom produce`: records from stdin to a topic, as
//! kafka-console-producer.sh and `kcat -P` do, over strom-client's
//! producer.
//!
//! One record per line (`--format text`), with a key before
//! `--key-separator` when given; `--format json` reads one object per line
//! (`{"key": …, "value": …, "headers": {…}, "partition": n}`), `--format
//! hex` hex-encoded values (and keys). Exits 0 once every record is
//! acknowledged, 1 with the first failure otherwise.

use std::collections::VecDeque;
use std::process::ExitCode;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use strom_client::{Compression, Delivery, Header, Producer, ProducerConfig, ProducerRecord};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::admin_cli::{run_command, Connection};

/// Deliveries awaited at most this far behind the last record read, so a
/// long input does not hold every record's future.
const MAX_PENDING: usize = 10_000;

#[derive(Args)]
pub struct ProduceArgs {
    #[command(flatten)]
    connection: Connection,
    /// The topic to write to.
    #[arg(long, short = 't')]
    topic: String,
    /// Write every record to this partition (default: by key, or sticky for keyless records).
    #[arg(long, short = 'p')]
    partition: Option<i32>,
    /// Each line is KEY<SEP>VALUE (the console producer's parse.key=true, key.separator=SEP).
    #[arg(long, short = 'K', value_name = "SEP")]
    key_separator: Option<String>,
    /// A header added to every record: KEY=VALUE (repeatable).
    #[arg(long = "header", short = 'H', value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Input format: `text` (a line per record), `json` (an object per line), `hex` (hex-encoded lines).
    #[arg(long, default_value = "text", value_parser = ["text", "json", "hex"])]
    format: String,
    /// Acknowledgements: 0, 1 or all (-1).
    #[arg(long, default_value = "all", value_parser = ["0", "1", "all", "-1"])]
    acks: String,
    /// none, gzip, snappy, lz4 or zstd.
    #[arg(long, default_value = "none", value_parser = ["none", "gzip", "snappy", "lz4", "zstd"])]
    compression_type: String,
    /// The console producer's reader properties: parse.key=true with key.separator=SEP (default a tab).
    #[arg(
        long = "property",
        visible_alias = "reader-property",
        value_name = "KEY=VALUE"
    )]
    reader_properties: Vec<String>,
    /// A producer config: KEY=VALUE (linger.ms, batch.size, enable.idempotence, retries,
    /// delivery.timeout.ms, request.timeout.ms, client.id; repeatable).
    #[arg(long = "producer-property", short = 'X', value_name = "KEY=VALUE")]
    producer_properties: Vec<String>,
}

pub fn run(args: ProduceArgs) -> ExitCode {
    run_command(produce(args))
}

/// The producer's settings: defaults, the command config, then the flags.
pub fn producer_config(
    connection: &Connection,
    acks: &str,
    compression: &str,
    properties: &[String],
) -> Result<ProducerConfig, String> {
    let mut config = ProducerConfig::new(connection.bootstrap_server.clone());
    config.connection.client_id = "strom-producer".to_owned();
    let mut pairs = command_config_pairs(connection)?;
    pairs.push(("acks".to_owned(), acks.to_owned()));
    pairs.push(("compression.type".to_owned(), compression.to_owned()));
    pairs.extend(parse_pairs(properties, "--producer-property")?);
    (config.connection.tls, config.connection.sasl) = client_security(&pairs)?;
    for (key, value) in pairs {
        let ms = || millis(&key, &value);
        match key.as_str() {
            "client.id" => config.connection.client_id = value.clone(),
            "request.timeout.ms" => config.connection.request_timeout = ms()?,
            "acks" => {
                config.acks = match value.trim() {
                    "all" | "-1" => -1,
                    "1" => 1,
                    "0" => 0,
                    other => return Err(format!("acks must be 0, 1 or all, not {other:?}")),
                }
            }
            "compression.type" => config.compression = compression_type(&value)?,
            "linger.ms" => config.linger = ms()?,
            "batch.size" => config.batch_size = number(&key, &value)?,
            "retries" => config.retries = number(&key, &value)?,
            "delivery.timeout.ms" => config.delivery_timeout = ms()?,
            "retry.backoff.ms" => config.retry_backoff = ms()?,
            "max.block.ms" => config.max_block = ms()?,
            "enable.idempotence" => config.idempotence = boolean(&key, &value)?,
            "allow.auto.create.topics" => config.allow_auto_create_topics = boolean(&key, &value)?,
            _ => {}
        }
    }
    if config.acks != -1 {
        // As Kafka's producer: idempotence needs acks=all; asked for
        // explicitly with other acks it is a configuration error there,
        // here it is simply off.
        config.idempotence = false;
    }
    Ok(config)
}

fn compression_type(name: &str) -> Result<Compression, String> {
    Ok(match name.trim() {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => {
            return Err(format!(
                "compression.type must be none, gzip, snappy, lz4 or zstd, not {other:?}"
            ))
        }
    })
}

/// TLS from the Java client keys among `pairs` (`security.protocol=SSL`,
/// `ssl.truststore.*`, `ssl.keystore.*`, ...; the last of a key wins); `None` for PLAINTEXT.
pub fn client_tls(
    pairs: &[(String, String)],
) -> Result<Option<strom_client::tls::ClientTls>, String> {
    strom_client::tls::ClientTls::from_properties(|key| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    })
}

/// TLS and SASL from the Java client keys among `pairs`: `security.protocol`
/// (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), the `ssl.*` stores, and
/// `sasl.mechanism` with `sasl.jaas.config` (or `sasl.username` and
/// `sasl.password`).
#[allow(clippy::type_complexity)]
pub fn client_security(
    pairs: &[(String, String)],
) -> Result<
    (
        Option<strom_client::tls::ClientTls>,
        Option<strom_client::SaslCredentials>,
    ),
    String,
> {
    let get = |key: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
    };
    let tls = client_tls(pairs)?;
    let protocol = get("security.protocol")
        .unwrap_or_else(|| "PLAINTEXT".into())
        .trim()
        .to_ascii_uppercase();
    if !protocol.starts_with("SASL_") {
        return Ok((tls, None));
    }
    let mechanism = get("sasl.mechanism")
        .map(|m| m.trim().to_ascii_uppercase())
        .unwrap_or_else(|| "GSSAPI".to_owned());
    if mechanism == "OAUTHBEARER" {
        let source = oauthbearer_login(&get)?;
        return Ok((
            tls,
            Some(strom_client::SaslCredentials {
                mechanism,
                username: String::new(),
                password: String::new(),
                oauthbearer: Some(source),
            }),
        ));
    }
    if !["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"].contains(&mechanism.as_str()) {
        return Err(format!(
            "sasl.mechanism={mechanism} is not supported by strom's client; it speaks PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 and OAUTHBEARER"
        ));
    }
    let (mut username, mut password) = (get("sasl.username"), get("sasl.password"));
    if let Some(jaas) = get("sasl.jaas.config") {
        let entry =
            strom_config::parse_jaas_config(&jaas).map_err(|e| format!("sasl.jaas.config: {e}"))?;
        username = entry.option("username").map(str::to_owned).or(username);
        password = entry.option("password").map(str::to_owned).or(password);
    }
    let (Some(username), Some(password)) = (username, password) else {
        return Err(format!(
            "security.protocol={protocol} needs sasl.jaas.config with username=\"...\" password=\"...\" (or sasl.username and sasl.password)"
        ));
    };
    Ok((
        tls,
        Some(strom_client::SaslCredentials {
            mechanism,
            username,
            password,
            oauthbearer: None,
        }),
    ))
}

/// Kafka's login callback handler for the OAuth client credentials grant (KIP-768).
const OAUTHBEARER_LOGIN_HANDLER: &str =
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginCallbackHandler";

/// OAUTHBEARER's token source, as Kafka's Java client reads it: the unsecured login of
/// `OAuthBearerLoginModule` by default, or, with `sasl.login.callback.handler.class` set
/// to Kafka's `OAuthBearerLoginCallbackHandler`, the client credentials grant against
/// `sasl.oauthbearer.token.endpoint.url` (JAAS options `clientId`, `clientSecret`,
/// `scope`, and `ssl.truststore.*` for an https: endpoint).
fn oauthbearer_login(
    get: &impl Fn(&str) -> Option<String>,
) -> Result<strom_client::oauthbearer::TokenSource, String> {
    use strom_client::oauthbearer::{ClientCredentials, TokenSource};
    let jaas = get("sasl.jaas.config").ok_or(
        "sasl.mechanism=OAUTHBEARER needs sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required ...;",
    )?;
    let entry =
        strom_config::parse_jaas_config(&jaas).map_err(|e| format!("sasl.jaas.config: {e}"))?;
    if entry.login_module != strom_config::OAUTHBEARER_LOGIN_MODULE {
        return Err(format!(
            "sasl.mechanism=OAUTHBEARER needs the login module {}, not {}",
            strom_config::OAUTHBEARER_LOGIN_MODULE,
            entry.login_module
        ));
    }
    let handler = get("sasl.login.callback.handler.class").unwrap_or_default();
    let handler = handler.trim();
    let endpoint = get("sasl.oauthbearer.token.endpoint.url");
    if handler.is_empty() {
        if endpoint.is_some() {
            return Err(format!(
                "sasl.oauthbearer.token.endpoint.url is used only with sasl.login.callback.handler.class={OAUTHBEARER_LOGIN_HANDLER}; without it the login is the unsecured one"
            ));
        }
        let options: Vec<(String, String)> = entry
            .options
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        return TokenSource::unsecured(&options).map_err(|e| format!("sasl.jaas.config: {e}"));
    }
    if handler != OAUTHBEARER_LOGIN_HANDLER {
        return Err(format!(
            "sasl.login.callback.handler.class={handler} is not supported by strom's client; it knows {OAUTHBEARER_LOGIN_HANDLER}"
        ));
    }
    let endpoint = endpoint
        .ok_or("the OAuth client credentials login needs sasl.oauthbearer.token.endpoint.url")?;
    // The endpoint's TLS settings are JAAS options, as Kafka's JaasOptionsUtils reads them.
    let tls = if entry.option("ssl.truststore.location").is_some()
        || entry.option("ssl.truststore.certificates").is_some()
    {
        let ssl = |key: &str| match key {
            "security.protocol" => Some("SSL".to_owned()),
            _ => entry.option(key).map(str::to_owned),
        };
        strom_client::tls::ClientTls::from_properties(ssl)
            .map_err(|e| format!("sasl.jaas.config ssl.* options: {e}"))?
            .map(|t| t.connector().config().clone())
    } else {
        None
    };
    TokenSource::client_credentials(ClientCredentials {
        endpoint,
        client_id: entry
            .option("clientId")
            .map(str::to_owned)
            .or_else(|| get("sasl.oauthbearer.client.credentials.client.id"))
            .unwrap_or_default(),
        client_secret: entry
            .option("clientSecret")
            .map(str::to_owned)
            .or_else(|| get("sasl.oauthbearer.client.credentials.client.secret"))
            .unwrap_or_default(),
        scope: entry
            .option("scope")
            .map(str::to_owned)
            .or_else(|| get("sasl.oauthbearer.scope")),
        urlencode_header: get("sasl.oauthbearer.header.urlencode")
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("true")),
        tls,
    })
}

/// The `--command-config` file's entries, in order.
pub fn command_config_pairs(connection: &Connection) -> Result<Vec<(String, String)>, String> {
    let Some(path) = &connection.command_config else {
        return Ok(Vec::new());
    };
    let props = strom_config::Properties::load(path)
        .map_err(|e| format!("reading --command-config {}: {e}", path.display()))?;
    Ok(props
        .iter()
        .map(|p| (p.key.clone(), p.value.clone()))
        .collect())
}

/// `KEY=VALUE` flags as pairs.
pub fn parse_pairs(items: &[String], flag: &str) -> Result<Vec<(String, String)>, String> {
    items
        .iter()
        .map(|item| match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
            _ => Err(format!("{flag} {item:?}: expected KEY=VALUE")),
        })
        .collect()
}

pub fn millis(key: &str, value: &str) -> Result<Duration, String> {
    value
        .trim()
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| format!("{key} must be a number of milliseconds, not {value:?}"))
}

pub fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| format!("{key} must be a number, not {value:?}"))
}

pub fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.trim() {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("{key} must be true or false, not {other:?}")),
    }
}

/// Applies the console producer's `parse.key` / `key.separator`.
fn apply_reader_properties(args: &mut ProduceArgs) -> Result<(), String> {
    let mut parse_key = false;
    let mut separator = "\t".to_owned();
    for (k, v) in parse_pairs(&args.reader_properties, "--property")? {
        match k.as_str() {
            "parse.key" => parse_key = boolean(&k, &v)?,
            "key.separator" => separator = v,
            other => {
                return Err(format!(
                    "--property {other}: strom produce reads parse.key and key.separator"
                ))
            }
        }
    }
    if parse_key && args.key_separator.is_none() {
        args.key_separator = Some(separator);
    }
    Ok(())
}

async fn produce(mut args: ProduceArgs) -> Result<ExitCode, String> {
    apply_reader_properties(&mut args)?;
    let config = producer_config(
        &args.connection,
        &args.acks,
        &args.compression_type,
        &args.producer_properties,
    )?;
    let headers: Vec<Header> = parse_pairs(&args.headers, "--header")?
        .into_iter()
        .map(|(k, v)| Header::new(k, Some(v.as_bytes())))
        .collect();
    let producer = Producer::connect(config).await.map_err(|e| {
        format!(
            "{e}; check that {} is a broker of the cluster (--bootstrap-server or STROM_BOOTSTRAP)",
            args.connection.bootstrap_server
        )
    })?;
    let mut input = BufReader::new(tokio::io::stdin());
    let mut line = Vec::new();
    let mut pending: VecDeque<(usize, Delivery)> = VecDeque::new();
    let mut line_no = 0usize;
    let mut first_failure: Option<String> = None;
    let mut failed = 0usize;
    let mut sent = 0usize;
    // An input error stops reading; what was read before it is still sent.
    let mut input_error: Option<String> = None;
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line).await {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) => {
                input_error = Some(format!("reading stdin: {e}"));
                break;
            }
        }
        line_no += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        if args.format == "json" && line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let mut record = match parse_line(&line, &args, line_no) {
            Ok(r) => r,
            Err(e) => {
                input_error = Some(e);
                break;
            }
        };
        record.topic = args.topic.clone();
        if record.partition.is_none() {
            record.partition = args.partition;
        }
        record.headers.extend(headers.iter().cloned());
        pending.push_back((line_no, producer.send(record).await));
        sent += 1;
        while pending.len() > MAX_PENDING {
            if let Some((no, d)) = pending.pop_front() {
                note(d.await, no, &mut failed, &mut first_failure);
            }
        }
    }
    producer.flush().await;
    for (no, d) in pending {
        note(d.await, no, &mut failed, &mut first_failure);
    }
    producer.close().await;
    if let Some(e) = input_error {
        return Err(format!(
            "{e}; the {sent} records before it were sent{}",
            if failed > 0 {
                format!(", {failed} of them failed")
            } else {
                String::new()
            }
        ));
    }
    match first_failure {
        None => Ok(ExitCode::SUCCESS),
        Some(first) => Err(format!(
            "{failed} of {sent} records were not written; the first (line {first}); check the topic and the broker's log"
        )),
    }
}

fn note(
    result: Result<strom_client::RecordMetadata, strom_client::Error>,
    line: usize,
    failed: &mut usize,
    first: &mut Option<String>,
) {
    if let Err(e) = result {
        *failed += 1;
        if first.is_none() {
            *first = Some(format!("{line}): {e}"));
        }
    }
}

/// One input line as a record (topic left empty).
fn parse_line(line: &[u8], args: &ProduceArgs, line_no: usize) -> Result<ProducerRecord, String> {
    let bad = |what: String| format!("line {line_no}: {what}");
    match args.format.as_str() {
        "json" => parse_json(line).map_err(bad),
        format => {
            let (key, value) = match &args.key_separator {
                Some(sep) => {
                    let sep = sep.as_bytes();
                    let at = find(line, sep).ok_or_else(|| {
                        bad(format!(
                            "no key separator {:?} (--key-separator)",
                            String::from_utf8_lossy(sep)
                        ))
                    })?;
                    (Some(&line[..at]), &line[at + sep.len()..])
                }
                None => (None, line),
            };
            let decode = |b: &[u8]| -> Result<Bytes, String> {
                if format == "hex" {
                    from_hex(b).map(Bytes::from).map_err(bad)
                } else {
                    Ok(Bytes::copy_from_slice(b))
                }
            };
            Ok(ProducerRecord {
                key: key.map(decode).transpose()?,
                value: Some(decode(value)?),
                ..ProducerRecord::default()
            })
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn from_hex(text: &[u8]) -> Result<Vec<u8>, String> {
    let text: Vec<u8> = text
        .iter()
        .copied()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    if !text.len().is_multiple_of(2) {
        return Err("hex input must have an even number of digits".to_owned());
    }
    text.chunks(2)
        .map(|pair| {
            std::str::from_utf8(pair)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 16).ok())
                .ok_or_else(|| format!("{:?} is not hex", String::from_utf8_lossy(pair)))
        })
        .collect()
}

/// `{"key": "k", "value": "v", "headers": {"h": "x"}, "partition": 0,
/// "timestamp": 1700000000000}`; every field optional, `null` keys and
/// values are null.
fn parse_json(line: &[u8]) -> Result<ProducerRecord, String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| "expected a JSON object".to_owned())?;
    let bytes = |field: &str| -> Result<Option<Bytes>, String> {
        match obj.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(Bytes::from(s.clone()))),
            Some(other) => Ok(Some(Bytes::from(other.to_string()))),
        }
    };
    let mut headers = Vec::new();
    match obj.get("headers") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(h)) => {
            for (k, v) in h {
                let value = match v {
                    serde_json::Value::Null => None,
                    serde_json::Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                headers.push(Header::new(k, value.as_deref().map(str::as_bytes)));
            }
        }
        Some(_) => return Err("\"headers\" must be an object".to_owned()),
    }
    let int = |field: &str| -> Result<Option<i64>, String> {
        match obj.get(field) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| format!("\"{field}\" must be an integer")),
        }
    };
    let partition = match int("partition")? {
        None => None,
        Some(p) => Some(i32::try_from(p).map_err(|_| "\"partition\" is out of range".to_owned())?),
    };
    Ok(ProducerRecord {
        topic: String::new(),
        partition,
        key: bytes("key")?,
        value: bytes("value")?,
        headers,
        timestamp: int("timestamp")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_decodes_pairs_and_refuses_odd_or_bad_digits() {
        assert_eq!(from_hex(b"00ff10").unwrap(), vec![0, 255, 16]);
        assert_eq!(from_hex(b"de ad").unwrap(), vec![0xde, 0xad]);
        assert!(from_hex(b"abc").is_err());
        assert!(from_hex(b"zz").is_err());
    }

    #[test]
    fn json_lines_carry_key_value_headers_partition_and_timestamp() {
        let r = parse_json(
            br#"{"key":"k","value":"v","headers":{"h":"x","n":null},"partition":2,"timestamp":5}"#,
        )
        .unwrap();
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.timestamp, Some(5));
        assert_eq!(
            r.headers,
            vec![Header::new("h", Some(b"x")), Header::new("n", None)]
        );
        let tombstone = parse_json(br#"{"key":"k","value":null}"#).unwrap();
        assert_eq!(tombstone.value, None);
        assert!(parse_json(b"[1]").is_err());
        assert!(parse_json(br#"{"partition":"x"}"#).is_err());
    }

    #[test]
    fn the_key_separator_is_found_as_bytes() {
        assert_eq!(find(b"k::v", b"::"), Some(1));
        assert_eq!(find(b"kv", b":"), None);
        assert_eq!(find(b"kv", b""), None);
    }
}
