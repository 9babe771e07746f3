//! The cryptography of the IKE SA, on aws-lc-rs:
//!
//! - [`dh`]: the Key Exchange Data and the shared secret g^ir of D-H groups
//!   19 (P-256, RFC 5903) and 31 (Curve25519, RFC 8031), RFC 7296 §3.4.
//! - [`sk`]: the Encrypted payload (RFC 7296 §3.14) with AES-GCM-16 (RFC
//!   5282) or AES-CBC + HMAC-SHA-256-128, the Encrypted Fragment payload
//!   and reassembly (RFC 7383).
//! - [`sig`]: ECDSA P-256 with SHA-256 AUTH, Auth Methods 9 (RFC 4754) and
//!   14 (RFC 7427), raw public keys (RFC 7670).
//!
//! Every failure is a [`CryptoError`] naming what was wrong; peer input
//! never panics. Private keys live inside aws-lc (freed and cleansed with
//! their owners), every copy of secret octets made here is zeroized, and no
//! `Debug` output shows one.

pub mod dh;
pub mod sig;
pub mod sk;

pub use dh::{ke_data_len, DhPrivate};
pub use sig::{sign_auth, verify_auth, P256PublicKey, P256SigningKey};
pub use sk::{OpenedFragment, Reassembler, SkCrypter};

use crate::consts::{AuthMethod, DhGroup, EncrId, IntegId, PayloadType};
use crate::error::{EmitError, ParseError};

