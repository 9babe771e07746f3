//! Decoding errors shared by every CBOR message of this crate.

use thiserror::Error;

/// Why a CBOR message could not be decoded into its typed form.
///
/// Every `from_cbor`/`from_value` of this crate returns this type; the
/// variants say which field failed and how, so that an endpoint can put a
/// useful `error_description` in its 4.00 (Bad Request) answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    /// The bytes are not one well-formed CBOR data item (RFC 8949).
    #[error("malformed CBOR: {0}")]
    Cbor(String),
    /// One CBOR data item was read but bytes follow it.
    #[error("{0} bytes after the CBOR data item")]
    TrailingBytes(usize),
    /// The message (or a nested structure) is not of the expected CBOR type.
    #[error("{what}: expected {expected}")]
    WrongType {
        /// Which structure or field.
        what: &'static str,
        /// The CBOR type expected.
        expected: &'static str,
    },
    /// A map carries the same key twice (RFC 8949 §5.6: not valid).
    #[error("{what}: duplicate map key {key}")]
    DuplicateKey {
        /// Which map.
        what: &'static str,
        /// The repeated key (diagnostic notation).
        key: String,
    },
    /// A required field is absent.
    #[error("missing field {0}")]
    MissingField(&'static str),
    /// A field is present with a value this crate cannot accept.
    #[error("invalid {field}: {reason}")]
    InvalidValue {
        /// Which field.
        field: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A COSE structure could not be parsed.
    #[error("COSE: {0}")]
    Cose(String),
}

impl DecodeError {
    pub(crate) fn wrong_type(what: &'static str, expected: &'static str) -> Self {
        DecodeError::WrongType { what, expected }
    }

    pub(crate) fn invalid(field: &'static str, reason: &'static str) -> Self {
        DecodeError::InvalidValue { field, reason }
    }
}

/// A CoAP response code `c.dd` (RFC 7252 §3, §12.1.2), as the ACE
/// specifications name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CoapCode {
    /// Class (the `c` of `c.dd`).
    pub class: u8,
    /// Detail (the `dd` of `c.dd`).
    pub detail: u8,
}

impl CoapCode {
    /// 4.00 Bad Request.
    pub const BAD_REQUEST: CoapCode = CoapCode::new(4, 0);
    /// 4.01 Unauthorized.
    pub const UNAUTHORIZED: CoapCode = CoapCode::new(4, 1);
    /// 4.03 Forbidden.
    pub const FORBIDDEN: CoapCode = CoapCode::new(4, 3);
    /// 4.05 Method Not Allowed.
    pub const METHOD_NOT_ALLOWED: CoapCode = CoapCode::new(4, 5);
    /// 4.09 Conflict (RFC 8132 §2.3.1 registers it for CoAP).
    pub const CONFLICT: CoapCode = CoapCode::new(4, 9);

    /// Build `class.detail`.
    pub const fn new(class: u8, detail: u8) -> Self {
        CoapCode { class, detail }
    }

    /// The single code byte of the CoAP header: `class << 5 | detail`
    /// (RFC 7252 §3).
    pub const fn to_u8(self) -> u8 {
        (self.class << 5) | (self.detail & 0x1f)
    }
}

impl core::fmt::Display for CoapCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{:02}", self.class, self.detail)
    }
}
