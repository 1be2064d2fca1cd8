//! `strom dev-cluster`: a whole cluster on one machine, for development.
//!
//! It writes one `server.properties` per node under `<dir>/node-<i>/` (the files a user would
//! write for a real cluster: combined roles, a static quorum of every node, a client and a
//! controller listener on 127.0.0.1), formats every node's log directory with one cluster id
//! (`strom storage format`), then runs `strom server <file>` for each node with the same
//! executable, prefixing each output line with `[node <i>] `. Once every client listener
//! accepts connections it prints the bootstrap string. SIGINT or SIGTERM stops every node with
//! SIGTERM (SIGKILL after [`STOP_TIMEOUT`]); a node that dies on its own is reported and the
//! others keep running. Running it again with the same directory reuses the formatted nodes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use strom_config::{BrokerConfig, Properties};
use strom_log::{FormatRequest, MetaProperties};

/// How long a node may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the nodes may take to open their client listeners.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// Port distance between two nodes: node i listens on base + STRIDE*(i-1) (clients), the
/// port after it (controller) and the one after that (metrics and health, over HTTP).
const PORT_STRIDE: u16 = 100;
const HOST: &str = "127.0.0.1";

#[derive(Args)]
pub struct DevClusterArgs {
    /// Number of nodes, each a broker and a controller.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=99))]
    nodes: u16,
    /// Directory holding every node's server.properties and data.
    #[arg(long, default_value = "strom-dev-cluster")]
    dir: PathBuf,
    /// Client port of node 1; node i uses base-port + 100*(i-1), its controller the next port,
    /// its metrics endpoint (http://127.0.0.1:PORT/metrics) the one after.
    #[arg(long, default_value_t = 19092)]
    base_port: u16,
    /// A property for every node's server.properties: --override log.segment.bytes=1048576
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
}

/// One node of the cluster, as written to disk.
#[derive(Debug, Clone)]
pub(crate) struct NodePlan {
    pub id: i32,
    pub properties: PathBuf,
    pub data_dir: PathBuf,
    pub client_port: u16,
}

