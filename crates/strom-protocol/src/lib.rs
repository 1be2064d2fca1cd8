//! Kafka's wire framing and the parts of a request every handler shares.
//!
//! Message bodies come from the `kafka-protocol` crate (generated from Kafka's
//! JSON message specs; vendored with bounded array lengths, see
//! `vendor/kafka-protocol/PATCHES.md`). This crate adds what that crate leaves
//! to the server: reading size-prefixed frames without trusting the size,
//! peeking at the request preamble without panicking on short input, and
//! encoding a response with the right header version.

mod error;
mod fetch_response;
mod frame;
mod memory_pool;
mod request;
mod response;

pub use error::ProtocolError;
pub use fetch_response::encode_fetch_response;
pub use frame::{Frame, FrameReader, IDLE_READ_BYTES};
pub use memory_pool::{MemoryPool, MemoryReservation};
pub use request::{decode_body, RequestPreamble};
pub use response::{encode_response, ResponseFrame};

pub use kafka_protocol;
pub use kafka_protocol::error::ResponseError;
pub use kafka_protocol::messages::ApiKey;
