//! RFC 7296 §3.2: the generic payload header and the payload chain, and one
//! module per payload type (§3.3 - §3.14, RFC 7383 §2.5).
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Next Payload  |C|  RESERVED   |         Payload Length        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! [`PayloadIter`] walks a chain zero-copy, yielding [`RawPayload`]s;
//! [`Payload::parse`] turns one into its typed representation, and
//! [`parse_chain`] / [`emit_chain`] do a whole chain (the message body, or
//! the decrypted contents of an SK payload).

pub mod auth;
pub mod cert;
pub mod delete;
pub mod id;
pub mod ke;
pub mod nonce;
pub mod notify;
pub mod sa;
pub mod sk;
pub mod ts;
pub mod vendor;

pub use auth::AuthRepr;
pub use cert::{CertRepr, CertReqRepr};
pub use delete::DeleteRepr;
pub use id::IdRepr;
pub use ke::KeRepr;
pub use nonce::NonceRepr;
pub use notify::NotifyRepr;
pub use sa::{Attribute, Proposal, SaRepr, Transform};
pub use sk::{EncryptedParts, EncryptedRepr, FragmentRepr};
pub use ts::{TrafficSelector, TsRange, TsRepr};
pub use vendor::VendorIdRepr;

use crate::consts::{PayloadType, GENERIC_PAYLOAD_HEADER_LEN, PAYLOAD_CRITICAL_BIT};
use crate::error::{EmitError, ParseError};
use crate::wire::{len_u16, Reader};

/// One payload of a chain, not yet interpreted: its type (from the previous
/// Next Payload field), its critical bit, its own Next Payload field and its
/// body (the octets after the generic header).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawPayload<'a> {
    /// The type of this payload.
    pub payload_type: PayloadType,
    /// RFC 7296 §3.2 critical bit.
    pub critical: bool,
    /// The Next Payload field of this payload. For SK and SKF it is the type
    /// of the first payload inside the encrypted data (RFC 7296 §3.14).
    pub next_payload: PayloadType,
    /// The payload body, after the 4-octet generic header.
    pub body: &'a [u8],
}

/// Walks a payload chain (RFC 7296 §3.2) without copying.
///
/// Each Payload Length is checked against the octets left; the chain must
/// end exactly at the end of the buffer with Next Payload 0, except that an
/// SK or SKF payload ends it (its Next Payload names the first inner
/// payload) and must then be the last octets (RFC 7296 §3.14). After the
/// first error the iterator is exhausted.
#[derive(Debug, Clone)]
pub struct PayloadIter<'a> {
    rest: &'a [u8],
    next: PayloadType,
    done: bool,
}

impl<'a> PayloadIter<'a> {
    /// A walk over `chain` whose first payload has type `first`.
    pub fn new(first: PayloadType, chain: &'a [u8]) -> Self {
        PayloadIter {
            rest: chain,
            next: first,
            done: false,
        }
    }

    fn step(&mut self) -> Result<Option<RawPayload<'a>>, ParseError> {
        if self.next == PayloadType::NONE {
            if !self.rest.is_empty() {
                return Err(ParseError::BadLength {
                    what: "payload chain (octets after the last payload)",
                    length: 0,
                    available: self.rest.len(),
                });
            }
            return Ok(None);
        }
        let mut r = Reader::new(self.rest, "generic payload header");
        let next_payload = PayloadType(r.u8()?);
        let critical = r.u8()? & PAYLOAD_CRITICAL_BIT != 0;
        let length = usize::from(r.u16()?);
        if length < GENERIC_PAYLOAD_HEADER_LEN || length > self.rest.len() {
            return Err(ParseError::BadLength {
                what: "Payload Length",
                length,
                available: self.rest.len(),
            });
        }
        let body = r.bytes(length - GENERIC_PAYLOAD_HEADER_LEN)?;
        let raw = RawPayload {
            payload_type: self.next,
            critical,
            next_payload,
            body,
        };
        self.rest = r.rest();
        if matches!(raw.payload_type, PayloadType::SK | PayloadType::SKF) {
            if !self.rest.is_empty() {
                return Err(ParseError::PayloadAfterEncrypted);
            }
            self.next = PayloadType::NONE;
        } else {
            self.next = next_payload;
        }
        Ok(Some(raw))
    }
}

