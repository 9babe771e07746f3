//! RFC 7296 §3.4: the Key Exchange payload.
//!
//! ```text
//! |   Diffie-Hellman Group Num    |           RESERVED            |
//! ~                       Key Exchange Data                       ~
//! ```

use crate::consts::{DhGroup, KE_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::Reader;

/// The Key Exchange payload: the group and the sender's public value
/// (RFC 5903 §7: x | y for the ECP groups; RFC 8031 §2: the 32-octet
/// u-coordinate for Curve25519).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeRepr {
    /// Diffie-Hellman Group Num; must match the group of the accepted (or
    /// first proposed) D-H transform, else INVALID_KE_PAYLOAD (§1.2).
    pub group: DhGroup,
    /// Key Exchange Data.
    pub data: Vec<u8>,
}

impl KeRepr {
    /// Parses the body. The length of the data against the group is for
    /// the D-H code to check (an unknown group's length is unknown here).
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "KE payload");
        let group = DhGroup(r.u16()?);
        let _reserved = r.u16()?;
        Ok(KeRepr {
            group,
            data: r.rest().to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        KE_HEADER_LEN + self.data.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.extend_from_slice(&self.group.0.to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
