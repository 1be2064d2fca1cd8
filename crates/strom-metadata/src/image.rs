//! The metadata image: the cluster metadata as of one metadata offset,
//! immutable, built only by replaying records.
//!
//! Readers (request handlers, the broker's partition manager) hold an image
//! for as long as they like without locks; a change produces a new image.
//! Each part sits behind an `Arc` and is copied only when a record touches it
//! (copy-on-write through `Arc::make_mut`), so an image is cheap to clone and
//! a delta costs a copy of the touched maps, not of the whole image.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::acl::AclIndex;
use crate::client_quota::ClientQuotas;
use crate::error::MetadataError;
use crate::record::{BrokerEndpoint, ConfigResource, MetadataRecord};
use crate::topic_id::TopicId;
use crate::topic_name::{has_collision_chars, topic_names_collide, validate_topic_name};

static NO_CONFIGS: BTreeMap<String, String> = BTreeMap::new();

/// One partition's replica assignment and leadership (Kafka's
/// `PartitionRegistration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    /// The replicas; the first is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// The leader's broker id, or -1 for none.
    pub leader: i32,
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    /// Replicas a reassignment is adding (Kafka's `addingReplicas`): in
    /// `replicas`, not yet caught up.
    pub adding_replicas: Vec<i32>,
    /// Replicas a reassignment will remove once the adding ones are in
    /// the ISR (Kafka's `removingReplicas`).
    pub removing_replicas: Vec<i32>,
}

impl PartitionImage {
    /// Whether a reassignment is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replicas before the reassignment in progress (all of them when
    /// there is none): what cancelling it returns to.
    pub fn original_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|id| !self.adding_replicas.contains(id))
            .collect()
    }

    /// The replicas the reassignment in progress moves to (all of them when
    /// there is none).
    pub fn target_replicas(&self) -> Vec<i32> {
        self.replicas
            .iter()
            .copied()
            .filter(|id| !self.removing_replicas.contains(id))
            .collect()
    }

    /// The `Partition` record that carries this state.
    pub fn to_record(&self, topic_id: TopicId, partition: i32) -> MetadataRecord {
        MetadataRecord::Partition {
            topic_id,
            partition,
            replicas: self.replicas.clone(),
            isr: self.isr.clone(),
            leader: self.leader,
            leader_epoch: self.leader_epoch,
            partition_epoch: self.partition_epoch,
            adding_replicas: self.adding_replicas.clone(),
            removing_replicas: self.removing_replicas.clone(),
        }
    }
}

/// One topic with its partitions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: TopicId,
    pub partitions: BTreeMap<i32, PartitionImage>,
}

/// A broker as it registered (Kafka's `BrokerRegistration`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BrokerRegistration {
    pub broker_id: i32,
    /// Distinguishes one run of the broker process from the next.
    pub incarnation_id: u128,
    pub listeners: Vec<BrokerEndpoint>,
    pub rack: Option<String>,
    /// A fenced broker is registered but not alive: it is not listed to
    /// clients and leads nothing.
    pub fenced: bool,
    /// The broker is shutting down under the controller's direction.
    pub in_controlled_shutdown: bool,
    /// The offset of the entry that registered this run of the broker
    /// (Kafka's broker epoch); -1 in a registration not yet written.
    pub epoch: i64,
}

impl BrokerRegistration {
    /// The record that registers this broker, fenced as it is now and with
    /// its epoch (what a snapshot writes); a new registration writes
    /// `fenced: true` and epoch -1 through [`BrokerRegistration::to_new_record`].
    pub fn to_record(&self) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            broker_id: self.broker_id,
            incarnation_id: self.incarnation_id,
            listeners: self.listeners.clone(),
            rack: self.rack.clone(),
            fenced: self.fenced,
            broker_epoch: self.epoch,
        }
    }

    /// The record of a new registration: fenced until the broker catches
    /// up, its epoch the offset of the entry that holds it.
    pub fn to_new_record(&self) -> MetadataRecord {
        MetadataRecord::RegisterBroker {
            broker_id: self.broker_id,
            incarnation_id: self.incarnation_id,
            listeners: self.listeners.clone(),
            rack: self.rack.clone(),
            fenced: true,
            broker_epoch: -1,
        }
    }

    /// Whether the broker serves clients: registered, not fenced and not
    /// shutting down.
    pub fn is_alive(&self) -> bool {
        !self.fenced && !self.in_controlled_shutdown
    }

    /// Same broker process, same endpoints: a retried registration.
    pub fn same_registration(&self, other: &BrokerRegistration) -> bool {
        self.broker_id == other.broker_id
            && self.incarnation_id == other.incarnation_id
            && self.listeners == other.listeners
            && self.rack == other.rack
    }
}

