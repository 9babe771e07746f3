//! RFC 7296 §3.14: the Encrypted and Authenticated payload (SK), and RFC
//! 7383 §2.5: the Encrypted and Authenticated Fragment payload (SKF) —
//! the containers only; encryption and integrity belong to the SA.
//!
//! ```text
//! SK:  | Next Payload  |C|  RESERVED   |         Payload Length        |
//!      |                     Initialization Vector                     |
//!      ~                    Encrypted IKE Payloads                     ~
//!      |               |             Padding (0-255 octets)            |
//!      |                                               |  Pad Length   |
//!      ~                    Integrity Checksum Data                    ~
//!
//! SKF: | Next Payload  |C|  RESERVED   |         Payload Length        |
//!      |        Fragment Number        |        Total Fragments        |
//!      |                     Initialization Vector                     |
//!      ~                      Encrypted content                        ~
//!      ~                    Integrity Checksum Data                    ~
//! ```
//!
//! The Next Payload field of SK names the first payload inside the
//! encrypted data; for SKF it does so in fragment 1 and is zero in the
//! others (RFC 7383 §2.5).

use crate::consts::{PayloadType, SKF_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::Reader;

/// The three parts of an SK or SKF body once the negotiated transform's IV
/// and ICV lengths are known. For AES-CBC the ciphertext includes padding
/// and Pad Length; for the AEADs (RFC 5282 §3) it is the AEAD ciphertext
/// without the tag, which is the ICV.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EncryptedParts<'a> {
    /// Initialization Vector.
    pub iv: &'a [u8],
    /// Encrypted data.
    pub ciphertext: &'a [u8],
    /// Integrity Checksum Data (or AEAD tag).
    pub icv: &'a [u8],
}

fn split(body: &[u8], iv_len: usize, icv_len: usize) -> Result<EncryptedParts<'_>, ParseError> {
    let too_short = ParseError::EncryptedTooShort {
        body: body.len(),
        iv: iv_len,
        icv: icv_len,
    };
    let ct_len = body
        .len()
        .checked_sub(iv_len)
        .and_then(|n| n.checked_sub(icv_len))
        .ok_or(too_short)?;
    let mut r = Reader::new(body, "Encrypted payload");
    Ok(EncryptedParts {
        iv: r.bytes(iv_len)?,
        ciphertext: r.bytes(ct_len)?,
        icv: r.rest(),
    })
}

/// The SK payload: the first inner payload type and the opaque body
/// (IV | ciphertext | ICV).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncryptedRepr {
    /// The type of the first payload inside the encrypted data.
    pub first_inner: PayloadType,
    /// IV | encrypted payloads, padding and Pad Length | ICV.
    pub body: Vec<u8>,
}

impl EncryptedRepr {
    /// Parses the body; `next_payload` is the payload's Next Payload field.
    pub fn parse(next_payload: PayloadType, body: &[u8]) -> Result<Self, ParseError> {
        Ok(EncryptedRepr {
            first_inner: next_payload,
            body: body.to_vec(),
        })
    }

    /// Splits the body into IV, ciphertext and ICV for a transform with
    /// these lengths, or [`ParseError::EncryptedTooShort`].
    pub fn parts(&self, iv_len: usize, icv_len: usize) -> Result<EncryptedParts<'_>, ParseError> {
        split(&self.body, iv_len, icv_len)
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.extend_from_slice(&self.body);
        Ok(())
    }
}

/// The SKF payload (RFC 7383 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FragmentRepr {
    /// The first inner payload type in fragment 1; [`PayloadType::NONE`]
    /// in the others.
    pub first_inner: PayloadType,
    /// Fragment Number, from 1.
    pub number: u16,
    /// Total Fragments.
    pub total: u16,
    /// IV | encrypted content | ICV.
    pub body: Vec<u8>,
}

impl FragmentRepr {
    /// Parses the body: Fragment Number must be 1..=Total Fragments (RFC
    /// 7383 §2.5: Total Fragments is at least 1; a fragment numbered above
    /// the total, or 0, is malformed).
    pub fn parse(next_payload: PayloadType, body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "Encrypted Fragment payload");
        let number = r.u16()?;
        let total = r.u16()?;
        if number == 0 || number > total {
            return Err(ParseError::BadFragmentNumber { number, total });
        }
        Ok(FragmentRepr {
            first_inner: next_payload,
            number,
            total,
            body: r.rest().to_vec(),
        })
    }

    /// Splits the body after the fragment header into IV, ciphertext and ICV.
    pub fn parts(&self, iv_len: usize, icv_len: usize) -> Result<EncryptedParts<'_>, ParseError> {
        split(&self.body, iv_len, icv_len)
    }

    /// Length of the body (fragment header included).
    pub fn body_len(&self) -> usize {
        SKF_HEADER_LEN + self.body.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if self.number == 0 || self.number > self.total {
            return Err(EmitError::Invalid("fragment number (1..=total)"));
        }
        out.extend_from_slice(&self.number.to_be_bytes());
        out.extend_from_slice(&self.total.to_be_bytes());
        out.extend_from_slice(&self.body);
        Ok(())
    }
}
