//! Every wire constant of the crate, next to the RFC table it comes from.

use std::time::Duration;

// ---------------------------------------------------------------------------
// RFC 7252 §4.8: Transmission Parameters (default values).
// ---------------------------------------------------------------------------

/// RFC 7252 §4.8: ACK_TIMEOUT, 2 seconds.
pub const ACK_TIMEOUT: Duration = Duration::from_secs(2);
/// RFC 7252 §4.8: ACK_RANDOM_FACTOR, 1.5.
pub const ACK_RANDOM_FACTOR: f64 = 1.5;
/// RFC 7252 §4.8: MAX_RETRANSMIT, 4.
pub const MAX_RETRANSMIT: u32 = 4;
/// RFC 7252 §4.8: NSTART, 1 (outstanding interactions per peer; this
/// endpoint does not enforce it, the caller decides how many requests it makes).
pub const NSTART: u32 = 1;
/// RFC 7252 §4.8: DEFAULT_LEISURE, 5 seconds (multicast only, unused here).
pub const DEFAULT_LEISURE: Duration = Duration::from_secs(5);
/// RFC 7252 §4.8: PROBING_RATE, 1 byte/second.
pub const PROBING_RATE: u32 = 1;

// RFC 7252 §4.8.2: Time values derived from the transmission parameters.

/// RFC 7252 §4.8.2: MAX_TRANSMIT_SPAN, 45 s.
pub const MAX_TRANSMIT_SPAN: Duration = Duration::from_secs(45);
/// RFC 7252 §4.8.2: MAX_TRANSMIT_WAIT, 93 s.
pub const MAX_TRANSMIT_WAIT: Duration = Duration::from_secs(93);
/// RFC 7252 §4.8.2: MAX_LATENCY, 100 s.
pub const MAX_LATENCY: Duration = Duration::from_secs(100);
/// RFC 7252 §4.8.2: PROCESSING_DELAY, 2 s (= ACK_TIMEOUT).
pub const PROCESSING_DELAY: Duration = Duration::from_secs(2);
/// RFC 7252 §4.8.2: MAX_RTT, 202 s.
pub const MAX_RTT: Duration = Duration::from_secs(202);
/// RFC 7252 §4.8.2: EXCHANGE_LIFETIME, 247 s.
pub const EXCHANGE_LIFETIME: Duration = Duration::from_secs(247);
/// RFC 7252 §4.8.2: NON_LIFETIME, 145 s.
pub const NON_LIFETIME: Duration = Duration::from_secs(145);

// ---------------------------------------------------------------------------
// RFC 7252 §3: Message Format.
// ---------------------------------------------------------------------------

/// RFC 7252 §3: Version (Ver) field, must be 1.
pub const VERSION: u8 = 1;
/// RFC 7252 §3: Token Length 9 to 15 are reserved.
pub const MAX_TOKEN_LEN: usize = 8;
/// RFC 7252 §3: payload marker.
pub const PAYLOAD_MARKER: u8 = 0xFF;
/// Length of the tokens this endpoint generates (RFC 7252 §5.3.1 recommends
/// at least 32 random bits; we use the maximum of 8 bytes).
pub const TOKEN_LEN: usize = 8;

// ---------------------------------------------------------------------------
// RFC 7252 §12.2 (Option Number Registry), RFC 7959 §6 (Block1, Block2,
// Size2), RFC 8613 (OSCORE), RFC 7967 (No-Response).
// ---------------------------------------------------------------------------