/// The cluster metadata at one offset of the metadata log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataImage {
    offset: i64,
    topics: Arc<BTreeMap<String, Arc<TopicImage>>>,
    topic_names: Arc<BTreeMap<TopicId, String>>,
    brokers: Arc<BTreeMap<i32, BrokerRegistration>>,
    topic_configs: Arc<BTreeMap<String, BTreeMap<String, String>>>,
    broker_configs: Arc<BTreeMap<Option<i32>, BTreeMap<String, String>>>,
    /// Group configurations (KIP-848), by group id.
    group_configs: Arc<BTreeMap<String, BTreeMap<String, String>>>,
    /// The first producer id not yet handed out (Kafka's `ProducerIdsImage`).
    next_producer_id: i64,
    /// Every ACL, indexed for authorization (Kafka's `AclsImage`).
    acls: Arc<AclIndex>,
    /// Client quotas by entity (Kafka's `ClientQuotasImage`).
    client_quotas: Arc<ClientQuotas>,
    /// SCRAM credentials by (user, mechanism type) (Kafka's `ScramImage`).
    scram_credentials: Arc<BTreeMap<(String, i8), ScramCredentialImage>>,
}

/// A user's SCRAM credential for one mechanism, as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentialImage {
    pub salt: Vec<u8>,
    pub stored_key: Vec<u8>,
    pub server_key: Vec<u8>,
    pub iterations: i32,
}

impl std::fmt::Debug for ScramCredentialImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramCredentialImage")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl Default for MetadataImage {
    fn default() -> Self {
        MetadataImage::empty()
    }
}

impl MetadataImage {
    /// The image before any record: offset -1, nothing in it.
    pub fn empty() -> MetadataImage {
        MetadataImage {
            offset: -1,
            topics: Arc::default(),
            topic_names: Arc::default(),
            brokers: Arc::default(),
            topic_configs: Arc::default(),
            broker_configs: Arc::default(),
            group_configs: Arc::default(),
            next_producer_id: 0,
            acls: Arc::default(),
            scram_credentials: Arc::default(),
            client_quotas: Arc::default(),
        }
    }

    /// A user's SCRAM credential for a mechanism type (1 = SHA-256, 2 = SHA-512).
    pub fn scram_credential(&self, user: &str, mechanism: i8) -> Option<&ScramCredentialImage> {
        self.scram_credentials.get(&(user.to_owned(), mechanism))
    }

    /// Every SCRAM credential, by (user, mechanism type), in name order.
    pub fn scram_credentials(
        &self,
    ) -> impl Iterator<Item = (&(String, i8), &ScramCredentialImage)> {
        self.scram_credentials.iter()
    }

    /// Every ACL, with the index decisions use.
    pub fn acls(&self) -> &AclIndex {
        &self.acls
    }

