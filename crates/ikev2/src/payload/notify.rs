//! RFC 7296 §3.10: the Notify payload.
//!
//! ```text
//! |  Protocol ID  |   SPI Size    |      Notify Message Type      |
//! ~                Security Parameter Index (SPI)                 ~
//! ~                       Notification Data                       ~
//! ```

use crate::consts::{NotifyType, ProtocolId, NOTIFY_HEADER_LEN};
use crate::error::{EmitError, ParseError};
use crate::wire::{len_u8, Reader};

/// The Notify payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyRepr {
    /// Protocol ID of the SA concerned; zero (or IKE) when none applies.
    pub protocol: ProtocolId,
    /// The SPI concerned (empty for notifications about the IKE SA).
    pub spi: Vec<u8>,
    /// Notify Message Type.
    pub notify_type: NotifyType,
    /// Notification Data.
    pub data: Vec<u8>,
}

impl NotifyRepr {
    /// A notification about no particular SA (Protocol ID 0, no SPI),
    /// which is what RFC 7296 §3.10 asks for most types.
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        NotifyRepr {
            protocol: ProtocolId(0),
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    /// Parses the body. The SPI Size is taken as given (its meaning depends
    /// on the notification; §3.10 lets the receiver interpret it).
    pub fn parse(body: &[u8]) -> Result<Self, ParseError> {
        let mut r = Reader::new(body, "Notify payload");
        let protocol = ProtocolId(r.u8()?);
        let spi_size = usize::from(r.u8()?);
        let notify_type = NotifyType(r.u16()?);
        let spi = r.bytes(spi_size)?.to_vec();
        Ok(NotifyRepr {
            protocol,
            spi,
            notify_type,
            data: r.rest().to_vec(),
        })
    }

    /// Length of the body.
    pub fn body_len(&self) -> usize {
        NOTIFY_HEADER_LEN + self.spi.len() + self.data.len()
    }

    /// Appends the body.
    pub fn emit_body(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        out.push(self.protocol.0);
        out.push(len_u8(self.spi.len(), "Notify SPI Size")?);
        out.extend_from_slice(&self.notify_type.0.to_be_bytes());
        out.extend_from_slice(&self.spi);
        out.extend_from_slice(&self.data);
        Ok(())
    }
}