/// Why a cryptographic operation failed.
///
/// For received messages the variants fall in two groups (RFC 7296 §2.21):
/// before integrity is established ([`CryptoError::Malformed`],
/// [`CryptoError::NotEncrypted`], [`CryptoError::CiphertextLength`],
/// [`CryptoError::IntegrityCheckFailed`]) the message must be dropped
/// without an answer; after it ([`CryptoError::BadPadding`],
/// [`CryptoError::InnerMalformed`]) the peer really sent it, and a request
/// may be answered with [`CryptoError::notify`]'s notification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// A D-H group other than 19 (ECP-256) and 31 (Curve25519); a KE
    /// payload of this group is answered with INVALID_KE_PAYLOAD (RFC 7296
    /// §1.2).
    #[error("unsupported D-H group {0:?}")]
    UnsupportedDhGroup(DhGroup),
    /// RFC 7296 §3.4 / RFC 5903 §7 / RFC 8031 §2: the Key Exchange Data
    /// has the wrong length for its group.
    #[error("Key Exchange Data of {got} octets for {group:?} (expected {expected})")]
    KeDataLength {
        /// The group.
        group: DhGroup,
        /// Octets the group's public value has.
        expected: usize,
        /// Octets received.
        got: usize,
    },
    /// RFC 5903 §7 / RFC 6989 §2.3: the peer's P-256 public value is not a
    /// point on the curve.
    #[error("the peer's public value is not a valid {0:?} point")]
    InvalidPeerPublicValue(DhGroup),
    /// RFC 8031 §2.3: the X25519 shared secret is all zeros (the peer sent
    /// a point of small order).
    #[error("the X25519 shared secret is all zeros (small-order peer point)")]
    ZeroSharedSecret,
    /// A private key or scalar that is not one of the curve (zero, not
    /// below the group order, wrong length).
    #[error("invalid private key for {0}")]
    InvalidPrivateKey(&'static str),
    /// The transforms of an SA this module does not protect SK payloads
    /// with (RFC 7296 §3.14 needs ENCR_AES_GCM_16 or ENCR_AES_CBC with
    /// AUTH_HMAC_SHA2_256_128, 128 or 256 bits, here).
    #[error("unsupported SK cipher {encr:?} ({key_len}-octet key) with {integ:?}")]
    UnsupportedCipher {
        /// ENCR Transform ID.
        encr: Option<EncrId>,
        /// INTEG Transform ID.
        integ: IntegId,
        /// Encryption key octets.
        key_len: usize,
    },
    /// Keying material of the wrong length for the cipher spec.
    #[error("{what}: {got} octets, the cipher spec needs {expected}")]
    KeyLength {
        /// SK_e (key | salt) or SK_a.
        what: &'static str,
        /// Octets expected.
        expected: usize,
        /// Octets given.
        got: usize,
    },
    /// The message is not well formed outside the encrypted part (header,
    /// payload chain, Encrypted payload too short for IV and ICV): drop it.
    #[error("malformed message: {0}")]
    Malformed(#[from] ParseError),
    /// The last payload is not the one expected: SK for
    /// [`SkCrypter::open_message`], SKF for [`SkCrypter::open_fragment`].
    #[error("the message does not end with an {expected:?} payload")]
    NotEncrypted {
        /// The payload expected last: SK or SKF.
        expected: PayloadType,
    },
    /// RFC 7383 §2.5: payloads before the Encrypted Fragment payload. No
    /// IKEv2 exchange defines unprotected payloads next to encrypted ones,
    /// and this crate does not carry them through reassembly.
    #[error("unprotected payloads before an Encrypted Fragment payload")]
    UnprotectedPayloadsInFragment,
    /// The encrypted data is empty, or (AES-CBC, RFC 3602 §2.4) not a
    /// multiple of the block size.
    #[error("ciphertext of {len} octets (block size {block})")]
    CiphertextLength {
        /// Ciphertext octets.
        len: usize,
        /// The cipher's block size.
        block: usize,
    },
    /// The Integrity Checksum Data (HMAC, or the AEAD tag) does not verify
    /// (RFC 7296 §2.21.1: drop the message silently).
    #[error("integrity check failed")]
    IntegrityCheckFailed,
    /// RFC 7296 §3.14: Pad Length points before the start of the decrypted
    /// data.
    #[error("Pad Length {pad_len} exceeds the {plaintext_len} decrypted octets")]
    BadPadding {
        /// The Pad Length field.
        pad_len: usize,
        /// Decrypted octets (payloads, padding and Pad Length).
        plaintext_len: usize,
    },
    /// The authenticated content is malformed: the decrypted payload chain
    /// (or a reassembled one), or a payload before SK. The peer did send
    /// it: a request is answered per [`CryptoError::notify`].
    #[error("malformed encrypted payloads: {0}")]
    InnerMalformed(ParseError),
    /// The message to seal cannot be written.
    #[error("cannot emit: {0}")]
    Emit(#[from] EmitError),
    /// RFC 7383 §2.5: the datagram size leaves no room for content.
    #[error("datagrams of {max} octets cannot carry a fragment (at least {min} needed)")]
    DatagramTooSmall {
        /// The limit asked for.
        max: usize,
        /// The smallest limit that carries one octet of content.
        min: usize,
    },
    /// RFC 7383 §2.5: more fragments than Total Fragments can count, or
    /// than the reassembler accepts.
    #[error("{total} fragments exceed the limit of {max}")]
    TooManyFragments {
        /// Fragments needed or announced.
        total: usize,
        /// The limit.
        max: usize,
    },
    /// RFC 7383 §2.6: the reassembled message would exceed the configured
    /// size (the fragments received so far are dropped).
    #[error("reassembled message of {bytes} octets exceeds {max}")]
    ReassemblyTooLarge {
        /// Octets it would have.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// RFC 7383 §2.5: Fragment Number must be 1..=Total Fragments.
    #[error("fragment {number} of {total} invalid")]
    BadFragmentNumber {
        /// Fragment Number.
        number: u16,
        /// Total Fragments.
        total: u16,
    },
    /// RFC 5282 §3.1: every explicit IV of this key has been used.
    #[error("the explicit IVs of this key are exhausted (rekey)")]
    IvExhausted,
    /// The system random number generator failed.
    #[error("random number generator failure")]
    Rng,
    /// An Auth Method other than 9 (ECDSA P-256 SHA-256, RFC 4754) and 14
    /// (Digital Signature, RFC 7427).
    #[error("unsupported auth method {0:?}")]
    UnsupportedAuthMethod(AuthMethod),
    /// RFC 4754 §7: method 9 signatures are r | s, 64 octets.
    #[error("signature of {got} octets (expected {expected})")]
    SignatureLength {
        /// Octets expected.
        expected: usize,
        /// Octets received.
        got: usize,
    },
    /// RFC 7427 §3: the AUTH data is too short for its ASN.1 Length and
    /// AlgorithmIdentifier.
    #[error("Digital Signature AUTH data truncated")]
    MalformedSignatureAuth,
    /// RFC 7427 §3: the AlgorithmIdentifier is not ecdsa-with-SHA256 (the
    /// only one this crate verifies).
    #[error("signature algorithm is not ecdsa-with-SHA256")]
    SignatureAlgorithmMismatch,
    /// The signature does not verify (RFC 7296 §2.21.2:
    /// AUTHENTICATION_FAILED).
    #[error("signature verification failed")]
    SignatureInvalid,
    /// A P-256 public key that is malformed or not on the curve.
    #[error("invalid P-256 public key: {0}")]
    InvalidPublicKey(&'static str),
    /// aws-lc failed on input this crate built itself.
    #[error("crypto library failure: {0}")]
    Internal(&'static str),
}

impl CryptoError {
    /// The notification a responder answers a request with when processing
    /// fails after the message was authenticated (RFC 7296 §2.21.2,
    /// §3.10.1): INVALID_SYNTAX for a malformed decrypted content (or the
    /// critical-payload and TS notifications of [`ParseError::notify`]),
    /// AUTHENTICATION_FAILED for a signature that does not verify. `None`
    /// for errors that drop the message silently (anything before its
    /// integrity is established, RFC 7296 §2.21.1) or are local.
    pub fn notify(&self) -> Option<crate::consts::NotifyType> {
        use crate::consts::NotifyType;
        match self {
            CryptoError::InnerMalformed(e) => Some(e.notify()),
            CryptoError::BadPadding { .. } => Some(NotifyType::INVALID_SYNTAX),
            CryptoError::SignatureInvalid
            | CryptoError::SignatureLength { .. }
            | CryptoError::MalformedSignatureAuth
            | CryptoError::SignatureAlgorithmMismatch => Some(NotifyType::AUTHENTICATION_FAILED),
            _ => None,
        }
    }
}
