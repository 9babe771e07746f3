//! RFC 3948: what arrives on UDP port 4500.
//!
//! The UDP payload on the NAT-T port is one of (RFC 3948 §2):
//! - an ESP packet, whose first four octets are the (non-zero) SPI (§2.1);
//! - an IKE message behind the 4-octet zero Non-ESP Marker (§2.2);
//! - a NAT-keepalive, the single octet 0xFF (§2.3).

use crate::consts::{ESP_HEADER_LEN, NAT_KEEPALIVE, NON_ESP_MARKER};
use crate::error::EncapError;

/// The classified content of a UDP datagram received on port 4500.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Classified<'a> {
    /// RFC 3948 §2.1: an ESP packet (the whole UDP payload, SPI first).
    Esp(&'a [u8]),
    /// RFC 3948 §2.2: an IKE message (the bytes after the Non-ESP Marker).
    Ike(&'a [u8]),
    /// RFC 3948 §2.3: a NAT-keepalive; the receiver ignores it.
    Keepalive,
}

/// Classifies the UDP payload `datagram` (the bytes after the UDP header)
/// of a datagram received on the NAT-T port.
///
/// A 1-octet datagram is a keepalive only if it is 0xFF; anything else
/// shorter than an ESP header (8 octets) or a bare Non-ESP Marker is
/// [`EncapError::Truncated`].
pub fn classify(datagram: &[u8]) -> Result<Classified<'_>, EncapError> {
    match datagram {
        [] => Err(EncapError::Empty),
        [NAT_KEEPALIVE] => Ok(Classified::Keepalive),
        _ => match datagram.split_first_chunk::<4>() {
            Some((marker, ike)) if *marker == NON_ESP_MARKER => {
                if ike.is_empty() {
                    Err(EncapError::Truncated)
                } else {
                    Ok(Classified::Ike(ike))
                }
            }
            Some(_) if datagram.len() >= ESP_HEADER_LEN => Ok(Classified::Esp(datagram)),
            _ => Err(EncapError::Truncated),
        },
    }
}

/// RFC 3948 §2.2: writes the Non-ESP Marker followed by `ike` into `out`,
/// returning the length, or `None` if `out` is too small.
pub fn write_ike(ike: &[u8], out: &mut [u8]) -> Option<usize> {
    let total = ike.len().checked_add(NON_ESP_MARKER.len())?;
    let (marker, rest) = out.get_mut(..total)?.split_first_chunk_mut::<4>()?;
    *marker = NON_ESP_MARKER;
    rest.copy_from_slice(ike);
    Some(total)
}

/// RFC 3948 §2.3: the NAT-keepalive payload.
pub const fn keepalive() -> [u8; 1] {
    [NAT_KEEPALIVE]
}
