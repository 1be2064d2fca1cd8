//! DeleteTopics outcomes.

use strom_controller::decisions::delete_topics;
use strom_controller::{ControllerError, DeleteTopic, TopicRef};
use strom_metadata::{MetadataImage, MetadataRecord, TopicId};

use super::{applied, cluster, create, topic};

fn two_topics() -> (MetadataImage, TopicId, TopicId) {
    let image = cluster(&[1, 2]);
    let results = create(&image, &[topic("a", 2, 1), topic("b", 1, 1)]);
    let ids = (
        results[0].0.topic_id.expect("a created"),
        results[1].0.topic_id.expect("b created"),
    );
    (applied(&image, &results), ids.0, ids.1)
}

fn delete_summary(
    image: &MetadataImage,
    request: &[DeleteTopic],
) -> Vec<(Option<String>, Option<TopicId>, i16, String)> {
    delete_topics(image, request)
        .into_iter()
        .map(|(o, _)| {
            let code = o.error.as_ref().map_or(0, ControllerError::code);
            let message = o
                .error
                .as_ref()
                .map_or(String::new(), |e| e.message().to_string());
            (o.name, o.topic_id, code, message)
        })
        .collect()
}

#[test]
fn delete_by_name_and_by_id_removes_the_topics() {
    let (image, a, b) = two_topics();
    let results = delete_topics(&image, &[DeleteTopic::by_name("a"), DeleteTopic::by_id(b)]);
    assert_eq!(results[0].0.name.as_deref(), Some("a"));
    assert_eq!(results[0].0.topic_id, Some(a));
    assert_eq!(results[1].0.name.as_deref(), Some("b"));
    assert_eq!(
        results[0].1,
        vec![MetadataRecord::RemoveTopic { topic_id: a }]
    );
    let records: Vec<MetadataRecord> = results.into_iter().flat_map(|(_, r)| r).collect();
    let after = image
        .apply(&records, image.offset() + 1)
        .expect("removal applies");
    assert_eq!(after.topic_count(), 0);
}

#[test]
fn delete_errors_are_kafkas() {
    let (image, a, _) = two_topics();
    let unknown_id = TopicId::from_u64_pair(7, 7);
    assert_eq!(
        delete_summary(
            &image,
            &[DeleteTopic::by_name("nope"), DeleteTopic::by_id(unknown_id)]
        ),
        vec![
            (
                Some("nope".to_string()),
                None,
                3,
                "This server does not host this topic-partition.".to_string()
            ),
            (
                None,
                Some(unknown_id),
                100,
                "This server does not host this topic ID.".to_string()
            ),
        ]
    );
    let both = DeleteTopic {
        name: Some("a".into()),
        topic_id: Some(a),
    };
    let neither = DeleteTopic {
        name: None,
        topic_id: None,
    };
    let summary = delete_summary(&image, &[both, neither]);
    assert_eq!(summary[0].2, 42);
    assert_eq!(
        summary[0].3,
        "You may not specify both topic name and topic id."
    );
    assert_eq!(summary[1].3, "Neither topic name nor id were specified.");
}

#[test]
fn delete_duplicates_are_invalid_request_and_delete_nothing() {
    let (image, a, b) = two_topics();
    let summary = delete_summary(
        &image,
        &[
            DeleteTopic::by_name("a"),
            DeleteTopic::by_id(b),
            DeleteTopic::by_name("a"),
            DeleteTopic::by_id(b),
        ],
    );
    assert_eq!(summary.len(), 2);
    assert_eq!(summary[0].3, "Duplicate topic name.");
    assert_eq!(summary[1].3, "Duplicate topic id.");

    // A name and the id of the same topic: one answer, nothing deleted.
    let results = delete_topics(&image, &[DeleteTopic::by_id(a), DeleteTopic::by_name("a")]);
    assert_eq!(results.len(), 1);
    assert_eq!(results[0].0.name.as_deref(), Some("a"));
    assert_eq!(results[0].0.topic_id, Some(a));
    assert_eq!(
        results[0].0.error.as_ref().map(ControllerError::message),
        Some("The provided topic name maps to an ID that was already supplied.")
    );
    assert!(results[0].1.is_empty());
}

#[test]
fn topic_refs_convert_and_the_zero_id_means_no_id() {
    let (image, a, _) = two_topics();
    let request: Vec<DeleteTopic> =
        vec![TopicRef::Id(a).into(), TopicRef::Id(TopicId::ZERO).into()];
    let summary = delete_summary(&image, &request);
    assert_eq!(
        summary[0],
        (Some("a".to_string()), Some(a), 0, String::new())
    );
    assert_eq!(summary[1].2, 42);
    assert_eq!(summary[1].3, "Neither topic name nor id were specified.");
    let with_zero_id = DeleteTopic {
        name: Some("b".into()),
        topic_id: Some(TopicId::ZERO),
    };
    assert_eq!(delete_summary(&image, &[with_zero_id])[0].2, 0);
}
