//! The console's pages and JSON against an in-process broker on
//! 127.0.0.1:0, over real HTTP: what each page shows for real data, that
//! user data is escaped, and that the forms change the cluster (or, for a
//! dry run, do not).

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use bytes::Bytes;
use strom_broker::{Broker, BrokerOptions};
use strom_client::{
    AdminClient, AdminConfig, Header, Producer, ProducerConfig, ProducerRecord, TopicPartition,
};
use strom_config::{BrokerConfig, Properties};
use strom_console::{Console, ConsoleConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const SCRIPT_VALUE: &str = "<script>alert('owned')</script>";

/// Every test is bounded in time.
async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(90), f)
        .await
        .expect("the test took longer than 90 s");
}

struct Setup {
    _dir: tempfile::TempDir,
    broker: Broker,
    console: Console,
    bootstrap: String,
}

impl Setup {
    async fn start() -> Setup {
        Setup::start_with(false).await
    }

    /// With `metrics`, the broker serves its metrics endpoint and the
    /// console reads throughput from it.
    async fn start_with(metrics: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let mut props = Properties::default();
        let mut overrides = vec![
            "listeners=PLAINTEXT://127.0.0.1:0".to_owned(),
            format!("log.dirs={}", dir.path().display()),
            "group.initial.rebalance.delay.ms=0".to_owned(),
            "offsets.topic.num.partitions=1".to_owned(),
        ];
        if metrics {
            overrides.push("strom.metrics.listener=http://127.0.0.1:0".to_owned());
        }
        for o in overrides {
            props.apply_override(&o).unwrap();
        }
        let config = BrokerConfig::from_properties(&props).unwrap();
        let broker = Broker::start(BrokerOptions { config }).await.unwrap();
        let bootstrap = broker.local_addr().to_string();
        let mut config = ConsoleConfig::new(AdminConfig::new(bootstrap.clone()));
        if let Some(addr) = broker.metrics_addr() {
            config.metrics_urls = vec![format!("http://{addr}/metrics")];
        }
        config.sample_interval = Duration::from_millis(200);
        config.max_records = 5;
        config.max_value_bytes = 64;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let console = Console::start(config, listener).await.unwrap();
        Setup {
            _dir: dir,
            broker,
            console,
            bootstrap,
        }
    }

    async fn stop(self) {
        self.console.shutdown().await;
        self.broker.shutdown().await.unwrap();
    }

    async fn get(&self, path: &str) -> Response {
        self.request("GET", path, None, &[]).await
    }

