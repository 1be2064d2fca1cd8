use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use kafka_protocol::messages::ApiVersionsResponse;

use crate::api_table::SUPPORTED_APIS;

pub(crate) fn handle() -> ApiVersionsResponse {
    let mut resp = ApiVersionsResponse::default();
    resp.api_keys = SUPPORTED_APIS
        .iter()
        .map(|&(api, min, max)| {
            let mut v = ApiVersion::default();
            v.api_key = api as i16;
            v.min_version = min;
            v.max_version = max;
            v
        })
        .collect();
    // KIP-584 features: `transaction.version` tells Kafka 4 clients whether
    // to use transactions v2 (EndTxn v5, partitions added by their leaders);
    // older clients ignore it and keep EndTxn v0-4.
    let (min, max) = crate::txn_coordinator::TRANSACTION_VERSION_SUPPORTED;
    let mut supported = SupportedFeatureKey::default();
    supported.name = super::str_bytes("transaction.version");
    supported.min_version = min;
    supported.max_version = max;
    resp.supported_features = vec![supported];
    let mut finalized = FinalizedFeatureKey::default();
    finalized.name = super::str_bytes("transaction.version");
    finalized.min_version_level = crate::txn_coordinator::TRANSACTION_VERSION_FINALIZED;
    finalized.max_version_level = crate::txn_coordinator::TRANSACTION_VERSION_FINALIZED;
    resp.finalized_features = vec![finalized];
    resp.finalized_features_epoch = 0;
    resp
}

/// The answer to an ApiVersions request at a version we do not speak:
/// UNSUPPORTED_VERSION plus our ranges, encoded as v0 (KIP-511), so the
/// client can retry with a version we support.
pub(crate) fn unsupported_version() -> ApiVersionsResponse {
    let mut resp = handle();
    resp.error_code = ResponseError::UnsupportedVersion.code();
    resp
}
