//! `strom metadata-quorum describe --status | --replication`: the controller
//! quorum as `kafka-metadata-quorum.sh` shows it, over DescribeQuorum on any
//! broker of any Kafka-compatible cluster.

use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::admin_cli::{block_on, emit, fail, Connection};
use crate::table::Table;
use clap::{Args, Subcommand};
use strom_client::kafka_protocol::messages::describe_quorum_response::ReplicaState;
use strom_client::kafka_protocol::messages::DescribeQuorumResponse;

#[derive(Args)]
pub struct MetadataQuorumArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: QuorumCommand,
}

#[derive(Subcommand)]
enum QuorumCommand {
    /// Add a controller to the quorum (AddRaftVoter, KIP-853). Start it first
    /// with `controller.quorum.bootstrap.servers`, formatted with
    /// `strom storage format --no-initial-controllers`; the controller's own
    /// properties file gives its node.id, endpoint and directory id.
    AddController {
        /// The new controller's server.properties.
        #[arg(long, value_name = "FILE")]
        command_config: std::path::PathBuf,
    },
    /// Remove a controller from the quorum (RemoveRaftVoter, KIP-853).
    RemoveController {
        #[arg(long, value_name = "ID")]
        controller_id: i32,
        /// Its metadata directory's directory.id (from meta.properties).
        #[arg(long, value_name = "UUID")]
        controller_directory_id: String,
    },
    /// Describe the quorum: its leader and epoch (--status), or every
    /// member's progress (--replication).
    Describe {
        /// Leader, epoch, high watermark, follower lag, voters and observers.
        #[arg(
            long,
            conflicts_with = "replication",
            required_unless_present = "replication"
        )]
        status: bool,
        /// One row per voter and observer: log end offset, lag, last fetch.
        #[arg(long)]
        replication: bool,
    },
}

pub fn run(args: MetadataQuorumArgs) -> ExitCode {
    let replication = match args.command {
        QuorumCommand::Describe { replication, .. } => replication,
        QuorumCommand::AddController { command_config } => {
            return voters_change(&args.connection, Change::Add(command_config))
        }
        QuorumCommand::RemoveController {
            controller_id,
            controller_directory_id,
        } => {
            return voters_change(
                &args.connection,
                Change::Remove(controller_id, controller_directory_id),
            )
        }
    };
    let result = block_on(async {
        let mut admin = args.connection.admin(Duration::from_secs(30)).await?;
        admin.describe_quorum().await
    });
    let resp = match result {
        Err(code) => return code,
        Ok(result) => result,
    };
    let resp = match resp {
        Ok(resp) => resp,
        Err(e) => {
            return fail(&format!(
                "{e}; check that {} is a broker of the cluster and that a majority of its controllers is running",
                args.connection.bootstrap_server
            ))
        }
    };
    let text = match (args.connection.json(), replication) {
        (true, _) => json(&resp),
        (false, false) => status(&resp),
        (false, true) => replication_table(&resp),
    };
    emit(&text);
    ExitCode::SUCCESS
}

enum Change {
    Add(std::path::PathBuf),
    Remove(i32, String),
}

fn kafka_uuid(text: &str) -> Result<uuid::Uuid, String> {
    text.parse::<strom_metadata::TopicId>()
        .map(|id| uuid::Uuid::from_bytes(id.to_bytes()))
        .map_err(|_| format!("{text:?} is not a directory id (22 characters of URL-safe base64, as in meta.properties)"))
}

fn voters_change(connection: &Connection, change: Change) -> ExitCode {
    let request = match change {
        Change::Add(path) => {
            let config = strom_config::Properties::load(&path)
                .map_err(|e| format!("reading {}: {e}", path.display()))
                .and_then(|props| {
                    strom_config::BrokerConfig::from_properties(&props)
                        .map_err(|e| format!("{}: {e}", path.display()))
                });
            let config = match config {
                Ok(config) => config,
                Err(e) => return fail(&e),
            };
            let Some(listener) = config.quorum.controller_listener.clone() else {
                return fail(&format!(
                    "{} is not a controller's configuration: it needs process.roles with controller and a controller listener in listeners",
                    path.display()
                ));
            };
            let meta = match strom_log::read_meta_properties(&config.log_dirs[0]) {
                Ok(Some(meta)) => meta,
                Ok(None) => {
                    return fail(&format!(
                        "{} is not formatted: run `strom storage format --cluster-id <id> --config {} --no-initial-controllers` and start the controller first",
                        config.log_dirs[0].display(),
                        path.display()
                    ))
                }
                Err(e) => return fail(&e.to_string()),
            };
            let directory = match meta.directory_id.as_deref().map(kafka_uuid) {
                Some(Ok(id)) => id,
                Some(Err(e)) => return fail(&e),
                None => uuid::Uuid::nil(),
            };
            let host = if listener.host.is_empty() {
                "localhost".to_string()
            } else {
                listener.host.clone()
            };
            Ok((
                config.node_id,
                directory,
                listener.name.clone(),
                host,
                listener.port,
            ))
        }
        Change::Remove(id, directory) => match kafka_uuid(&directory) {
            Ok(directory) => Err((id, directory)),
            Err(e) => return fail(&e),
        },
    };
    let result = block_on(async {
        let mut admin = connection.admin(Duration::from_secs(60)).await?;
        match &request {
            Ok((id, directory, name, host, port)) => {
                admin
                    .add_raft_voter(*id, *directory, name, host, *port)
                    .await
            }
            Err((id, directory)) => admin.remove_raft_voter(*id, *directory).await,
        }
    });
    let result = match result {
        Ok(result) => result,
        Err(code) => return code,
    };
    match (result, request) {
        (Ok(()), Ok((id, ..))) => {
            println!("Added controller {id}");
            ExitCode::SUCCESS
        }
        (Ok(()), Err((id, _))) => {
            println!("Removed controller {id}");
            ExitCode::SUCCESS
        }
        (Err(e), _) => fail(&e.to_string()),
    }
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

struct Quorum<'a> {
    leader_id: i32,
    leader_epoch: i32,
    high_watermark: i64,
    voters: &'a [ReplicaState],
    observers: &'a [ReplicaState],
}

