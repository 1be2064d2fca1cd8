//! Strom's web console: `strom console --bootstrap-server HOST:PORT`.
//!
//! A client of any Kafka-compatible cluster over the wire (through
//! `strom-client`), served over HTTP by axum, as Redpanda Console and Kafka
//! UI are: it never runs inside a broker. Pages are rendered on the server
//! as HTML forms and tables that read without JavaScript; a little
//! hand-written JavaScript draws the charts with uPlot. Every asset is
//! embedded in the binary ([`assets`]); nothing is fetched at run time.
//!
//! Everything that comes from the cluster (topic and group names, keys,
//! values, headers, configs, error messages) goes through [`html::esc`]
//! before it reaches a page.

mod assets;
mod cluster_page;
mod error;
mod format;
mod groups;
mod history;
mod html;
mod http_get;
mod messages;
mod overview;
mod topics;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use strom_client::{AdminClient, AdminConfig, ConsumerConfig, ProducerConfig};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use error::ConsoleError;
pub use html::esc;

/// How the console reaches the cluster and what it keeps.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// The bootstrap broker and the client settings of `--command-config`.
    pub admin: AdminConfig,
    /// Prometheus endpoints of the brokers (`http://host:port/metrics`);
    /// empty: throughput is computed from log end offsets.
    pub metrics_urls: Vec<String>,
    /// How often throughput and consumer lag are sampled.
    pub sample_interval: Duration,
    /// Samples kept per chart (the chart's width in time is this times
    /// the interval).
    pub history_samples: usize,
    /// The most records one browse reads.
    pub max_records: usize,
    /// The most bytes of a key, value or header shown per record.
    pub max_value_bytes: usize,
}

impl ConsoleConfig {
    pub fn new(admin: AdminConfig) -> ConsoleConfig {
        ConsoleConfig {
            admin,
            metrics_urls: Vec::new(),
            sample_interval: Duration::from_secs(5),
            history_samples: 180,
            max_records: 500,
            max_value_bytes: 4096,
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    pub config: ConsoleConfig,
    pub history: Mutex<history::History>,
}

impl AppState {
    /// An admin client for one page: a fresh connection each time, so a
    /// broker that restarted or a cluster that moved costs one failed page.
    pub async fn admin(&self) -> Result<AdminClient, ConsoleError> {
        Ok(AdminClient::connect(self.config.admin.clone()).await?)
    }

    pub fn consumer_config(&self) -> ConsumerConfig {
        let mut c = ConsumerConfig::new(self.config.admin.bootstrap_server.clone());
        c.connection = self.config.admin.connection.clone();
        c.api_timeout = self.config.admin.api_timeout;
        c.retry_backoff = self.config.admin.retry_backoff;
        c
    }

    pub fn producer_config(&self) -> ProducerConfig {
        let mut c = ProducerConfig::new(self.config.admin.bootstrap_server.clone());
        c.connection = self.config.admin.connection.clone();
        c.retry_backoff = self.config.admin.retry_backoff;
        c
    }
}

pub(crate) type Shared = Arc<AppState>;

/// A running console: its HTTP server and its sampler.
pub struct Console {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Console {
    /// Serves the console on `listener` and starts sampling the cluster.
    pub async fn start(config: ConsoleConfig, listener: TcpListener) -> std::io::Result<Console> {
        let addr = listener.local_addr()?;
        let state = Arc::new(AppState {
            history: Mutex::new(history::History::new(config.history_samples)),
            config,
        });
        let (stop, stopped) = watch::channel(false);
        let sampler = tokio::spawn(history::run_sampler(state.clone(), stopped.clone()));
        let app = router(state);
        let mut server_stop = stopped;
        let server = tokio::spawn(async move {
            let shutdown = async move {
                let _ = server_stop.wait_for(|s| *s).await;
            };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::error!("console server failed: {e}");
            }
        });
        Ok(Console {
            addr,
            stop,
            tasks: vec![sampler, server],
        })
    }

    /// Where the console listens.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stops the server and the sampler, and waits for both.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
    }
}

fn router(state: Shared) -> Router {
    Router::new()
        .route("/", get(overview::show))
        .route("/topics", get(topics::list).post(topics::create))
        .route("/topics/{topic}", get(topics::detail))
        .route("/topics/{topic}/delete", post(topics::delete))
        .route(
            "/topics/{topic}/messages",
            get(messages::browse).post(messages::produce),
        )
        .route("/groups", get(groups::list))
        .route("/groups/{group}", get(groups::detail))
        .route("/groups/{group}/reset", post(groups::reset))
        .route("/cluster", get(cluster_page::show))
        .route("/api/throughput", get(history::throughput_json))
        .route("/api/groups/{group}/lag", get(history::lag_json))
        .route("/assets/{file}", get(assets::serve))
        .layer(middleware::from_fn(same_origin_posts))
        .with_state(state)
}

/// A page of another site must not be able to drive the console's forms
/// (create, delete, produce, reset) through the operator's browser: a POST
/// whose Origin (or, failing that, Sec-Fetch-Site) says it came from
/// elsewhere is refused.
async fn same_origin_posts(request: Request, next: Next) -> Response {
    if request.method() == Method::POST {
        let headers = request.headers();
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let cross = match headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) {
            Some("null") => true,
            Some(origin) => {
                origin
                    .split_once("://")
                    .map(|(_, rest)| rest)
                    .unwrap_or(origin)
                    != host
            }
            None => headers
                .get("sec-fetch-site")
                .and_then(|s| s.to_str().ok())
                .is_some_and(|s| s == "cross-site"),
        };
        if cross {
            return (
                StatusCode::FORBIDDEN,
                "cross-origin form posts are refused: open the console itself to make changes",
            )
                .into_response();
        }
    }
    next.run(request).await
}
