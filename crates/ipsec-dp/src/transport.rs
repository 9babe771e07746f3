//! Transport mode payload: a UDP datagram carried in ESP with Next Header 17
//! (RFC 4303 §3.1.1).

use std::net::IpAddr;

use crate::consts::{IPPROTO_UDP, UDP_HEADER_LEN};
use crate::error::UdpError;

/// A parsed UDP datagram (RFC 768), borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdpView<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// The Checksum field as received (not verified by [`parse_udp`]).
    pub checksum: u16,
    /// The data after the 8-octet header, as long as the Length field says.
    pub payload: &'a [u8],
}

/// Writes an RFC 768 UDP header and `payload` into `out`, with the checksum
/// computed over the pseudo-header (RFC 768 for IPv4; RFC 8200 §8.1 for
/// IPv6), and returns the datagram length. A computed checksum of 0 is sent
/// as 0xFFFF (RFC 768; RFC 8200 §8.1 forbids 0 over IPv6).
pub fn write_udp(
    src_port: u16,
    dst_port: u16,
    src_ip: IpAddr,
    dst_ip: IpAddr,
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize, UdpError> {
    let total = payload
        .len()
        .checked_add(UDP_HEADER_LEN)
        .ok_or(UdpError::TooLong)?;
    let len16 = u16::try_from(total).map_err(|_| UdpError::TooLong)?;
    if matches!(
        (src_ip, dst_ip),
        (IpAddr::V4(_), IpAddr::V6(_)) | (IpAddr::V6(_), IpAddr::V4(_))
    ) {
        return Err(UdpError::AddressFamilyMismatch);
    }
    let out = out.get_mut(..total).ok_or(UdpError::BufferTooSmall)?;
    let (header, data) = out
        .split_first_chunk_mut::<UDP_HEADER_LEN>()
        .ok_or(UdpError::BufferTooSmall)?;
    header[0..2].copy_from_slice(&src_port.to_be_bytes());
    header[2..4].copy_from_slice(&dst_port.to_be_bytes());
    header[4..6].copy_from_slice(&len16.to_be_bytes());
    header[6..8].copy_from_slice(&[0, 0]);
    data.copy_from_slice(payload);
    let sum = checksum(src_ip, dst_ip, out);
    let sum = if sum == 0 { 0xFFFF } else { sum };
    if let Some(c) = out.get_mut(6..8) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    Ok(total)
}

/// Parses a UDP datagram: checks that the Length field (RFC 768) covers at
/// least the header and no more than `bytes`; octets beyond it are ignored.
///
/// The checksum is not verified: inside ESP the ICV already authenticates
/// every octet of the datagram, and behind a NAT the pseudo-header addresses
/// no longer match what the sender summed (RFC 3948 §3.1.2 has the
/// transport-mode receiver fix up or recompute TCP/UDP checksums rather
/// than trust them). Use [`verify_udp_checksum`] where a check is wanted.
pub fn parse_udp(bytes: &[u8]) -> Result<UdpView<'_>, UdpError> {
    let (header, _) = bytes
        .split_first_chunk::<UDP_HEADER_LEN>()
        .ok_or(UdpError::Truncated)?;
    let [s0, s1, d0, d1, l0, l1, c0, c1] = *header;
    let field = u16::from_be_bytes([l0, l1]);
    let len = usize::from(field);
    if len < UDP_HEADER_LEN || len > bytes.len() {
        return Err(UdpError::BadLength {
            field,
            available: bytes.len(),
        });
    }
    let payload = bytes.get(UDP_HEADER_LEN..len).ok_or(UdpError::Truncated)?;
    Ok(UdpView {
        src_port: u16::from_be_bytes([s0, s1]),
        dst_port: u16::from_be_bytes([d0, d1]),
        checksum: u16::from_be_bytes([c0, c1]),
        payload,
    })
}

/// Verifies the checksum of the UDP datagram `datagram` (exactly the
/// datagram, header included) between `src_ip` and `dst_ip`. A zero
/// checksum means "none" over IPv4 (RFC 768) and is accepted there; over
/// IPv6 it is invalid (RFC 8200 §8.1).
pub fn verify_udp_checksum(src_ip: IpAddr, dst_ip: IpAddr, datagram: &[u8]) -> bool {
    let Some(header) = datagram.first_chunk::<UDP_HEADER_LEN>() else {
        return false;
    };
    if matches!((src_ip, dst_ip), (IpAddr::V4(_), IpAddr::V4(_))) && datagram.len() > 0xFFFF {
        return false;
    }
    if header[6] == 0 && header[7] == 0 {
        return matches!((src_ip, dst_ip), (IpAddr::V4(_), IpAddr::V4(_)));
    }
    match (src_ip, dst_ip) {
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => {
            checksum(src_ip, dst_ip, datagram) == 0
        }
        _ => false,
    }
}

/// Ones'-complement checksum over the pseudo-header and `datagram` (with its
/// checksum field as it is). Returns the value to put in the field (so 0
/// when verifying a correct datagram).
fn checksum(src: IpAddr, dst: IpAddr, datagram: &[u8]) -> u16 {
    let mut acc = Sum::default();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            // RFC 768: src (4) | dst (4) | zero (1) | protocol (1) | UDP length (2)
            acc.add(&s.octets());
            acc.add(&d.octets());
            acc.add(&[0, IPPROTO_UDP]);
            acc.add(&(datagram.len() as u16).to_be_bytes());
        }
        _ => {
            // RFC 8200 §8.1: src (16) | dst (16) | upper-layer length (4) |
            // zero (3) | next header (1)
            acc.add(&v6_octets(src));
            acc.add(&v6_octets(dst));
            acc.add(&(datagram.len() as u32).to_be_bytes());
            acc.add(&[0, 0, 0, IPPROTO_UDP]);
        }
    }
    acc.add(datagram);
    acc.finish()
}

fn v6_octets(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V6(a) => a.octets(),
        IpAddr::V4(a) => a.to_ipv6_mapped().octets(),
    }
}

/// RFC 1071 ones'-complement sum of 16-bit big-endian words. Every chunk
/// given to `add` except the last must have an even length.
#[derive(Default)]
struct Sum(u64);

impl Sum {
    fn add(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            if let [a, b] = c {
                self.0 += u64::from(u16::from_be_bytes([*a, *b]));
            }
        }
        if let [last] = chunks.remainder() {
            self.0 += u64::from(u16::from_be_bytes([*last, 0]));
        }
    }

    fn finish(self) -> u16 {
        let mut s = self.0;
        while s >> 16 != 0 {
            s = (s & 0xFFFF) + (s >> 16);
        }
        !(s as u16)
    }
}