impl<'a> Iterator for PayloadIter<'a> {
    type Item = Result<RawPayload<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.step() {
            Ok(Some(p)) => Some(Ok(p)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// A payload this crate understands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Security Association (§3.3).
    Sa(SaRepr),
    /// Key Exchange (§3.4).
    Ke(KeRepr),
    /// Identification - Initiator (§3.5).
    IdI(IdRepr),
    /// Identification - Responder (§3.5).
    IdR(IdRepr),
    /// Certificate (§3.6).
    Cert(CertRepr),
    /// Certificate Request (§3.7).
    CertReq(CertReqRepr),
    /// Authentication (§3.8).
    Auth(AuthRepr),
    /// Nonce (§3.9).
    Nonce(NonceRepr),
    /// Notify (§3.10).
    Notify(NotifyRepr),
    /// Delete (§3.11).
    Delete(DeleteRepr),
    /// Vendor ID (§3.12).
    VendorId(VendorIdRepr),
    /// Traffic Selector - Initiator (§3.13).
    TsI(TsRepr),
    /// Traffic Selector - Responder (§3.13).
    TsR(TsRepr),
    /// Encrypted and Authenticated (§3.14); always the last payload.
    Encrypted(EncryptedRepr),
    /// Encrypted and Authenticated Fragment (RFC 7383 §2.5); always the last
    /// (and only) payload.
    EncryptedFragment(FragmentRepr),
}

impl Payload {
    /// The payload type.
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Payload::Sa(_) => PayloadType::SA,
            Payload::Ke(_) => PayloadType::KE,
            Payload::IdI(_) => PayloadType::IDI,
            Payload::IdR(_) => PayloadType::IDR,
            Payload::Cert(_) => PayloadType::CERT,
            Payload::CertReq(_) => PayloadType::CERTREQ,
            Payload::Auth(_) => PayloadType::AUTH,
            Payload::Nonce(_) => PayloadType::NONCE,
            Payload::Notify(_) => PayloadType::NOTIFY,
            Payload::Delete(_) => PayloadType::DELETE,
            Payload::VendorId(_) => PayloadType::VENDOR_ID,
            Payload::TsI(_) => PayloadType::TSI,
            Payload::TsR(_) => PayloadType::TSR,
            Payload::Encrypted(_) => PayloadType::SK,
            Payload::EncryptedFragment(_) => PayloadType::SKF,
        }
    }

    /// Interprets one raw payload (RFC 7296 §3.2, §2.5): `Ok(None)` for a
    /// payload this crate does not understand whose critical bit is clear
    /// (it is skipped), [`ParseError::UnsupportedCriticalPayload`] for one
    /// whose critical bit is set. CP and EAP (§3.15, §3.16) count as not
    /// understood.
    pub fn parse(raw: &RawPayload<'_>) -> Result<Option<Self>, ParseError> {
        let b = raw.body;
        let p = match raw.payload_type {
            PayloadType::SA => Payload::Sa(SaRepr::parse(b)?),
            PayloadType::KE => Payload::Ke(KeRepr::parse(b)?),
            PayloadType::IDI => Payload::IdI(IdRepr::parse(b)?),
            PayloadType::IDR => Payload::IdR(IdRepr::parse(b)?),
            PayloadType::CERT => Payload::Cert(CertRepr::parse(b)?),
            PayloadType::CERTREQ => Payload::CertReq(CertReqRepr::parse(b)?),
            PayloadType::AUTH => Payload::Auth(AuthRepr::parse(b)?),
            PayloadType::NONCE => Payload::Nonce(NonceRepr::parse(b)?),
            PayloadType::NOTIFY => Payload::Notify(NotifyRepr::parse(b)?),
            PayloadType::DELETE => Payload::Delete(DeleteRepr::parse(b)?),
            PayloadType::VENDOR_ID => Payload::VendorId(VendorIdRepr::parse(b)?),
            PayloadType::TSI => Payload::TsI(TsRepr::parse(b)?),
            PayloadType::TSR => Payload::TsR(TsRepr::parse(b)?),
            PayloadType::SK => Payload::Encrypted(EncryptedRepr::parse(raw.next_payload, b)?),
            PayloadType::SKF => {
                Payload::EncryptedFragment(FragmentRepr::parse(raw.next_payload, b)?)
            }
            other if raw.critical => return Err(ParseError::UnsupportedCriticalPayload(other)),
            _ => return Ok(None),
        };
        Ok(Some(p))
    }

