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

/// Prints one librdkafka log line to stderr.
pub fn print_log(level: RDKafkaLogLevel, facility: &str, message: &str) {
    eprintln!("librdkafka {} {facility}: {message}", level_name(level));
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
    fn a_repeated_error_is_printed_once_and_a_new_one_again() {
        let printer = ErrorPrinter::default();
        assert!(printer.first_of_a_run("a".into()).is_some());
        assert!(printer.first_of_a_run("a".into()).is_none());
        assert!(printer.first_of_a_run("b".into()).is_some());
        assert!(printer.first_of_a_run("a".into()).is_some());
    }
}
