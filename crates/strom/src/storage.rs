//! `strom storage`, as `kafka-storage.sh`: `random-uuid` makes a cluster id, `format` writes
//! `meta.properties` into every log directory of a node before its first start (and, for a
//! dynamic quorum, the initial voters into the metadata log directory), `info` shows what the
//! directories hold.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use strom_config::{BrokerConfig, WILDCARD_ADVERTISED_HOST};
use strom_log::{FormatOutcome, FormatRequest, InitialController, InitialControllers};

#[derive(Args)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(Subcommand)]
enum StorageCommand {
    /// Print a random UUID, for a new cluster id.
    RandomUuid,
    /// Format the log directories of this node (log.dirs) for a cluster.
    Format(FormatArgs),
    /// Show what the log directories of this node hold.
    Info(ConfigArgs),
}

#[derive(Args)]
struct ConfigArgs {
    /// The node's server.properties.
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// Override a property of the file: --override log.dirs=/var/lib/strom
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

#[derive(Args)]
#[group(id = "quorum", multiple = false)]
struct QuorumArgs {
    /// Initialize this controller as a single-voter dynamic quorum (KIP-853).
    #[arg(long, short = 's', group = "quorum")]
    standalone: bool,
    /// Initialize a dynamic quorum with these voters: id@host:port:directory-id,...
    /// (the same value on every node; directory ids from `strom storage random-uuid`).
    #[arg(long, short = 'I', value_name = "VOTERS", group = "quorum")]
    initial_controllers: Option<String>,
    /// Format a node that joins an existing dynamic quorum later (no initial voters).
    #[arg(long, short = 'N', group = "quorum")]
    no_initial_controllers: bool,
}

#[derive(Args)]
struct FormatArgs {
    #[command(flatten)]
    config: ConfigArgs,
    /// The cluster id, as `strom storage random-uuid` prints it; the same on every node.
    #[arg(long, short = 't')]
    cluster_id: String,
    /// Skip directories already formatted for this cluster and node instead of failing.
    #[arg(long, short = 'g')]
    ignore_formatted: bool,
    #[command(flatten)]
    quorum: QuorumArgs,
    /// A SCRAM credential for the new cluster's metadata, as Kafka's:
    /// 'SCRAM-SHA-256=[name=alice,password=alice-secret]' (also iterations=, salt=,
    /// saltedpassword=); repeatable. Written on controllers, applied at the first start.
    #[arg(long = "add-scram", short = 'S', value_name = "SCRAM")]
    add_scram: Vec<String>,
}

pub fn run(args: StorageArgs) -> ExitCode {
    let result = match args.command {
        StorageCommand::RandomUuid => {
            println!("{}", strom_log::new_kafka_uuid());
            Ok(true)
        }
        StorageCommand::Format(args) => format(args).map(|()| true),
        StorageCommand::Info(args) => info(args),
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load(args: &ConfigArgs) -> anyhow::Result<BrokerConfig> {
    crate::load_config(Some(args.config.clone()), args.overrides.clone())
}

fn format(args: FormatArgs) -> anyhow::Result<()> {
    let config = load(&args.config)?;
    let request = format_request(&config, &args)?;
    // Before anything is written: a bad --add-scram formats nothing.
    let scram = crate::storage_scram::parse(&args.add_scram).map_err(anyhow::Error::msg)?;
    let outcomes = strom_log::format_log_dirs(&request)?;
    if let (false, Some(FormatOutcome::Formatted { .. })) = (scram.is_empty(), outcomes.first()) {
        if config.quorum.roles.controller {
            let metadata_dir = config.log_dirs[0].join(strom_log::METADATA_LOG_DIR_NAME);
            strom_controller::write_bootstrap_records(&metadata_dir, &scram).map_err(|e| {
                anyhow::anyhow!(
                    "writing the --add-scram credentials to {}: {e}",
                    strom_controller::bootstrap_records_path(&metadata_dir).display()
                )
            })?;
            println!(
                "Wrote {} SCRAM credential(s) to {}; the first controller start puts them into the metadata.",
                scram.len(),
                strom_controller::bootstrap_records_path(&metadata_dir).display()
            );
        } else {
            println!("--add-scram is for controllers (process.roles contains 'controller'); nothing written on this broker.");
        }
    }
    let mut out = std::io::stdout().lock();
    if outcomes
        .iter()
        .all(|o| matches!(o, FormatOutcome::AlreadyFormatted { .. }))
    {
        writeln!(out, "All of the log directories are already formatted.")?;
        return Ok(());
    }
    for outcome in &outcomes {
        match outcome {
            FormatOutcome::Formatted {
                dir,
                kind,
                directory_id,
            } => writeln!(
                out,
                "Formatting {kind} {} with cluster.id {}, node.id {} (directory.id {directory_id}).",
                dir.display(),
                request.cluster_id,
                request.node_id
            )?,
            FormatOutcome::AlreadyFormatted { dir } => writeln!(
                out,
                "Log directory {} is already formatted for this cluster and node; skipped.",
                dir.display()
            )?,
        }
    }
    if let (Some(voters), Some(FormatOutcome::Formatted { dir, .. })) =
        (&request.initial_controllers, outcomes.first())
    {
        writeln!(
            out,
            "Wrote the initial controllers {} to {}.",
            voters.to_arg(),
            InitialControllers::path_in(dir).display()
        )?;
    }
    Ok(())
}

/// Checks the arguments against the configuration as `kafka-storage.sh format` does.
fn format_request(config: &BrokerConfig, args: &FormatArgs) -> anyhow::Result<FormatRequest> {
    let quorum = &config.quorum;
    if let Some(configured) = &config.cluster_id {
        if *configured != args.cluster_id {
            anyhow::bail!(
                "--cluster-id {} disagrees with strom.cluster.id={configured} in the configuration; use the same id or remove strom.cluster.id",
                args.cluster_id
            );
        }
    }
    let dynamic = args.quorum.standalone || args.quorum.initial_controllers.is_some();
    if dynamic && !quorum.voters.is_empty() {
        anyhow::bail!(
            "--standalone and --initial-controllers start a dynamic quorum, but \
             controller.quorum.voters configures a static one: remove \
             controller.quorum.voters (and set controller.quorum.bootstrap.servers) or leave \
             out the option"
        );
    }
    let initial_controllers = if args.quorum.standalone {
        if !quorum.roles.controller {
            anyhow::bail!("you can only use --standalone on a controller (process.roles contains 'controller')");
        }
        let Some(listener) = &quorum.controller_listener else {
            anyhow::bail!(
                "--standalone needs this controller's listener: set controller.listener.names \
                 and add that listener to listeners"
            );
        };
        let host = if listener.is_wildcard() {
            WILDCARD_ADVERTISED_HOST.to_owned()
        } else {
            listener.host.clone()
        };
        Some(InitialControllers(vec![InitialController {
            id: config.node_id,
            host,
            port: listener.port,
            directory_id: strom_log::new_kafka_uuid(),
        }]))
    } else if let Some(text) = &args.quorum.initial_controllers {
        Some(
            InitialControllers::parse(text)
                .map_err(|e| anyhow::anyhow!("--initial-controllers: {e}"))?,
        )
    } else {
        None
    };
    if quorum.roles.controller
        && quorum.voters.is_empty()
        && !quorum.is_single_node()
        && initial_controllers.is_none()
        && !args.quorum.no_initial_controllers
    {
        anyhow::bail!(
            "because controller.quorum.voters is not set on this controller, you must specify \
             one of the following: --standalone, --initial-controllers, or \
             --no-initial-controllers"
        );
    }
    Ok(FormatRequest {
        dirs: config.log_dirs.clone(),
        node_id: config.node_id,
        cluster_id: args.cluster_id.clone(),
        ignore_formatted: args.ignore_formatted,
        initial_controllers,
    })
}

/// Kafka's report; `Ok(false)` (exit status 1) when there are problems.
fn info(args: ConfigArgs) -> anyhow::Result<bool> {
    let config = load(&args)?;
    let info = strom_log::storage_info(&config.log_dirs);
    let mut out = std::io::stdout().lock();
    if !info.found.is_empty() {
        let title = if info.found.len() == 1 {
            "Found log directory:"
        } else {
            "Found log directories:"
        };
        writeln!(out, "{title}")?;
        for dir in &info.found {
            writeln!(out, "  {}", dir.display())?;
        }
        writeln!(out)?;
    }
    if let Some(meta) = &info.metadata {
        let items: Vec<String> = meta.iter().map(|(k, v)| format!("{k}={v}")).collect();
        writeln!(out, "Found metadata: {{{}}}", items.join(", "))?;
        writeln!(out)?;
    }
    if let Some(voters) = config
        .log_dirs
        .first()
        .and_then(|d| InitialControllers::read(d).ok().flatten())
    {
        writeln!(out, "Found initial controllers: {}", voters.to_arg())?;
        writeln!(out)?;
    }
    if info.problems.is_empty() {
        return Ok(true);
    }
    let title = if info.problems.len() == 1 {
        "Found problem:"
    } else {
        "Found problems:"
    };
    writeln!(out, "{title}")?;
    for p in &info.problems {
        writeln!(out, "  {p}")?;
    }
    writeln!(out)?;
    Ok(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use strom_config::Properties;

    const CLUSTER: &str = "4L6g3nShT-eMCtK--X86sw";

    fn config(text: &str) -> BrokerConfig {
        BrokerConfig::from_properties(&Properties::parse(text).unwrap()).unwrap()
    }

    fn args(quorum: QuorumArgs) -> FormatArgs {
        FormatArgs {
            config: ConfigArgs {
                config: PathBuf::from("unused"),
                overrides: vec![],
            },
            cluster_id: CLUSTER.into(),
            ignore_formatted: false,
            quorum,
            add_scram: Vec::new(),
        }
    }

    fn no_quorum_option() -> QuorumArgs {
        QuorumArgs {
            standalone: false,
            initial_controllers: None,
            no_initial_controllers: false,
        }
    }

    const DYNAMIC: &str = "process.roles=broker,controller\nnode.id=1\n\
        controller.quorum.bootstrap.servers=localhost:9093\n\
        listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n";

    #[test]
    fn a_dynamic_quorum_controller_must_say_how_the_quorum_starts() {
        let err = format_request(&config(DYNAMIC), &args(no_quorum_option())).unwrap_err();
        assert!(
            err.to_string()
                .contains("--standalone, --initial-controllers, or --no-initial-controllers"),
            "{err}"
        );
        let request = format_request(
            &config(DYNAMIC),
            &args(QuorumArgs {
                no_initial_controllers: true,
                ..no_quorum_option()
            }),
        )
        .unwrap();
        assert_eq!(request.initial_controllers, None);
    }

    #[test]
    fn standalone_makes_this_controller_the_only_voter() {
        let request = format_request(
            &config(DYNAMIC),
            &args(QuorumArgs {
                standalone: true,
                ..no_quorum_option()
            }),
        )
        .unwrap();
        let voters = request.initial_controllers.unwrap().0;
        assert_eq!(voters.len(), 1);
        assert_eq!(
            (voters[0].id, voters[0].host.as_str(), voters[0].port),
            (1, "127.0.0.1", 9093)
        );
        assert!(strom_log::is_kafka_uuid(&voters[0].directory_id));
    }

    #[test]
    fn standalone_needs_the_controller_role_and_no_static_voters() {
        let broker = config(
            "process.roles=broker\nnode.id=4\ncontroller.quorum.bootstrap.servers=localhost:9093\n\
             controller.listener.names=CONTROLLER\n",
        );
        let standalone = || QuorumArgs {
            standalone: true,
            ..no_quorum_option()
        };
        let err = format_request(&broker, &args(standalone())).unwrap_err();
        assert!(
            err.to_string()
                .contains("only use --standalone on a controller"),
            "{err}"
        );
        let static_quorum = config(
            "node.id=1\ncontroller.quorum.voters=1@localhost:9093\n\
             listeners=PLAINTEXT://:9092,CONTROLLER://:9093\ncontroller.listener.names=CONTROLLER\n",
        );
        let err = format_request(&static_quorum, &args(standalone())).unwrap_err();
        assert!(err.to_string().contains("static one"), "{err}");
        // A static quorum needs no option at all.
        assert!(format_request(&static_quorum, &args(no_quorum_option())).is_ok());
    }

    #[test]
    fn the_cluster_id_must_agree_with_strom_cluster_id() {
        let err = format_request(
            &config("strom.cluster.id=MkU3OEVBNTcwNTJENDM2Qk\n"),
            &args(no_quorum_option()),
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("disagrees with strom.cluster.id"),
            "{err}"
        );
    }
}
