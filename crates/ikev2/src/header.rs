//! RFC 7296 §3.1: the IKE header.
//!
//! ```text
//!                      1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Initiator's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IKE SA Responder's SPI                  |
//! |                                                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Payload | MjVer | MnVer | Exchange Type |     Flags     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                          Message ID                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                            Length                             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use crate::consts::{
    ExchangeType, PayloadType, FLAG_INITIATOR, FLAG_RESPONSE, FLAG_VERSION, IKE_HEADER_LEN,
    IKE_MAJOR_VERSION, IKE_MINOR_VERSION, IKE_SPI_LEN,
};
use crate::error::{EmitError, ParseError};

/// An IKE SA Security Parameter Index (RFC 7296 §2.6): eight octets chosen
/// by each end; the responder's is zero in the first IKE_SA_INIT request.
pub type IkeSpi = [u8; IKE_SPI_LEN];

/// A zero-copy view of the IKE header at the front of `buffer`.
#[derive(Debug, Clone, Copy)]
pub struct Header<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Header<T> {
    /// Wraps `buffer` after checking that it holds the 28 header octets and
    /// that the Length field covers at least the header and at most the
    /// buffer (RFC 7296 §3.1). The version is not checked here; see
    /// [`HeaderRepr::parse`].
    pub fn new_checked(buffer: T) -> Result<Self, ParseError> {
        let have = buffer.as_ref().len();
        if have < IKE_HEADER_LEN {
            return Err(ParseError::Truncated {
                what: "IKE header",
                need: IKE_HEADER_LEN,
                have,
            });
        }
        let h = Header { buffer };
        let length = h.length() as usize;
        if length < IKE_HEADER_LEN || length > have {
            return Err(ParseError::BadLength {
                what: "IKE header",
                length,
                available: have,
            });
        }
        Ok(h)
    }

    fn field<const N: usize>(&self, at: usize) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buffer.as_ref().get(at..at + N) {
            out.copy_from_slice(src);
        }
        out
    }

    /// IKE SA Initiator's SPI.
    pub fn spi_i(&self) -> IkeSpi {
        self.field::<8>(0)
    }
    /// IKE SA Responder's SPI.
    pub fn spi_r(&self) -> IkeSpi {
        self.field::<8>(8)
    }
    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.field::<1>(16)[0])
    }
    /// Major version (high nibble).
    pub fn major_version(&self) -> u8 {
        self.field::<1>(17)[0] >> 4
    }
    /// Minor version (low nibble).
    pub fn minor_version(&self) -> u8 {
        self.field::<1>(17)[0] & 0x0f
    }
    /// Exchange Type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.field::<1>(18)[0])
    }
    /// Flags octet.
    pub fn flags(&self) -> u8 {
        self.field::<1>(19)[0]
    }
    /// Message ID.
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.field::<4>(20))
    }
    /// Length of the whole message, header included.
    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.field::<4>(24))
    }
    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The octets after the header up to Length: the payload chain.
    pub fn payload(&self) -> &[u8] {
        let len = self.length() as usize;
        self.buffer.as_ref().get(IKE_HEADER_LEN..len).unwrap_or(&[])
    }
}

/// The meaning of an IKE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderRepr {
    /// IKE SA Initiator's SPI.
    pub spi_i: IkeSpi,
    /// IKE SA Responder's SPI (zero in the first IKE_SA_INIT request).
    pub spi_r: IkeSpi,
    /// Type of the first payload (set by the message emitter from the chain).
    pub next_payload: PayloadType,
    /// Exchange Type.
    pub exchange_type: ExchangeType,
    /// I flag: sent by the original initiator of the IKE SA.
    pub initiator: bool,
    /// R flag: this message is a response.
    pub response: bool,
    /// V flag: the sender speaks a higher major version (always false when
    /// this crate sends).
    pub version_flag: bool,
    /// Message ID (RFC 7296 §2.2).
    pub message_id: u32,
    /// Length of the whole message (computed by the emitter).
    pub length: u32,
}

impl HeaderRepr {
    /// Parses the header at the front of `buf` (RFC 7296 §3.1). The major
    /// version must be 2 (a higher one is answered with
    /// INVALID_MAJOR_VERSION); the minor version and the reserved flag bits
    /// are ignored, as §3.1 requires.
    pub fn parse(buf: &[u8]) -> Result<Self, ParseError> {
        let h = Header::new_checked(buf)?;
        if h.major_version() != IKE_MAJOR_VERSION {
            return Err(ParseError::UnsupportedMajorVersion(h.major_version()));
        }
        let flags = h.flags();
        Ok(HeaderRepr {
            spi_i: h.spi_i(),
            spi_r: h.spi_r(),
            next_payload: h.next_payload(),
            exchange_type: h.exchange_type(),
            initiator: flags & FLAG_INITIATOR != 0,
            response: flags & FLAG_RESPONSE != 0,
            version_flag: flags & FLAG_VERSION != 0,
            message_id: h.message_id(),
            length: h.length(),
        })
    }

    /// The flags octet.
    pub fn flags(&self) -> u8 {
        (if self.initiator { FLAG_INITIATOR } else { 0 })
            | (if self.response { FLAG_RESPONSE } else { 0 })
            | (if self.version_flag { FLAG_VERSION } else { 0 })
    }

    /// Appends the 28 header octets with `next_payload` and `length` as
    /// given (the message emitter fills both from the chain).
    pub fn emit(
        &self,
        next_payload: PayloadType,
        length: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), EmitError> {
        let length = u32::try_from(length).map_err(|_| EmitError::TooLong {
            what: "IKE message length",
            len: length,
        })?;
        out.extend_from_slice(&self.spi_i);
        out.extend_from_slice(&self.spi_r);
        out.push(next_payload.0);
        out.push((IKE_MAJOR_VERSION << 4) | IKE_MINOR_VERSION);
        out.push(self.exchange_type.0);
        out.push(self.flags());
        out.extend_from_slice(&self.message_id.to_be_bytes());
        out.extend_from_slice(&length.to_be_bytes());
        Ok(())
    }
}
