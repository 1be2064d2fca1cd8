//! The Prometheus text exposition format (version 0.0.4): one `# HELP` and
//! `# TYPE` per family, then its samples. Names are Kafka's as the JMX
//! exporter's usual rules (`lowercaseOutputName: true`) write them, so
//! existing Kafka dashboards find them.

use std::fmt::Write as _;

use super::histogram::HistogramSnapshot;

pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// Writes families one after another; each family's samples follow its header.
#[derive(Default)]
pub(crate) struct TextEncoder {
    out: String,
}

impl TextEncoder {
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {}", escape_help(help));
        let _ = writeln!(self.out, "# TYPE {name} {}", kind.as_str());
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, value);
        self.out.push('\n');
    }

    /// `name_bucket{..., le}`, `name_sum`, `name_count` of one histogram.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &HistogramSnapshot) {
        for (bound, count) in &h.cumulative {
            let le = if bound.is_infinite() {
                "+Inf".to_owned()
            } else {
                let mut s = String::new();
                write_value(&mut s, *bound);
                s
            };
            let _ = write!(self.out, "{name}_bucket");
            write_labels(&mut self.out, labels, Some(&le));
            let _ = writeln!(self.out, " {count}");
        }
        let _ = write!(self.out, "{name}_sum");
        write_labels(&mut self.out, labels, None);
        self.out.push(' ');
        write_value(&mut self.out, h.sum_ms);
        self.out.push('\n');
        let _ = write!(self.out, "{name}_count");
        write_labels(&mut self.out, labels, None);
        let _ = writeln!(self.out, " {}", h.count);
    }

    pub fn finish(self) -> String {
        self.out
    }
}

fn write_labels(out: &mut String, labels: &[(&str, &str)], le: Option<&str>) {
    if labels.is_empty() && le.is_none() {
        return;
    }
    out.push('{');
    let mut first = true;
    for (key, value) in labels.iter().copied().chain(le.map(|le| ("le", le))) {
        if !first {
            out.push(',');
        }
        first = false;
        out.push_str(key);
        out.push_str("=\"");
        escape_label_value(out, value);
        out.push('"');
    }
    out.push('}');
}

/// Label values escape `\`, `"` and line feeds (topic names cannot hold
/// them, group ids can).
fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

fn escape_help(help: &str) -> String {
    help.replace('\\', "\\\\").replace('\n', "\\n")
}

/// Integers without a fraction (counters read as `12`, not `12.0`).
fn write_value(out: &mut String, value: f64) {
    if value.is_nan() {
        out.push_str("NaN");
    } else if value.is_infinite() {
        out.push_str(if value > 0.0 { "+Inf" } else { "-Inf" });
    } else if value.fract() == 0.0 && value.abs() < 1e15 {
        let _ = write!(out, "{}", value as i64);
    } else {
        let _ = write!(out, "{value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::histogram::Histogram;
    use std::time::Duration;

    #[test]
    fn a_counter_family_with_labels_reads_as_prometheus_text() {
        let mut e = TextEncoder::default();
        e.family(
            "kafka_server_brokertopicmetrics_messagesin_total",
            Kind::Counter,
            "Messages appended",
        );
        e.sample(
            "kafka_server_brokertopicmetrics_messagesin_total",
            &[],
            42.0,
        );
        e.sample(
            "kafka_server_brokertopicmetrics_messagesin_total",
            &[("topic", "orders")],
            40.0,
        );
        assert_eq!(
            e.finish(),
            "# HELP kafka_server_brokertopicmetrics_messagesin_total Messages appended\n\
             # TYPE kafka_server_brokertopicmetrics_messagesin_total counter\n\
             kafka_server_brokertopicmetrics_messagesin_total 42\n\
             kafka_server_brokertopicmetrics_messagesin_total{topic=\"orders\"} 40\n"
        );
    }

    #[test]
    fn label_values_escape_quotes_backslashes_and_line_feeds() {
        let mut e = TextEncoder::default();
        e.sample("g", &[("group", "a\"b\\c\nd")], 1.5);
        assert_eq!(e.finish(), "g{group=\"a\\\"b\\\\c\\nd\"} 1.5\n");
    }

    #[test]
    fn a_histogram_has_cumulative_buckets_sum_and_count() {
        let h = Histogram::default();
        h.observe(Duration::from_micros(700));
        h.observe(Duration::from_millis(3));
        let mut e = TextEncoder::default();
        e.histogram("t", &[("request", "Produce")], &h.snapshot());
        let text = e.finish();
        assert!(
            text.contains("t_bucket{request=\"Produce\",le=\"0.5\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{request=\"Produce\",le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{request=\"Produce\",le=\"5\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("t_bucket{request=\"Produce\",le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(text.contains("t_sum{request=\"Produce\"} 3.7\n"), "{text}");
        assert!(text.contains("t_count{request=\"Produce\"} 2\n"), "{text}");
        assert_eq!(text.lines().count(), 15 + 2);
    }
}
