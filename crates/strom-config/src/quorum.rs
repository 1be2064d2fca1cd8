//! The KRaft keys: which roles this node plays, where the controller quorum is, and the
//! quorum's and the broker lifecycle's timers, validated together as Kafka's
//! `KafkaConfig.validateValues` does for KRaft (combined, controller-only and broker-only
//! nodes).
//!
//! Strom adds one case Kafka does not have: with no quorum configured at all (no
//! `controller.quorum.voters`, no `controller.quorum.bootstrap.servers`) a node that is both
//! broker and controller is a quorum of itself alone, needs no controller listener and
//! formats its own log directories on first start. That is `strom server` with no file.

use crate::broker_config::Effective;
use crate::error::ConfigError;
use crate::listener::Listener;

/// `process.roles`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessRoles {
    pub broker: bool,
    pub controller: bool,
}

impl ProcessRoles {
    /// Both roles in one process (KRaft's combined mode).
    pub fn is_combined(&self) -> bool {
        self.broker && self.controller
    }
}

/// One entry of `controller.quorum.voters`, `id@host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuorumVoter {
    pub id: i32,
    /// Host name or IP address, without brackets.
    pub host: String,
    pub port: u16,
}

/// The controller quorum and the broker lifecycle, Kafka's KRaft keys.
#[derive(Debug, Clone, PartialEq)]
pub struct QuorumConfig {
    /// `process.roles`; unset = broker and controller (the zero-config single node).
    pub roles: ProcessRoles,
    /// `controller.quorum.voters` (static quorum), in the order given; ids are distinct.
    pub voters: Vec<QuorumVoter>,
    /// `controller.quorum.bootstrap.servers` (dynamic quorum, KIP-853).
    pub bootstrap_servers: Vec<(String, u16)>,
    /// `controller.listener.names`, upper-cased.
    pub controller_listener_names: Vec<String>,
    /// This node's first controller listener (the address the quorum binds), when it is a
    /// controller with a controller listener in `listeners`.
    pub controller_listener: Option<Listener>,
    /// `inter.broker.listener.name`, else the listener named after
    /// `security.inter.broker.protocol` if there is one (Kafka's default), upper-cased.
    pub inter_broker_listener_name: Option<String>,
    /// `broker.heartbeat.interval.ms`.
    pub broker_heartbeat_interval_ms: u64,
    /// `broker.session.timeout.ms`.
    pub broker_session_timeout_ms: u64,
    /// `controller.quorum.election.timeout.ms`.
    pub election_timeout_ms: u64,
    /// `controller.quorum.fetch.timeout.ms`.
    pub fetch_timeout_ms: u64,
    /// `controller.quorum.request.timeout.ms`.
    pub request_timeout_ms: u64,
    /// `controller.quorum.retry.backoff.ms`.
    pub retry_backoff_ms: u64,
    /// `metadata.log.max.record.bytes.between.snapshots`.
    pub snapshot_max_bytes: u64,
    /// `metadata.log.max.snapshot.interval.ms`; 0 = no time-based snapshots.
    pub snapshot_max_interval_ms: u64,
}

impl QuorumConfig {
    /// No voters and no bootstrap servers: the zero-config quorum of this node alone.
    pub fn is_single_node(&self) -> bool {
        self.voters.is_empty() && self.bootstrap_servers.is_empty()
    }

    /// Whether this node is part of a cluster the operator has to set up: a static quorum
    /// naming another node, a dynamic quorum, or a node with one role only. Such a node's log
    /// directories must be formatted (`strom storage format`) before its first start; the
    /// single node formats its own.
    pub fn needs_formatted_storage(&self) -> bool {
        !self.roles.is_combined() || !self.bootstrap_servers.is_empty() || self.voters.len() > 1
    }
}

fn millis(cfg: &Effective<'_>, key: &str) -> u64 {
    u64::try_from(cfg.int(key)).unwrap_or(0)
}

