//! librdkafka's own log lines and error events, printed to stderr.
//!
//! When a broker misbehaves, librdkafka's words ("Connection refused", "Broker: Unknown topic or
//! partition", "Receive failed: Disconnected") are the evidence; rdkafka would otherwise send them
//! to the `log` crate, which this binary does not install.

use parking_lot::Mutex;
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use std::sync::OnceLock;
use std::time::Instant;

/// Prints one librdkafka log line to stderr, stamped with seconds since the first line so a stall
/// shows as a gap.
pub fn print_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    static FIRST_LINE: OnceLock<Instant> = OnceLock::new();
    let since_first = FIRST_LINE.get_or_init(Instant::now).elapsed().as_secs_f64();
    eprintln!(
        "librdkafka +{since_first:.3}s {} {facility}: {message}",
        level_name(level)
    );
}

/// librdkafka drops log lines below the client's level before they reach `print_log`; asking
/// for `debug` contexts (`--producer-props debug=...`) only makes sense with the level lowered.
pub fn log_level_for(extra_props: &[(String, String)]) -> RDKafkaLogLevel {
    if extra_props
        .iter()
        .any(|(key, value)| key == "debug" && !value.is_empty())
    {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Info
    }
}

/// Prints librdkafka error events to stderr, skipping an event identical to the one before it
/// (librdkafka raises the same connection failure more than once, and its log line already said
/// it).
#[derive(Default)]
pub struct ErrorPrinter {
    last: Mutex<String>,
}

impl ErrorPrinter {
    pub fn print(&self, error: &KafkaError, reason: &str) {
        if let Some(line) = self.first_of_a_run(format!("librdkafka error: {error}: {reason}")) {
            eprintln!("{line}");
        }
    }

    fn first_of_a_run(&self, line: String) -> Option<String> {
        let mut last = self.last.lock();
        if *last == line {
            return None;
        }
        last.clone_from(&line);
        Some(line)
    }
}

fn level_name(level: RDKafkaLogLevel) -> &'static str {
    match level {
        RDKafkaLogLevel::Emerg => "EMERG",
        RDKafkaLogLevel::Alert => "ALERT",
        RDKafkaLogLevel::Critical => "CRIT",
        RDKafkaLogLevel::Error => "ERROR",
        RDKafkaLogLevel::Warning => "WARN",
        RDKafkaLogLevel::Notice => "NOTICE",
        RDKafkaLogLevel::Info => "INFO",
        RDKafkaLogLevel::Debug => "DEBUG",
    }
}

/// The context for the consumer and the admin client: nothing but logging.
#[derive(Default)]
pub struct LoggingContext {
    errors: ErrorPrinter,
}

impl ClientContext for LoggingContext {
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        print_log(level, fac, log_message);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.errors.print(&error, reason);
    }
}

impl ConsumerContext for LoggingContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_contexts_lower_the_log_level() {
        assert!(matches!(log_level_for(&[]), RDKafkaLogLevel::Info));
        let debug = [
            ("linger.ms".to_owned(), "0".to_owned()),
            ("debug".to_owned(), "fetch".to_owned()),
        ];
        assert!(matches!(log_level_for(&debug), RDKafkaLogLevel::Debug));
    }

    #[test]
    fn a_repeated_error_is_printed_once_and_a_new_one_again() {
        let printer = ErrorPrinter::default();
        assert!(printer.first_of_a_run("a".into()).is_some());
        assert!(printer.first_of_a_run("a".into()).is_none());
        assert!(printer.first_of_a_run("b".into()).is_some());
        assert!(printer.first_of_a_run("a".into()).is_some());
    }
}
