//! IPv4 (RFC 791) and IPv6 (RFC 8200) packets: zero-copy views, parsed
//! representations, emitters and the RFC 1071 checksums, in the smoltcp
//! shape (`Packet<T: AsRef<[u8]>>` view, `Repr`, `parse` / `emit`).
//!
//! - [`Ipv4Packet`] / [`Ipv4Repr`]: RFC 791 §3.1 header, options allowed
//!   (kept as bytes), header checksum verified and computed. Fragments are
//!   refused with [`IpError::Fragment`]: IPsec runs on whole datagrams
//!   (RFC 4301 §7, RFC 4302 §3.4.1, RFC 4303 §3.4.1).
//! - [`Ipv6Packet`] / [`Ipv6Repr`]: RFC 8200 §3 header; [`Ipv6ExtHeaders`]
//!   walks Hop-by-Hop (§4.3), Routing (§4.4) and Destination Options (§4.6)
//!   headers and stops at any other Next Header (ESP, AH, UDP, TCP, ICMPv6,
//!   No Next Header, ...); a Fragment header (§4.5) is an error.
//! - [`IpPacket`]: either family, validated, with the upper-layer protocol,
//!   ports and ICMP type/code the SPD selects on.
//! - [`Checksum`], [`transport_checksum`], [`fill_transport_checksum`],
//!   [`verify_transport_checksum`]: the Internet checksum with the RFC 768 /
//!   RFC 793 / RFC 8200 §8.1 pseudo-headers.
//!
//! Accessors of an unchecked view never panic: a field outside the buffer
//! reads as zero and a write outside it is ignored. Use `new_checked` (or
//! [`IpPacket::parse`]) on peer input.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use thiserror::Error;

use crate::consts::{IPPROTO_TCP, IPPROTO_UDP};

// ---------------------------------------------------------------------------
// Wire constants.
// ---------------------------------------------------------------------------

/// RFC 791 §3.1: Version field of an IPv4 header.
pub const IPV4_VERSION: u8 = 4;
/// RFC 8200 §3: Version field of an IPv6 header.
pub const IPV6_VERSION: u8 = 6;
/// RFC 791 §3.1: the header without options is 5 words (20 octets).
pub const IPV4_MIN_HEADER_LEN: usize = 20;
/// RFC 791 §3.1: IHL is 4 bits of 32-bit words, so at most 60 octets.
pub const IPV4_MAX_HEADER_LEN: usize = 60;
/// RFC 8200 §3: the fixed IPv6 header is 40 octets.
pub const IPV6_HEADER_LEN: usize = 40;
/// RFC 791 §3.1: Total Length is 16 bits; RFC 8200 §3: so is Payload Length
/// (jumbograms, RFC 2675, are not supported).
pub const IP_MAX_LEN: usize = 0xFFFF;
/// RFC 791 §3.1 Flags: bit 1, Don't Fragment.
pub const IPV4_FLAG_DF: u16 = 0x4000;
/// RFC 791 §3.1 Flags: bit 2, More Fragments.
pub const IPV4_FLAG_MF: u16 = 0x2000;
/// RFC 791 §3.1: Fragment Offset is the low 13 bits of the flags word.
pub const IPV4_FRAG_OFFSET_MASK: u16 = 0x1FFF;
/// The TTL / Hop Limit this crate gives packets it constructs: 64, the value
/// IANA's "IP Parameters" registry recommends (RFC 1700 "Assigned Numbers";
/// RFC 1122 §3.2.1.7 requires a configurable, sufficiently large default).
pub const DEFAULT_TTL: u8 = 64;

/// IANA protocol number 1: ICMP for IPv4 (RFC 792).
pub const IPPROTO_ICMP: u8 = 1;
/// IANA protocol number 0: IPv6 Hop-by-Hop Options header (RFC 8200 §4.3).
pub const IPPROTO_HOPOPTS: u8 = 0;
/// IANA protocol number 43: IPv6 Routing header (RFC 8200 §4.4).
pub const IPPROTO_ROUTING: u8 = 43;
/// IANA protocol number 44: IPv6 Fragment header (RFC 8200 §4.5).
pub const IPPROTO_FRAGMENT: u8 = 44;
/// IANA protocol number 58: ICMPv6 (RFC 4443).
pub const IPPROTO_ICMPV6: u8 = 58;
/// IANA protocol number 60: IPv6 Destination Options header (RFC 8200 §4.6).
pub const IPPROTO_DSTOPTS: u8 = 60;
/// IANA protocol number 132: SCTP (RFC 9260), which carries ports like TCP/UDP.
pub const IPPROTO_SCTP: u8 = 132;

/// RFC 793 §3.1: offset of the TCP Checksum field.
pub const TCP_CHECKSUM_OFFSET: usize = 16;
/// RFC 793 §3.1: the TCP header without options is 20 octets.
pub const TCP_MIN_HEADER_LEN: usize = 20;
/// RFC 768: offset of the UDP Checksum field.
pub const UDP_CHECKSUM_OFFSET: usize = 6;
/// RFC 4443 §2.1: offset of the ICMPv6 Checksum field.
pub const ICMPV6_CHECKSUM_OFFSET: usize = 2;

/// RFC 3168 §5: the two-bit ECN field of the IPv4 TOS / IPv6 Traffic Class.
pub const ECN_MASK: u8 = 0b11;
/// RFC 3168 §5: Not-ECT, not an ECN-capable transport.
pub const ECN_NOT_ECT: u8 = 0b00;
/// RFC 3168 §5: ECT(1).
pub const ECN_ECT1: u8 = 0b01;
/// RFC 3168 §5: ECT(0).
pub const ECN_ECT0: u8 = 0b10;
/// RFC 3168 §5: CE, Congestion Experienced.
pub const ECN_CE: u8 = 0b11;

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