/// Validates the KRaft keys against each other and against the listeners.
pub(crate) fn quorum_config(
    cfg: &Effective<'_>,
    node_id: i32,
    listeners: &[Listener],
) -> Result<QuorumConfig, ConfigError> {
    let roles = process_roles(cfg)?;
    let voters = voters(cfg)?;
    let bootstrap_servers = bootstrap_servers(cfg)?;
    let controller_listener_names: Vec<String> = cfg
        .list("controller.listener.names")
        .unwrap_or_default()
        .iter()
        .map(|n| n.trim().to_ascii_uppercase())
        .filter(|n| !n.is_empty())
        .collect();
    let is_controller_listener = |l: &Listener| controller_listener_names.contains(&l.name);
    let voter_ids: Vec<i32> = voters.iter().map(|v| v.id).collect();
    let single_node = voters.is_empty() && bootstrap_servers.is_empty();

    if single_node && !roles.is_combined() {
        let role = if roles.broker { "broker" } else { "controller" };
        return Err(cfg.conflict(
            "process.roles",
            format!(
                "a node with only the '{role}' role needs the controller quorum: set \
                 controller.quorum.voters (id@host:port of every controller) or \
                 controller.quorum.bootstrap.servers, or remove process.roles to run a \
                 single node that is both broker and controller"
            ),
        ));
    }
    if roles.controller {
        // The single node needs no controller listener: its quorum has no peers to talk to.
        if controller_listener_names.is_empty() && !single_node {
            return Err(cfg.conflict(
                "controller.listener.names",
                "must contain at least one value appearing in the 'listeners' configuration \
                 when running the KRaft controller role; for example \
                 controller.listener.names=CONTROLLER with CONTROLLER://host:port in listeners"
                    .into(),
            ));
        }
        if let Some(missing) = controller_listener_names
            .iter()
            .find(|name| !listeners.iter().any(|l| &&l.name == name))
        {
            return Err(cfg.conflict(
                "controller.listener.names",
                format!(
                    "must only contain values appearing in the 'listeners' configuration when \
                     running the KRaft controller role; {missing} is not a listener: add \
                     {missing}://host:port to listeners"
                ),
            ));
        }
        if !voter_ids.is_empty() && !voter_ids.contains(&node_id) {
            return Err(cfg.conflict(
                "controller.quorum.voters",
                format!(
                    "if process.roles contains the 'controller' role, the node id {node_id} must \
                     be included in the set of voters controller.quorum.voters={}; add \
                     {node_id}@host:port or fix node.id",
                    id_set(&voter_ids)
                ),
            ));
        }
    }
    if roles.controller && !roles.broker {
        if let Some(other) = listeners.iter().find(|l| !is_controller_listener(l)) {
            return Err(cfg.conflict(
                "listeners",
                format!(
                    "the listeners config must only contain KRaft controller listeners from \
                     controller.listener.names when process.roles=controller; remove {other} or \
                     add the broker role"
                ),
            ));
        }
    }
    if roles.broker && !roles.controller {
        if voter_ids.contains(&node_id) {
            return Err(cfg.conflict(
                "controller.quorum.voters",
                format!(
                    "if process.roles contains just the 'broker' role, the node id {node_id} must \
                     not be included in the set of voters controller.quorum.voters={}; give the \
                     broker another node.id or add the controller role",
                    id_set(&voter_ids)
                ),
            ));
        }
        if controller_listener_names.is_empty() {
            return Err(cfg.conflict(
                "controller.listener.names",
                "must contain at least one value when running KRaft with just the broker role \
                 (the name of the controllers' listener, for example CONTROLLER)"
                    .into(),
            ));
        }
        if let Some(l) = listeners.iter().find(|l| is_controller_listener(l)) {
            return Err(cfg.conflict(
                "listeners",
                format!(
                    "controller.listener.names must not contain a value appearing in the \
                     'listeners' configuration when running KRaft with just the broker role; \
                     remove {l} from listeners (the controllers listen on it)"
                ),
            ));
        }
    }
    let broker_listeners: Vec<&Listener> = listeners
        .iter()
        .filter(|l| !is_controller_listener(l))
        .collect();
    if roles.broker && broker_listeners.is_empty() {
        return Err(cfg.conflict(
            "listeners",
            "there must be at least one broker listener; all listeners appear in \
             controller.listener.names: add one for clients, for example PLAINTEXT://:9092"
                .into(),
        ));
    }
    let inter_broker_listener_name = match cfg.string("inter.broker.listener.name") {
        Some(name) if roles.broker => {
            let name = name.trim().to_ascii_uppercase();
            if !broker_listeners.iter().any(|l| l.name == name) {
                let names: Vec<&str> = broker_listeners.iter().map(|l| l.name.as_str()).collect();
                return Err(cfg.conflict(
                    "inter.broker.listener.name",
                    format!(
                        "must be a listener name defined in advertised.listeners; {name} is not \
                         one. The valid options based on currently configured listeners are {}",
                        names.join(",")
                    ),
                ));
            }
            Some(name)
        }
        Some(name) => Some(name.trim().to_ascii_uppercase()),
        None => cfg
            .string("security.inter.broker.protocol")
            .filter(|protocol| broker_listeners.iter().any(|l| &l.name == protocol)),
    };
    let controller_listener = if roles.controller {
        controller_listener_names
            .iter()
            .find_map(|name| listeners.iter().find(|l| &l.name == name))
            .cloned()
    } else {
        None
    };
    Ok(QuorumConfig {
        roles,
        voters,
        bootstrap_servers,
        controller_listener_names,
        controller_listener,
        inter_broker_listener_name,
        broker_heartbeat_interval_ms: millis(cfg, "broker.heartbeat.interval.ms"),
        broker_session_timeout_ms: millis(cfg, "broker.session.timeout.ms"),
        election_timeout_ms: millis(cfg, "controller.quorum.election.timeout.ms"),
        fetch_timeout_ms: millis(cfg, "controller.quorum.fetch.timeout.ms"),
        request_timeout_ms: millis(cfg, "controller.quorum.request.timeout.ms"),
        retry_backoff_ms: millis(cfg, "controller.quorum.retry.backoff.ms"),
        snapshot_max_bytes: millis(cfg, "metadata.log.max.record.bytes.between.snapshots"),
        snapshot_max_interval_ms: millis(cfg, "metadata.log.max.snapshot.interval.ms"),
    })
}

