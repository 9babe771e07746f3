//! A filter on what the inbound half delivers to the TUN device.
//!
//! RFC 4301 §5.2 decides by selectors (addresses, protocol, ports) whether
//! an opened packet may pass on the SA it came on. A Resource Server in
//! transparent mode must decide more: whether the access token bound to
//! that SA pair covers the CoAP request inside (draft §3.3). The inbound
//! half hands each packet that passed the SPD check to an
//! [`InboundFilter`], which lets it through, answers it in place (the
//! answer leaves over the same SA pair, [`crate::Output::Answer`]), or
//! refuses it (counted under the filter's reason).

use ipsec_dp::spd::SaRef;

/// What a filter decides about one opened packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Write it to the TUN device.
    Deliver,
    /// Do not deliver; the filter wrote an IP packet of `len` octets at the
    /// start of the buffer, to be protected with the outbound SA of the
    /// pair the packet came on.
    Answer { len: usize },
    /// Do not deliver; counted under this reason.
    Refuse(&'static str),
}

/// Decides about each packet the inbound half would deliver.
pub trait InboundFilter {
    /// `buf[..len]` is the opened IP packet that arrived on `sa` and passed
    /// the inbound SPD check; all of `buf` may be overwritten with an
    /// answer. Peer input: must not panic.
    fn check(&mut self, sa: SaRef, buf: &mut [u8], len: usize) -> Verdict;
}

/// Delivers everything (the SPD check alone decides).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFilter;

impl InboundFilter for NoFilter {
    fn check(&mut self, _sa: SaRef, _buf: &mut [u8], _len: usize) -> Verdict {
        Verdict::Deliver
    }
}