    /// The offset of the last metadata log entry applied, -1 for none.
    pub fn offset(&self) -> i64 {
        self.offset
    }

    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name).map(Arc::as_ref)
    }

    pub fn topic_by_id(&self, topic_id: TopicId) -> Option<&TopicImage> {
        self.topic_names
            .get(&topic_id)
            .and_then(|name| self.topic(name))
    }

    /// All topics, in name order.
    pub fn topics(&self) -> impl Iterator<Item = &TopicImage> + '_ {
        self.topics.values().map(Arc::as_ref)
    }

    pub fn topic_count(&self) -> usize {
        self.topics.len()
    }

    pub fn broker(&self, broker_id: i32) -> Option<&BrokerRegistration> {
        self.brokers.get(&broker_id)
    }

    /// All registered brokers, fenced or not, in broker id order.
    pub fn brokers(&self) -> impl Iterator<Item = &BrokerRegistration> + '_ {
        self.brokers.values()
    }

    /// The brokers that are alive (registered, unfenced, not shutting
    /// down), in broker id order: what clients are told about and where
    /// new replicas go.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> + '_ {
        self.brokers.values().filter(|b| b.is_alive())
    }

    /// The topic's config overrides (empty when it has none or does not exist).
    pub fn topic_config(&self, name: &str) -> &BTreeMap<String, String> {
        self.topic_configs.get(name).unwrap_or(&NO_CONFIGS)
    }

    /// The overrides for one broker, or with `None` the cluster-wide broker
    /// defaults.
    pub fn broker_config(&self, broker_id: Option<i32>) -> &BTreeMap<String, String> {
        self.broker_configs.get(&broker_id).unwrap_or(&NO_CONFIGS)
    }

    /// A group's configurations (empty when it has none).
    pub fn group_config(&self, group_id: &str) -> &BTreeMap<String, String> {
        self.group_configs.get(group_id).unwrap_or(&NO_CONFIGS)
    }

    /// Every group with configurations, in group id order.
    pub fn group_configs(&self) -> &BTreeMap<String, BTreeMap<String, String>> {
        &self.group_configs
    }

    /// Every client quota, by entity.
    pub fn client_quotas(&self) -> &ClientQuotas {
        &self.client_quotas
    }

    /// The first producer id no broker has been given yet; every id below it
    /// belongs to a block handed out by a `ProducerIds` record.
    pub fn next_producer_id(&self) -> i64 {
        self.next_producer_id
    }

    /// An existing topic, other than `name` itself, whose name collides with
    /// `name` once '.' and '_' are unified (Kafka rejects creating it). The
    /// least such name is returned, so the answer is deterministic.
    pub fn colliding_topic(&self, name: &str) -> Option<&str> {
        if !has_collision_chars(name) {
            return None;
        }
        self.topics
            .keys()
            .filter(|existing| existing.as_str() != name && topic_names_collide(existing, name))
            .map(String::as_str)
            .next()
    }

    /// The image after `records`, which together make up the metadata log
    /// entry at `offset`. All or nothing: on error `self` is unchanged and the
    /// error names the first record that does not fit. Deterministic: the same
    /// records on the same image give the same image.
    pub fn apply(
        &self,
        records: &[MetadataRecord],
        offset: i64,
    ) -> Result<MetadataImage, MetadataError> {
        if offset <= self.offset {
            return Err(MetadataError::OffsetNotIncreasing {
                offset,
                image_offset: self.offset,
            });
        }
        let mut next = self.clone();
        for (index, record) in records.iter().enumerate() {
            next.replay(index, record, offset)?;
        }
        next.offset = offset;
        Ok(next)
    }

    /// Records that rebuild this image when applied to an empty one: the
    /// content of a metadata snapshot.
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut records = Vec::new();
        for broker in self.brokers.values() {
            records.push(broker.to_record());
            if broker.in_controlled_shutdown {
                records.push(MetadataRecord::BrokerRegistrationChange {
                    broker_id: broker.broker_id,
                    broker_epoch: broker.epoch,
                    fenced: None,
                    in_controlled_shutdown: Some(true),
                });
            }
        }
        for (broker_id, configs) in self.broker_configs.iter() {
            records.extend(config_records(ConfigResource::Broker(*broker_id), configs));
        }
        for (group_id, configs) in self.group_configs.iter() {
            records.extend(config_records(
                ConfigResource::Group(group_id.clone()),
                configs,
            ));
        }
        for topic in self.topics.values() {
            records.push(MetadataRecord::Topic {
                name: topic.name.clone(),
                topic_id: topic.topic_id,
            });
            records.extend(config_records(
                ConfigResource::Topic(topic.name.clone()),
                self.topic_config(&topic.name),
            ));
            for (partition, image) in &topic.partitions {
                records.push(image.to_record(topic.topic_id, *partition));
            }
        }
        for ((name, mechanism), c) in self.scram_credentials.iter() {
            records.push(MetadataRecord::UserScramCredential {
                name: name.clone(),
                mechanism: *mechanism,
                salt: c.salt.clone(),
                stored_key: c.stored_key.clone(),
                server_key: c.server_key.clone(),
                iterations: c.iterations,
            });
        }
        for (entity, quotas) in self.client_quotas.iter() {
            for (key, value) in quotas {
                records.push(MetadataRecord::ClientQuota {
                    entity: entity.clone(),
                    key: key.clone(),
                    value: *value,
                    remove: false,
                });
            }
        }
        for (id, acl) in self.acls.iter() {
            records.push(MetadataRecord::AccessControlEntry {
                id,
                acl: acl.clone(),
            });
        }
        if self.next_producer_id > 0 {
            records.push(MetadataRecord::ProducerIds {
                broker_id: -1,
                broker_epoch: -1,
                next_producer_id: self.next_producer_id,
            });
        }
        records
    }

    fn replay(
        &mut self,
        index: usize,
        record: &MetadataRecord,
        offset: i64,
    ) -> Result<(), MetadataError> {
        match record {
            MetadataRecord::RegisterBroker {
                broker_id,
                incarnation_id,
                listeners,
                rack,
                fenced,
                broker_epoch,
            } => {
                if *broker_id < 0 {
                    return Err(MetadataError::InvalidBrokerId {
                        index,
                        broker_id: *broker_id,
                    });
                }
                let registration = BrokerRegistration {
                    broker_id: *broker_id,
                    incarnation_id: *incarnation_id,
                    listeners: listeners.clone(),
                    rack: rack.clone(),
                    fenced: *fenced,
                    in_controlled_shutdown: false,
                    epoch: if *broker_epoch < 0 {
                        offset
                    } else {
                        *broker_epoch
                    },
                };
                Arc::make_mut(&mut self.brokers).insert(*broker_id, registration);
            }
            MetadataRecord::BrokerRegistrationChange {
                broker_id,
                broker_epoch,
                fenced,
                in_controlled_shutdown,
            } => {
                // A change decided for an earlier run of the broker is stale.
                if self
                    .brokers
                    .get(broker_id)
                    .is_some_and(|b| b.epoch == *broker_epoch)
                {
                    let brokers = Arc::make_mut(&mut self.brokers);
                    if let Some(b) = brokers.get_mut(broker_id) {
                        if let Some(fenced) = fenced {
                            b.fenced = *fenced;
                        }
                        if let Some(shutdown) = in_controlled_shutdown {
                            b.in_controlled_shutdown = *shutdown;
                        }
                    }
                }
            }
            MetadataRecord::UnregisterBroker {
                broker_id,
                broker_epoch,
            } => {
                if self
                    .brokers
                    .get(broker_id)
                    .is_some_and(|b| b.epoch == *broker_epoch || *broker_epoch < 0)
                {
                    Arc::make_mut(&mut self.brokers).remove(broker_id);
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                self.replay_topic(index, name, *topic_id)?
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
                partition_epoch,
                adding_replicas,
                removing_replicas,
            } => {
                let image = PartitionImage {
                    replicas: replicas.clone(),
                    isr: isr.clone(),
                    leader: *leader,
                    leader_epoch: *leader_epoch,
                    partition_epoch: *partition_epoch,
                    adding_replicas: adding_replicas.clone(),
                    removing_replicas: removing_replicas.clone(),
                };
                self.replay_partition(index, *topic_id, *partition, image)?;
            }
            MetadataRecord::Config {
                resource,
                name,
                value,
            } => {
                self.replay_config(index, resource, name, value.as_deref())?;
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                let Some(name) = self.topic_names.get(topic_id).cloned() else {
                    return Err(MetadataError::UnknownTopicId {
                        index,
                        topic_id: *topic_id,
                    });
                };
                Arc::make_mut(&mut self.topic_names).remove(topic_id);
                Arc::make_mut(&mut self.topics).remove(&name);
                if self.topic_configs.contains_key(&name) {
                    Arc::make_mut(&mut self.topic_configs).remove(&name);
                }
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                salt,
                stored_key,
                server_key,
                iterations,
            } => {
                Arc::make_mut(&mut self.scram_credentials).insert(
                    (name.clone(), *mechanism),
                    ScramCredentialImage {
                        salt: salt.clone(),
                        stored_key: stored_key.clone(),
                        server_key: server_key.clone(),
                        iterations: *iterations,
                    },
                );
            }
            MetadataRecord::RemoveUserScramCredential { name, mechanism } => {
                let key = (name.clone(), *mechanism);
                if self.scram_credentials.contains_key(&key) {
                    Arc::make_mut(&mut self.scram_credentials).remove(&key);
                }
            }
            MetadataRecord::ProducerIds {
                broker_id,
                next_producer_id,
                ..
            } => {
                // -1 is how a snapshot writes the record.
                if *broker_id < -1 {
                    return Err(MetadataError::InvalidBrokerId {
                        index,
                        broker_id: *broker_id,
                    });
                }
                // Handing out an id twice would let two producers share one
                // sequence space; Kafka refuses such a record too.
                if *next_producer_id <= self.next_producer_id {
                    return Err(MetadataError::ProducerIdNotIncreasing {
                        index,
                        next_producer_id: *next_producer_id,
                        current: self.next_producer_id,
                    });
                }
                self.next_producer_id = *next_producer_id;
            }
            MetadataRecord::ClientQuota {
                entity,
                key,
                value,
                remove,
            } => {
                let quotas = Arc::make_mut(&mut self.client_quotas);
                if *remove {
                    if let Some(values) = quotas.get_mut(entity) {
                        values.remove(key);
                        if values.is_empty() {
                            quotas.remove(entity);
                        }
                    }
                } else {
                    quotas
                        .entry(entity.clone())
                        .or_default()
                        .insert(key.clone(), *value);
                }
            }
            MetadataRecord::AccessControlEntry { id, acl } => {
                acl.validate()
                    .map_err(|reason| MetadataError::InvalidAcl { index, reason })?;
                Arc::make_mut(&mut self.acls).insert(*id, acl.clone());
            }
            MetadataRecord::RemoveAccessControlEntry { id } => {
                if Arc::make_mut(&mut self.acls).remove(*id).is_none() {
                    return Err(MetadataError::UnknownAcl { index, id: *id });
                }
            }
        }
        Ok(())
    }

    fn replay_topic(
        &mut self,
        index: usize,
        name: &str,
        topic_id: TopicId,
    ) -> Result<(), MetadataError> {
        validate_topic_name(name)
            .map_err(|reason| MetadataError::InvalidTopicName { index, reason })?;
        if topic_id.is_reserved() {
            return Err(MetadataError::ReservedTopicId { index, topic_id });
        }
        if self.topics.contains_key(name) {
            return Err(MetadataError::DuplicateTopicName {
                index,
                name: name.to_string(),
            });
        }
        if let Some(existing) = self.topic_names.get(&topic_id) {
            return Err(MetadataError::DuplicateTopicId {
                index,
                topic_id,
                existing: existing.clone(),
            });
        }
        let topic = TopicImage {
            name: name.to_string(),
            topic_id,
            partitions: BTreeMap::new(),
        };
        Arc::make_mut(&mut self.topic_names).insert(topic_id, name.to_string());
        Arc::make_mut(&mut self.topics).insert(name.to_string(), Arc::new(topic));
        Ok(())
    }

    fn replay_partition(
        &mut self,
        index: usize,
        topic_id: TopicId,
        partition: i32,
        image: PartitionImage,
    ) -> Result<(), MetadataError> {
        let Some(name) = self.topic_names.get(&topic_id).cloned() else {
            return Err(MetadataError::UnknownTopicId { index, topic_id });
        };
        if let Err(reason) = check_partition(partition, &image) {
            return Err(MetadataError::InvalidPartition {
                index,
                topic_id,
                partition,
                reason,
            });
        }
        let topics = Arc::make_mut(&mut self.topics);
        let Some(topic) = topics.get_mut(&name) else {
            return Err(MetadataError::UnknownTopicId { index, topic_id });
        };
        Arc::make_mut(topic).partitions.insert(partition, image);
        Ok(())
    }

    fn replay_config(
        &mut self,
        index: usize,
        resource: &ConfigResource,
        name: &str,
        value: Option<&str>,
    ) -> Result<(), MetadataError> {
        if name.is_empty() {
            return Err(MetadataError::EmptyConfigName { index });
        }
        match resource {
            ConfigResource::Topic(topic) => {
                if !self.topics.contains_key(topic) {
                    return Err(MetadataError::UnknownTopic {
                        index,
                        name: topic.clone(),
                    });
                }
                set_config(
                    Arc::make_mut(&mut self.topic_configs),
                    topic.clone(),
                    name,
                    value,
                );
            }
            ConfigResource::Broker(broker_id) => {
                if let Some(id) = broker_id.filter(|id| *id < 0) {
                    return Err(MetadataError::InvalidBrokerId {
                        index,
                        broker_id: id,
                    });
                }
                set_config(
                    Arc::make_mut(&mut self.broker_configs),
                    *broker_id,
                    name,
                    value,
                );
            }
            ConfigResource::Group(group_id) => {
                set_config(
                    Arc::make_mut(&mut self.group_configs),
                    group_id.clone(),
                    name,
                    value,
                );
            }
        }
        Ok(())
    }
}