    async fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let body = form
            .iter()
            .map(|(k, v)| format!("{}={}", urlenc(k), urlenc(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.request("POST", path, Some(body), &[]).await
    }

    async fn request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
        extra: &[(&str, &str)],
    ) -> Response {
        let addr = self.console.local_addr();
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let body = body.unwrap_or_default();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        if method == "POST" {
            req.push_str("Content-Type: application/x-www-form-urlencoded\r\n");
        }
        for (k, v) in extra {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(&body);
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let location = head
            .lines()
            .find_map(|l| l.strip_prefix("location: "))
            .map(str::to_owned);
        Response {
            status,
            location,
            body: dechunk(head, body),
        }
    }
}

struct Response {
    status: u16,
    location: Option<String>,
    body: String,
}

fn dechunk(head: &str, body: &str) -> String {
    if !head.to_lowercase().contains("transfer-encoding: chunked") {
        return body.to_owned();
    }
    let mut out = String::new();
    let mut rest = body;
    while let Some((size, after)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        out.push_str(&after[..n]);
        rest = &after[n + 2..];
    }
    out
}

fn urlenc(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The text of the table cells of `table_id`'s body rows.
fn rows(html: &str, table_id: &str) -> Vec<Vec<String>> {
    let start = html
        .find(&format!("<table id=\"{table_id}\">"))
        .unwrap_or_else(|| panic!("no table {table_id} in {html}"));
    let table = &html[start..];
    let table = &table[..table.find("</table>").unwrap()];
    let tbody = &table[table.find("<tbody>").unwrap() + 7..];
    tbody
        .split("<tr>")
        .skip(1)
        .map(|row| {
            row.split("<td>")
                .skip(1)
                .map(|cell| strip_tags(&cell[..cell.find("</td>").unwrap()]))
                .collect()
        })
        .collect()
}

fn strip_tags(s: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    // What a browser shows for the escaped text.
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

fn id_text(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id} in {html}"));
    let rest = &html[at..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    strip_tags(&rest[..rest.find("</").unwrap()])
}

async fn admin(bootstrap: &str) -> AdminClient {
    AdminClient::connect(AdminConfig::new(bootstrap))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_created_listed_described_and_deleted_from_the_console() {
    bounded(async {
        let s = Setup::start().await;
        let r = s
            .post(
                "/topics",
                &[
                    ("name", "orders"),
                    ("partitions", "3"),
                    ("replication_factor", "1"),
                    ("configs", "retention.ms=3600000"),
                ],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        assert_eq!(r.location.as_deref(), Some("/topics/orders?created=1"));
        // The cluster has it, with the config.
        let metadata = admin(&s.bootstrap).await.metadata(None).await.unwrap();
        assert_eq!(metadata.topics["orders"].partitions.len(), 3);

        let page = s.get("/topics/orders?created=1").await;
        assert_eq!(page.status, 200);
        assert!(page.body.contains("Created topic <strong>orders</strong>"));
        let partitions = rows(&page.body, "partitions-table");
        assert_eq!(partitions.len(), 3);
        for (i, p) in partitions.iter().enumerate() {
            // Partition, leader, replicas, ISR, offline, start, end, records.
            assert_eq!(p[0], i.to_string());
            assert_eq!(p[1], "1");
            assert_eq!((p[2].as_str(), p[3].as_str()), ("1", "1"));
            assert_eq!(
                (p[5].as_str(), p[6].as_str(), p[7].as_str()),
                ("0", "0", "0")
            );
        }
        let configs = rows(&page.body, "configs-table");
        assert_eq!(
            configs[0],
            vec!["retention.ms", "3600000", "DYNAMIC_TOPIC_CONFIG"],
            "set configs come first"
        );

        // The list, and its search.
        s.post("/topics", &[("name", "payments")]).await;
        let list = s.get("/topics").await;
        let names: Vec<String> = rows(&list.body, "topics-table")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert!(names.contains(&"orders".to_owned()) && names.contains(&"payments".to_owned()));
        let found = s.get("/topics?q=PAY").await;
        let names: Vec<Vec<String>> = rows(&found.body, "topics-table");
        assert_eq!(names.len(), 1);
        assert_eq!(names[0][0], "payments");

        // Kafka's errors, by name, with what to do.
        let again = s.post("/topics", &[("name", "orders")]).await;
        assert_eq!(again.status, 409);
        assert!(
            again.body.contains("TOPIC_ALREADY_EXISTS"),
            "{}",
            again.body
        );
        assert!(again.body.contains("pick another name"));
        let missing = s.get("/topics/nope").await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("UNKNOWN_TOPIC_OR_PARTITION"));

        // Delete needs the name typed again.
        let refused = s
            .post("/topics/orders/delete", &[("confirm", "order")])
            .await;
        assert_eq!(refused.status, 400);
        assert!(admin(&s.bootstrap)
            .await
            .metadata(None)
            .await
            .unwrap()
            .topics
            .contains_key("orders"));
        let deleted = s
            .post("/topics/orders/delete", &[("confirm", "orders")])
            .await;
        assert_eq!(deleted.status, 303, "{}", deleted.body);
        let metadata = admin(&s.bootstrap).await.metadata(None).await.unwrap();
        assert!(!metadata.topics.contains_key("orders"));
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_message_browser_shows_records_escaped_bounded_and_in_each_format() {
    bounded(async {
        let s = Setup::start().await;
        s.post("/topics", &[("name", "events"), ("partitions", "1")]).await;
        let producer = Producer::connect(ProducerConfig::new(s.bootstrap.clone()))
            .await
            .unwrap();
        let values = [
            SCRIPT_VALUE.to_owned(),
            r#"{"id":7,"tag":"<b>"}"#.to_owned(),
            "x".repeat(100),
            "four".to_owned(),
            "five".to_owned(),
            "six".to_owned(),
            "seven".to_owned(),
        ];
        for (i, v) in values.iter().enumerate() {
            let mut r = ProducerRecord::new("events", Bytes::from(v.clone()));
            r.partition = Some(0);
            r.key = Some(Bytes::from(format!("k{i}")));
            r.headers = vec![Header {
                key: Bytes::from_static(b"<h>"),
                value: Some(Bytes::from_static(b"<v>")),
            }];
            r.timestamp = Some(1_714_564_800_000 + i as i64 * 1000);
            producer.send_and_wait(r).await.unwrap();
        }
        producer.close().await;

        let page = s.get("/topics/events/messages?partition=0&from=earliest").await;
        assert_eq!(page.status, 200);
        assert!(!page.body.contains(SCRIPT_VALUE), "raw markup reached the page");
        assert!(page
            .body
            .contains("&lt;script&gt;alert(&#39;owned&#39;)&lt;/script&gt;"));
        assert!(page.body.contains("&lt;h&gt;</strong>: <pre class=\"value\">&lt;v&gt;"));
        let records = rows(&page.body, "records-table");
        // max_records is 5: the rest are behind "Next records".
        assert_eq!(records.len(), 5);
        assert_eq!(records[0][0], "0");
        assert_eq!(records[0][1], "2024-05-01T12:00:00.000Z");
        assert_eq!(records[0][2], "k0");
        assert_eq!(records[0][3], SCRIPT_VALUE, "the value shows as text");
        // Values are cut at max_value_bytes (64).
        assert!(records[2][3].starts_with(&"x".repeat(64)));
        assert!(records[2][3].contains("36 more bytes not shown"));
        assert!(page.body.contains("offset=5&amp;limit=5"), "a next page link");

        // From an offset, as JSON.
        let page = s
            .get("/topics/events/messages?from=offset&offset=1&limit=1&format=json")
            .await;
        let records = rows(&page.body, "records-table");
        assert_eq!(records.len(), 1);
        assert_eq!(records[0][0], "1");
        assert!(records[0][3].contains("\"id\": 7"), "{:?}", records[0][3]);
        assert!(page.body.contains("&quot;tag&quot;: &quot;&lt;b&gt;&quot;"));

        // From a time, as hex.
        let page = s
            .get("/topics/events/messages?from=timestamp&timestamp=2024-05-01T12:00:05&limit=5&format=hex")
            .await;
        let records = rows(&page.body, "records-table");
        assert_eq!(
            records.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(),
            vec!["5", "6"]
        );
        assert_eq!(records[0][3], "73 69 78", "six in hex");

        // The newest records.
        let page = s.get("/topics/events/messages?from=latest&limit=2").await;
        let offsets: Vec<String> = rows(&page.body, "records-table")
            .into_iter()
            .map(|r| r[0].clone())
            .collect();
        assert_eq!(offsets, vec!["5", "6"]);

        // A partition that does not exist, and a bad time.
        let page = s.get("/topics/events/messages?partition=4").await;
        assert_eq!(page.status, 404);
        assert!(page.body.contains("UNKNOWN_TOPIC_OR_PARTITION"));
        let page = s
            .get("/topics/events/messages?from=timestamp&timestamp=soon")
            .await;
        assert_eq!(page.status, 400);

        // A test record from the form lands in the log.
        let r = s
            .post(
                "/topics/events/messages",
                &[
                    ("partition", "0"),
                    ("key", "form-key"),
                    ("value", "from the form"),
                    ("headers", "source=console"),
                ],
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(id_text(&r.body, "produced-offset"), "7");
        let records = rows(&r.body, "records-table");
        assert_eq!(records[0][0], "7");
        assert_eq!(records[0][2], "form-key");
        assert_eq!(records[0][3], "from the form");
        assert_eq!(records[0][4], "source: console");
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_show_lag_and_reset_offsets_after_a_dry_run() {
    bounded(async {
        let s = Setup::start().await;
        s.post("/topics", &[("name", "work"), ("partitions", "2")])
            .await;
        let producer = Producer::connect(ProducerConfig::new(s.bootstrap.clone()))
            .await
            .unwrap();
        for i in 0..10 {
            let mut r = ProducerRecord::new("work", Bytes::from(format!("v{i}")));
            r.partition = Some(i % 2);
            producer.send_and_wait(r).await.unwrap();
        }
        producer.close().await;
        let mut a = admin(&s.bootstrap).await;
        let offsets: BTreeMap<TopicPartition, i64> = [
            (TopicPartition::new("work", 0), 2),
            (TopicPartition::new("work", 1), 5),
        ]
        .into_iter()
        .collect();
        a.commit_offsets("billing", &offsets).await.unwrap();

        let list = s.get("/groups").await;
        let groups = rows(&list.body, "groups-table");
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0][0], "billing");

        let page = s.get("/groups/billing").await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(id_text(&page.body, "group-lag"), "3");
        let lag = rows(&page.body, "lag-table");
        assert_eq!(lag[0][..5], ["work", "0", "2", "5", "3"]);
        assert_eq!(lag[1][..5], ["work", "1", "5", "5", "0"]);

        // The lag chart's data fills in as the sampler runs.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let json = s.get("/api/groups/billing/lag").await;
            let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
            let totals = v["series"][0]["values"].as_array().unwrap().clone();
            if totals.iter().filter(|t| t.as_i64() == Some(3)).count() >= 2 {
                assert_eq!(v["series"][1]["label"], "work-0");
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "no lag samples: {v}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let throughput: serde_json::Value =
            serde_json::from_str(&s.get("/api/throughput").await.body).unwrap();
        assert_eq!(throughput["unit"], "records/s");
        assert!(!throughput["t"].as_array().unwrap().is_empty());

        // Dry run: the table, nothing committed.
        let dry = s
            .post(
                "/groups/billing/reset",
                &[
                    ("topic", "work"),
                    ("spec", "shift-by"),
                    ("value", "-1"),
                    ("mode", "dry-run"),
                ],
            )
            .await;
        assert_eq!(dry.status, 200, "{}", dry.body);
        assert!(dry.body.contains("Dry run"));
        let table = rows(&dry.body, "reset-table");
        assert_eq!(table[0], ["work", "0", "2", "1", "dry run"]);
        assert_eq!(table[1], ["work", "1", "5", "4", "dry run"]);
        let committed = a.offset_fetch("billing", None).await.unwrap();
        assert_eq!(committed[&TopicPartition::new("work", 0)].offset, Some(2));

        // Execute: committed, and the page shows the new lag.
        let done = s
            .post(
                "/groups/billing/reset",
                &[
                    ("topic", ""),
                    ("spec", "to-earliest"),
                    ("value", ""),
                    ("mode", "execute"),
                ],
            )
            .await;
        assert_eq!(done.status, 200, "{}", done.body);
        let table = rows(&done.body, "reset-table");
        assert_eq!(table[0], ["work", "0", "2", "0", "committed"]);
        assert_eq!(id_text(&done.body, "group-lag"), "10");
        let committed = a.offset_fetch("billing", None).await.unwrap();
        assert_eq!(committed[&TopicPartition::new("work", 0)].offset, Some(0));
        assert_eq!(committed[&TopicPartition::new("work", 1)].offset, Some(0));

        let missing = s.get("/groups/nobody").await;
        assert_eq!(missing.status, 404);
        assert!(missing.body.contains("GROUP_ID_NOT_FOUND"));
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overview_and_cluster_pages_describe_the_cluster() {
    bounded(async {
        let s = Setup::start().await;
        s.post("/topics", &[("name", "a"), ("partitions", "2")])
            .await;
        s.post("/topics", &[("name", "b"), ("partitions", "3")])
            .await;
        let page = s.get("/").await;
        assert_eq!(page.status, 200);
        let metadata = admin(&s.bootstrap).await.metadata(None).await.unwrap();
        let cluster_id = metadata.cluster_id.clone().unwrap();
        // __consumer_offsets, if it exists yet, counts among the partitions.
        let all_partitions: usize = metadata.topics.values().map(|t| t.partitions.len()).sum();
        assert!(all_partitions >= 5);
        assert_eq!(id_text(&page.body, "cluster-id"), cluster_id);
        let card = |id: &str| {
            let at = page.body.find(&format!("id=\"{id}\"")).unwrap();
            let rest = &page.body[at..];
            let v = &rest[rest.find("class=\"value\">").unwrap() + 14..];
            v[..v.find('<').unwrap()].to_owned()
        };
        assert_eq!(card("brokers"), "1");
        assert_eq!(card("topics"), "2");
        assert_eq!(card("partitions"), all_partitions.to_string());
        assert_eq!(card("under-replicated"), "0");
        assert_eq!(card("offline"), "0");
        assert!(page.body.contains("data-src=\"/api/throughput\""));

        let page = s.get("/cluster").await;
        assert_eq!(page.status, 200);
        let brokers = rows(&page.body, "cluster-brokers");
        assert_eq!(brokers.len(), 1);
        assert_eq!(brokers[0][3], "alive");
        assert_eq!(id_text(&page.body, "quorum-leader"), "1");
        let replicas = rows(&page.body, "quorum-replicas");
        assert_eq!(replicas[0][..2], ["1", "leader"]);

        // Assets are embedded.
        let js = s.get("/assets/uPlot.iife.min.js").await;
        assert_eq!(js.status, 200);
        assert!(js.body.contains("uPlot"));
        assert_eq!(s.get("/assets/nothing.js").await.status, 404);
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forms_posted_from_another_site_are_refused() {
    bounded(async {
        let s = Setup::start().await;
        let body = "name=evil".to_owned();
        let r = s
            .request(
                "POST",
                "/topics",
                Some(body.clone()),
                &[("Origin", "http://attacker.example")],
            )
            .await;
        assert_eq!(r.status, 403);
        let r = s
            .request(
                "POST",
                "/topics",
                Some(body),
                &[("Sec-Fetch-Site", "cross-site")],
            )
            .await;
        assert_eq!(r.status, 403);
        let metadata = admin(&s.bootstrap).await.metadata(None).await.unwrap();
        assert!(!metadata.topics.contains_key("evil"));
        // The console's own origin is fine.
        let origin = format!("http://{}", s.console.local_addr());
        let r = s
            .request(
                "POST",
                "/topics",
                Some("name=fine".to_owned()),
                &[("Origin", origin.as_str())],
            )
            .await;
        assert_eq!(r.status, 303, "{}", r.body);
        s.stop().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_comes_from_the_brokers_metrics_endpoint_when_given() {
    bounded(async {
        let s = Setup::start_with(true).await;
        s.post("/topics", &[("name", "m"), ("partitions", "1")])
            .await;
        let producer = Producer::connect(ProducerConfig::new(s.bootstrap.clone()))
            .await
            .unwrap();
        let page = s.get("/").await;
        assert!(page.body.contains("from the brokers' metrics endpoints"));
        // Keep producing until a sample shows bytes coming in.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            producer
                .send_and_wait(ProducerRecord::new("m", Bytes::from(vec![b'x'; 1000])))
                .await
                .unwrap();
            let v: serde_json::Value =
                serde_json::from_str(&s.get("/api/throughput").await.body).unwrap();
            assert_eq!(v["unit"], "bytes/s", "{v}");
            assert_eq!(v["series"][0]["label"], "bytes in/s");
            assert!(v["error"].is_null(), "{v}");
            let bytes_in = v["series"][0]["values"].as_array().unwrap().clone();
            if bytes_in.iter().any(|b| b.as_f64().unwrap_or(0.0) > 500.0) {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no bytes in: {v}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        producer.close().await;
        s.stop().await;
    })
    .await;
}
