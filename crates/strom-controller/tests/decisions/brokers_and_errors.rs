//! Broker registration, and the error codes.

use strom_controller::decisions::register_broker;
use strom_controller::ControllerError;
use strom_metadata::BrokerRegistration;

use super::{cluster, registration};

#[test]
fn register_broker_is_idempotent() {
    let image = cluster(&[1]);
    assert_eq!(register_broker(&image, &registration(1)), Ok(vec![]));
    let restarted = BrokerRegistration {
        incarnation_id: 2,
        ..registration(1)
    };
    assert_eq!(
        register_broker(&image, &restarted),
        Ok(vec![restarted.to_new_record()])
    );
    assert_eq!(
        register_broker(&image, &registration(-1)).map_err(|e| e.code()),
        Err(42)
    );
}

#[test]
fn error_codes_and_names_are_kafkas() {
    let cases = [
        (
            ControllerError::UnknownServerError(String::new()),
            -1,
            "UNKNOWN_SERVER_ERROR",
        ),
        (
            ControllerError::UnknownTopicOrPartition(String::new()),
            3,
            "UNKNOWN_TOPIC_OR_PARTITION",
        ),
        (
            ControllerError::InvalidTopicException(String::new()),
            17,
            "INVALID_TOPIC_EXCEPTION",
        ),
        (
            ControllerError::TopicAlreadyExists(String::new()),
            36,
            "TOPIC_ALREADY_EXISTS",
        ),
        (
            ControllerError::InvalidPartitions(String::new()),
            37,
            "INVALID_PARTITIONS",
        ),
        (
            ControllerError::InvalidReplicationFactor(String::new()),
            38,
            "INVALID_REPLICATION_FACTOR",
        ),
        (
            ControllerError::InvalidReplicaAssignment(String::new()),
            39,
            "INVALID_REPLICA_ASSIGNMENT",
        ),
        (
            ControllerError::InvalidConfig(String::new()),
            40,
            "INVALID_CONFIG",
        ),
        (
            ControllerError::NotController(String::new()),
            41,
            "NOT_CONTROLLER",
        ),
        (
            ControllerError::InvalidRequest(String::new()),
            42,
            "INVALID_REQUEST",
        ),
        (
            ControllerError::PolicyViolation(String::new()),
            44,
            "POLICY_VIOLATION",
        ),
        (
            ControllerError::UnknownTopicId(String::new()),
            100,
            "UNKNOWN_TOPIC_ID",
        ),
        (
            ControllerError::StaleBrokerEpoch(String::new()),
            77,
            "STALE_BROKER_EPOCH",
        ),
        (
            ControllerError::BrokerIdNotRegistered(String::new()),
            102,
            "BROKER_ID_NOT_REGISTERED",
        ),
        (
            ControllerError::KafkaStorageError(String::new()),
            56,
            "KAFKA_STORAGE_ERROR",
        ),
    ];
    for (error, code, name) in cases {
        assert_eq!((error.code(), error.name()), (code, name));
    }
}
