//! `strom acls add|list|remove`: ACLs as `kafka-acls.sh --add|--list|--remove`
//! manages them, over CreateAcls, DescribeAcls and DeleteAcls.
//!
//! `add` makes one ACL per resource × principal × host × operation
//! (`--allow-principal` with `--allow-host`, default `*`; `--deny-principal`
//! with `--deny-host`); without `--operation` the operation is ALL.
//! `--producer` and `--consumer` add the ACLs those clients need, as
//! kafka-acls.sh does. `remove` with principals removes exactly those ACLs;
//! without, every ACL of the named resources.

use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use serde_json::json;
use strom_client::acl_names::{self, OPERATIONS, PATTERN_TYPES, PERMISSIONS, RESOURCE_TYPES};
use strom_client::{AclFilterSpec, AclSpec};

use crate::admin_cli::{emit, run_command, Connection};
use crate::table::Table;

const ANY: i8 = 1;
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const TRANSACTIONAL_ID: i8 = 5;
const LITERAL: i8 = 3;
const DENY: i8 = 2;
const ALLOW: i8 = 3;
const OP_ALL: i8 = 2;
const OP_READ: i8 = 3;
const OP_WRITE: i8 = 4;
const OP_CREATE: i8 = 5;
const OP_DESCRIBE: i8 = 8;
const OP_IDEMPOTENT_WRITE: i8 = 12;

#[derive(Args)]
pub struct AclsArgs {
    #[command(flatten)]
    connection: Connection,
    #[command(subcommand)]
    command: AclsCommand,
}

#[derive(Subcommand)]
enum AclsCommand {
    /// Add ACLs, as kafka-acls.sh --add: --allow-principal User:alice --operation Read --topic orders
    Add(AclOptions),
    /// List ACLs (all, or those of the named resources and --principal), as kafka-acls.sh --list.
    List(AclOptions),
    /// Remove ACLs, as kafka-acls.sh --remove: the given principals' ACLs on the named
    /// resources, or every ACL of those resources when no principal is given.
    Remove(AclOptions),
}

#[derive(Args, Default, Clone)]
struct AclOptions {
    /// A principal the ACLs allow (User:alice, User:*); repeatable.
    #[arg(long, value_name = "PRINCIPAL")]
    allow_principal: Vec<String>,
    /// A principal the ACLs deny; repeatable.
    #[arg(long, value_name = "PRINCIPAL")]
    deny_principal: Vec<String>,
    /// For list: only ACLs of this principal; repeatable.
    #[arg(long, value_name = "PRINCIPAL")]
    principal: Vec<String>,
    /// Hosts of the allow ACLs (an IP or a CIDR block; default *).
    #[arg(long, value_name = "HOST")]
    allow_host: Vec<String>,
    /// Hosts of the deny ACLs (default *).
    #[arg(long, value_name = "HOST")]
    deny_host: Vec<String>,
    /// Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs,
    /// AlterConfigs, IdempotentWrite, CreateTokens, DescribeTokens or All (the default).
    #[arg(long, value_name = "OPERATION")]
    operation: Vec<String>,
    /// A topic (with --resource-pattern-type prefixed, a prefix; * for every topic).
    #[arg(long, value_name = "TOPIC")]
    topic: Vec<String>,
    /// A consumer group (or prefix, or *).
    #[arg(long, value_name = "GROUP")]
    group: Vec<String>,
    /// The cluster.
    #[arg(long)]
    cluster: bool,
    /// A transactional id (or prefix, or *).
    #[arg(long, value_name = "ID")]
    transactional_id: Vec<String>,
    /// literal or prefixed (add, remove; default literal); list also takes any and match
    /// (default any).
    #[arg(long, value_name = "TYPE")]
    resource_pattern_type: Option<String>,
    /// The ACLs a producer needs: WRITE, DESCRIBE and CREATE on the topics, WRITE and
    /// DESCRIBE on the transactional ids.
    #[arg(long)]
    producer: bool,
    /// With --producer: IDEMPOTENT_WRITE on the cluster, as kafka-acls.sh adds it.
    #[arg(long)]
    idempotent: bool,
    /// The ACLs a consumer needs: READ and DESCRIBE on the topics, READ on the groups.
    #[arg(long)]
    consumer: bool,
    /// Accepted for kafka-acls.sh's sake: strom never asks for confirmation.
    #[arg(long)]
    force: bool,
}

