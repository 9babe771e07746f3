//! RFC 7296 §3.6 and §3.7: the Certificate and Certificate Request payloads.
//!
//! ```text
//! | Cert Encoding |                                               |
//! +-+-+-+-+-+-+-+-+                                               |
//! ~                       Certificate Data / Certification Authority ~
//! ```

use crate::consts::{CertEncoding, CERT_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::Reader;

/// The CERT payload. With [`CertEncoding::RAW_PUBLIC_KEY`] (RFC 7670 §3)
/// the data is a DER SubjectPublicKeyInfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertRepr {
    /// Cert Encoding.
    pub encoding: CertEncoding,
    /// Certificate Data.
    pub data: Vec<u8>,
}

impl CertRepr {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "CERT payload");
        let encoding = CertEncoding(r.u8()?);
        Ok(CertRepr {
            encoding,
            data: r.rest().to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        CERT_HEADER_LEN + self.data.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}

/// The CERTREQ payload: the encoding wanted and the Certification
/// Authority field (concatenated SHA-1 hashes of trusted CAs' public keys
/// for X.509; empty for raw public keys, RFC 7670 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertReqRepr {
    /// Cert Encoding.
    pub encoding: CertEncoding,
    /// Certification Authority.
    pub authorities: Vec<u8>,
}

impl CertReqRepr {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "CERTREQ payload");
        let encoding = CertEncoding(r.u8()?);
        Ok(CertReqRepr {
            encoding,
            authorities: r.rest().to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        CERT_HEADER_LEN + self.authorities.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(self.encoding.0);
        out.extend_from_slice(&self.authorities);
        Ok(())
    }
}
