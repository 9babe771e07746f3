//! Typed errors of the wire layer and of the key schedule.

use crate::consts::{NotifyType, PayloadType};

/// Why received bytes are not a well-formed IKEv2 message or payload.
///
/// Every variant names the structure and the rule it breaks, so the state
/// machine can answer the right notification ([`ParseError::notify`]) and
/// count the reason, and a fuzzer can never reach a panic instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Fewer octets than the fixed part of a structure.
    #[error("{what}: truncated ({have} of at least {need} octets)")]
    Truncated {
        /// The structure being read.
        what: &'static str,
        /// Octets needed.
        need: usize,
        /// Octets available.
        have: usize,
    },
    /// A length field disagrees with the enclosing buffer or with itself.
    #[error("{what}: length field {length} invalid for {available} available octets")]
    BadLength {
        /// The structure whose length field is wrong.
        what: &'static str,
        /// The value of the length field.
        length: usize,
        /// Octets available to it.
        available: usize,
    },
    /// RFC 7296 §3.1: the major version is not 2.
    #[error("unsupported IKE major version {0}")]
    UnsupportedMajorVersion(u8),
    /// RFC 7296 §2.5: an unknown payload with the critical bit set; the
    /// receiver answers UNSUPPORTED_CRITICAL_PAYLOAD carrying the type.
    #[error("unsupported critical payload {0:?}")]
    UnsupportedCriticalPayload(PayloadType),
    /// RFC 7296 §3.14 / RFC 7383 §2.5: the Encrypted (or Encrypted
    /// Fragment) payload must be the last payload of a message.
    #[error("payload after the Encrypted payload")]
    PayloadAfterEncrypted,
    /// RFC 7296 §3.3.1 / §3.3.2: a Last Substruc value other than the two
    /// allowed ones.
    #[error("{what}: bad Last Substruc value {value}")]
    BadLastSubstruc {
        /// Proposal or transform.
        what: &'static str,
        /// The value found.
        value: u8,
    },
    /// RFC 7296 §3.3.1: the Num Transforms field disagrees with the
    /// transforms present.
    #[error("proposal announces {announced} transforms, carries {found}")]
    TransformCountMismatch {
        /// Num Transforms.
        announced: usize,
        /// Transforms parsed.
        found: usize,
    },
    /// RFC 7296 §3.3.1: the proposals in an SA payload are numbered from 1
    /// and each is the previous or the previous plus one.
    #[error("proposal number {found} after {previous}")]
    BadProposalNumber {
        /// The previous proposal's number (0 before the first).
        previous: u8,
        /// The number found.
        found: u8,
    },
    /// RFC 7296 §3.3.1: a proposal with no transforms, or an SA payload with
    /// no proposals.
    #[error("{0} is empty")]
    Empty(&'static str),
    /// RFC 7296 §3.3.5: the Key Length attribute must be TV.
    #[error("Key Length attribute is not in TV format")]
    KeyLengthNotTv,
    /// RFC 7296 §3.9: Nonce Data must be 16 to 256 octets.
    #[error("nonce of {0} octets outside 16..=256")]
    BadNonceLength(usize),
    /// An SPI Size not allowed for the protocol (RFC 7296 §3.3.1, §3.10, §3.11).
    #[error("SPI size {spi_size} invalid for protocol {protocol}")]
    BadSpiSize {
        /// Protocol ID.
        protocol: u8,
        /// SPI Size.
        spi_size: u8,
    },
    /// RFC 7296 §3.13.1: a Traffic Selector type this crate does not know
    /// (the responder answers TS_UNACCEPTABLE).
    #[error("unsupported traffic selector type {0}")]
    UnsupportedTsType(u8),
    /// RFC 7296 §3.13: a TS payload announces another number of selectors
    /// than it carries.
    #[error("TS payload announces {announced} selectors, carries {found}")]
    TsCountMismatch {
        /// Number of TSs.
        announced: usize,
        /// Selectors parsed.
        found: usize,
    },
    /// RFC 7383 §2.5: Fragment Number must be 1..=Total Fragments.
    #[error("fragment {number} of {total} invalid")]
    BadFragmentNumber {
        /// Fragment Number.
        number: u16,
        /// Total Fragments.
        total: u16,
    },
    /// The Encrypted payload is too short for the IV and ICV of the
    /// negotiated transform.
    #[error(
        "Encrypted payload of {body} octets cannot hold a {iv}-octet IV and a {icv}-octet ICV"
    )]
    EncryptedTooShort {
        /// Body octets.
        body: usize,
        /// IV length asked for.
        iv: usize,
        /// ICV length asked for.
        icv: usize,
    },
}