pub fn run(args: AclsArgs) -> ExitCode {
    run_command(acls(args))
}

/// (resource type, name) of each resource option.
fn resources(o: &AclOptions) -> Vec<(i8, String)> {
    let mut out: Vec<(i8, String)> = Vec::new();
    out.extend(o.topic.iter().map(|t| (TOPIC, t.clone())));
    out.extend(o.group.iter().map(|g| (GROUP, g.clone())));
    out.extend(
        o.transactional_id
            .iter()
            .map(|t| (TRANSACTIONAL_ID, t.clone())),
    );
    if o.cluster {
        out.push((CLUSTER, "kafka-cluster".to_owned()));
    }
    out
}

fn pattern_type(o: &AclOptions, default: i8, filter: bool) -> Result<i8, String> {
    let Some(text) = &o.resource_pattern_type else {
        return Ok(default);
    };
    let code = acl_names::code(PATTERN_TYPES, text)
        .ok_or_else(|| format!("unknown --resource-pattern-type {text:?}: literal or prefixed"))?;
    if !filter && !matches!(code, 3 | 4) {
        return Err(format!(
            "--resource-pattern-type {text} only selects ACLs (list); ACLs are literal or prefixed"
        ));
    }
    Ok(code)
}

fn operations(o: &AclOptions) -> Result<Vec<i8>, String> {
    if o.operation.is_empty() {
        return Ok(vec![OP_ALL]);
    }
    o.operation
        .iter()
        .map(|name| {
            // Kafka's tool takes CamelCase names (ClusterAction); so does this.
            let snake: String = name
                .trim()
                .chars()
                .enumerate()
                .flat_map(|(i, c)| {
                    let lead = (i > 0 && c.is_ascii_uppercase()).then_some('_');
                    lead.into_iter().chain(std::iter::once(c))
                })
                .collect();
            acl_names::code(OPERATIONS, &snake)
                .or_else(|| acl_names::code(OPERATIONS, name))
                .filter(|c| *c != ANY)
                .ok_or_else(|| format!("unknown --operation {name:?}"))
        })
        .collect()
}

/// principal × host pairs with their permission.
fn principals(o: &AclOptions) -> Vec<(String, String, i8)> {
    let hosts = |h: &Vec<String>| {
        if h.is_empty() {
            vec!["*".to_owned()]
        } else {
            h.clone()
        }
    };
    let mut out = Vec::new();
    for (list, host_list, permission) in [
        (&o.allow_principal, &o.allow_host, ALLOW),
        (&o.deny_principal, &o.deny_host, DENY),
    ] {
        for p in list {
            for h in hosts(host_list) {
                out.push((p.clone(), h, permission));
            }
        }
    }
    out
}

fn check_principal(p: &str) -> Result<(), String> {
    match p.split_once(':') {
        Some((kind, name)) if !kind.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(format!(
            "principal {p:?} is not TYPE:NAME, as in User:alice"
        )),
    }
}

