use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::ApiVersion;
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