/// Why bytes are not an acceptable IP packet, or why one cannot be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Error)]
pub enum IpError {
    /// Shorter than the fixed header (20 octets for IPv4, 40 for IPv6) or
    /// than the header its own fields announce.
    #[error("IP packet truncated")]
    Truncated,
    /// The Version field is neither 4 nor 6, or not the one expected.
    #[error("IP version {0}")]
    BadVersion(u8),
    /// RFC 791 §3.1: IHL below 5 words.
    #[error("IPv4 header length field {0} below 5")]
    BadHeaderLength(u8),
    /// RFC 791 §3.1 Total Length (or RFC 8200 §3 Payload Length + 40) is
    /// shorter than the header or longer than the bytes received.
    #[error("IP length field {field} does not fit {available} bytes")]
    BadLength {
        /// Packet length the header claims.
        field: usize,
        /// Bytes available.
        available: usize,
    },
    /// RFC 791 §3.1: the header checksum does not verify.
    #[error("IPv4 header checksum mismatch")]
    BadChecksum,
    /// RFC 791 §3.2 / RFC 8200 §4.5: a fragment (MF set, a non-zero Fragment
    /// Offset, or an IPv6 Fragment header). IPsec processes whole datagrams;
    /// reassembly belongs to the IP layer in front of this one.
    #[error("IP fragment")]
    Fragment,
    /// RFC 8200 §4: an extension header runs past the end of the payload.
    #[error("IPv6 extension header truncated")]
    ExtensionHeaderTruncated,
    /// RFC 8200 §4.3: a Hop-by-Hop Options header anywhere but first.
    #[error("IPv6 Hop-by-Hop Options header not first")]
    HopByHopNotFirst,
    /// The output buffer is too small.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
    /// The packet would exceed 65535 octets (the 16-bit length fields).
    #[error("IP packet too long")]
    TooLong,
    /// Source and destination addresses of different families.
    #[error("source and destination address families differ")]
    AddressFamilyMismatch,
}

impl IpError {
    /// Stable snake_case label, for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            IpError::Truncated => "ip_truncated",
            IpError::BadVersion(_) => "ip_bad_version",
            IpError::BadHeaderLength(_) => "ip_bad_header_length",
            IpError::BadLength { .. } => "ip_bad_length",
            IpError::BadChecksum => "ip_bad_checksum",
            IpError::Fragment => "ip_fragment",
            IpError::ExtensionHeaderTruncated => "ip_ext_header_truncated",
            IpError::HopByHopNotFirst => "ip_hop_by_hop_not_first",
            IpError::BufferTooSmall { .. } => "ip_buffer_too_small",
            IpError::TooLong => "ip_too_long",
            IpError::AddressFamilyMismatch => "ip_family_mismatch",
        }
    }
}

// ---------------------------------------------------------------------------
// Byte helpers that never panic.
// ---------------------------------------------------------------------------

pub(crate) fn get8(b: &[u8], at: usize) -> u8 {
    b.get(at).copied().unwrap_or(0)
}

pub(crate) fn get16(b: &[u8], at: usize) -> u16 {
    match b.get(at..at.saturating_add(2)) {
        Some(&[x, y]) => u16::from_be_bytes([x, y]),
        _ => 0,
    }
}

pub(crate) fn get32(b: &[u8], at: usize) -> u32 {
    b.get(at..at.saturating_add(4))
        .and_then(|s| <[u8; 4]>::try_from(s).ok())
        .map_or(0, u32::from_be_bytes)
}

fn get_array<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b.get(at..at.saturating_add(N))
        .and_then(|s| <[u8; N]>::try_from(s).ok())
        .unwrap_or([0; N])
}

pub(crate) fn put8(b: &mut [u8], at: usize, v: u8) {
    if let Some(x) = b.get_mut(at) {
        *x = v;
    }
}

pub(crate) fn put16(b: &mut [u8], at: usize, v: u16) {
    put_bytes(b, at, &v.to_be_bytes());
}

pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
    put_bytes(b, at, &v.to_be_bytes());
}

pub(crate) fn put_bytes(b: &mut [u8], at: usize, v: &[u8]) {
    if let Some(x) = b.get_mut(at..at.saturating_add(v.len())) {
        x.copy_from_slice(v);
    }
}

// ---------------------------------------------------------------------------
// RFC 1071 Internet checksum.
// ---------------------------------------------------------------------------

/// RFC 1071 ones'-complement sum of 16-bit big-endian words, fed in pieces
/// of any length (an odd piece pairs its last octet with the next piece's
/// first, as if the pieces were one buffer).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checksum {
    sum: u64,
    pending: Option<u8>,
}

impl Checksum {
    /// An empty sum.
    pub const fn new() -> Self {
        Checksum {
            sum: 0,
            pending: None,
        }
    }

    /// Adds `bytes` to the sum.
    pub fn add(&mut self, mut bytes: &[u8]) {
        if let Some(hi) = self.pending.take() {
            match bytes.split_first() {
                Some((&lo, rest)) => {
                    self.sum += u64::from(u16::from_be_bytes([hi, lo]));
                    bytes = rest;
                }
                None => {
                    self.pending = Some(hi);
                    return;
                }
            }
        }
        let mut chunks = bytes.chunks_exact(2);
        for c in &mut chunks {
            if let [a, b] = c {
                self.sum += u64::from(u16::from_be_bytes([*a, *b]));
            }
        }
        if let [last] = chunks.remainder() {
            self.pending = Some(*last);
        }
    }