impl ParseError {
    /// The error notification a responder sends back for this error (RFC
    /// 7296 §2.21.1, §3.10.1): UNSUPPORTED_CRITICAL_PAYLOAD for an unknown
    /// critical payload, INVALID_MAJOR_VERSION for a version above 2,
    /// INVALID_SYNTAX otherwise. (TS errors answer TS_UNACCEPTABLE.)
    pub fn notify(&self) -> NotifyType {
        match self {
            ParseError::UnsupportedCriticalPayload(_) => NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
            ParseError::UnsupportedMajorVersion(_) => NotifyType::INVALID_MAJOR_VERSION,
            ParseError::UnsupportedTsType(_) => NotifyType::TS_UNACCEPTABLE,
            _ => NotifyType::INVALID_SYNTAX,
        }
    }
}

/// Why a representation cannot be written to the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// A length does not fit its field (a payload over 65 535 octets, more
    /// than 255 transforms or selectors, a nonce outside 16..=256, …).
    #[error("{what}: {len} does not fit")]
    TooLong {
        /// The field.
        what: &'static str,
        /// The value that does not fit.
        len: usize,
    },
    /// The Encrypted payload is not the last payload of the chain.
    #[error("the Encrypted payload must be the last payload")]
    EncryptedNotLast,
    /// A value the emitter refuses because the receiver would reject it
    /// (an SPI of the wrong size for its protocol, a fragment number of 0…).
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Why key material cannot be derived.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KdfError {
    /// RFC 7296 §2.13: prf+ is limited to 255 blocks.
    #[error("prf+ output of {requested} octets exceeds {max}")]
    OutputTooLong {
        /// Octets requested.
        requested: usize,
        /// The limit.
        max: usize,
    },
    /// A transform this crate does not derive keys for.
    #[error("unsupported {kind} transform {id}")]
    UnsupportedTransform {
        /// ENCR, PRF or INTEG.
        kind: &'static str,
        /// Its Transform ID.
        id: u16,
    },
    /// A Key Length attribute missing, present where forbidden, or of a
    /// size the cipher does not have.
    #[error("invalid key length {0:?} for the cipher")]
    BadKeyLength(Option<u16>),
    /// A combined-mode cipher with an integrity transform, or a plain cipher
    /// without one (RFC 5282 §8).
    #[error("integrity transform {0} does not match the cipher")]
    IntegrityMismatch(u16),
}

/// Why the IKEv2 state machine could not do what was asked (local errors;
/// the peer's errors are [`crate::Failure`]s and counters).
#[derive(Debug, thiserror::Error)]
pub enum IkeError {
    /// Cryptography failed (key generation, a bad peer value).
    #[error("crypto: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    /// Key derivation failed.
    #[error("key derivation: {0}")]
    Kdf(#[from] KdfError),
    /// A message could not be written.
    #[error("emit: {0}")]
    Emit(#[from] EmitError),
    /// The system random generator failed.
    #[error("random generator failed")]
    Random,
    /// Not configured or not supported.
    #[error("unsupported: {0}")]
    Unsupported(&'static str),
    /// The operation does not apply in the SA's state.
    #[error("operation not possible in the IKE SA's state")]
    WrongState,
    /// No such IKE SA or Child SA.
    #[error("no such SA")]
    NoSuchSa,
}
