use thiserror::Error;

/// Why a frame or request could not be read. Every variant ends the
/// connection or earns an error response; none of them affects other
/// connections.
#[derive(Debug, Error)]
pub enum ProtocolError {
    #[error("request of {size} bytes exceeds socket.request.max.bytes ({max}); raise socket.request.max.bytes or send smaller requests")]
    FrameTooLarge { size: i64, max: usize },
    #[error("negative frame size {0}")]
    NegativeFrameSize(i32),
    #[error("request of {0} bytes is too short for a request header")]
    TruncatedHeader(usize),
    #[error("malformed {api:?} v{version} request: {reason}")]
    Malformed {
        api: kafka_protocol::messages::ApiKey,
        version: i16,
        reason: String,
    },
    #[error("could not encode {api:?} v{version} response: {reason}")]
    Encode {
        api: kafka_protocol::messages::ApiKey,
        version: i16,
        reason: String,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