    /// Adds one 16-bit word.
    pub fn add_u16(&mut self, v: u16) {
        self.add(&v.to_be_bytes());
    }

    /// The folded ones'-complement sum (not yet complemented).
    pub fn folded(&self) -> u16 {
        let mut s = self.sum;
        if let Some(hi) = self.pending {
            s += u64::from(u16::from_be_bytes([hi, 0]));
        }
        while s >> 16 != 0 {
            s = (s & 0xFFFF) + (s >> 16);
        }
        s as u16
    }

    /// The checksum: the ones' complement of the sum. Over data whose
    /// checksum field holds a correct value, this is 0.
    pub fn finish(&self) -> u16 {
        !self.folded()
    }
}

/// RFC 791 §3.1: the header checksum of `header` (with whatever its checksum
/// field holds: 0 to compute, the received value to verify, which then gives 0).
pub fn ipv4_header_checksum(header: &[u8]) -> u16 {
    let mut c = Checksum::new();
    c.add(header);
    c.finish()
}

/// The pseudo-header sum for an upper-layer segment of `len` octets:
/// RFC 768 / RFC 793 §3.1 for IPv4 (src | dst | zero | protocol | length),
/// RFC 8200 §8.1 for IPv6 (src | dst | 32-bit length | zero | next header).
pub fn pseudo_header(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    len: usize,
) -> Result<Checksum, IpError> {
    let mut c = Checksum::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(len).map_err(|_| IpError::TooLong)?;
            c.add(&s.octets());
            c.add(&d.octets());
            c.add(&[0, protocol]);
            c.add_u16(len);
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u32::try_from(len).map_err(|_| IpError::TooLong)?;
            c.add(&s.octets());
            c.add(&d.octets());
            c.add(&len.to_be_bytes());
            c.add(&[0, 0, 0, protocol]);
        }
        _ => return Err(IpError::AddressFamilyMismatch),
    }
    Ok(c)
}

/// The checksum over the pseudo-header and `segment` (with its checksum
/// field as it is): the value to store when the field is zero, or 0 when
/// verifying a correct segment.
pub fn transport_checksum(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    segment: &[u8],
) -> Result<u16, IpError> {
    let mut c = pseudo_header(src, dst, protocol, segment.len())?;
    c.add(segment);
    Ok(c.finish())
}

/// Offset of the checksum field of the protocols whose checksum covers a
/// pseudo-header with the IP addresses (TCP, UDP, ICMPv6), or `None`.
pub const fn pseudo_header_checksum_offset(protocol: u8) -> Option<usize> {
    match protocol {
        IPPROTO_TCP => Some(TCP_CHECKSUM_OFFSET),
        IPPROTO_UDP => Some(UDP_CHECKSUM_OFFSET),
        IPPROTO_ICMPV6 => Some(ICMPV6_CHECKSUM_OFFSET),
        _ => None,
    }
}

/// Recomputes the checksum of a TCP, UDP or ICMPv6 `segment` for the
/// addresses `src` / `dst` and stores it. A computed UDP checksum of 0 is
/// sent as 0xFFFF (RFC 768; RFC 8200 §8.1). Other protocols are left
/// untouched. Errors if the segment is too short to hold its header.
pub fn fill_transport_checksum(
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    segment: &mut [u8],
) -> Result<(), IpError> {
    let Some(at) = pseudo_header_checksum_offset(protocol) else {
        return Ok(());
    };
    let min = match protocol {
        IPPROTO_TCP => TCP_MIN_HEADER_LEN,
        IPPROTO_UDP => crate::consts::UDP_HEADER_LEN,
        _ => at + 2,
    };
    if segment.len() < min {
        return Err(IpError::Truncated);
    }
    put16(segment, at, 0);
    let mut sum = transport_checksum(src, dst, protocol, segment)?;
    if sum == 0 && protocol == IPPROTO_UDP {
        sum = 0xFFFF;
    }
    put16(segment, at, sum);
    Ok(())
}

/// Verifies the checksum of a TCP, UDP or ICMPv6 `segment` between `src`
/// and `dst`. A UDP checksum of 0 means "none" over IPv4 (RFC 768) and is
/// invalid over IPv6 (RFC 8200 §8.1). Other protocols: `true`.
pub fn verify_transport_checksum(src: IpAddr, dst: IpAddr, protocol: u8, segment: &[u8]) -> bool {
    let Some(at) = pseudo_header_checksum_offset(protocol) else {
        return true;
    };
    if segment.len() < at + 2 {
        return false;
    }
    if protocol == IPPROTO_UDP && get16(segment, at) == 0 {
        return matches!((src, dst), (IpAddr::V4(_), IpAddr::V4(_)));
    }
    transport_checksum(src, dst, protocol, segment) == Ok(0)
}

// ---------------------------------------------------------------------------
// IPv4 (RFC 791 §3.1).
// ---------------------------------------------------------------------------

mod v4_field {
    //! RFC 791 §3.1 header layout (octet offsets).
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: usize = 2;
    pub const IDENT: usize = 4;
    pub const FLAGS_FRAG: usize = 6;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: usize = 10;
    pub const SRC: usize = 12;
    pub const DST: usize = 16;
}

