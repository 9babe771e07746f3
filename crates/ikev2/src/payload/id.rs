//! RFC 7296 §3.5: the Identification payloads (IDi and IDr).
//!
//! ```text
//! |   ID Type     |                 RESERVED                      |
//! ~                   Identification Data                         ~
//! ```

use crate::consts::{IdType, ID_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::Reader;

/// An Identification payload (the same body for IDi and IDr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdRepr {
    /// ID Type.
    pub id_type: IdType,
    /// Identification Data (an address, a name, or with ID_KEY_ID the
    /// token's `kid`).
    pub data: Vec<u8>,
}

impl IdRepr {
    /// Parses the body (the RESERVED octets are ignored). To verify a
    /// peer's AUTH, MAC the received body itself ([`crate::payload::RawPayload::body`]):
    /// `RestOfInitIDPayload` (§2.15) covers the RESERVED octets as sent.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "ID payload");
        let id_type = IdType(r.u8()?);
        let _reserved = r.bytes(3)?;
        Ok(IdRepr {
            id_type,
            data: r.rest().to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        ID_HEADER_LEN + self.data.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(self.id_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }

    /// RFC 7296 §2.15: `RestOfInitIDPayload` (or `RestOfRespIDPayload`),
    /// "the entire ID payload excluding the fixed header": ID Type,
    /// RESERVED and Identification Data, as this end sends it.
    pub fn rest_of_payload(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body_len());
        out.push(self.id_type.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
        out
    }
}
