//! DeleteTopics, decided as Kafka's `ControllerApis.deleteTopics`: topics are
//! named either by name or by id (DeleteTopics v6+), never both, and every
//! way of naming a topic twice is an `INVALID_REQUEST`.

use std::collections::{HashMap, HashSet};

use strom_metadata::{MetadataImage, MetadataRecord, TopicId};

use crate::error::ControllerError;

/// One topic of a DeleteTopics request as it came: a name or an id, and
/// Kafka's errors when it has both or neither. The zero id counts as no id,
/// as on the wire.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteTopic {
    pub name: Option<String>,
    pub topic_id: Option<TopicId>,
}

/// A topic named either way, for callers that have already sorted out which.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicRef {
    Name(String),
    Id(TopicId),
}

impl From<TopicRef> for DeleteTopic {
    fn from(topic: TopicRef) -> DeleteTopic {
        match topic {
            TopicRef::Name(name) => DeleteTopic::by_name(name),
            TopicRef::Id(topic_id) => DeleteTopic::by_id(topic_id),
        }
    }
}

impl DeleteTopic {
    pub fn by_name(name: impl Into<String>) -> DeleteTopic {
        DeleteTopic {
            name: Some(name.into()),
            topic_id: None,
        }
    }

    pub fn by_id(topic_id: TopicId) -> DeleteTopic {
        DeleteTopic {
            name: None,
            topic_id: Some(topic_id),
        }
    }
}

/// The result for one topic. A deleted topic has both its name and id.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeleteTopicOutcome {
    pub name: Option<String>,
    pub topic_id: Option<TopicId>,
    pub error: Option<ControllerError>,
}

impl DeleteTopicOutcome {
    fn failed(
        name: Option<&str>,
        topic_id: Option<TopicId>,
        error: ControllerError,
    ) -> DeleteTopicOutcome {
        DeleteTopicOutcome {
            name: name.map(str::to_string),
            topic_id,
            error: Some(error),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
enum Key<'a> {
    Name(&'a str),
    Id(TopicId),
}

/// Decides a DeleteTopics request against `image`: one outcome per entry,
/// except that a name or id given several times gets a single
/// `INVALID_REQUEST` outcome, in request order, each with its
/// `RemoveTopic` record when it succeeds.
pub fn delete_topics(
    image: &MetadataImage,
    topics: &[DeleteTopic],
) -> Vec<(DeleteTopicOutcome, Vec<MetadataRecord>)> {
    let mut occurrences: HashMap<Key<'_>, usize> = HashMap::new();
    for topic in topics {
        if let Some(key) = key_of(topic) {
            *occurrences.entry(key).or_default() += 1;
        }
    }
    // Ids being deleted so far, to catch a name that maps to one of them.
    let mut claimed: HashMap<TopicId, usize> = HashMap::new();
    let mut reported: HashSet<Key<'_>> = HashSet::new();
    let mut results: Vec<(DeleteTopicOutcome, Vec<MetadataRecord>)> =
        Vec::with_capacity(topics.len());
    for topic in topics {
        let name = topic.name.as_deref();
        let Some(key) = key_of(topic) else {
            let error = if name.is_some() {
                ControllerError::InvalidRequest(
                    "You may not specify both topic name and topic id.".into(),
                )
            } else {
                ControllerError::InvalidRequest("Neither topic name nor id were specified.".into())
            };
            results.push((
                DeleteTopicOutcome::failed(name, topic.topic_id, error),
                Vec::new(),
            ));
            continue;
        };
        if !reported.insert(key) {
            continue;
        }
        if occurrences.get(&key).is_some_and(|n| *n > 1) {
            let message = match key {
                Key::Name(_) => "Duplicate topic name.",
                Key::Id(_) => "Duplicate topic id.",
            };
            let error = ControllerError::InvalidRequest(message.into());
            results.push((
                DeleteTopicOutcome::failed(name, topic.topic_id, error),
                Vec::new(),
            ));
            continue;
        }
        let found = match key {
            Key::Name(name) => image.topic(name).ok_or_else(|| {
                ControllerError::UnknownTopicOrPartition(
                    "This server does not host this topic-partition.".into(),
                )
            }),
            Key::Id(topic_id) => image.topic_by_id(topic_id).ok_or_else(|| {
                ControllerError::UnknownTopicId("This server does not host this topic ID.".into())
            }),
        };
        let found = match found {
            Ok(found) => found,
            Err(error) => {
                results.push((
                    DeleteTopicOutcome::failed(name, topic.topic_id, error),
                    Vec::new(),
                ));
                continue;
            }
        };
        if let Some(&earlier) = claimed.get(&found.topic_id) {
            // A name and an id for the same topic: Kafka answers once, for
            // both, and deletes nothing.
            let error = ControllerError::InvalidRequest(
                "The provided topic name maps to an ID that was already supplied.".into(),
            );
            results[earlier] = (
                DeleteTopicOutcome::failed(Some(&found.name), Some(found.topic_id), error),
                Vec::new(),
            );
            continue;
        }
        claimed.insert(found.topic_id, results.len());
        let outcome = DeleteTopicOutcome {
            name: Some(found.name.clone()),
            topic_id: Some(found.topic_id),
            error: None,
        };
        results.push((
            outcome,
            vec![MetadataRecord::RemoveTopic {
                topic_id: found.topic_id,
            }],
        ));
    }
    results
}

fn key_of(topic: &DeleteTopic) -> Option<Key<'_>> {
    match (&topic.name, topic.topic_id.filter(|id| !id.is_zero())) {
        (Some(name), None) => Some(Key::Name(name)),
        (None, Some(topic_id)) => Some(Key::Id(topic_id)),
        _ => None,
    }
}