/// A read/write view of an IPv4 packet (RFC 791 §3.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps `buffer` without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv4Packet { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, IpError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the accessors see a consistent packet: version 4, IHL ≥ 5,
    /// the header fits, and `header length ≤ Total Length ≤ buffer length`.
    /// Bytes after Total Length (link-layer padding) are ignored by
    /// [`payload`](Self::payload).
    pub fn check_len(&self) -> Result<(), IpError> {
        let b = self.buffer.as_ref();
        if b.len() < IPV4_MIN_HEADER_LEN {
            return Err(IpError::Truncated);
        }
        if self.version() != IPV4_VERSION {
            return Err(IpError::BadVersion(self.version()));
        }
        let ihl = get8(b, v4_field::VER_IHL) & 0x0F;
        if ihl < 5 {
            return Err(IpError::BadHeaderLength(ihl));
        }
        let hl = self.header_len();
        if b.len() < hl {
            return Err(IpError::Truncated);
        }
        let total = usize::from(self.total_len());
        if total < hl || total > b.len() {
            return Err(IpError::BadLength {
                field: total,
                available: b.len(),
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The Version field.
    pub fn version(&self) -> u8 {
        get8(self.buffer.as_ref(), v4_field::VER_IHL) >> 4
    }

    /// Header length in octets (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(get8(self.buffer.as_ref(), v4_field::VER_IHL) & 0x0F) * 4
    }

    /// The former TOS octet: DSCP (RFC 2474) and ECN (RFC 3168).
    pub fn tos(&self) -> u8 {
        get8(self.buffer.as_ref(), v4_field::TOS)
    }

    /// RFC 2474: the Differentiated Services Code Point (6 bits).
    pub fn dscp(&self) -> u8 {
        self.tos() >> 2
    }

    /// RFC 3168: the ECN field (2 bits).
    pub fn ecn(&self) -> u8 {
        self.tos() & ECN_MASK
    }

    /// Total Length: header and data, in octets.
    pub fn total_len(&self) -> u16 {
        get16(self.buffer.as_ref(), v4_field::LENGTH)
    }

    /// Identification.
    pub fn ident(&self) -> u16 {
        get16(self.buffer.as_ref(), v4_field::IDENT)
    }

    /// Flags and Fragment Offset as one word.
    pub fn flags_frag(&self) -> u16 {
        get16(self.buffer.as_ref(), v4_field::FLAGS_FRAG)
    }

    /// Don't Fragment.
    pub fn dont_frag(&self) -> bool {
        self.flags_frag() & IPV4_FLAG_DF != 0
    }

    /// More Fragments.
    pub fn more_frags(&self) -> bool {
        self.flags_frag() & IPV4_FLAG_MF != 0
    }

    /// Fragment Offset, in 8-octet units.
    pub fn frag_offset(&self) -> u16 {
        self.flags_frag() & IPV4_FRAG_OFFSET_MASK
    }

    /// RFC 791 §3.2: a fragment has MF set or a non-zero offset.
    pub fn is_fragment(&self) -> bool {
        self.more_frags() || self.frag_offset() != 0
    }

    /// Time to Live.
    pub fn ttl(&self) -> u8 {
        get8(self.buffer.as_ref(), v4_field::TTL)
    }

    /// Protocol (the next header).
    pub fn protocol(&self) -> u8 {
        get8(self.buffer.as_ref(), v4_field::PROTOCOL)
    }

    /// Header Checksum as received.
    pub fn checksum(&self) -> u16 {
        get16(self.buffer.as_ref(), v4_field::CHECKSUM)
    }

    /// Source Address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.buffer.as_ref(), v4_field::SRC))
    }

    /// Destination Address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_array::<4>(self.buffer.as_ref(), v4_field::DST))
    }

    /// The whole header, options included.
    pub fn header(&self) -> &[u8] {
        let b = self.buffer.as_ref();
        b.get(..self.header_len()).unwrap_or(b)
    }

    /// The options (between the 20-octet header and IHL × 4).
    pub fn options(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(IPV4_MIN_HEADER_LEN..self.header_len())
            .unwrap_or(&[])
    }

    /// The data after the header, up to Total Length.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.header_len()..usize::from(self.total_len()))
            .unwrap_or(&[])
    }

    /// RFC 791 §3.1: does the header checksum verify?
    pub fn verify_checksum(&self) -> bool {
        self.buffer
            .as_ref()
            .get(..self.header_len())
            .is_some_and(|h| ipv4_header_checksum(h) == 0)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets Version 4 and IHL for a header of `header_len` octets (a
    /// multiple of 4 between 20 and 60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        let ihl = (header_len / 4).min(15) as u8;
        put8(
            self.buffer.as_mut(),
            v4_field::VER_IHL,
            (IPV4_VERSION << 4) | ihl,
        );
    }

    /// Sets the TOS octet (DSCP and ECN).
    pub fn set_tos(&mut self, tos: u8) {
        put8(self.buffer.as_mut(), v4_field::TOS, tos);
    }

    /// Sets Total Length.
    pub fn set_total_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), v4_field::LENGTH, len);
    }

    /// Sets Identification.
    pub fn set_ident(&mut self, ident: u16) {
        put16(self.buffer.as_mut(), v4_field::IDENT, ident);
    }

    /// Sets Flags and Fragment Offset as one word.
    pub fn set_flags_frag(&mut self, v: u16) {
        put16(self.buffer.as_mut(), v4_field::FLAGS_FRAG, v);
    }

    /// Sets Time to Live.
    pub fn set_ttl(&mut self, ttl: u8) {
        put8(self.buffer.as_mut(), v4_field::TTL, ttl);
    }

    /// Sets Protocol.
    pub fn set_protocol(&mut self, protocol: u8) {
        put8(self.buffer.as_mut(), v4_field::PROTOCOL, protocol);
    }

    /// Sets Header Checksum.
    pub fn set_checksum(&mut self, checksum: u16) {
        put16(self.buffer.as_mut(), v4_field::CHECKSUM, checksum);
    }

    /// Sets Source Address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        put_bytes(self.buffer.as_mut(), v4_field::SRC, &a.octets());
    }

    /// Sets Destination Address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        put_bytes(self.buffer.as_mut(), v4_field::DST, &a.octets());
    }

    /// Computes and stores the header checksum (RFC 791 §3.1).
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let hl = self.header_len();
        let sum = self
            .buffer
            .as_ref()
            .get(..hl)
            .map_or(0, ipv4_header_checksum);
        self.set_checksum(sum);
    }

    /// The data after the header, up to Total Length, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (hl, total) = (self.header_len(), usize::from(self.total_len()));
        self.buffer.as_mut().get_mut(hl..total).unwrap_or(&mut [])
    }
}