fn set_config<K: Ord>(
    all: &mut BTreeMap<K, BTreeMap<String, String>>,
    key: K,
    name: &str,
    value: Option<&str>,
) {
    match value {
        Some(value) => {
            all.entry(key)
                .or_default()
                .insert(name.to_string(), value.to_string());
        }
        None => {
            if let Some(configs) = all.get_mut(&key) {
                configs.remove(name);
                if configs.is_empty() {
                    all.remove(&key);
                }
            }
        }
    }
}

fn config_records<'a>(
    resource: ConfigResource,
    configs: &'a BTreeMap<String, String>,
) -> impl Iterator<Item = MetadataRecord> + 'a {
    configs
        .iter()
        .map(move |(name, value)| MetadataRecord::Config {
            resource: resource.clone(),
            name: name.clone(),
            value: Some(value.clone()),
        })
}

/// The invariants of a partition registration that replay enforces.
fn check_partition(partition: i32, image: &PartitionImage) -> Result<(), String> {
    if partition < 0 {
        return Err("the partition index is negative".to_string());
    }
    if image.replicas.is_empty() {
        return Err("it has no replicas".to_string());
    }
    if let Some(id) = image.replicas.iter().find(|id| **id < 0) {
        return Err(format!("replica {id} is not a broker id"));
    }
    if has_duplicate(&image.replicas) {
        return Err(format!("replicas {:?} name a broker twice", image.replicas));
    }
    if has_duplicate(&image.isr) {
        return Err(format!("ISR {:?} names a broker twice", image.isr));
    }
    if let Some(id) = image.isr.iter().find(|id| !image.replicas.contains(id)) {
        return Err(format!("ISR member {id} is not a replica"));
    }
    if image.leader != -1 && !image.isr.contains(&image.leader) {
        return Err(format!(
            "leader {} is not in the ISR {:?}",
            image.leader, image.isr
        ));
    }
    for (name, ids) in [
        ("adding", &image.adding_replicas),
        ("removing", &image.removing_replicas),
    ] {
        if has_duplicate(ids) {
            return Err(format!("{name} replicas {ids:?} name a broker twice"));
        }
        if let Some(id) = ids.iter().find(|id| !image.replicas.contains(id)) {
            return Err(format!("{name} replica {id} is not a replica"));
        }
    }
    if let Some(id) = image
        .adding_replicas
        .iter()
        .find(|id| image.removing_replicas.contains(id))
    {
        return Err(format!("replica {id} is both being added and removed"));
    }
    if image.leader_epoch < 0 || image.partition_epoch < 0 {
        return Err("an epoch is negative".to_string());
    }
    Ok(())
}