    /// Length of the body (without the generic header).
    pub fn body_len(&self) -> usize {
        match self {
            Payload::Sa(p) => p.body_len(),
            Payload::Ke(p) => p.body_len(),
            Payload::IdI(p) | Payload::IdR(p) => p.body_len(),
            Payload::Cert(p) => p.body_len(),
            Payload::CertReq(p) => p.body_len(),
            Payload::Auth(p) => p.body_len(),
            Payload::Nonce(p) => p.body_len(),
            Payload::Notify(p) => p.body_len(),
            Payload::Delete(p) => p.body_len(),
            Payload::VendorId(p) => p.body_len(),
            Payload::TsI(p) | Payload::TsR(p) => p.body_len(),
            Payload::Encrypted(p) => p.body_len(),
            Payload::EncryptedFragment(p) => p.body_len(),
        }
    }

    /// Length on the wire, generic header included.
    pub fn buffer_len(&self) -> usize {
        GENERIC_PAYLOAD_HEADER_LEN + self.body_len()
    }

    /// Appends the body (without the generic header).
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        match self {
            Payload::Sa(p) => p.emit_body(out),
            Payload::Ke(p) => p.emit_body(out),
            Payload::IdI(p) | Payload::IdR(p) => p.emit_body(out),
            Payload::Cert(p) => p.emit_body(out),
            Payload::CertReq(p) => p.emit_body(out),
            Payload::Auth(p) => p.emit_body(out),
            Payload::Nonce(p) => p.emit_body(out),
            Payload::Notify(p) => p.emit_body(out),
            Payload::Delete(p) => p.emit_body(out),
            Payload::VendorId(p) => p.emit_body(out),
            Payload::TsI(p) | Payload::TsR(p) => p.emit_body(out),
            Payload::Encrypted(p) => p.emit_body(out),
            Payload::EncryptedFragment(p) => p.emit_body(out),
        }
    }

    /// The Next Payload value an SK/SKF payload carries (its first inner
    /// payload), `None` for other payloads.
    fn inner_first(&self) -> Option<PayloadType> {
        match self {
            Payload::Encrypted(p) => Some(p.first_inner),
            Payload::EncryptedFragment(p) => Some(p.first_inner),
            _ => None,
        }
    }
}

/// Parses a whole chain starting with a payload of type `first`: the body
/// of a message, or the decrypted contents of an SK payload (whose Next
/// Payload field gives `first`). Payloads not understood and not critical
/// are skipped (RFC 7296 §2.5).
pub fn parse_chain(first: PayloadType, chain: &[u8]) -> Result<Vec<Payload>, ParseError> {
    let mut out = Vec::new();
    for raw in PayloadIter::new(first, chain) {
        if let Some(p) = Payload::parse(&raw?)? {
            out.push(p);
        }
    }
    Ok(out)
}

/// Length of a chain on the wire.
pub fn chain_len(payloads: &[Payload]) -> usize {
    payloads.iter().map(Payload::buffer_len).sum()
}

/// The type to announce for the first payload of `payloads` (in the IKE
/// header, or in the Next Payload field of the enclosing SK payload).
pub fn chain_first(payloads: &[Payload]) -> PayloadType {
    payloads
        .first()
        .map_or(PayloadType::NONE, Payload::payload_type)
}

/// Appends a chain, computing every Next Payload and Payload Length field
/// (critical bits are sent clear: every payload this crate emits is one
/// RFC 7296 requires implementations to understand). An SK or SKF payload
/// must be last; its Next Payload is its first inner payload.
pub fn emit_chain(payloads: &[Payload], out: &mut Vec<u8>) -> Result<(), EmitError> {
    let mut iter = payloads.iter().peekable();
    while let Some(p) = iter.next() {
        let next = match (p.inner_first(), iter.peek()) {
            (Some(_), Some(_)) => return Err(EmitError::EncryptedNotLast),
            (Some(inner), None) => inner,
            (None, Some(n)) => n.payload_type(),
            (None, None) => PayloadType::NONE,
        };
        let len = len_u16(p.buffer_len(), "Payload Length")?;
        out.push(next.0);
        out.push(0);
        out.extend_from_slice(&len.to_be_bytes());
        let before = out.len();
        p.emit_body(out)?;
        debug_assert_eq!(out.len() - before, p.body_len());
    }
    Ok(())
}