/// The meaning of an IPv4 header without options (RFC 791 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source Address.
    pub src_addr: Ipv4Addr,
    /// Destination Address.
    pub dst_addr: Ipv4Addr,
    /// Protocol.
    pub protocol: u8,
    /// Octets after the header.
    pub payload_len: usize,
    /// Time to Live.
    pub ttl: u8,
    /// RFC 2474 DSCP (6 bits).
    pub dscp: u8,
    /// RFC 3168 ECN (2 bits).
    pub ecn: u8,
    /// Identification.
    pub ident: u16,
    /// Don't Fragment.
    pub dont_frag: bool,
}

impl Ipv4Repr {
    /// Parses a checked view: verifies the header checksum and refuses
    /// fragments. Options are accepted (and not represented).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv4Packet<T>) -> Result<Self, IpError> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(IpError::BadChecksum);
        }
        if packet.is_fragment() {
            return Err(IpError::Fragment);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()).saturating_sub(packet.header_len()),
            ttl: packet.ttl(),
            dscp: packet.dscp(),
            ecn: packet.ecn(),
            ident: packet.ident(),
            dont_frag: packet.dont_frag(),
        })
    }

    /// Length of the emitted header (no options): 20.
    pub const fn header_len(&self) -> usize {
        IPV4_MIN_HEADER_LEN
    }

    /// Length of the whole packet.
    pub const fn buffer_len(&self) -> usize {
        IPV4_MIN_HEADER_LEN + self.payload_len
    }

    /// Writes the 20-octet header (checksum included) into the first 20
    /// octets of `buf`; the payload is the caller's.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), IpError> {
        let total = self.buffer_len();
        let total16 = u16::try_from(total).map_err(|_| IpError::TooLong)?;
        let available = buf.len();
        let header = buf
            .get_mut(..IPV4_MIN_HEADER_LEN)
            .ok_or(IpError::BufferTooSmall {
                needed: IPV4_MIN_HEADER_LEN,
                available,
            })?;
        let mut p = Ipv4Packet::new_unchecked(header);
        p.set_version_and_header_len(IPV4_MIN_HEADER_LEN);
        p.set_tos((self.dscp << 2) | (self.ecn & ECN_MASK));
        p.set_total_len(total16);
        p.set_ident(self.ident);
        p.set_flags_frag(if self.dont_frag { IPV4_FLAG_DF } else { 0 });
        p.set_ttl(self.ttl);
        p.set_protocol(self.protocol);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        p.fill_checksum();
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// IPv6 (RFC 8200 §3).
// ---------------------------------------------------------------------------

mod v6_field {
    //! RFC 8200 §3 header layout (octet offsets).
    pub const VER_TC_FLOW: usize = 0;
    pub const PAYLOAD_LEN: usize = 4;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: usize = 8;
    pub const DST: usize = 24;
}

/// RFC 8200 §3: the Flow Label is the low 20 bits of the first word.
pub const IPV6_FLOW_LABEL_MASK: u32 = 0x000F_FFFF;