fn has_duplicate(ids: &[i32]) -> bool {
    ids.iter().enumerate().any(|(i, id)| ids[..i].contains(id))
}

#[cfg(test)]
mod acl_tests {
    use super::*;
    use crate::acl::*;

    fn read_acl(name: &str) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.to_owned(),
            pattern_type: PatternType::Prefixed,
            principal: "User:alice".to_owned(),
            host: "*".to_owned(),
            operation: AclOperation::Read,
            permission: AclPermission::Allow,
        }
    }

    #[test]
    fn acls_replay_survive_a_snapshot_and_removal_of_an_unknown_id_is_refused() {
        let image = MetadataImage::empty()
            .apply(
                &[
                    MetadataRecord::AccessControlEntry {
                        id: 7,
                        acl: read_acl("orders-"),
                    },
                    MetadataRecord::AccessControlEntry {
                        id: 9,
                        acl: read_acl("pay"),
                    },
                ],
                0,
            )
            .unwrap();
        let image = image
            .apply(&[MetadataRecord::RemoveAccessControlEntry { id: 9 }], 1)
            .unwrap();
        let restored = MetadataImage::empty()
            .apply(&image.to_records(), 5)
            .unwrap();
        let acls: Vec<_> = restored
            .acls()
            .iter()
            .map(|(id, a)| (id, a.clone()))
            .collect();
        assert_eq!(acls, vec![(7, read_acl("orders-"))]);
        let host = "127.0.0.1".parse().unwrap();
        assert_eq!(
            restored.acls().decide(
                "User:alice",
                host,
                AclOperation::Read,
                ResourceType::Topic,
                "orders-eu"
            ),
            AclMatch::Allowed
        );
        assert!(matches!(
            restored.apply(&[MetadataRecord::RemoveAccessControlEntry { id: 9 }], 6),
            Err(MetadataError::UnknownAcl { id: 9, .. })
        ));
        let mut bad = read_acl("x");
        bad.pattern_type = PatternType::Match;
        assert!(matches!(
            restored.apply(&[MetadataRecord::AccessControlEntry { id: 1, acl: bad }], 6),
            Err(MetadataError::InvalidAcl { .. })
        ));
    }
}
