//! What each process role runs of the metadata quorum, and a node that is
//! only a controller (`process.roles=controller`).
//!
//! | `process.roles` | metadata | broker |
//! |---|---|---|
//! | `broker,controller` (default) | a voter of the quorum | yes |
//! | `controller` | a voter of the quorum | no client listeners, never registers |
//! | `broker` | follows the committed image from the active controller | yes |

use std::sync::Arc;

use strom_config::BrokerConfig;
use strom_controller::{ControllerConfig, ControllerDefaults, ControllerHandle};
use tracing::info;

use crate::lifecycle::QuorumSettings;
use crate::BrokerError;

/// Checks the log directories are formatted for this node and starts its
/// part of the metadata quorum; returns it with the cluster id.
pub(crate) async fn start_metadata(
    config: &BrokerConfig,
) -> Result<(ControllerHandle, String, QuorumSettings), BrokerError> {
    let node_id = config.node_id;
    let metadata_dir = config.log_dirs[0].join(strom_log::METADATA_LOG_DIR_NAME);
    let mut controller_config = ControllerConfig::single_node(node_id, metadata_dir);
    controller_config.defaults = ControllerDefaults {
        num_partitions: config.num_partitions,
        default_replication_factor: config.default_replication_factor,
        unclean_leader_election_enable: config.unclean_leader_election_enable,
        controller_id: Some(node_id),
    };
    controller_config.leader_rebalance =
        config
            .auto_leader_rebalance_enable
            .then(|| strom_controller::LeaderRebalance {
                check_interval: std::time::Duration::from_secs(
                    config.leader_imbalance_check_interval_seconds,
                ),
                imbalance_percentage: config.leader_imbalance_per_broker_percentage,
            });
    controller_config.validate_topic_configs = Arc::new(|configs| {
        strom_config::validate_topic_configs(configs).map_err(|e| e.to_string())
    });
    let quorum = QuorumSettings::of(config)?;
    if !quorum.voters.is_empty() || quorum.join {
        controller_config.join_quorum = quorum.join;
        controller_config.voters = quorum.voters.clone();
        controller_config.listen_address = quorum.listen_address.clone();
        // A cluster waits for its other voters as long as they take.
        controller_config.startup_timeout = None;
    }
    controller_config.election_timeout = quorum.election_timeout;
    controller_config.snapshot_interval = (config.quorum.snapshot_max_interval_ms > 0)
        .then(|| std::time::Duration::from_millis(config.quorum.snapshot_max_interval_ms));
    controller_config.broker_session_timeout = quorum.session_timeout;
    // The controller listener's TLS stores and PLAIN credentials are read before anything
    // starts: a bad file or a missing key stops start-up naming it.
    let (security, _) = crate::tls::controller_quorum_security(config, quorum.controller)
        .map_err(BrokerError::Tls)?;
    if security.tls.is_some() || security.sasl.is_some() {
        info!(protocol = %security.protocol, "quorum connections are secured as the controller listener says");
    }
    controller_config.security = security;
    // The metadata log lives in the first directory, which must work; any
    // other that cannot be created is an offline log directory (LogManager).
    std::fs::create_dir_all(&config.log_dirs[0]).map_err(|source| BrokerError::CreateDir {
        dir: config.log_dirs[0].clone(),
        source,
    })?;
    // Before the quorum writes anything: a node of a cluster starts only formatted.
    let cluster_id = strom_log::check_formatted(
        &config.log_dirs,
        node_id,
        config.cluster_id.as_deref(),
        config.quorum.needs_formatted_storage(),
    )
    .map_err(|source| BrokerError::LogDir {
        dir: config.log_dirs[0].clone(),
        source,
    })?;
    let controller = if quorum.controller {
        info!("starting the metadata quorum");
        strom_controller::Controller::start(controller_config).await
    } else {
        info!(voters = ?quorum.voters, "following the metadata of the controller quorum");
        strom_controller::Controller::start_observer(controller_config).await
    }
    .map_err(|e| BrokerError::Controller(e.to_string()))?;
    Ok((controller, cluster_id, quorum))
}

/// A node that is only a controller: a voter of the metadata quorum with
/// no broker (no client listeners, no partitions, never registered).
pub struct ControllerNode {
    controller: ControllerHandle,
}

impl ControllerNode {
    pub async fn start(config: BrokerConfig) -> Result<ControllerNode, BrokerError> {
        let (controller, cluster_id, _) = start_metadata(&config).await?;
        info!(node_id = config.node_id, %cluster_id, "controller started");
        Ok(ControllerNode { controller })
    }

    /// Stops the quorum member.
    pub async fn shutdown(self) -> Result<(), BrokerError> {
        info!("shutting down");
        self.controller.shutdown().await;
        info!("shutdown complete");
        Ok(())
    }
}