/// CoAP option numbers.
pub mod option {
    /// RFC 7252 §12.2: If-Match (critical).
    pub const IF_MATCH: u16 = 1;
    /// RFC 7252 §12.2: Uri-Host (critical).
    pub const URI_HOST: u16 = 3;
    /// RFC 7252 §12.2: ETag (elective).
    pub const ETAG: u16 = 4;
    /// RFC 7252 §12.2: If-None-Match (critical).
    pub const IF_NONE_MATCH: u16 = 5;
    /// RFC 7641: Observe (elective).
    pub const OBSERVE: u16 = 6;
    /// RFC 7252 §12.2: Uri-Port (critical).
    pub const URI_PORT: u16 = 7;
    /// RFC 7252 §12.2: Location-Path (elective).
    pub const LOCATION_PATH: u16 = 8;
    /// RFC 8613: OSCORE (critical).
    pub const OSCORE: u16 = 9;
    /// RFC 7252 §12.2: Uri-Path (critical).
    pub const URI_PATH: u16 = 11;
    /// RFC 7252 §12.2: Content-Format (elective).
    pub const CONTENT_FORMAT: u16 = 12;
    /// RFC 7252 §12.2: Max-Age (elective).
    pub const MAX_AGE: u16 = 14;
    /// RFC 7252 §12.2: Uri-Query (critical).
    pub const URI_QUERY: u16 = 15;
    /// RFC 7252 §12.2: Accept (critical).
    pub const ACCEPT: u16 = 17;
    /// RFC 7252 §12.2: Location-Query (elective).
    pub const LOCATION_QUERY: u16 = 20;
    /// RFC 7959 §6: Block2 (critical).
    pub const BLOCK2: u16 = 23;
    /// RFC 7959 §6: Block1 (critical).
    pub const BLOCK1: u16 = 27;
    /// RFC 7959 §6: Size2 (elective).
    pub const SIZE2: u16 = 28;
    /// RFC 7252 §12.2: Proxy-Uri (critical).
    pub const PROXY_URI: u16 = 35;
    /// RFC 7252 §12.2: Proxy-Scheme (critical).
    pub const PROXY_SCHEME: u16 = 39;
    /// RFC 7252 §12.2: Size1 (elective).
    pub const SIZE1: u16 = 60;
    /// RFC 7967: No-Response (elective).
    pub const NO_RESPONSE: u16 = 258;

    /// RFC 7252 §5.4.1: odd option numbers are critical.
    pub const fn is_critical(number: u16) -> bool {
        number & 1 == 1
    }
}

// ---------------------------------------------------------------------------
// RFC 7252 §12.3 (CoAP Content-Formats Registry), RFC 9200 §8.
// ---------------------------------------------------------------------------

/// CoAP Content-Format identifiers.
pub mod content_format {
    /// RFC 7252 §12.3: text/plain; charset=utf-8.
    pub const TEXT_PLAIN: u16 = 0;
    /// RFC 9052: application/cose; cose-type="cose-encrypt0".
    pub const APPLICATION_COSE_ENCRYPT0: u16 = 16;
    /// RFC 9052: application/cose; cose-type="cose-mac0".
    pub const APPLICATION_COSE_MAC0: u16 = 17;
    /// RFC 9052: application/cose; cose-type="cose-sign1".
    pub const APPLICATION_COSE_SIGN1: u16 = 18;
    /// RFC 9200 §8.16: application/ace+cbor.
    pub const APPLICATION_ACE_CBOR: u16 = 19;
    /// RFC 7252 §12.3: application/link-format.
    pub const APPLICATION_LINK_FORMAT: u16 = 40;
    /// RFC 7252 §12.3: application/octet-stream.
    pub const APPLICATION_OCTET_STREAM: u16 = 42;
    /// RFC 7252 §12.3: application/json.
    pub const APPLICATION_JSON: u16 = 50;
    /// RFC 7049 / RFC 8949: application/cbor.
    pub const APPLICATION_CBOR: u16 = 60;
    /// RFC 8392: application/cwt.
    pub const APPLICATION_CWT: u16 = 61;
    /// RFC 9052: application/cose-key.
    pub const APPLICATION_COSE_KEY: u16 = 101;
}

pub use content_format::{
    APPLICATION_ACE_CBOR, APPLICATION_CBOR, APPLICATION_COSE_ENCRYPT0, APPLICATION_CWT,
};

// ---------------------------------------------------------------------------
// RFC 7959 §2.2: Block option structure.
// ---------------------------------------------------------------------------

/// RFC 7959 §2.2: SZX 7 is reserved and MUST lead to 4.00 Bad Request.
pub const SZX_RESERVED: u8 = 7;
/// RFC 7959 §2.2: largest usable SZX (block size 1024).
pub const SZX_MAX: u8 = 6;
/// RFC 7959 §2.2: largest block number (20 bits).
pub const BLOCK_NUM_MAX: u32 = (1 << 20) - 1;
