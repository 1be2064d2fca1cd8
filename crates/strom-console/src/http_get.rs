//! The one HTTP request the console makes itself: a GET of a broker's
//! Prometheus endpoint (`http://host:port/metrics`), bounded in time and
//! size, and the sum of a counter in the text it returns.

use std::time::Duration;

use strom_client::http::{Limits, Url};

/// The largest metrics page read (a broker with many partitions has long
/// pages; anything beyond this is not a metrics page).
const LIMITS: Limits = Limits {
    connect_timeout: Duration::from_secs(5),
    read_timeout: Duration::from_secs(5),
    max_body_bytes: 32 << 20,
};

/// The body of `GET url` (`http://` only), or why not.
pub async fn get(url: &str) -> Result<String, String> {
    let mut parsed = Url::parse(url).map_err(|e| format!("{url}: {e}"))?;
    let Url::Http {
        tls: false, path, ..
    } = &mut parsed
    else {
        return Err(format!("{url}: only http:// metrics URLs are supported"));
    };
    // host:port alone means the metrics page.
    if path == "/" && !url.trim().ends_with('/') {
        *path = "/metrics".to_owned();
    }
    let headers = [("Accept", "text/plain".to_owned())];
    let body = strom_client::http::send(&parsed, "GET", &headers, &[], None, LIMITS)
        .await
        .and_then(strom_client::http::Response::ok_body)
        .map_err(|e| format!("{url}: {e}"))?;
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// The value of counter `name` in a Prometheus text page: its line without
/// labels (Kafka's all-topics value) when there is one, else the sum of
/// its labelled lines. `None` when the page does not have it.
pub fn counter(page: &str, name: &str) -> Option<f64> {
    let mut unlabelled = None;
    let mut sum = None;
    for line in page.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if rest.starts_with(' ') {
            unlabelled = rest.split_whitespace().next().and_then(|v| v.parse().ok());
        } else if rest.starts_with('{') {
            let value = rest
                .rsplit_once('}')
                .and_then(|(_, v)| v.split_whitespace().next())
                .and_then(|v| v.parse::<f64>().ok());
            if let Some(v) = value {
                *sum.get_or_insert(0.0) += v;
            }
        }
    }
    unlabelled.or(sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_prefer_the_all_topics_line_else_sum_labels() {
        let page = "# TYPE kafka_server_brokertopicmetrics_bytesin_total counter\n\
kafka_server_brokertopicmetrics_bytesin_total 100\n\
kafka_server_brokertopicmetrics_bytesin_total{topic=\"a\"} 60\n\
kafka_server_brokertopicmetrics_bytesin_total{topic=\"b\"} 40\n\
kafka_server_brokertopicmetrics_bytesout_total{topic=\"a\"} 7\n\
kafka_server_brokertopicmetrics_bytesout_total{topic=\"b\"} 5\n";
        assert_eq!(
            counter(page, "kafka_server_brokertopicmetrics_bytesin_total"),
            Some(100.0)
        );
        assert_eq!(
            counter(page, "kafka_server_brokertopicmetrics_bytesout_total"),
            Some(12.0)
        );
        assert_eq!(counter(page, "kafka_server_brokertopicmetrics_bytes"), None);
    }
}
