//! Config change outcomes.

use std::collections::BTreeMap;

use strom_controller::decisions::alter_configs;
use strom_controller::{AlterConfigs, ControllerError};
use strom_metadata::{ConfigResource, MetadataImage, MetadataRecord};

use super::{accept_all, applied, cluster, create, topic};
fn changes(resource: ConfigResource, pairs: &[(&str, Option<&str>)]) -> AlterConfigs {
    AlterConfigs {
        resource,
        changes: pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
            .collect(),
    }
}

fn alter_one(
    image: &MetadataImage,
    request: AlterConfigs,
) -> (Option<ControllerError>, Vec<MetadataRecord>) {
    let mut results = alter_configs(image, &[request], &accept_all);
    assert_eq!(results.len(), 1);
    let (outcome, records) = results.remove(0);
    (outcome.error, records)
}

#[test]
fn alter_configs_sets_and_deletes_only_what_changes() {
    let image = cluster(&[1]);
    let mut request = topic("t", 1, 1);
    request.configs.insert("retention.ms".into(), "1000".into());
    request
        .configs
        .insert("cleanup.policy".into(), "delete".into());
    let image = applied(&image, &create(&image, &[request]));
    let resource = ConfigResource::Topic("t".into());
    let (error, records) = alter_one(
        &image,
        changes(
            resource.clone(),
            &[
                ("retention.ms", Some("1000")),
                ("cleanup.policy", None),
                ("segment.bytes", Some("1048576")),
                ("absent", None),
            ],
        ),
    );
    assert_eq!(error, None);
    assert_eq!(records.len(), 2, "{records:?}");
    let after = image
        .apply(&records, image.offset() + 1)
        .expect("config records apply");
    let expected: BTreeMap<String, String> =
        [("retention.ms", "1000"), ("segment.bytes", "1048576")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    assert_eq!(after.topic_config("t"), &expected);
}

#[test]
fn alter_configs_validates_the_merged_topic_config() {
    let image = cluster(&[1]);
    let mut request = topic("t", 1, 1);
    request
        .configs
        .insert("min.insync.replicas".into(), "1".into());
    let image = applied(&image, &create(&image, &[request]));
    let needs_min_isr = |configs: &BTreeMap<String, String>| {
        if configs.contains_key("min.insync.replicas") {
            Ok(())
        } else {
            Err("min.insync.replicas is required here".to_string())
        }
    };
    let request = changes(
        ConfigResource::Topic("t".into()),
        &[("min.insync.replicas", None)],
    );
    let results = alter_configs(&image, &[request], &needs_min_isr);
    assert_eq!(
        results[0].0.error,
        Some(ControllerError::InvalidConfig(
            "min.insync.replicas is required here".into()
        ))
    );
    assert!(results[0].1.is_empty());
}

#[test]
fn alter_configs_errors_are_kafkas() {
    let image = cluster(&[1]);
    assert_eq!(
        alter_one(
            &image,
            changes(ConfigResource::Topic("missing".into()), &[("a", Some("b"))])
        )
        .0,
        Some(ControllerError::UnknownTopicOrPartition(
            "The topic 'missing' does not exist.".into()
        ))
    );
    assert_eq!(
        alter_one(
            &image,
            changes(ConfigResource::Broker(Some(9)), &[("a", Some("b"))])
        )
        .0,
        Some(ControllerError::BrokerIdNotRegistered(
            "No broker with id 9 found.".into()
        ))
    );
    assert_eq!(
        alter_one(
            &image,
            changes(ConfigResource::Broker(Some(-2)), &[("a", Some("b"))])
        )
        .0
        .map(|e| e.code()),
        Some(42)
    );
    assert_eq!(
        alter_one(
            &image,
            changes(ConfigResource::Topic(String::new()), &[("a", Some("b"))])
        )
        .0
        .map(|e| e.code()),
        Some(42)
    );
    let long = "x".repeat(40_000);
    assert_eq!(
        alter_one(
            &image,
            changes(ConfigResource::Broker(None), &[("a", Some(&long))])
        )
        .0
        .map(|e| e.code()),
        Some(40)
    );
    let (error, records) = alter_one(
        &image,
        changes(
            ConfigResource::Broker(None),
            &[("log.retention.ms", Some("5"))],
        ),
    );
    assert_eq!((error, records.len()), (None, 1));
    let (error, records) = alter_one(
        &image,
        changes(
            ConfigResource::Broker(Some(1)),
            &[("log.cleaner.threads", Some("2"))],
        ),
    );
    assert_eq!((error, records.len()), (None, 1));

    let twice = changes(ConfigResource::Broker(None), &[("a", Some("b"))]);
    let results = alter_configs(&image, &[twice.clone(), twice], &accept_all);
    assert_eq!(results.len(), 1);
    assert_eq!(
        results[0].0.error,
        Some(ControllerError::InvalidRequest(
            "Duplicate resource.".into()
        ))
    );
}