/// A read/write view of an IPv6 packet (RFC 8200 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv6Packet<T> {
    /// Wraps `buffer` without any check.
    pub const fn new_unchecked(buffer: T) -> Self {
        Ipv6Packet { buffer }
    }

    /// Wraps `buffer` after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Self, IpError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks version 6, the 40-octet header, and `40 + Payload Length ≤
    /// buffer length` (bytes beyond are ignored).
    pub fn check_len(&self) -> Result<(), IpError> {
        let b = self.buffer.as_ref();
        if b.len() < IPV6_HEADER_LEN {
            return Err(IpError::Truncated);
        }
        if self.version() != IPV6_VERSION {
            return Err(IpError::BadVersion(self.version()));
        }
        let total = self.total_len();
        if total > b.len() {
            return Err(IpError::BadLength {
                field: total,
                available: b.len(),
            });
        }
        Ok(())
    }

    /// The underlying buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn first_word(&self) -> u32 {
        get32(self.buffer.as_ref(), v6_field::VER_TC_FLOW)
    }

    /// The Version field.
    pub fn version(&self) -> u8 {
        (self.first_word() >> 28) as u8
    }

    /// Traffic Class: DSCP (RFC 2474) and ECN (RFC 3168).
    pub fn traffic_class(&self) -> u8 {
        (self.first_word() >> 20) as u8
    }

    /// RFC 2474 DSCP (6 bits).
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// RFC 3168 ECN (2 bits).
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & ECN_MASK
    }

    /// Flow Label (RFC 6437), 20 bits.
    pub fn flow_label(&self) -> u32 {
        self.first_word() & IPV6_FLOW_LABEL_MASK
    }

    /// Payload Length: octets after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        get16(self.buffer.as_ref(), v6_field::PAYLOAD_LEN)
    }

    /// 40 + Payload Length.
    pub fn total_len(&self) -> usize {
        IPV6_HEADER_LEN + usize::from(self.payload_len())
    }

    /// Next Header of the fixed header.
    pub fn next_header(&self) -> u8 {
        get8(self.buffer.as_ref(), v6_field::NEXT_HEADER)
    }

    /// Hop Limit.
    pub fn hop_limit(&self) -> u8 {
        get8(self.buffer.as_ref(), v6_field::HOP_LIMIT)
    }

    /// Source Address.
    pub fn src_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_array::<16>(self.buffer.as_ref(), v6_field::SRC))
    }

    /// Destination Address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        Ipv6Addr::from(get_array::<16>(self.buffer.as_ref(), v6_field::DST))
    }

    /// The octets after the fixed header, up to Payload Length.
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(IPV6_HEADER_LEN..self.total_len())
            .unwrap_or(&[])
    }

    /// The extension headers after the fixed header (see [`Ipv6ExtHeaders`]).
    pub fn ext_headers(&self) -> Ipv6ExtHeaders<'_> {
        Ipv6ExtHeaders::new(self.buffer.as_ref().get(..self.total_len()).unwrap_or(&[]))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv6Packet<T> {
    /// Sets Version 6, Traffic Class and Flow Label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = (u32::from(IPV6_VERSION) << 28)
            | (u32::from(traffic_class) << 20)
            | (flow_label & IPV6_FLOW_LABEL_MASK);
        put32(self.buffer.as_mut(), v6_field::VER_TC_FLOW, w);
    }

    /// Sets Traffic Class, keeping Version and Flow Label.
    pub fn set_traffic_class(&mut self, traffic_class: u8) {
        let fl = self.flow_label();
        self.set_version_tc_flow(traffic_class, fl);
    }

    /// Sets Payload Length.
    pub fn set_payload_len(&mut self, len: u16) {
        put16(self.buffer.as_mut(), v6_field::PAYLOAD_LEN, len);
    }

    /// Sets Next Header of the fixed header.
    pub fn set_next_header(&mut self, nh: u8) {
        put8(self.buffer.as_mut(), v6_field::NEXT_HEADER, nh);
    }

    /// Sets Hop Limit.
    pub fn set_hop_limit(&mut self, hl: u8) {
        put8(self.buffer.as_mut(), v6_field::HOP_LIMIT, hl);
    }

    /// Sets Source Address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        put_bytes(self.buffer.as_mut(), v6_field::SRC, &a.octets());
    }

    /// Sets Destination Address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        put_bytes(self.buffer.as_mut(), v6_field::DST, &a.octets());
    }
}

/// The meaning of an IPv6 fixed header (RFC 8200 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source Address.
    pub src_addr: Ipv6Addr,
    /// Destination Address.
    pub dst_addr: Ipv6Addr,
    /// Next Header of the fixed header.
    pub next_header: u8,
    /// Payload Length (extension headers included).
    pub payload_len: usize,
    /// Hop Limit.
    pub hop_limit: u8,
    /// Traffic Class (DSCP << 2 | ECN).
    pub traffic_class: u8,
    /// Flow Label (20 bits).
    pub flow_label: u32,
}

impl Ipv6Repr {
    /// Parses a view (length and version checked).
    pub fn parse<T: AsRef<[u8]>>(packet: &Ipv6Packet<T>) -> Result<Self, IpError> {
        packet.check_len()?;
        Ok(Ipv6Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            next_header: packet.next_header(),
            payload_len: usize::from(packet.payload_len()),
            hop_limit: packet.hop_limit(),
            traffic_class: packet.traffic_class(),
            flow_label: packet.flow_label(),
        })
    }

    /// Length of the fixed header: 40.
    pub const fn header_len(&self) -> usize {
        IPV6_HEADER_LEN
    }

    /// Length of the whole packet.
    pub const fn buffer_len(&self) -> usize {
        IPV6_HEADER_LEN + self.payload_len
    }

    /// Writes the 40-octet fixed header into the first 40 octets of `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), IpError> {
        let plen = u16::try_from(self.payload_len).map_err(|_| IpError::TooLong)?;
        let available = buf.len();
        let header = buf
            .get_mut(..IPV6_HEADER_LEN)
            .ok_or(IpError::BufferTooSmall {
                needed: IPV6_HEADER_LEN,
                available,
            })?;
        let mut p = Ipv6Packet::new_unchecked(header);
        p.set_version_tc_flow(self.traffic_class, self.flow_label);
        p.set_payload_len(plen);
        p.set_next_header(self.next_header);
        p.set_hop_limit(self.hop_limit);
        p.set_src_addr(self.src_addr);
        p.set_dst_addr(self.dst_addr);
        Ok(())
    }
}

/// One IPv6 extension header found by [`Ipv6ExtHeaders`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6ExtHeader {
    /// Its type: the Next Header value that announced it (0, 43 or 60).
    pub kind: u8,
    /// Offset of its first octet from the start of the IPv6 packet.
    pub offset: usize,
    /// Its length in octets ((Hdr Ext Len + 1) × 8, RFC 8200 §4.3/§4.4/§4.6).
    pub len: usize,
    /// Its Next Header field.
    pub next_header: u8,
}

/// Where the extension-header chain of an IPv6 packet ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6ChainEnd {
    /// The Next Header value after the last extension header walked (the
    /// upper-layer protocol, or ESP / AH / No Next Header / unknown).
    pub protocol: u8,
    /// Offset of the header `protocol` names (= length of the IPv6 header
    /// plus the extension headers walked).
    pub offset: usize,
    /// Offset of the octet holding `protocol` (6 for the fixed header, else
    /// the first octet of the last extension header).
    pub next_header_field: usize,
}