/// The ACLs `add` creates.
fn acls_to_add(o: &AclOptions) -> Result<Vec<AclSpec>, String> {
    let pattern = pattern_type(o, LITERAL, false)?;
    let who = principals(o);
    if who.is_empty() {
        return Err("name who the ACLs are for: --allow-principal or --deny-principal".into());
    }
    for (p, _, _) in &who {
        check_principal(p)?;
    }
    // (resource type, name, operations)
    let mut targets: Vec<(i8, String, Vec<i8>)> = Vec::new();
    if o.producer || o.consumer {
        if !o.operation.is_empty() {
            return Err("--operation cannot be combined with --producer or --consumer".into());
        }
        if o.topic.is_empty() {
            return Err("--producer and --consumer need --topic".into());
        }
        if o.consumer && o.group.is_empty() {
            return Err("--consumer needs --group".into());
        }
        for t in &o.topic {
            let mut ops = Vec::new();
            if o.producer {
                ops.extend([OP_WRITE, OP_DESCRIBE, OP_CREATE]);
            }
            if o.consumer {
                ops.extend([OP_READ, OP_DESCRIBE]);
            }
            ops.dedup();
            targets.push((TOPIC, t.clone(), ops));
        }
        if o.consumer {
            targets.extend(o.group.iter().map(|g| (GROUP, g.clone(), vec![OP_READ])));
        }
        if o.producer {
            targets.extend(
                o.transactional_id
                    .iter()
                    .map(|t| (TRANSACTIONAL_ID, t.clone(), vec![OP_WRITE, OP_DESCRIBE])),
            );
            if o.idempotent {
                targets.push((CLUSTER, "kafka-cluster".into(), vec![OP_IDEMPOTENT_WRITE]));
            }
        }
    } else {
        let ops = operations(o)?;
        let named = resources(o);
        if named.is_empty() {
            return Err(
                "name a resource: --topic, --group, --transactional-id or --cluster".into(),
            );
        }
        targets.extend(named.into_iter().map(|(t, n)| (t, n, ops.clone())));
    }
    let mut out = Vec::new();
    for (resource_type, resource_name, ops) in &targets {
        for (principal, host, permission) in &who {
            for op in ops {
                out.push(AclSpec {
                    resource_type: *resource_type,
                    resource_name: resource_name.clone(),
                    pattern_type: if *resource_type == CLUSTER {
                        LITERAL
                    } else {
                        pattern
                    },
                    principal: principal.clone(),
                    host: host.clone(),
                    operation: *op,
                    permission: *permission,
                });
            }
        }
    }
    Ok(out)
}

/// The filters `remove` deletes with.
fn filters_to_remove(o: &AclOptions) -> Result<Vec<AclFilterSpec>, String> {
    let pattern = pattern_type(o, LITERAL, false)?;
    let named = resources(o);
    if named.is_empty() {
        return Err(
            "name the resources whose ACLs to remove: --topic, --group, --transactional-id or --cluster"
                .into(),
        );
    }
    let who = principals(o);
    let mut out = Vec::new();
    for (resource_type, name) in named {
        let base = AclFilterSpec {
            resource_type,
            resource_name: Some(name),
            pattern_type: if resource_type == CLUSTER {
                LITERAL
            } else {
                pattern
            },
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        };
        if who.is_empty() {
            out.push(base);
            continue;
        }
        let ops = if o.operation.is_empty() {
            vec![ANY]
        } else {
            operations(o)?
        };
        for (principal, host, permission) in &who {
            check_principal(principal)?;
            for op in &ops {
                out.push(AclFilterSpec {
                    principal: Some(principal.clone()),
                    host: Some(host.clone()),
                    operation: *op,
                    permission: *permission,
                    ..base.clone()
                });
            }
        }
    }
    Ok(out)
}

/// The filters `list` describes with.
fn filters_to_list(o: &AclOptions) -> Result<Vec<AclFilterSpec>, String> {
    let pattern = pattern_type(o, ANY, true)?;
    let principals: Vec<Option<String>> = if o.principal.is_empty() {
        vec![None]
    } else {
        o.principal.iter().cloned().map(Some).collect()
    };
    let named = resources(o);
    let resources: Vec<(i8, Option<String>)> = if named.is_empty() {
        vec![(ANY, None)]
    } else {
        named.into_iter().map(|(t, n)| (t, Some(n))).collect()
    };
    Ok(resources
        .into_iter()
        .flat_map(|(resource_type, resource_name)| {
            principals.iter().map(move |principal| AclFilterSpec {
                resource_type,
                resource_name: resource_name.clone(),
                pattern_type: pattern,
                principal: principal.clone(),
                host: None,
                operation: ANY,
                permission: ANY,
            })
        })
        .collect())
}

