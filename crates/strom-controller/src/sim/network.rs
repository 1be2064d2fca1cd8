//! The simulation's network: an in-memory [`Transport`] between the nodes of
//! one run, with a seeded delay and loss per link, partitions between any
//! pair (either way or one way), and crashed nodes.
//!
//! A call is a request and a response, each crossing its link: the request
//! to a node that is down, or over a cut link, fails at once as an
//! unreachable peer (a refused connection); a lost message, or a response
//! over a cut link, is never answered and the call times out. Every message
//! goes through serde as it would over TCP, so what a node receives is a
//! copy. Each node run (incarnation) has its own endpoint: a crashed run
//! neither sends nor answers anything, even from tasks still winding down.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::checker::Checker;
use crate::controller::LocalService;
use crate::raft::transport::{
    dispatch, BoxFuture, CallError, PeerConnection, PeerRequest, PeerResponse, Transport,
};
use crate::rpc::ControllerRequest;

/// Delay and loss of messages from one node to another.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Link {
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// Probability that a message is lost.
    pub loss: f64,
}

impl Default for Link {
    fn default() -> Link {
        Link {
            min_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(5),
            loss: 0.0,
        }
    }
}

struct Endpoint {
    incarnation: u64,
    service: Option<Arc<LocalService>>,
}

struct State {
    rng: StdRng,
    /// The live run of each node that is up.
    endpoints: BTreeMap<u64, Endpoint>,
    /// (from, to): messages from `from` to `to` do not arrive.
    cut: BTreeSet<(u64, u64)>,
    links: BTreeMap<(u64, u64), Link>,
    messages: u64,
}

/// The network of one run; clones share it.
#[derive(Clone)]
pub(crate) struct Network {
    state: Arc<Mutex<State>>,
    checker: Arc<Checker>,
}

/// What happens to one message.
enum Leg {
    Arrives(Duration),
    Lost,
    Refused(String),
}