/// Iterator over the Hop-by-Hop (RFC 8200 §4.3), Routing (§4.4) and
/// Destination Options (§4.6) headers of an IPv6 packet. It stops (returns
/// `None`) at any other Next Header, and yields an error for a truncated
/// header, a Hop-by-Hop header that is not first, or a Fragment header.
///
/// Every header is at least 8 octets, so the walk is linear in the packet
/// length and needs no allocation.
#[derive(Debug, Clone)]
pub struct Ipv6ExtHeaders<'a> {
    packet: &'a [u8],
    offset: usize,
    next: u8,
    next_field: usize,
    done: bool,
}

impl<'a> Ipv6ExtHeaders<'a> {
    /// Walks `packet` (fixed header first, up to 40 + Payload Length).
    pub fn new(packet: &'a [u8]) -> Self {
        Ipv6ExtHeaders {
            packet,
            offset: IPV6_HEADER_LEN,
            next: get8(packet, v6_field::NEXT_HEADER),
            next_field: v6_field::NEXT_HEADER,
            done: packet.len() < IPV6_HEADER_LEN,
        }
    }

    /// Where the walk stands: after iteration finished without error, the
    /// end of the chain.
    pub fn end(&self) -> Ipv6ChainEnd {
        Ipv6ChainEnd {
            protocol: self.next,
            offset: self.offset,
            next_header_field: self.next_field,
        }
    }

    /// Walks the whole chain and returns its end.
    pub fn walk_to_end(mut self) -> Result<Ipv6ChainEnd, IpError> {
        for h in self.by_ref() {
            h?;
        }
        Ok(self.end())
    }
}

impl Iterator for Ipv6ExtHeaders<'_> {
    type Item = Result<Ipv6ExtHeader, IpError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next {
            IPPROTO_HOPOPTS | IPPROTO_ROUTING | IPPROTO_DSTOPTS => {}
            IPPROTO_FRAGMENT => {
                self.done = true;
                return Some(Err(IpError::Fragment));
            }
            _ => {
                self.done = true;
                return None;
            }
        }
        if self.next == IPPROTO_HOPOPTS && self.offset != IPV6_HEADER_LEN {
            self.done = true;
            return Some(Err(IpError::HopByHopNotFirst));
        }
        let at = self.offset;
        let (Some(&nh), Some(&ext_len)) = (self.packet.get(at), self.packet.get(at + 1)) else {
            self.done = true;
            return Some(Err(IpError::ExtensionHeaderTruncated));
        };
        let len = (usize::from(ext_len) + 1) * 8;
        if at + len > self.packet.len() {
            self.done = true;
            return Some(Err(IpError::ExtensionHeaderTruncated));
        }
        let h = Ipv6ExtHeader {
            kind: self.next,
            offset: at,
            len,
            next_header: nh,
        };
        self.next = nh;
        self.next_field = at;
        self.offset = at + len;
        Some(Ok(h))
    }
}

/// RFC 4303 §3.1.1 / RFC 4302 §3.1.1: where ESP or AH goes in an IPv6
/// packet in transport mode. The RFCs put it after the Hop-by-Hop, Routing
/// and Fragment headers and let Destination Options sit before or after;
/// like Linux (`ip6_find_1stfragopt`) and scapy, this puts it after
/// Hop-by-Hop, Routing, and Destination Options headers, except that a
/// Destination Options header *after* a Routing header (options for the
/// final destination only) stays behind ESP/AH.
///
/// Returns the chain end at that point: `protocol` is the Next Header that
/// ESP/AH will carry, `offset` where ESP/AH goes, `next_header_field` the
/// octet to set to 50/51.
pub fn ipv6_ipsec_split(packet: &[u8]) -> Result<Ipv6ChainEnd, IpError> {
    let headers = Ipv6ExtHeaders::new(packet);
    let mut cur = headers.end();
    let mut routing_seen = false;
    for h in headers {
        let h = h?;
        if h.kind == IPPROTO_DSTOPTS && routing_seen {
            break;
        }
        routing_seen |= h.kind == IPPROTO_ROUTING;
        cur = Ipv6ChainEnd {
            protocol: h.next_header,
            offset: h.offset + h.len,
            next_header_field: h.offset,
        };
    }
    Ok(cur)
}

// ---------------------------------------------------------------------------
// Either family.
// ---------------------------------------------------------------------------

/// IP version of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpVersion {
    /// IPv4 (RFC 791).
    V4,
    /// IPv6 (RFC 8200).
    V6,
}

impl IpVersion {
    /// The version of the packet starting with `first_octet`.
    pub const fn of(first_octet: u8) -> Result<Self, IpError> {
        match first_octet >> 4 {
            IPV4_VERSION => Ok(IpVersion::V4),
            IPV6_VERSION => Ok(IpVersion::V6),
            v => Err(IpError::BadVersion(v)),
        }
    }

    /// The family of an address.
    pub const fn of_addr(a: &IpAddr) -> Self {
        match a {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }

    /// The ESP Next Header / IPv4 Protocol value of a packet of this version
    /// carried inside another (RFC 4303 §3.1.2): 4 or 41.
    pub const fn encapsulation_protocol(self) -> u8 {
        match self {
            IpVersion::V4 => crate::consts::IPPROTO_IPV4,
            IpVersion::V6 => crate::consts::IPPROTO_IPV6,
        }
    }
}

/// A validated IPv4 or IPv6 packet, borrowed: the header checks of
/// [`Ipv4Packet::check_len`] / [`Ipv6Packet::check_len`], the IPv4 header
/// checksum, no fragment, and the IPv6 extension headers walked to the
/// upper-layer protocol. What the SPD selects on (RFC 4301 §4.4.1.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpPacket<'a> {
    bytes: &'a [u8],
    version: IpVersion,
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    upper_offset: usize,
    next_header_field: usize,
}

