//! RFC 7296 §3.12: the Vendor ID payload.

use crate::error::{EmitError, ParseError};

/// The Vendor ID payload: an opaque constant a vendor chooses (often a hash
/// of a string); a receiver that does not recognise it ignores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VendorIdRepr {
    /// Vendor ID.
    pub data: Vec<u8>,
}

impl VendorIdRepr {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        Ok(VendorIdRepr {
            data: body.to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        self.data.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