pub fn run(args: DevClusterArgs) -> ExitCode {
    match supervise(args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            say(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "[dev-cluster] {line}");
}

/// Writes every node's server.properties (again, on a re-run) and formats the nodes that are
/// not yet; returns the nodes and the cluster id.
pub(crate) fn prepare(
    dir: &Path,
    nodes: u16,
    base_port: u16,
    overrides: &[String],
) -> anyhow::Result<(Vec<NodePlan>, String)> {
    let dir = std::path::absolute(dir).with_context(|| format!("{}", dir.display()))?;
    let existing = count_existing_nodes(&dir);
    if existing > usize::from(nodes) {
        anyhow::bail!(
            "{} holds a cluster of {existing} nodes; use --nodes {existing} or another --dir",
            dir.display()
        );
    }
    let last_port = u32::from(base_port) + u32::from(PORT_STRIDE) * (u32::from(nodes) - 1) + 2;
    if base_port == 0 || last_port > u32::from(u16::MAX) {
        anyhow::bail!("--base-port {base_port} leaves no room for {nodes} nodes (node i uses base-port + {PORT_STRIDE}*(i-1) and the two ports after it)");
    }
    let plans: Vec<NodePlan> = (1..=nodes)
        .map(|i| {
            let node_dir = dir.join(format!("node-{i}"));
            NodePlan {
                id: i32::from(i),
                properties: node_dir.join("server.properties"),
                data_dir: node_dir.join("data"),
                client_port: base_port + PORT_STRIDE * (i - 1),
            }
        })
        .collect();
    let voters: Vec<String> = plans
        .iter()
        .map(|p| format!("{}@{HOST}:{}", p.id, p.client_port + 1))
        .collect();
    let mut configs = Vec::new();
    for plan in &plans {
        let text = node_properties(plan, nodes, &voters.join(","), overrides)?;
        let props = Properties::parse(&text)
            .with_context(|| format!("the properties for node {}", plan.id))?;
        let config = BrokerConfig::from_properties(&props)
            .with_context(|| format!("the configuration of node {}", plan.id))?;
        configs.push((plan, text, config));
    }
    let cluster_id = match plans
        .iter()
        .find_map(|p| strom_log::read_meta_properties(&p.data_dir).ok().flatten())
    {
        Some(MetaProperties { cluster_id, .. }) => cluster_id,
        None => strom_log::new_kafka_uuid(),
    };
    for (plan, text, config) in &configs {
        std::fs::create_dir_all(plan.properties.parent().unwrap_or(&dir))
            .with_context(|| format!("creating the directory of node {}", plan.id))?;
        std::fs::write(&plan.properties, text)
            .with_context(|| format!("writing {}", plan.properties.display()))?;
        strom_log::format_log_dirs(&FormatRequest {
            dirs: config.log_dirs.clone(),
            node_id: config.node_id,
            cluster_id: cluster_id.clone(),
            ignore_formatted: true,
            initial_controllers: None,
        })
        .with_context(|| format!("formatting node {}", plan.id))?;
    }
    Ok((plans, cluster_id))
}

fn count_existing_nodes(dir: &Path) -> usize {
    (1..)
        .take_while(|i| dir.join(format!("node-{i}")).join("data").is_dir())
        .count()
}

fn node_properties(
    plan: &NodePlan,
    nodes: u16,
    voters: &str,
    overrides: &[String],
) -> anyhow::Result<String> {
    let mut text = format!(
        "# Node {id} of a {nodes}-node Strom development cluster, written by `strom dev-cluster`.\n\
         # Run it on its own with: strom server {path}\n\
         process.roles=broker,controller\n\
         node.id={id}\n\
         controller.quorum.voters={voters}\n\
         listeners=PLAINTEXT://{HOST}:{client},CONTROLLER://{HOST}:{controller}\n\
         controller.listener.names=CONTROLLER\n\
         inter.broker.listener.name=PLAINTEXT\n\
         listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT\n\
         strom.metrics.listener=http://{HOST}:{metrics}\n\
         log.dirs={data}\n",
        id = plan.id,
        path = plan.properties.display(),
        client = plan.client_port,
        controller = plan.client_port + 1,
        metrics = plan.client_port + 2,
        data = escape_property_value(&plan.data_dir.display().to_string()),
    );
    if nodes < 3 {
        // Kafka's default of 3 would leave consumer groups without a
        // coordinator topic in a smaller cluster.
        text.push_str(&format!(
            "# fewer than 3 brokers: internal topics with as many replicas as there are nodes\n\
             offsets.topic.replication.factor={nodes}\n\
             transaction.state.log.replication.factor={nodes}\n\
             transaction.state.log.min.isr=1\n"
        ));
    }
    if !overrides.is_empty() {
        text.push_str("# --override\n");
    }
    for o in overrides {
        let (key, value) = o
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .ok_or_else(|| anyhow::anyhow!("--override '{o}': expected KEY=VALUE, for example --override log.segment.bytes=1048576"))?;
        text.push_str(&format!(
            "{}={}\n",
            key.trim(),
            escape_property_value(value.trim())
        ));
    }
    Ok(text)
}

/// Java properties treat `\` as an escape; a path with one must keep it.
fn escape_property_value(value: &str) -> String {
    value.replace('\\', "\\\\")
}

/// A running node.
struct Node {
    id: i32,
    child: Child,
    /// How it ended, once it has.
    status: Option<ExitStatus>,
}

fn supervise(args: DevClusterArgs) -> anyhow::Result<bool> {
    let (plans, cluster_id) = prepare(&args.dir, args.nodes, args.base_port, &args.overrides)?;
    let exe = std::env::current_exe().context("finding the strom executable")?;
    say(&format!(
        "starting {} nodes of cluster {cluster_id} from {}",
        plans.len(),
        std::path::absolute(&args.dir)
            .unwrap_or_else(|_| args.dir.clone())
            .display()
    ));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let mut nodes = Vec::new();
    for plan in &plans {
        match spawn_node(&exe, plan) {
            Ok(node) => nodes.push(node),
            Err(e) => {
                stop_all(&mut nodes);
                return Err(e);
            }
        }
    }
    let addresses: Vec<SocketAddr> = plans
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], p.client_port)))
        .collect();
    let bootstrap = addresses
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let started = Instant::now();
    let mut up = false;
    let mut failed = false;
    runtime.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut tick = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => {}
            }
            for node in nodes.iter_mut().filter(|n| n.status.is_none()) {
                if let Ok(Some(status)) = node.child.try_wait() {
                    node.status = Some(status);
                    failed = true;
                    say(&format!(
                        "node {} exited on its own ({status}); the others keep running",
                        node.id
                    ));
                }
            }
            if nodes.iter().all(|n| n.status.is_some()) {
                say("every node has exited");
                break;
            }
            if !up {
                if addresses
                    .iter()
                    .all(|a| TcpStream::connect_timeout(a, Duration::from_millis(100)).is_ok())
                {
                    up = true;
                    println!(
                        "[dev-cluster] cluster {cluster_id} is up: bootstrap servers {bootstrap}"
                    );
                    let metrics: Vec<String> = addresses
                        .iter()
                        .map(|a| format!("http://{HOST}:{}/metrics", a.port() + 2))
                        .collect();
                    println!("[dev-cluster] metrics: {}", metrics.join(" "));
                    let _ = std::io::stdout().flush();
                } else if started.elapsed() > START_TIMEOUT {
                    say(&format!(
                        "not every node listens after {}s; stopping",
                        START_TIMEOUT.as_secs()
                    ));
                    failed = true;
                    break;
                }
            }
        }
        anyhow::Ok(())
    })?;
    say("stopping every node");
    if !stop_all(&mut nodes) {
        failed = true;
    }
    Ok(!failed)
}

