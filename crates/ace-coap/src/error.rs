//! Errors returned to the caller and reasons a client exchange failed.

use crate::endpoint::IncomingId;

/// Errors of the endpoint API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoapError {
    /// `respond` for a request that is unknown, already answered, or whose
    /// exchange expired (EXCHANGE_LIFETIME).
    #[error("no pending incoming request {0:?}")]
    UnknownIncoming(IncomingId),
    /// The message could not be encoded.
    #[error("cannot encode CoAP message: {0}")]
    Encode(&'static str),
}

/// Why a client request ended without a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FailReason {
    /// RFC 7252 §4.2: MAX_RETRANSMIT retransmissions went unacknowledged, or
    /// no response arrived within `Config::response_timeout`.
    #[error("timed out")]
    Timeout,
    /// RFC 7252 §4.2: the peer answered with a Reset message.
    #[error("reset by peer")]
    Reset,
    /// RFC 7959: the block-wise transfer went wrong.
    #[error("block-wise transfer failed: {0}")]
    BlockError(BlockError),
}

/// RFC 7959: what went wrong in a block-wise transfer (client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BlockError {
    /// A Block2 response carried another block number than requested.
    #[error("unexpected block number")]
    UnexpectedBlock,
    /// RFC 7959 §2.4: the ETag changed between blocks of one representation.
    #[error("ETag changed between blocks")]
    EtagMismatch,
    /// A non-final block was not of the announced block size (RFC 7959 §2.2).
    #[error("non-final block of wrong size")]
    BadBlockSize,
    /// The reassembled response body exceeded `Config::max_body`.
    #[error("response body exceeds max_body")]
    TooLarge,
    /// 2.31 Continue where no further block was to be sent, or a malformed
    /// Block option.
    #[error("unexpected Continue or malformed Block option")]
    Protocol,
    /// A follow-up block request was answered with an error code.
    #[error("block request answered with an error")]
    ErrorResponse,
}