impl<'a> IpPacket<'a> {
    /// Parses and validates `bytes` (trailing octets after the packet's own
    /// length are cut off).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, IpError> {
        let first = *bytes.first().ok_or(IpError::Truncated)?;
        match IpVersion::of(first)? {
            IpVersion::V4 => {
                let p = Ipv4Packet::new_checked(bytes)?;
                let _ = Ipv4Repr::parse(&p)?;
                let bytes = bytes
                    .get(..usize::from(p.total_len()))
                    .ok_or(IpError::Truncated)?;
                Ok(IpPacket {
                    bytes,
                    version: IpVersion::V4,
                    src: IpAddr::V4(p.src_addr()),
                    dst: IpAddr::V4(p.dst_addr()),
                    protocol: p.protocol(),
                    upper_offset: p.header_len(),
                    next_header_field: v4_field::PROTOCOL,
                })
            }
            IpVersion::V6 => {
                let p = Ipv6Packet::new_checked(bytes)?;
                let bytes = bytes.get(..p.total_len()).ok_or(IpError::Truncated)?;
                let end = p.ext_headers().walk_to_end()?;
                Ok(IpPacket {
                    bytes,
                    version: IpVersion::V6,
                    src: IpAddr::V6(p.src_addr()),
                    dst: IpAddr::V6(p.dst_addr()),
                    protocol: end.protocol,
                    upper_offset: end.offset,
                    next_header_field: end.next_header_field,
                })
            }
        }
    }

    /// The packet's octets (exactly its length).
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Its length.
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Never true for a parsed packet; for clippy's `len_without_is_empty`.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// IPv4 or IPv6.
    pub fn version(&self) -> IpVersion {
        self.version
    }

    /// Source address.
    pub fn src(&self) -> IpAddr {
        self.src
    }

    /// Destination address.
    pub fn dst(&self) -> IpAddr {
        self.dst
    }

    /// The upper-layer protocol: IPv4 Protocol, or the Next Header after
    /// the IPv6 extension headers (RFC 4301 §4.4.1.1 "Next Layer Protocol").
    pub fn protocol(&self) -> u8 {
        self.protocol
    }

    /// Length of the IP header including IPv6 extension headers (offset of
    /// the upper-layer header).
    pub fn header_len(&self) -> usize {
        self.upper_offset
    }

    /// The IP header including IPv6 extension headers.
    pub fn header(&self) -> &'a [u8] {
        self.bytes.get(..self.upper_offset).unwrap_or(&[])
    }

    /// Offset of the octet that holds [`protocol`](Self::protocol).
    pub fn next_header_field(&self) -> usize {
        self.next_header_field
    }

    /// The upper-layer data (e.g. the UDP datagram).
    pub fn payload(&self) -> &'a [u8] {
        self.bytes.get(self.upper_offset..).unwrap_or(&[])
    }

    /// TTL (IPv4) or Hop Limit (IPv6).
    pub fn hop_limit(&self) -> u8 {
        match self.version {
            IpVersion::V4 => Ipv4Packet::new_unchecked(self.bytes).ttl(),
            IpVersion::V6 => Ipv6Packet::new_unchecked(self.bytes).hop_limit(),
        }
    }

    /// DSCP (6 bits).
    pub fn dscp(&self) -> u8 {
        self.traffic_class() >> 2
    }

    /// ECN (2 bits).
    pub fn ecn(&self) -> u8 {
        self.traffic_class() & ECN_MASK
    }

    /// IPv4 TOS octet or IPv6 Traffic Class.
    pub fn traffic_class(&self) -> u8 {
        match self.version {
            IpVersion::V4 => Ipv4Packet::new_unchecked(self.bytes).tos(),
            IpVersion::V6 => Ipv6Packet::new_unchecked(self.bytes).traffic_class(),
        }
    }

    /// Source and destination port of a TCP, UDP or SCTP packet whose
    /// payload holds at least the two port fields; `None` otherwise.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match self.protocol {
            IPPROTO_TCP | IPPROTO_UDP | IPPROTO_SCTP => {
                let p = self.payload();
                (p.len() >= 4).then(|| (get16(p, 0), get16(p, 2)))
            }
            _ => None,
        }
    }

    /// ICMP (for IPv4) or ICMPv6 (for IPv6) message type and code; `None`
    /// for other protocols or a payload shorter than two octets.
    pub fn icmp_type_code(&self) -> Option<(u8, u8)> {
        let icmp = match self.version {
            IpVersion::V4 => IPPROTO_ICMP,
            IpVersion::V6 => IPPROTO_ICMPV6,
        };
        if self.protocol != icmp {
            return None;
        }
        match self.payload() {
            [t, c, ..] => Some((*t, *c)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1071 §3 example: the ones'-complement sum of
    /// 00 01 f2 03 f4 f5 f6 f7 is ddf2.
    #[test]
    fn rfc1071_example_sum() {
        let mut c = Checksum::new();
        c.add(&[0x00, 0x01, 0xf2]);
        c.add(&[0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
        assert_eq!(c.folded(), 0xddf2);
        assert_eq!(c.finish(), !0xddf2);
    }

    #[test]
    fn accessors_on_short_buffers_read_zero() {
        let p = Ipv4Packet::new_unchecked(&[0x45u8][..]);
        assert_eq!(p.total_len(), 0);
        assert_eq!(p.src_addr(), Ipv4Addr::UNSPECIFIED);
        assert!(p.payload().is_empty());
        let q = Ipv6Packet::new_unchecked(&[][..]);
        assert_eq!(q.dst_addr(), Ipv6Addr::UNSPECIFIED);
    }
}
