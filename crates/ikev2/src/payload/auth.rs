//! RFC 7296 §3.8: the Authentication payload.
//!
//! ```text
//! | Auth Method   |                RESERVED                       |
//! ~                      Authentication Data                      ~
//! ```

use crate::consts::{AuthMethod, AUTH_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::Reader;

/// The AUTH payload. The data is computed by [`crate::auth`] (shared key,
/// §2.15) or is a signature (RFC 4754, RFC 7427).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRepr {
    /// Auth Method.
    pub method: AuthMethod,
    /// Authentication Data.
    pub data: Vec<u8>,
}

impl AuthRepr {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "AUTH payload");
        let method = AuthMethod(r.u8()?);
        let _reserved = r.bytes(3)?;
        Ok(AuthRepr {
            method,
            data: r.rest().to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        AUTH_HEADER_LEN + self.data.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(self.method.0);
        out.extend_from_slice(&[0, 0, 0]);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