fn render(acls: &[AclSpec], json: bool) -> String {
    if json {
        let rows: Vec<serde_json::Value> = acls
            .iter()
            .map(|a| {
                json!({
                    "resource_type": acl_names::name(RESOURCE_TYPES, a.resource_type),
                    "resource_name": a.resource_name,
                    "pattern_type": acl_names::name(PATTERN_TYPES, a.pattern_type),
                    "principal": a.principal,
                    "host": a.host,
                    "operation": acl_names::name(OPERATIONS, a.operation),
                    "permission": acl_names::name(PERMISSIONS, a.permission),
                })
            })
            .collect();
        return format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        );
    }
    let mut t = Table::with_header(&[
        "RESOURCE-TYPE",
        "NAME",
        "PATTERN",
        "PRINCIPAL",
        "HOST",
        "OPERATION",
        "PERMISSION",
    ]);
    for a in acls {
        t.row(vec![
            acl_names::name(RESOURCE_TYPES, a.resource_type).to_owned(),
            a.resource_name.clone(),
            acl_names::name(PATTERN_TYPES, a.pattern_type).to_owned(),
            a.principal.clone(),
            a.host.clone(),
            acl_names::name(OPERATIONS, a.operation).to_owned(),
            acl_names::name(PERMISSIONS, a.permission).to_owned(),
        ]);
    }
    t.render()
}