impl Network {
    pub(crate) fn new(rng: StdRng, checker: Arc<Checker>) -> Network {
        Network {
            state: Arc::new(Mutex::new(State {
                rng,
                endpoints: BTreeMap::new(),
                cut: BTreeSet::new(),
                links: BTreeMap::new(),
                messages: 0,
            })),
            checker,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Node `node` starts its run `incarnation`: the transport it uses.
    pub(crate) fn start(&self, node: u64, incarnation: u64) -> Arc<dyn Transport> {
        self.lock().endpoints.insert(
            node,
            Endpoint {
                incarnation,
                service: None,
            },
        );
        Arc::new(NodeTransport {
            node,
            incarnation,
            network: self.clone(),
        })
    }

    /// Node `node` is down: nothing reaches it or leaves it.
    pub(crate) fn crash(&self, node: u64) {
        self.lock().endpoints.remove(&node);
    }

    /// Cuts messages from `from` to `to` (call twice for both ways).
    pub(crate) fn cut(&self, from: u64, to: u64) {
        self.lock().cut.insert((from, to));
    }

    pub(crate) fn heal(&self, from: u64, to: u64) {
        self.lock().cut.remove(&(from, to));
    }

    pub(crate) fn heal_all(&self) {
        let mut state = self.lock();
        state.cut.clear();
        state.links.clear();
    }

    pub(crate) fn cuts(&self) -> Vec<(u64, u64)> {
        self.lock().cut.iter().copied().collect()
    }

    /// No link is cut, slowed or lossy.
    pub(crate) fn is_healthy(&self) -> bool {
        let state = self.lock();
        state.cut.is_empty() && state.links.is_empty()
    }

    pub(crate) fn set_link(&self, from: u64, to: u64, link: Link) {
        self.lock().links.insert((from, to), link);
    }

    pub(crate) fn messages(&self) -> u64 {
        self.lock().messages
    }

    fn is_up(state: &State, node: u64, incarnation: u64) -> bool {
        state
            .endpoints
            .get(&node)
            .is_some_and(|e| e.incarnation == incarnation)
    }

    /// Decides the fate of a message from `from`'s run `incarnation` to `to`.
    fn leg(&self, from: u64, incarnation: u64, to: u64) -> Leg {
        let mut state = self.lock();
        state.messages += 1;
        if !Network::is_up(&state, from, incarnation) {
            return Leg::Lost;
        }
        if !state.endpoints.contains_key(&to) {
            return Leg::Refused(format!("node {to} is down"));
        }
        if state.cut.contains(&(from, to)) {
            return Leg::Refused(format!("the link from node {from} to node {to} is cut"));
        }
        let link = state.links.get(&(from, to)).copied().unwrap_or_default();
        if link.loss > 0.0 && state.rng.gen_bool(link.loss.min(1.0)) {
            return Leg::Lost;
        }
        let (min, max) = (link.min_delay, link.max_delay.max(link.min_delay));
        let delay = if min == max {
            min
        } else {
            let nanos = state
                .rng
                .gen_range(min.as_nanos() as u64..=max.as_nanos() as u64);
            Duration::from_nanos(nanos)
        };
        Leg::Arrives(delay)
    }

    async fn exchange(
        &self,
        from: u64,
        incarnation: u64,
        to: u64,
        request: PeerRequest,
    ) -> Result<PeerResponse, CallError> {
        let address = format!("node-{to}");
        match self.leg(from, incarnation, to) {
            Leg::Arrives(delay) => tokio::time::sleep(delay).await,
            Leg::Lost => std::future::pending::<()>().await,
            Leg::Refused(reason) => return Err(CallError::Unreachable { address, reason }),
        }
        let target = {
            let state = self.lock();
            if !Network::is_up(&state, from, incarnation) {
                None
            } else {
                match state.endpoints.get(&to) {
                    Some(Endpoint {
                        incarnation,
                        service: Some(service),
                    }) if !state.cut.contains(&(from, to)) => {
                        Some(Ok((service.clone(), *incarnation)))
                    }
                    _ => Some(Err(())),
                }
            }
        };
        let (service, callee) = match target {
            // The caller crashed: its call never completes.
            None => return std::future::pending().await,
            Some(Ok(target)) => target,
            Some(Err(())) => {
                return Err(CallError::Unreachable {
                    address,
                    reason: format!("node {to} is down or cut off"),
                })
            }
        };
        let heartbeat = match &request {
            PeerRequest::Controller(ControllerRequest::BrokerHeartbeat(heartbeat)) => {
                Some((heartbeat.clone(), self.checker.committed_len()))
            }
            _ => None,
        };
        let response = dispatch(&*service, request).await;
        if !Network::is_up(&self.lock(), to, callee) {
            // The node crashed while it worked on the request.
            return Err(CallError::Io {
                address,
                reason: "connection reset".into(),
            });
        }
        if let (Some((heartbeat, committed)), PeerResponse::Controller(answer)) =
            (&heartbeat, &response)
        {
            self.checker
                .heartbeat_answered(to, heartbeat, answer, *committed);
        }
        let response = copy(&response).ok_or(CallError::Protocol {
            address: address.clone(),
        })?;
        match self.leg(to, callee, from) {
            Leg::Arrives(delay) => tokio::time::sleep(delay).await,
            // A reply over a cut link (or lost) never arrives.
            Leg::Lost | Leg::Refused(_) => std::future::pending::<()>().await,
        }
        Ok(response)
    }
}

/// A copy of `value` through serde, as the wire would make it.
fn copy<T: Serialize + DeserializeOwned>(value: &T) -> Option<T> {
    serde_json::to_vec(value)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

/// One node run's view of the network.
struct NodeTransport {
    node: u64,
    incarnation: u64,
    network: Network,
}

impl Transport for NodeTransport {
    fn connect(&self, target: u64, _address: &str) -> Box<dyn PeerConnection> {
        Box::new(Connection {
            node: self.node,
            incarnation: self.incarnation,
            target,
            network: self.network.clone(),
        })
    }

    fn attach(&self, service: LocalService) {
        let mut state = self.network.lock();
        if let Some(endpoint) = state.endpoints.get_mut(&self.node) {
            if endpoint.incarnation == self.incarnation {
                endpoint.service = Some(Arc::new(service));
            }
        }
    }
}

struct Connection {
    node: u64,
    incarnation: u64,
    target: u64,
    network: Network,
}

impl PeerConnection for Connection {
    fn call<'a>(
        &'a mut self,
        request: &'a PeerRequest,
        timeout: Duration,
    ) -> BoxFuture<'a, Result<PeerResponse, CallError>> {
        Box::pin(async move {
            let address = format!("node-{}", self.target);
            let request = copy(request).ok_or(CallError::Protocol {
                address: address.clone(),
            })?;
            let exchange = self
                .network
                .exchange(self.node, self.incarnation, self.target, request);
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(CallError::Timeout { address, timeout }),
            }
        })
    }
}