impl Quorum<'_> {
    /// The leader's log end offset (the high watermark if it is not listed).
    fn leader_end(&self) -> i64 {
        self.voters
            .iter()
            .find(|v| v.replica_id.0 == self.leader_id)
            .map_or(self.high_watermark, |v| v.log_end_offset)
    }
}

fn quorum(resp: &DescribeQuorumResponse) -> Quorum<'_> {
    match resp.topics.first().and_then(|t| t.partitions.first()) {
        Some(p) => Quorum {
            leader_id: p.leader_id.0,
            leader_epoch: p.leader_epoch,
            high_watermark: p.high_watermark,
            voters: &p.current_voters,
            observers: &p.observers,
        },
        None => Quorum {
            leader_id: -1,
            leader_epoch: -1,
            high_watermark: -1,
            voters: &[],
            observers: &[],
        },
    }
}

fn endpoints(resp: &DescribeQuorumResponse, id: i32) -> Vec<String> {
    resp.nodes
        .iter()
        .filter(|n| n.node_id.0 == id)
        .flat_map(|n| {
            n.listeners
                .iter()
                .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
        })
        .collect()
}

fn members(resp: &DescribeQuorumResponse, replicas: &[ReplicaState]) -> String {
    let items: Vec<String> = replicas
        .iter()
        .map(|r| {
            let eps: Vec<String> = endpoints(resp, r.replica_id.0)
                .iter()
                .map(|e| format!("\"{e}\""))
                .collect();
            format!(
                "{{\"id\": {}, \"endpoints\": [{}]}}",
                r.replica_id.0,
                eps.join(", ")
            )
        })
        .collect();
    format!("[{}]", items.join(", "))
}

fn status(resp: &DescribeQuorumResponse) -> String {
    let q = quorum(resp);
    let leader_end = q.leader_end();
    let followers = q.voters.iter().filter(|v| v.replica_id.0 != q.leader_id);
    let max_lag = followers
        .clone()
        .map(|v| (leader_end - v.log_end_offset).max(0))
        .max()
        .unwrap_or(0);
    let max_lag_time = followers
        .map(|v| {
            if v.last_caught_up_timestamp < 0 {
                -1
            } else {
                (now_ms() - v.last_caught_up_timestamp).max(0)
            }
        })
        .max()
        .unwrap_or(0);
    format!(
        "LeaderId:               {}\nLeaderEpoch:            {}\nHighWatermark:          {}\nMaxFollowerLag:         {}\nMaxFollowerLagTimeMs:   {}\nCurrentVoters:          {}\nCurrentObservers:       {}\n",
        q.leader_id,
        q.leader_epoch,
        q.high_watermark,
        max_lag,
        max_lag_time,
        members(resp, q.voters),
        members(resp, q.observers),
    )
}

fn replication_table(resp: &DescribeQuorumResponse) -> String {
    let q = quorum(resp);
    let leader_end = q.leader_end();
    let mut table = Table::with_header(&[
        "NodeId",
        "LogEndOffset",
        "Lag",
        "LastFetchTimestamp",
        "LastCaughtUpTimestamp",
        "Status",
    ]);
    let role = |r: &ReplicaState, voter: bool| {
        if r.replica_id.0 == q.leader_id {
            "Leader"
        } else if voter {
            "Follower"
        } else {
            "Observer"
        }
    };
    let mut all: Vec<(&ReplicaState, bool)> = q.voters.iter().map(|r| (r, true)).collect();
    all.extend(q.observers.iter().map(|r| (r, false)));
    all.sort_by_key(|(r, _)| (r.replica_id.0 != q.leader_id, r.replica_id.0));
    for (r, voter) in all {
        table.row(vec![
            r.replica_id.0.to_string(),
            r.log_end_offset.to_string(),
            if r.log_end_offset < 0 {
                "-1".into()
            } else {
                (leader_end - r.log_end_offset).max(0).to_string()
            },
            r.last_fetch_timestamp.to_string(),
            r.last_caught_up_timestamp.to_string(),
            role(r, voter).to_string(),
        ]);
    }
    table.render()
}

fn json(resp: &DescribeQuorumResponse) -> String {
    let q = quorum(resp);
    let replica = |r: &ReplicaState| {
        let eps: Vec<String> = endpoints(resp, r.replica_id.0)
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect();
        format!(
            "{{\"id\":{},\"logEndOffset\":{},\"lastFetchTimestamp\":{},\"lastCaughtUpTimestamp\":{},\"endpoints\":[{}]}}",
            r.replica_id.0,
            r.log_end_offset,
            r.last_fetch_timestamp,
            r.last_caught_up_timestamp,
            eps.join(",")
        )
    };
    let voters: Vec<String> = q.voters.iter().map(replica).collect();
    let observers: Vec<String> = q.observers.iter().map(replica).collect();
    format!(
        "{{\"leaderId\":{},\"leaderEpoch\":{},\"highWatermark\":{},\"voters\":[{}],\"observers\":[{}]}}\n",
        q.leader_id,
        q.leader_epoch,
        q.high_watermark,
        voters.join(","),
        observers.join(",")
    )
}