async fn acls(args: AclsArgs) -> Result<ExitCode, String> {
    let json = args.connection.json();
    // Arguments are checked before connecting.
    enum Plan {
        Add(Vec<AclSpec>),
        List(Vec<AclFilterSpec>),
        Remove(Vec<AclFilterSpec>),
    }
    let plan = match &args.command {
        AclsCommand::Add(o) => Plan::Add(acls_to_add(o)?),
        AclsCommand::List(o) => Plan::List(filters_to_list(o)?),
        AclsCommand::Remove(o) => Plan::Remove(filters_to_remove(o)?),
    };
    let mut admin = args.connection.client(Duration::from_secs(60)).await?;
    let hint = |e: strom_client::Error| {
        let text = e.to_string();
        if text.contains("SECURITY_DISABLED") {
            format!("{text}; the cluster has no authorizer: set authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer")
        } else if text.contains("CLUSTER_AUTHORIZATION_FAILED") {
            format!("{text}; managing ACLs needs ALTER (DESCRIBE to list) on the cluster, or a super user (--command-config)")
        } else {
            text
        }
    };
    match plan {
        Plan::Add(acls) => {
            let results = admin.create_acls(&acls).await.map_err(hint)?;
            let mut failed = Vec::new();
            for (acl, r) in acls.iter().zip(results) {
                if let Err(e) = r {
                    failed.push(format!(
                        "{} on {}: {}",
                        acl.principal,
                        acl.resource_name,
                        hint(e)
                    ));
                }
            }
            if !failed.is_empty() {
                return Err(format!(
                    "{} of {} ACLs were not created: {}",
                    failed.len(),
                    acls.len(),
                    failed.join("; ")
                ));
            }
            emit(&render(&acls, json));
        }
        Plan::List(filters) => {
            let mut all = Vec::new();
            for f in &filters {
                all.extend(admin.describe_acls(f).await.map_err(hint)?);
            }
            all.sort();
            all.dedup();
            emit(&render(&all, json));
        }
        Plan::Remove(filters) => {
            let mut removed = Vec::new();
            for r in admin.delete_acls(&filters).await.map_err(hint)? {
                removed.extend(r.map_err(hint)?);
            }
            removed.sort();
            removed.dedup();
            emit(&render(&removed, json));
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> AclOptions {
        AclOptions::default()
    }

    #[test]
    fn add_makes_one_acl_per_resource_principal_host_and_operation() {
        let o = AclOptions {
            allow_principal: vec!["User:alice".into(), "User:bob".into()],
            allow_host: vec!["10.0.0.0/8".into()],
            deny_principal: vec!["User:mallory".into()],
            operation: vec!["Read".into(), "DescribeConfigs".into()],
            topic: vec!["orders".into()],
            ..opts()
        };
        let acls = acls_to_add(&o).unwrap();
        assert_eq!(acls.len(), 3 * 2);
        assert!(acls
            .iter()
            .all(|a| a.resource_type == TOPIC && a.pattern_type == LITERAL));
        let alice: Vec<_> = acls
            .iter()
            .filter(|a| a.principal == "User:alice")
            .collect();
        assert_eq!(
            alice.iter().map(|a| a.operation).collect::<Vec<_>>(),
            vec![OP_READ, 10]
        );
        assert!(alice
            .iter()
            .all(|a| a.host == "10.0.0.0/8" && a.permission == ALLOW));
        let mallory: Vec<_> = acls
            .iter()
            .filter(|a| a.principal == "User:mallory")
            .collect();
        assert!(mallory
            .iter()
            .all(|a| a.host == "*" && a.permission == DENY));
    }

    #[test]
    fn producer_and_consumer_add_what_those_clients_need() {
        let o = AclOptions {
            allow_principal: vec!["User:app".into()],
            topic: vec!["orders-".into()],
            group: vec!["billing".into()],
            transactional_id: vec!["tx".into()],
            resource_pattern_type: Some("prefixed".into()),
            producer: true,
            consumer: true,
            idempotent: true,
            ..opts()
        };
        let got: Vec<(i8, String, i8, i8)> = acls_to_add(&o)
            .unwrap()
            .into_iter()
            .map(|a| {
                (
                    a.resource_type,
                    a.resource_name,
                    a.pattern_type,
                    a.operation,
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (TOPIC, "orders-".into(), 4, OP_WRITE),
                (TOPIC, "orders-".into(), 4, OP_DESCRIBE),
                (TOPIC, "orders-".into(), 4, OP_CREATE),
                (TOPIC, "orders-".into(), 4, OP_READ),
                (TOPIC, "orders-".into(), 4, OP_DESCRIBE),
                (GROUP, "billing".into(), 4, OP_READ),
                (TRANSACTIONAL_ID, "tx".into(), 4, OP_WRITE),
                (TRANSACTIONAL_ID, "tx".into(), 4, OP_DESCRIBE),
                (
                    CLUSTER,
                    "kafka-cluster".into(),
                    LITERAL,
                    OP_IDEMPOTENT_WRITE
                ),
            ]
        );
    }

    #[test]
    fn bad_arguments_are_refused_before_connecting() {
        let no_principal = AclOptions {
            topic: vec!["t".into()],
            ..opts()
        };
        assert!(acls_to_add(&no_principal)
            .unwrap_err()
            .contains("--allow-principal"));
        let no_resource = AclOptions {
            allow_principal: vec!["User:a".into()],
            ..opts()
        };
        assert!(acls_to_add(&no_resource)
            .unwrap_err()
            .contains("name a resource"));
        let bad_principal = AclOptions {
            allow_principal: vec!["alice".into()],
            topic: vec!["t".into()],
            ..opts()
        };
        assert!(acls_to_add(&bad_principal)
            .unwrap_err()
            .contains("TYPE:NAME"));
        let bad_op = AclOptions {
            allow_principal: vec!["User:a".into()],
            topic: vec!["t".into()],
            operation: vec!["Fly".into()],
            ..opts()
        };
        assert!(acls_to_add(&bad_op)
            .unwrap_err()
            .contains("unknown --operation"));
        let match_add = AclOptions {
            allow_principal: vec!["User:a".into()],
            topic: vec!["t".into()],
            resource_pattern_type: Some("match".into()),
            ..opts()
        };
        assert!(acls_to_add(&match_add).is_err());
        assert!(filters_to_remove(&opts()).is_err());
    }

    #[test]
    fn remove_without_principals_takes_every_acl_of_the_resource() {
        let o = AclOptions {
            topic: vec!["t".into()],
            ..opts()
        };
        let f = filters_to_remove(&o).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].principal, None);
        assert_eq!((f[0].operation, f[0].permission), (ANY, ANY));
        let list = filters_to_list(&opts()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!((list[0].resource_type, list[0].pattern_type), (ANY, ANY));
    }
}
