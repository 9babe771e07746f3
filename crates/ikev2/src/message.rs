//! A whole IKE message (RFC 7296 §3): the header followed by the payload
//! chain its Next Payload field starts.

use crate::consts::{ExchangeType, NotifyType, PayloadType, IKE_HEADER_LEN, IKE_MAJOR_VERSION};
use crate::error::{EmitError, ParseError};
use crate::header::{Header, HeaderRepr};
use crate::payload::{
    chain_first, chain_len, emit_chain, parse_chain, KeRepr, NonceRepr, NotifyRepr, Payload,
    PayloadIter, SaRepr,
};

/// A zero-copy view of a received datagram as one IKE message: the header
/// is checked (28 octets, major version 2, Length equal to the datagram)
/// and the chain can be walked with [`MessageView::payloads`].
#[derive(Debug, Clone, Copy)]
pub struct MessageView<'a> {
    header: Header<&'a [u8]>,
}

impl<'a> MessageView<'a> {
    /// Checks the header of `datagram` (the UDP payload, after the non-ESP
    /// marker on port 4500). RFC 7296 §3.1: Length is the "length of the
    /// total message (header + payloads) in octets"; a datagram with other
    /// octets after it is malformed.
    pub fn new_checked(datagram: &'a [u8]) -> Result<Self, ParseError> {
        let header = Header::new_checked(datagram)?;
        if header.major_version() != IKE_MAJOR_VERSION {
            return Err(ParseError::UnsupportedMajorVersion(header.major_version()));
        }
        if header.length() as usize != datagram.len() {
            return Err(ParseError::BadLength {
                what: "IKE message Length",
                length: header.length() as usize,
                available: datagram.len(),
            });
        }
        Ok(MessageView { header })
    }

    /// The header.
    pub fn header(&self) -> &Header<&'a [u8]> {
        &self.header
    }

    /// A walk over the payload chain.
    pub fn payloads(&self) -> PayloadIter<'a> {
        let buf: &'a [u8] = self.header.into_inner();
        PayloadIter::new(
            self.header.next_payload(),
            buf.get(IKE_HEADER_LEN..).unwrap_or(&[]),
        )
    }
}

/// A parsed IKE message: header and the payloads this crate understands, in
/// order (unknown non-critical payloads skipped, RFC 7296 §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRepr {
    /// The header; `next_payload` and `length` are recomputed on emit.
    pub header: HeaderRepr,
    /// The payloads; an SK or SKF payload, if any, is last.
    pub payloads: Vec<Payload>,
}

impl MessageRepr {
    /// Parses a whole datagram: [`MessageView::new_checked`], then every
    /// payload of the chain.
    pub fn parse(datagram: &[u8]) -> Result<Self, ParseError> {
        let view = MessageView::new_checked(datagram)?;
        let header = HeaderRepr::parse(datagram)?;
        let payloads = parse_chain(view.header().next_payload(), view.header().payload())?;
        Ok(MessageRepr { header, payloads })
    }

    /// Length on the wire.
    pub fn buffer_len(&self) -> usize {
        IKE_HEADER_LEN + chain_len(&self.payloads)
    }

    /// Appends the message, computing the header's Next Payload and Length
    /// and every payload's Next Payload and Payload Length.
    pub fn emit_into(&self, out: &mut Vec<u8>) -> Result<(), EmitError> {
        let start = out.len();
        self.header
            .emit(chain_first(&self.payloads), self.buffer_len(), out)?;
        emit_chain(&self.payloads, out)?;
        debug_assert_eq!(out.len() - start, self.buffer_len());
        Ok(())
    }

    /// The message as a new buffer.
    pub fn emit(&self) -> Result<Vec<u8>, EmitError> {
        let mut out = Vec::with_capacity(self.buffer_len());
        self.emit_into(&mut out)?;
        Ok(out)
    }

    /// The exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        self.header.exchange_type
    }

    /// The types of the payloads, in order.
    pub fn payload_types(&self) -> Vec<PayloadType> {
        self.payloads.iter().map(Payload::payload_type).collect()
    }

    /// The first SA payload.
    pub fn sa(&self) -> Option<&SaRepr> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Sa(x) => Some(x),
            _ => None,
        })
    }

    /// The first KE payload.
    pub fn ke(&self) -> Option<&KeRepr> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Ke(x) => Some(x),
            _ => None,
        })
    }

    /// The first Nonce payload.
    pub fn nonce(&self) -> Option<&NonceRepr> {
        self.payloads.iter().find_map(|p| match p {
            Payload::Nonce(x) => Some(x),
            _ => None,
        })
    }

    /// Every Notify payload.
    pub fn notifies(&self) -> impl Iterator<Item = &NotifyRepr> {
        self.payloads.iter().filter_map(|p| match p {
            Payload::Notify(x) => Some(x),
            _ => None,
        })
    }

    /// The first notification of type `t`.
    pub fn notify(&self, t: NotifyType) -> Option<&NotifyRepr> {
        self.notifies().find(|n| n.notify_type == t)
    }
}
