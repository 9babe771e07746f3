//! RFC 7296 §3.9: the Nonce payload.

use crate::consts::{NONCE_MAX_LEN, NONCE_MIN_LEN};
use crate::error::{EmitError, ParseError};

/// The Nonce payload: 16 to 256 random octets (RFC 7296 §3.9), at least
/// half the PRF key size (§2.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceRepr {
    /// Nonce Data.
    pub data: Vec<u8>,
}

impl NonceRepr {
    /// Parses the body, rejecting nonces outside 16..=256 octets.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&body.len()) {
            return Err(ParseError::BadNonceLength(body.len()));
        }
        Ok(NonceRepr {
            data: body.to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        self.data.len()
    }

    /// Appends the body; refuses a nonce the peer would reject.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&self.data.len()) {
            return Err(EmitError::TooLong {
                what: "Nonce Data (16..=256)",
                len: self.data.len(),
            });
        }
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
