//! The one HTTP request the console makes itself: a GET of a broker's
//! Prometheus endpoint (`http://host:port/metrics`), bounded in time and
//! size, and the sum of a counter in the text it returns.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest metrics page read (a broker with many partitions has long
/// pages; anything beyond this is not a metrics page).
const MAX_RESPONSE_BYTES: u64 = 32 << 20;
const TIMEOUT: Duration = Duration::from_secs(5);

/// The body of `GET url` (`http://` only), or why not.
pub async fn get(url: &str) -> Result<String, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// metrics URLs are supported"))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let work = async {
        let mut stream = TcpStream::connect(authority)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let request =
            format!("GET {path} HTTP/1.0\r\nHost: {authority}\r\nAccept: text/plain\r\n\r\n");
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        let mut raw = Vec::new();
        (&mut stream)
            .take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| format!("{url}: {e}"))?;
        Ok::<Vec<u8>, String>(raw)
    };
    let raw = tokio::time::timeout(TIMEOUT, work)
        .await
        .map_err(|_| format!("{url}: no answer within {} s", TIMEOUT.as_secs()))??;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("{url}: not an HTTP response"))?;
    let status = head.lines().next().unwrap_or("");
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(format!("{url}: {status}"));
    }
    Ok(body.to_owned())
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
