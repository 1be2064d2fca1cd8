//! Configurations of any resource (DescribeConfigs, IncrementalAlterConfigs:
//! topics, brokers, the cluster-wide broker default, groups) and
//! DeleteRecords, as Kafka's Admin client sends them: a specific broker's
//! configuration to that broker, everything else to the bootstrap broker;
//! DeleteRecords to each partition's leader.

use std::collections::BTreeMap;

use kafka_protocol::messages::*;

use crate::admin_client::{str_bytes, AdminClient};
use crate::cluster::TopicPartition;
use crate::error::{Error, ErrorCode};
use crate::topic_admin::ConfigEntry;

/// Kafka's ConfigResource types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    Topic = 2,
    Broker = 4,
    BrokerLogger = 8,
    Group = 32,
}

/// One IncrementalAlterConfigs operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigOp {
    Set(String, String),
    Delete(String),
}

impl AdminClient {
    /// The broker to ask about `name`: a broker id names that broker (Kafka
    /// sends such requests there), anything else goes to the bootstrap.
    async fn config_target(&mut self, resource: ResourceType, name: &str) -> Result<String, Error> {
        let bootstrap = self.config().bootstrap_server.clone();
        if !matches!(resource, ResourceType::Broker | ResourceType::BrokerLogger) || name.is_empty()
        {
            return Ok(bootstrap);
        }
        let id: i32 = name.parse().map_err(|_| Error::Kafka {
            api: ApiKey::DescribeConfigs,
            code: ErrorCode(42), // INVALID_REQUEST
            message: Some(format!("a broker is named by its id, not {name:?}")),
        })?;
        let metadata = self.metadata(Some(&[])).await?;
        metadata
            .brokers
            .get(&id)
            .map(|b| b.addr())
            .ok_or(Error::UnknownBroker { node_id: id })
    }

    /// Every configuration of one resource, synonyms left out.
    pub async fn describe_configs(
        &mut self,
        resource: ResourceType,
        name: &str,
    ) -> Result<Vec<ConfigEntry>, Error> {
        let target = self.config_target(resource, name).await?;
        let resp = self
            .send(&target, |_| {
                let mut req = DescribeConfigsRequest::default();
                let mut r = describe_configs_request::DescribeConfigsResource::default();
                r.resource_type = resource as i8;
                r.resource_name = str_bytes(name);
                r.configuration_keys = None;
                req.resources = vec![r];
                Ok(req)
            })
            .await?;
        let Some(r) = resp.results.into_iter().next() else {
            return Err(Error::Kafka {
                api: ApiKey::DescribeConfigs,
                code: ErrorCode::UNKNOWN_SERVER_ERROR,
                message: Some("the answer has no result".to_owned()),
            });
        };
        if let Some(code) = ErrorCode::from_code(r.error_code) {
            return Err(Error::Kafka {
                api: ApiKey::DescribeConfigs,
                code,
                message: r.error_message.map(|m| m.to_string()),
            });
        }
        Ok(r.configs
            .into_iter()
            .map(|c| ConfigEntry {
                name: c.name.to_string(),
                value: c.value.map(|v| v.to_string()),
                source: c.config_source,
                read_only: c.read_only,
                is_sensitive: c.is_sensitive,
            })
            .collect())
    }

    /// Sets and deletes configurations of one resource
    /// (IncrementalAlterConfigs).
    pub async fn alter_configs(
        &mut self,
        resource: ResourceType,
        name: &str,
        ops: &[ConfigOp],
    ) -> Result<(), Error> {
        let target = self.config_target(resource, name).await?;
        let resp = self
            .send(&target, |_| {
                let mut req = IncrementalAlterConfigsRequest::default();
                let mut r = incremental_alter_configs_request::AlterConfigsResource::default();
                r.resource_type = resource as i8;
                r.resource_name = str_bytes(name);
                r.configs = ops
                    .iter()
                    .map(|op| {
                        let mut c = incremental_alter_configs_request::AlterableConfig::default();
                        match op {
                            ConfigOp::Set(k, v) => {
                                c.name = str_bytes(k);
                                c.config_operation = 0;
                                c.value = Some(str_bytes(v));
                            }
                            ConfigOp::Delete(k) => {
                                c.name = str_bytes(k);
                                c.config_operation = 1;
                                c.value = None;
                            }
                        }
                        c
                    })
                    .collect();
                req.resources = vec![r];
                Ok(req)
            })
            .await?;
        for r in resp.responses {
            if let Some(code) = ErrorCode::from_code(r.error_code) {
                return Err(Error::Kafka {
                    api: ApiKey::IncrementalAlterConfigs,
                    code,
                    message: r.error_message.map(|m| m.to_string()),
                });
            }
        }
        Ok(())
    }

    /// Deletes the records before each offset (DeleteRecords, to each
    /// partition's leader; -1 is the high watermark); the new log start
    /// offset or the error per partition.
    pub async fn delete_records(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> Result<BTreeMap<TopicPartition, Result<i64, ErrorCode>>, Error> {
        let topics: Vec<String> = offsets
            .keys()
            .map(|tp| tp.topic.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let metadata = self.metadata(Some(&topics)).await?;
        let mut out = BTreeMap::new();
        let mut by_leader: BTreeMap<String, BTreeMap<String, Vec<(i32, i64)>>> = BTreeMap::new();
        for (tp, &o) in offsets {
            match metadata.leader(tp) {
                Ok(l) => by_leader
                    .entry(l.addr())
                    .or_default()
                    .entry(tp.topic.clone())
                    .or_default()
                    .push((tp.partition, o)),
                Err(code) => {
                    out.insert(tp.clone(), Err(code));
                }
            }
        }
        let timeout_ms = self.config().api_timeout.as_millis().min(i32::MAX as u128) as i32;
        for (addr, topics) in by_leader {
            let resp = self
                .send(&addr, |_| {
                    let mut req = DeleteRecordsRequest::default();
                    req.timeout_ms = timeout_ms;
                    req.topics = topics
                        .iter()
                        .map(|(name, ps)| {
                            let mut t = delete_records_request::DeleteRecordsTopic::default();
                            t.name = TopicName(str_bytes(name));
                            t.partitions = ps
                                .iter()
                                .map(|&(p, o)| {
                                    let mut dp =
                                        delete_records_request::DeleteRecordsPartition::default();
                                    dp.partition_index = p;
                                    dp.offset = o;
                                    dp
                                })
                                .collect();
                            t
                        })
                        .collect();
                    Ok(req)
                })
                .await?;
            for t in resp.topics {
                for p in t.partitions {
                    out.insert(
                        TopicPartition::new(t.name.0.to_string(), p.partition_index),
                        ErrorCode::check(p.error_code).map(|()| p.low_watermark),
                    );
                }
            }
        }
        for tp in offsets.keys() {
            out.entry(tp.clone())
                .or_insert(Err(ErrorCode::UNKNOWN_SERVER_ERROR));
        }
        Ok(out)
    }
}
