//! The HTTP endpoint on `strom.metrics.listener`: `/metrics` for Prometheus,
//! `/health/live` and `/health/ready` for orchestrators. It starts before
//! the logs are loaded, so an orchestrator sees the broker alive but not
//! ready while it recovers; `/metrics` adds the broker's state once there is one.

use std::sync::{Arc, OnceLock, Weak};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

use super::{scrape, text, BrokerMetrics, Health};
use crate::broker::BrokerState;

/// What the endpoint serves from; the broker's state is set once it exists.
pub(crate) struct Endpoint {
    pub metrics: Arc<BrokerMetrics>,
    pub health: Arc<Health>,
    pub state: OnceLock<Weak<BrokerState>>,
}

impl Endpoint {
    fn state(&self) -> Option<Arc<BrokerState>> {
        self.state.get().and_then(Weak::upgrade)
    }

    /// Ready: serving clients, not shutting down, and not fenced by the controller.
    fn ready(&self) -> Result<(), &'static str> {
        if !self.health.serving() {
            return Err("not ready: starting (loading logs, registering with the controller) or shutting down\n");
        }
        match self.state() {
            Some(state) if state.lifecycle.is_fenced() => {
                Err("not ready: the controller has fenced this broker\n")
            }
            Some(_) => Ok(()),
            None => Err("not ready: starting\n"),
        }
    }
}

/// Serves until `shutdown` changes or its sender is dropped (a failed start-up).
pub(crate) fn serve(
    listener: TcpListener,
    endpoint: Arc<Endpoint>,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .route("/health/live", get(|| async { "live\n" }))
        .route("/health/ready", get(ready))
        .with_state(endpoint);
    if let Ok(addr) = listener.local_addr() {
        info!(%addr, "serving /metrics, /health/live and /health/ready (strom.metrics.listener)");
    }
    tokio::spawn(async move {
        let stop = async move {
            let _ = shutdown.changed().await;
        };
        if let Err(e) = axum::serve(listener, app)
            .with_graceful_shutdown(stop)
            .await
        {
            warn!("metrics endpoint stopped: {e}");
        }
    })
}

async fn metrics(State(endpoint): State<Arc<Endpoint>>) -> impl IntoResponse {
    let state = endpoint.state();
    let body = scrape::render(&endpoint.metrics, state.as_ref()).await;
    ([(header::CONTENT_TYPE, text::CONTENT_TYPE)], body)
}

async fn ready(State(endpoint): State<Arc<Endpoint>>) -> impl IntoResponse {
    match endpoint.ready() {
        Ok(()) => (StatusCode::OK, "ready\n"),
        Err(why) => (StatusCode::SERVICE_UNAVAILABLE, why),
    }
}