fn spawn_node(exe: &Path, plan: &NodePlan) -> anyhow::Result<Node> {
    let mut child = Command::new(exe)
        .arg("server")
        .arg(&plan.properties)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting node {}", plan.id))?;
    let prefix = format!("[node {}] ", plan.id);
    if let Some(out) = child.stdout.take() {
        forward_lines(out, prefix.clone(), false);
    }
    if let Some(err) = child.stderr.take() {
        forward_lines(err, prefix, true);
    }
    Ok(Node {
        id: plan.id,
        child,
        status: None,
    })
}

/// Copies a child's output line by line, each line prefixed, to our stdout or stderr.
fn forward_lines(from: impl Read + Send + 'static, prefix: String, to_stderr: bool) {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\n', '\r']);
            let written = if to_stderr {
                writeln!(std::io::stderr().lock(), "{prefix}{text}")
            } else {
                writeln!(std::io::stdout().lock(), "{prefix}{text}")
            };
            if written.is_err() {
                return;
            }
        }
    });
}

/// SIGTERM to every running node, then waits; a node still running after [`STOP_TIMEOUT`] is
/// killed. `false` if any node failed (exited non-zero, or had to be killed).
fn stop_all(nodes: &mut [Node]) -> bool {
    for node in nodes.iter().filter(|n| n.status.is_none()) {
        let pid = i32::try_from(node.child.id())
            .ok()
            .and_then(rustix::process::Pid::from_raw);
        if let Some(pid) = pid {
            if let Err(e) = rustix::process::kill_process(pid, rustix::process::Signal::TERM) {
                say(&format!("cannot signal node {}: {e}", node.id));
            }
        }
    }
    let deadline = Instant::now() + STOP_TIMEOUT;
    let mut ok = true;
    for node in nodes.iter_mut() {
        if let Some(status) = node.status {
            ok &= status.success();
            continue;
        }
        let status = loop {
            match node.child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                Ok(None) | Err(_) => break None,
            }
        };
        let status = match status {
            Some(status) => status,
            None => {
                say(&format!(
                    "node {} did not stop within {}s; killing it",
                    node.id,
                    STOP_TIMEOUT.as_secs()
                ));
                let _ = node.child.kill();
                ok = false;
                match node.child.wait() {
                    Ok(status) => status,
                    Err(_) => continue,
                }
            }
        };
        node.status = Some(status);
        if status.success() {
            say(&format!("node {} stopped", node.id));
        } else {
            ok = false;
            say(&format!("node {} stopped with {status}", node.id));
        }
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_node_files_parse_validate_and_name_every_voter() {
        let root = tempfile::tempdir().unwrap();
        let (plans, cluster_id) =
            prepare(root.path(), 3, 19092, &["log.segment.bytes=1048576".into()]).unwrap();
        assert_eq!(plans.len(), 3);
        for (i, plan) in plans.iter().enumerate() {
            let config =
                BrokerConfig::from_properties(&Properties::load(&plan.properties).unwrap())
                    .unwrap();
            let n = i as u16;
            assert_eq!(config.node_id, i as i32 + 1);
            assert!(config.quorum.roles.broker && config.quorum.roles.controller);
            let voters: Vec<(i32, u16)> = config
                .quorum
                .voters
                .iter()
                .map(|v| (v.id, v.port))
                .collect();
            assert_eq!(voters, vec![(1, 19093), (2, 19193), (3, 19293)]);
            assert!(config.quorum.needs_formatted_storage());
            assert_eq!(
                config.quorum.controller_listener.as_ref().map(|l| l.port),
                Some(19093 + 100 * n)
            );
            assert_eq!(
                config
                    .listeners
                    .iter()
                    .map(|l| l.to_string())
                    .collect::<Vec<_>>(),
                vec![
                    format!("PLAINTEXT://127.0.0.1:{}", 19092 + 100 * n),
                    format!("CONTROLLER://127.0.0.1:{}", 19093 + 100 * n)
                ]
            );
            assert_eq!(config.log_dirs, vec![plan.data_dir.clone()]);
            assert_eq!(config.log_segment_bytes, 1_048_576);
            // Formatted: the server's start-up check accepts it and finds the cluster id.
            assert_eq!(
                strom_log::check_formatted(&config.log_dirs, config.node_id, None, true).unwrap(),
                cluster_id
            );
        }
    }

    #[test]
    fn a_rerun_reuses_the_formatted_nodes_and_their_cluster_id() {
        let root = tempfile::tempdir().unwrap();
        let (plans, first) = prepare(root.path(), 2, 20092, &[]).unwrap();
        let meta_before =
            std::fs::read_to_string(MetaProperties::path_in(&plans[1].data_dir)).unwrap();
        let (_, second) = prepare(root.path(), 2, 20092, &[]).unwrap();
        assert_eq!(first, second);
        assert_eq!(
            std::fs::read_to_string(MetaProperties::path_in(&plans[1].data_dir)).unwrap(),
            meta_before
        );
        let err = prepare(root.path(), 1, 20092, &[]).unwrap_err();
        assert!(err.to_string().contains("use --nodes 2"), "{err}");
    }

    #[test]
    fn bad_overrides_and_ports_are_refused_before_anything_is_written() {
        let root = tempfile::tempdir().unwrap();
        let err = prepare(root.path(), 3, 19092, &["no.such.key=1".into()]).unwrap_err();
        assert!(format!("{err:#}").contains("no.such.key"), "{err:#}");
        assert!(prepare(root.path(), 3, 19092, &["novalue".into()]).is_err());
        let err = prepare(root.path(), 3, 65400, &[]).unwrap_err();
        assert!(err.to_string().contains("no room"), "{err}");
        assert!(!root.path().join("node-1").exists());
    }
}