/// Kafka prints a Java set: `[1, 2, 3]`.
fn id_set(ids: &[i32]) -> String {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let items: Vec<String> = sorted.iter().map(i32::to_string).collect();
    format!("[{}]", items.join(", "))
}

fn process_roles(cfg: &Effective<'_>) -> Result<ProcessRoles, ConfigError> {
    let names: Vec<String> = cfg
        .list("process.roles")
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .collect();
    if names.is_empty() {
        return Ok(ProcessRoles {
            broker: true,
            controller: true,
        });
    }
    let mut roles = ProcessRoles {
        broker: false,
        controller: false,
    };
    for name in &names {
        let seen = match name.as_str() {
            "broker" => std::mem::replace(&mut roles.broker, true),
            "controller" => std::mem::replace(&mut roles.controller, true),
            other => {
                return Err(cfg.conflict(
                    "process.roles",
                    format!(
                        "unknown process role '{other}' (only 'broker' and 'controller' are allowed roles)"
                    ),
                ))
            }
        };
        if seen {
            return Err(cfg.conflict(
                "process.roles",
                format!(
                    "duplicate role names found in `process.roles`: {}; name each role once",
                    names.join(",")
                ),
            ));
        }
    }
    Ok(roles)
}

/// `host:port` or `[v6]:port`; `None` when malformed.
fn host_port(text: &str) -> Option<(String, u16)> {
    let (host, port) = text.trim().rsplit_once(':')?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let port = port.parse::<u16>().ok()?;
    (!host.is_empty()).then(|| (host.to_owned(), port))
}

fn voters(cfg: &Effective<'_>) -> Result<Vec<QuorumVoter>, ConfigError> {
    let key = "controller.quorum.voters";
    let mut voters: Vec<QuorumVoter> = Vec::new();
    for entry in cfg.list(key).unwrap_or_default() {
        let parsed = entry.trim().split_once('@').and_then(|(id, address)| {
            let id = id.trim().parse::<i32>().ok().filter(|id| *id >= 0)?;
            let (host, port) = host_port(address)?;
            Some(QuorumVoter { id, host, port })
        });
        let Some(voter) = parsed else {
            return Err(cfg.conflict(
                key,
                format!("'{entry}' is not a voter; each entry should be in the form `{{id}}@{{host}}:{{port}}`"),
            ));
        };
        if voter.host == "0.0.0.0" {
            return Err(cfg.conflict(
                key,
                format!("host string ({}) in '{entry}' is not routable; name the address the other nodes reach voter {} at", voter.host, voter.id),
            ));
        }
        if voters.iter().any(|v| v.id == voter.id) {
            return Err(cfg.conflict(
                key,
                format!(
                    "voter id {} appears twice; each controller needs its own node.id",
                    voter.id
                ),
            ));
        }
        voters.push(voter);
    }
    Ok(voters)
}

fn bootstrap_servers(cfg: &Effective<'_>) -> Result<Vec<(String, u16)>, ConfigError> {
    let key = "controller.quorum.bootstrap.servers";
    cfg.list(key)
        .unwrap_or_default()
        .iter()
        .map(|entry| {
            host_port(entry).ok_or_else(|| {
                cfg.conflict(
                    key,
                    format!("failed to parse '{entry}'; each entry should be in the form \"{{host}}:{{port}}\""),
                )
            })
        })
        .collect()
}

#[cfg(test)]
#[path = "quorum_tests.rs"]
mod tests;
