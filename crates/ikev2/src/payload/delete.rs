//! RFC 7296 §3.11: the Delete payload.
//!
//! ```text
//! | Protocol ID   |   SPI Size    |          Num of SPIs          |
//! ~               Security Parameter Index(es) (SPI)              ~
//! ```

use crate::consts::{ProtocolId, CHILD_SPI_LEN, DELETE_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::{len_u16, Reader};

/// The Delete payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteRepr {
    /// Deletes the IKE SA the message belongs to (Protocol ID 1, SPI Size 0,
    /// Num of SPIs 0: the SPIs are those of the header).
    IkeSa,
    /// Deletes Child SAs: the 4-octet SPIs the sender expects in inbound
    /// packets (RFC 7296 §1.4.1).
    ChildSas {
        /// AH or ESP.
        protocol: ProtocolId,
        /// The SPIs.
        spis: Vec<u32>,
    },
}

impl DeleteRepr {
    /// Parses the body: SPI Size 0 for IKE, 4 for AH and ESP, with exactly
    /// Num of SPIs SPIs.
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "Delete payload");
        let protocol = ProtocolId(r.u8()?);
        let spi_size = r.u8()?;
        let num = usize::from(r.u16()?);
        match (protocol, usize::from(spi_size)) {
            (ProtocolId::IKE, 0) => {
                if !r.is_empty() {
                    return Err(ParseError::BadLength {
                        what: "Delete payload (IKE SA)",
                        length: 0,
                        available: r.remaining(),
                    });
                }
                Ok(DeleteRepr::IkeSa)
            }
            (ProtocolId::AH | ProtocolId::ESP, CHILD_SPI_LEN) => {
                if r.remaining() != num * CHILD_SPI_LEN {
                    return Err(ParseError::BadLength {
                        what: "Delete payload Num of SPIs",
                        length: num * CHILD_SPI_LEN,
                        available: r.remaining(),
                    });
                }
                let mut spis = Vec::with_capacity(num);
                for _ in 0..num {
                    spis.push(u32::from_be_bytes(r.array()?));
                }
                Ok(DeleteRepr::ChildSas { protocol, spis })
            }
            _ => Err(ParseError::BadSpiSize {
                protocol: protocol.0,
                spi_size,
            }),
        }
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        match self {
            DeleteRepr::IkeSa => DELETE_HEADER_LEN,
            DeleteRepr::ChildSas { spis, .. } => DELETE_HEADER_LEN + CHILD_SPI_LEN * spis.len(),
        }
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        match self {
            DeleteRepr::IkeSa => out.extend_from_slice(&[ProtocolId::IKE.0, 0, 0, 0]),
            DeleteRepr::ChildSas { protocol, spis } => {
                if !matches!(*protocol, ProtocolId::AH | ProtocolId::ESP) {
                    return Err(EmitError::Invalid("Delete protocol (AH or ESP)"));
                }
                out.push(protocol.0);
                out.push(CHILD_SPI_LEN as u8);
                out.extend_from_slice(&len_u16(spis.len(), "Num of SPIs")?.to_be_bytes());
                for spi in spis {
                    out.extend_from_slice(&spi.to_be_bytes());
                }
            }
        }
        Ok(())
    }
}
