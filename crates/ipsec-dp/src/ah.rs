//! The IP Authentication Header (RFC 4302) with HMAC-SHA-256-128
//! (RFC 4868), transport and tunnel mode, raw IP only (AH covers the IP
//! addresses, so it cannot cross a NAT and has no UDP encapsulation,
//! RFC 3948 §1).
//!
//! ```text
//! RFC 4302 §2:  | Next Header (1) | Payload Len (1) | RESERVED (2)       |
//!               | Security Parameters Index (4)                         |
//!               | Sequence Number (4)                                   |
//!               | ICV (16 for HMAC-SHA-256-128) | padding to 4 / 8 octets |
//! ```
//!
//! The ICV (RFC 4302 §3.3.3) is computed over the IP header with the
//! mutable fields zeroed (§3.3.3.1: IPv4 TOS, flags, fragment offset, TTL,
//! header checksum and the mutable options of Appendix A.1; IPv6 traffic
//! class, flow label, hop limit and the data of options whose "may change"
//! bit is set, Appendix A.2), the AH header with the ICV field zeroed (its
//! padding included as sent), and everything after AH. The bytes are fed
//! to HMAC piece by piece: nothing is copied or allocated.
//!
//! Not supported (a typed error rather than a wrong ICV): IPv4 loose/strict
//! source route options and IPv6 Routing headers with Segments Left ≠ 0
//! (their "mutable but predictable" destination would have to be
//! reordered), ESN.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::consts::{IPPROTO_AH, IPPROTO_IPV4, IPPROTO_IPV6, SPI_RESERVED_IANA_MAX};
use crate::error::{DropCounters, DropReason};
use crate::ip::{
    get32, get8, ipv6_ipsec_split, put16, put32, put8, IpError, IpPacket, IpVersion, Ipv4Packet,
    Ipv4Repr, Ipv6Packet, Ipv6Repr, ECN_MASK, IPPROTO_DSTOPTS, IPPROTO_HOPOPTS, IPPROTO_ROUTING,
    IPV4_MIN_HEADER_LEN, IPV4_VERSION, IPV6_HEADER_LEN, IPV6_VERSION, IP_MAX_LEN,
};
use crate::mode::{ecn_decapsulate, TunnelConfig};
use crate::replay::{ReplayError, ReplayWindow};

// ---------------------------------------------------------------------------
// Wire constants.
// ---------------------------------------------------------------------------

/// RFC 4302 §2: Next Header | Payload Len | Reserved | SPI | Sequence Number.
pub const AH_FIXED_LEN: usize = 12;
/// RFC 4868 §2.3: AUTH_HMAC_SHA2_256_128 truncates the HMAC output to 128 bits.
pub const AH_ICV_LEN: usize = 16;
/// RFC 4868 §2.1.1: AUTH_HMAC_SHA2_256_128 uses a 256-bit key.
pub const AH_KEY_LEN: usize = 32;
/// RFC 4302 §2.6 / §3.3.3.2.1: over IPv4 the AH header is a multiple of 32 bits.
pub const AH_ALIGN_IPV4: usize = 4;
/// RFC 4302 §2.6 / §3.3.3.2.1: over IPv6 it is a multiple of 64 bits.
pub const AH_ALIGN_IPV6: usize = 8;
/// RFC 4302 §2.2: Payload Len = AH length in 32-bit words minus 2.
pub const AH_PAYLOAD_LEN_BIAS: usize = 2;
/// RFC 4302 §3.3.2: without ESN the counter MUST NOT cycle; 2^32-1 is the last.
pub const AH_SEQ_MAX: u32 = u32::MAX;

/// RFC 791 §3.1: option type End of Option List (single octet).
pub const IPV4_OPT_EOL: u8 = 0;
/// RFC 791 §3.1: option type No Operation (single octet).
pub const IPV4_OPT_NOP: u8 = 1;
/// RFC 791 §3.1: option type Loose Source and Record Route (copy, class 0, #3).
pub const IPV4_OPT_LSRR: u8 = 0x83;
/// RFC 791 §3.1: option type Strict Source and Record Route (copy, class 0, #9).
pub const IPV4_OPT_SSRR: u8 = 0x89;
/// RFC 791 §3.1: the option number is the low 5 bits of the type octet.
pub const IPV4_OPT_NUMBER_MASK: u8 = 0x1F;
/// RFC 4302 Appendix A.1, "IMMUTABLE -- included in ICV calculation": End of
/// Options List (0), No Operation (1), Security (2), Extended Security (5),
/// Commercial Security (6), Router Alert (20), Sender Directed
/// Multi-Destination Delivery (21), by option number. Every other option is
/// zeroed whole (type and length included).
pub const IPV4_IMMUTABLE_OPTION_NUMBERS: [u8; 7] = [0, 1, 2, 5, 6, 20, 21];
/// RFC 8200 §4.2: option type Pad1 (a single octet, no length).
pub const IPV6_OPT_PAD1: u8 = 0;
/// RFC 8200 §4.2: the third-highest bit of an option type says its data
/// may change en route; RFC 4302 §3.3.3.1.2.2 zeroes such data.
pub const IPV6_OPT_MAY_CHANGE: u8 = 0x20;
/// RFC 8200 §4.4: offset of Segments Left in a Routing header.
pub const IPV6_ROUTING_SEGMENTS_LEFT_OFFSET: usize = 3;

mod field {
    //! RFC 4302 §2 offsets inside the AH header.
    pub const NEXT_HEADER: usize = 0;
    pub const PAYLOAD_LEN: usize = 1;
    pub const RESERVED: usize = 2;
    pub const SPI: usize = 4;
    pub const SEQ: usize = 8;
    pub const ICV: usize = 12;
}

/// Length of the AH header (ICV and padding included) for a packet family.
pub const fn ah_len(version: IpVersion) -> usize {
    let align = match version {
        IpVersion::V4 => AH_ALIGN_IPV4,
        IpVersion::V6 => AH_ALIGN_IPV6,
    };
    (AH_FIXED_LEN + AH_ICV_LEN).div_ceil(align) * align
}

// ---------------------------------------------------------------------------
// Errors.
// ---------------------------------------------------------------------------

/// Why an AH SA cannot be built.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AhSaError {
    /// RFC 4868 §2.1.1: the key must be 32 octets.
    #[error("HMAC-SHA-256-128 key must be {AH_KEY_LEN} bytes, got {0}")]
    BadKeyLength(usize),
    /// RFC 4302 §2.4: SPIs 0..=255 are reserved.
    #[error("SPI {0:#010x} is reserved")]
    ReservedSpi(u32),
}

/// Why a packet could not be AH-protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AhProtectError {
    /// The packet to protect is not an acceptable IP packet.
    #[error("packet to protect: {0}")]
    Ip(#[from] IpError),
    /// RFC 4301 §4.4.2.1: the SA's lifetime has run out.
    #[error("SA expired")]
    Expired,
    /// RFC 4302 §3.3.2: sequence number 2^32-1 was used.
    #[error("sequence number space exhausted")]
    SequenceExhausted,
    /// An IPv4 source route option or an IPv6 Routing header with segments
    /// left (see the module documentation), or a malformed option.
    #[error("unsupported or malformed IP option for AH")]
    UnsupportedOption,
    /// `out` is too small.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// The result would exceed 65535 octets.
    #[error("protected packet too long")]
    TooLong,
    /// The tunnel endpoints are of different families.
    #[error("tunnel endpoints of different address families")]
    EndpointFamilyMismatch,
}

/// Why a received AH packet was dropped (RFC 4302 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AhDrop {
    /// The IP packet is malformed (including fragments, RFC 4302 §3.4.1).
    #[error("IP: {0}")]
    Ip(IpError),
    /// The protocol after the IP header (and IPv6 extension headers) is not AH.
    #[error("not AH: protocol {0}")]
    NotAh(u8),
    /// The AH header runs past the packet.
    #[error("AH header truncated")]
    Truncated,
    /// RFC 4302 §2.2: Payload Len does not give this SA's AH length for the
    /// packet's IP version.
    #[error("AH payload length field {0} does not fit HMAC-SHA-256-128")]
    BadPayloadLength(u8),
    /// SA-level drop: unknown SPI, sequence number 0, replay, too old,
    /// expired, ICV mismatch (RFC 4302 §3.4.2 - §3.4.4).
    #[error("{0}")]
    Sa(DropReason),
    /// See [`AhProtectError::UnsupportedOption`].
    #[error("unsupported or malformed IP option for AH")]
    UnsupportedOption,
    /// AH Next Header does not fit the mode (4 / 41 in transport mode,
    /// anything else in tunnel mode).
    #[error("unexpected AH next header {0}")]
    UnexpectedNextHeader(u8),
    /// Tunnel mode: the inner packet is malformed or of the wrong family.
    #[error("inner packet: {0}")]
    Inner(IpError),
    /// RFC 6040 §4.2: CE outer on Not-ECT inner.
    #[error("CE-marked outer header on a Not-ECT inner packet")]
    EcnDrop,
    /// `out` is too small.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}

impl AhDrop {
    /// Stable snake_case label, for metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AhDrop::Ip(e) => e.as_str(),
            AhDrop::NotAh(_) => "not_ah",
            AhDrop::Truncated => "ah_truncated",
            AhDrop::BadPayloadLength(_) => "ah_bad_payload_length",
            AhDrop::Sa(r) => r.as_str(),
            AhDrop::UnsupportedOption => "ah_unsupported_option",
            AhDrop::UnexpectedNextHeader(_) => "unexpected_next_header",
            AhDrop::Inner(_) => "inner_malformed",
            AhDrop::EcnDrop => "ecn_drop",
            AhDrop::BufferTooSmall { .. } => "buffer_too_small",
        }
    }
}

// ---------------------------------------------------------------------------
// Keys and the ICV.
// ---------------------------------------------------------------------------

/// An AUTH_HMAC_SHA2_256_128 key (RFC 4868 §2.1.1: 32 octets), wiped on
/// drop and never printed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AhKey {
    key: [u8; AH_KEY_LEN],
}

impl AhKey {
    /// Takes exactly 32 octets.
    pub fn new(key: &[u8]) -> Result<Self, AhSaError> {
        let key: [u8; AH_KEY_LEN] = key
            .try_into()
            .map_err(|_| AhSaError::BadKeyLength(key.len()))?;
        Ok(AhKey { key })
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC takes keys of any length (RFC 2104 §2); this never fails,
        // and an empty-key MAC on the impossible error path would only make
        // verification fail.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.key)
            .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()))
    }
}

impl core::fmt::Debug for AhKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AhKey(<redacted>)")
    }
}

/// RFC 4868 §2.3: HMAC-SHA-256 truncated to its first 128 bits.
pub fn hmac_sha256_128(key: &AhKey, data: &[&[u8]]) -> [u8; AH_ICV_LEN] {
    let mut mac = key.mac();
    for d in data {
        mac.update(d);
    }
    truncate(mac)
}

fn truncate(mac: Hmac<Sha256>) -> [u8; AH_ICV_LEN] {
    let full = mac.finalize().into_bytes();
    let mut icv = [0u8; AH_ICV_LEN];
    if let Some(head) = full.get(..AH_ICV_LEN) {
        icv.copy_from_slice(head);
    }
    icv
}

const ZEROS: [u8; 64] = [0; 64];

fn update_zeros(mac: &mut Hmac<Sha256>, mut n: usize) {
    while n > 0 {
        let k = n.min(ZEROS.len());
        mac.update(ZEROS.get(..k).unwrap_or(&[]));
        n -= k;
    }
}

fn slice(b: &[u8], from: usize, to: usize) -> Result<&[u8], AhDrop> {
    b.get(from..to).ok_or(AhDrop::Truncated)
}

/// RFC 4302 §3.3.3.1.1: feeds an IPv4 header (`hdr` = IHL × 4 octets) with
/// TOS, flags + fragment offset, TTL and checksum zeroed and the mutable
/// options (Appendix A.1) zeroed whole.
fn feed_ipv4_header(mac: &mut Hmac<Sha256>, hdr: &[u8]) -> Result<(), AhDrop> {
    // Version/IHL | TOS=0 | Total Length | Identification | Flags+Offset=0 |
    // TTL=0 | Protocol | Checksum=0 | Source | Destination
    mac.update(&[get8(hdr, 0), 0]);
    mac.update(slice(hdr, 2, 6)?);
    mac.update(&[0, 0, 0, get8(hdr, 9), 0, 0]);
    mac.update(slice(hdr, 12, IPV4_MIN_HEADER_LEN)?);
    let opts = hdr.get(IPV4_MIN_HEADER_LEN..).unwrap_or(&[]);
    let mut i = 0;
    while i < opts.len() {
        let ty = get8(opts, i);
        if ty == IPV4_OPT_EOL {
            // RFC 791: the end of the options; what follows is padding.
            mac.update(opts.get(i..).unwrap_or(&[]));
            break;
        }
        if ty == IPV4_OPT_NOP {
            mac.update(&[ty]);
            i += 1;
            continue;
        }
        let len = usize::from(get8(opts, i + 1));
        if len < 2 || i + len > opts.len() {
            return Err(AhDrop::UnsupportedOption);
        }
        if ty == IPV4_OPT_LSRR || ty == IPV4_OPT_SSRR {
            return Err(AhDrop::UnsupportedOption);
        }
        if IPV4_IMMUTABLE_OPTION_NUMBERS.contains(&(ty & IPV4_OPT_NUMBER_MASK)) {
            mac.update(slice(opts, i, i + len)?);
        } else {
            update_zeros(mac, len);
        }
        i += len;
    }
    Ok(())
}

/// RFC 8200 §4.2 TLV options of a Hop-by-Hop or Destination Options header
/// (`h` = the whole header): RFC 4302 §3.3.3.1.2.2 zeroes the data of options
/// whose type has the "may change" bit.
fn feed_ipv6_options(mac: &mut Hmac<Sha256>, h: &[u8]) -> Result<(), AhDrop> {
    mac.update(slice(h, 0, 2)?);
    let mut i = 2;
    while i < h.len() {
        let ty = get8(h, i);
        if ty == IPV6_OPT_PAD1 {
            mac.update(&[ty]);
            i += 1;
            continue;
        }
        let len = usize::from(get8(h, i + 1));
        let end = i + 2 + len;
        if end > h.len() {
            return Err(AhDrop::UnsupportedOption);
        }
        mac.update(slice(h, i, i + 2)?);
        if ty & IPV6_OPT_MAY_CHANGE != 0 {
            update_zeros(mac, len);
        } else {
            mac.update(slice(h, i + 2, end)?);
        }
        i = end;
    }
    Ok(())
}

/// RFC 4302 §3.3.3.1.2: feeds the IPv6 fixed header (traffic class, flow
/// label, hop limit zeroed) and the extension headers in `hdr` (everything
/// before AH).
fn feed_ipv6_header(mac: &mut Hmac<Sha256>, hdr: &[u8]) -> Result<(), AhDrop> {
    mac.update(&[IPV6_VERSION << 4, 0, 0, 0]);
    mac.update(slice(hdr, 4, 7)?);
    mac.update(&[0]);
    mac.update(slice(hdr, 8, IPV6_HEADER_LEN)?);
    let mut at = IPV6_HEADER_LEN;
    let mut kind = get8(hdr, 6);
    while at < hdr.len() {
        let len = (usize::from(get8(hdr, at + 1)) + 1) * 8;
        let h = slice(hdr, at, at + len)?;
        match kind {
            IPPROTO_HOPOPTS | IPPROTO_DSTOPTS => feed_ipv6_options(mac, h)?,
            IPPROTO_ROUTING => {
                // Appendix A.2: mutable but predictable. Supported only
                // as the receiver sees it: Segments Left = 0.
                if get8(h, IPV6_ROUTING_SEGMENTS_LEFT_OFFSET) != 0 {
                    return Err(AhDrop::UnsupportedOption);
                }
                mac.update(h);
            }
            _ => return Err(AhDrop::UnsupportedOption),
        }
        kind = get8(h, 0);
        at += len;
    }
    Ok(())
}

/// RFC 4302 §3.3.3: the ICV of the packet `pkt` whose AH header starts at
/// `ah_at` and is `ah_len` octets long. The ICV field is taken as zero,
/// whatever it holds.
fn compute_icv(
    key: &AhKey,
    version: IpVersion,
    pkt: &[u8],
    ah_at: usize,
    ah_len: usize,
) -> Result<[u8; AH_ICV_LEN], AhDrop> {
    let mut mac = key.mac();
    let hdr = slice(pkt, 0, ah_at)?;
    match version {
        IpVersion::V4 => feed_ipv4_header(&mut mac, hdr)?,
        IpVersion::V6 => feed_ipv6_header(&mut mac, hdr)?,
    }
    let ah = slice(pkt, ah_at, ah_at + ah_len)?;
    mac.update(slice(ah, 0, field::ICV)?);
    update_zeros(&mut mac, AH_ICV_LEN);
    mac.update(ah.get(field::ICV + AH_ICV_LEN..).unwrap_or(&[]));
    mac.update(pkt.get(ah_at + ah_len..).unwrap_or(&[]));
    Ok(truncate(mac))
}

fn expiry(created: Instant, lifetime: Option<Duration>) -> Option<Instant> {
    lifetime.and_then(|l| created.checked_add(l))
}

fn too_small(needed: usize, available: usize) -> AhProtectError {
    AhProtectError::BufferTooSmall { needed, available }
}

fn from_drop(d: AhDrop) -> AhProtectError {
    match d {
        AhDrop::Ip(e) => AhProtectError::Ip(e),
        AhDrop::Truncated => AhProtectError::Ip(IpError::Truncated),
        _ => AhProtectError::UnsupportedOption,
    }
}

/// Writes the length fields (and IPv4 checksum) of the packet `out[..total]`.
fn fix_lengths(out: &mut [u8], version: IpVersion, total: usize) {
    let len16 = u16::try_from(total).unwrap_or(u16::MAX);
    match version {
        IpVersion::V4 => {
            let mut p = Ipv4Packet::new_unchecked(&mut *out);
            p.set_total_len(len16);
            p.fill_checksum();
        }
        IpVersion::V6 => {
            let plen = u16::try_from(total.saturating_sub(IPV6_HEADER_LEN)).unwrap_or(u16::MAX);
            Ipv6Packet::new_unchecked(&mut *out).set_payload_len(plen);
        }
    }
}

// ---------------------------------------------------------------------------
// Outbound SA.
// ---------------------------------------------------------------------------

/// What an AH protect call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhProtected {
    /// Length of the IP packet written at the start of `out`.
    pub len: usize,
    /// Its destination (where to send it on a raw socket).
    pub dst: IpAddr,
    /// Its sequence number.
    pub seq: u32,
}

/// Counters of an outbound AH SA.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AhOutCounters {
    /// Packets protected.
    pub packets: u64,
    /// Octets protected (the packets before AH was added).
    pub bytes: u64,
    /// Calls refused (expired, exhausted, bad input, buffer).
    pub refused: u64,
}

/// An outbound AH SA (RFC 4302 §3.3) with HMAC-SHA-256-128.
#[derive(Debug)]
pub struct AhOutbound {
    spi: u32,
    key: AhKey,
    seq: u32,
    expires_at: Option<Instant>,
    counters: AhOutCounters,
}

impl AhOutbound {
    /// A new SA. `lifetime` `None` means no time limit.
    pub fn new(
        spi: u32,
        key: AhKey,
        created: Instant,
        lifetime: Option<Duration>,
    ) -> Result<Self, AhSaError> {
        if spi <= SPI_RESERVED_IANA_MAX {
            return Err(AhSaError::ReservedSpi(spi));
        }
        Ok(AhOutbound {
            spi,
            key,
            seq: 0,
            expires_at: expiry(created, lifetime),
            counters: AhOutCounters::default(),
        })
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// Sequence number of the last packet sent (0 before the first).
    pub fn last_seq(&self) -> u32 {
        self.seq
    }

    /// Continues after a persisted `last_seq` (never moves backwards).
    pub fn resume_after(mut self, last_seq: u32) -> Self {
        self.seq = self.seq.max(last_seq);
        self
    }

    /// Counters.
    pub fn counters(&self) -> &AhOutCounters {
        &self.counters
    }

    /// RFC 4301 §4.4.2.1: has the lifetime run out at `now`?
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    fn next_seq(&self, now: Instant) -> Result<u32, AhProtectError> {
        if self.is_expired(now) {
            return Err(AhProtectError::Expired);
        }
        if self.seq == AH_SEQ_MAX {
            return Err(AhProtectError::SequenceExhausted);
        }
        Ok(self.seq + 1)
    }

    fn count<T>(
        &mut self,
        r: Result<T, AhProtectError>,
        bytes: usize,
    ) -> Result<T, AhProtectError> {
        let c = &mut self.counters;
        match &r {
            Ok(_) => {
                c.packets = c.packets.saturating_add(1);
                c.bytes = c.bytes.saturating_add(bytes as u64);
            }
            Err(_) => c.refused = c.refused.saturating_add(1),
        }
        r
    }

    /// Writes the AH header at `out[at..at + ah_len]` (ICV zero, padding zero).
    fn write_ah(&self, out: &mut [u8], at: usize, len: usize, next_header: u8, seq: u32) {
        let words = (len / 4).saturating_sub(AH_PAYLOAD_LEN_BIAS) as u8;
        if let Some(ah) = out.get_mut(at..at + len) {
            ah.fill(0);
            put8(ah, field::NEXT_HEADER, next_header);
            put8(ah, field::PAYLOAD_LEN, words);
            put16(ah, field::RESERVED, 0);
            put32(ah, field::SPI, self.spi);
            put32(ah, field::SEQ, seq);
        }
    }

    /// Computes the ICV of the finished packet `out[..total]` and stores it.
    fn seal(
        &mut self,
        version: IpVersion,
        out: &mut [u8],
        ah_at: usize,
        total: usize,
        seq: u32,
    ) -> Result<(), AhProtectError> {
        let len = ah_len(version);
        let pkt = out.get(..total).ok_or(too_small(total, 0))?;
        let icv = compute_icv(&self.key, version, pkt, ah_at, len).map_err(from_drop)?;
        if let Some(f) = out.get_mut(ah_at + field::ICV..ah_at + field::ICV + AH_ICV_LEN) {
            f.copy_from_slice(&icv);
        }
        self.seq = seq;
        Ok(())
    }

    /// RFC 4302 §3.1.1 transport mode: inserts AH after the IP header (after
    /// the IPv6 extension headers per [`ipv6_ipsec_split`]) of `packet` and
    /// writes the protected packet into `out`.
    pub fn protect_transport(
        &mut self,
        now: Instant,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<AhProtected, AhProtectError> {
        let r = self.protect_transport_inner(now, packet, out);
        self.count(r, packet.len())
    }

    fn protect_transport_inner(
        &mut self,
        now: Instant,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<AhProtected, AhProtectError> {
        let seq = self.next_seq(now)?;
        let pkt = IpPacket::parse(packet)?;
        let version = pkt.version();
        let (split, nh_field, protocol) = match version {
            IpVersion::V4 => (pkt.header_len(), pkt.next_header_field(), pkt.protocol()),
            IpVersion::V6 => {
                let e = ipv6_ipsec_split(pkt.as_bytes())?;
                (e.offset, e.next_header_field, e.protocol)
            }
        };
        let bytes = pkt.as_bytes();
        let len = ah_len(version);
        let total = bytes.len() + len;
        if total > IP_MAX_LEN {
            return Err(AhProtectError::TooLong);
        }
        let available = out.len();
        let o = out.get_mut(..total).ok_or(too_small(total, available))?;
        let (head, rest) = bytes.split_at_checked(split).ok_or(IpError::Truncated)?;
        o.get_mut(..split)
            .ok_or(IpError::Truncated)?
            .copy_from_slice(head);
        o.get_mut(split + len..)
            .ok_or(IpError::Truncated)?
            .copy_from_slice(rest);
        self.write_ah(o, split, len, protocol, seq);
        put8(o, nh_field, IPPROTO_AH);
        fix_lengths(o, version, total);
        self.seal(version, o, split, total, seq)?;
        Ok(AhProtected {
            len: total,
            dst: pkt.dst(),
            seq,
        })
    }

    /// RFC 4302 §3.1.2 tunnel mode: `outer header | AH (Next Header 4 / 41)
    /// | inner`, the outer header built as for ESP tunnel mode (see
    /// [`crate::mode::tunnel_protect`]).
    pub fn protect_tunnel(
        &mut self,
        now: Instant,
        cfg: &TunnelConfig,
        inner: &[u8],
        out: &mut [u8],
    ) -> Result<AhProtected, AhProtectError> {
        let r = self.protect_tunnel_inner(now, cfg, inner, out);
        self.count(r, inner.len())
    }

    fn protect_tunnel_inner(
        &mut self,
        now: Instant,
        cfg: &TunnelConfig,
        inner: &[u8],
        out: &mut [u8],
    ) -> Result<AhProtected, AhProtectError> {
        let seq = self.next_seq(now)?;
        let version = cfg
            .outer_version()
            .ok_or(AhProtectError::EndpointFamilyMismatch)?;
        let pkt = IpPacket::parse(inner)?;
        let inner_bytes = pkt.as_bytes();
        let hl = match version {
            IpVersion::V4 => IPV4_MIN_HEADER_LEN,
            IpVersion::V6 => IPV6_HEADER_LEN,
        };
        let len = ah_len(version);
        let total = hl + len + inner_bytes.len();
        if total > IP_MAX_LEN {
            return Err(AhProtectError::TooLong);
        }
        let available = out.len();
        let o = out.get_mut(..total).ok_or(too_small(total, available))?;
        let tc = cfg.outer_traffic_class(pkt.traffic_class());
        match (cfg.local, cfg.remote) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => Ipv4Repr {
                src_addr,
                dst_addr,
                protocol: IPPROTO_AH,
                payload_len: len + inner_bytes.len(),
                ttl: cfg.hop_limit,
                dscp: tc >> 2,
                ecn: tc & ECN_MASK,
                ident: seq as u16,
                dont_frag: match pkt.version() {
                    IpVersion::V4 => Ipv4Packet::new_unchecked(inner_bytes).dont_frag(),
                    IpVersion::V6 => true,
                },
            }
            .emit(o)?,
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: IPPROTO_AH,
                payload_len: len + inner_bytes.len(),
                hop_limit: cfg.hop_limit,
                traffic_class: tc,
                flow_label: match pkt.version() {
                    IpVersion::V6 => Ipv6Packet::new_unchecked(inner_bytes).flow_label(),
                    IpVersion::V4 => 0,
                },
            }
            .emit(o)?,
            _ => return Err(AhProtectError::EndpointFamilyMismatch),
        }
        o.get_mut(hl + len..)
            .ok_or(IpError::Truncated)?
            .copy_from_slice(inner_bytes);
        self.write_ah(o, hl, len, pkt.version().encapsulation_protocol(), seq);
        self.seal(version, o, hl, total, seq)?;
        Ok(AhProtected {
            len: total,
            dst: cfg.remote,
            seq,
        })
    }
}

// ---------------------------------------------------------------------------
// Inbound SA.
// ---------------------------------------------------------------------------

/// The SPI of a received AH packet (for looking up its SA), after the IP
/// header checks of [`IpPacket::parse`].
pub fn peek_spi(packet: &[u8]) -> Result<u32, AhDrop> {
    let pkt = IpPacket::parse(packet).map_err(AhDrop::Ip)?;
    if pkt.protocol() != IPPROTO_AH {
        return Err(AhDrop::NotAh(pkt.protocol()));
    }
    let ah = pkt.payload();
    if ah.len() < AH_FIXED_LEN {
        return Err(AhDrop::Truncated);
    }
    Ok(get32(ah, field::SPI))
}

/// A verified AH packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhVerified {
    /// IP version of the packet.
    pub version: IpVersion,
    /// Offset of the AH header (= IP header length, extension headers included).
    pub ah_offset: usize,
    /// Length of the AH header.
    pub ah_len: usize,
    /// Length of the whole IP packet.
    pub total_len: usize,
    /// AH Next Header.
    pub next_header: u8,
    /// Sequence number.
    pub seq: u32,
}

/// What an AH unprotect call produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AhUnprotected {
    /// Length of the IP packet written at the start of `out`.
    pub len: usize,
    /// Sequence number.
    pub seq: u32,
    /// AH Next Header.
    pub next_header: u8,
}

/// Counters of an inbound AH SA.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AhInCounters {
    /// Packets accepted.
    pub packets: u64,
    /// Octets accepted (whole IP packets).
    pub bytes: u64,
    /// SA-level drops by reason.
    pub drops: DropCounters,
    /// Drops for malformed packets (IP, AH header, options, inner packet).
    pub malformed: u64,
}

/// An inbound AH SA (RFC 4302 §3.4) with its anti-replay window.
#[derive(Debug)]
pub struct AhInbound {
    spi: u32,
    key: AhKey,
    window: ReplayWindow,
    expires_at: Option<Instant>,
    counters: AhInCounters,
}

impl AhInbound {
    /// A new SA with the default 64-packet window.
    pub fn new(
        spi: u32,
        key: AhKey,
        created: Instant,
        lifetime: Option<Duration>,
    ) -> Result<Self, AhSaError> {
        if spi <= SPI_RESERVED_IANA_MAX {
            return Err(AhSaError::ReservedSpi(spi));
        }
        Ok(AhInbound {
            spi,
            key,
            window: ReplayWindow::new(),
            expires_at: expiry(created, lifetime),
            counters: AhInCounters::default(),
        })
    }

    /// Replaces the replay window by an empty one of `size` packets.
    pub fn with_replay_window(mut self, size: u32) -> Self {
        self.window = ReplayWindow::with_size(size);
        self
    }

    /// The SPI.
    pub fn spi(&self) -> u32 {
        self.spi
    }

    /// The anti-replay window.
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.window
    }

    /// Counters.
    pub fn counters(&self) -> &AhInCounters {
        &self.counters
    }

    /// RFC 4301 §4.4.2.1: has the lifetime run out at `now`?
    pub fn is_expired(&self, now: Instant) -> bool {
        self.expires_at.is_some_and(|e| now >= e)
    }

    /// RFC 4302 §3.4: verifies the AH packet `packet` (a whole IP packet):
    /// IP checks (no fragment, §3.4.1), AH header and Payload Len (§2.2),
    /// SPI (§3.4.2), lifetime, anti-replay check (§3.4.3, no state
    /// change), ICV in constant time (§3.4.4), then the window update.
    /// Every outcome is counted.
    pub fn verify(&mut self, now: Instant, packet: &[u8]) -> Result<AhVerified, AhDrop> {
        let r = self.verify_inner(now, packet);
        let c = &mut self.counters;
        match &r {
            Ok(v) => {
                c.packets = c.packets.saturating_add(1);
                c.bytes = c.bytes.saturating_add(v.total_len as u64);
            }
            Err(AhDrop::Sa(reason)) => c.drops.record(*reason),
            Err(_) => c.malformed = c.malformed.saturating_add(1),
        }
        r
    }

    fn verify_inner(&mut self, now: Instant, packet: &[u8]) -> Result<AhVerified, AhDrop> {
        let pkt = IpPacket::parse(packet).map_err(AhDrop::Ip)?;
        if pkt.protocol() != IPPROTO_AH {
            return Err(AhDrop::NotAh(pkt.protocol()));
        }
        let version = pkt.version();
        let bytes = pkt.as_bytes();
        let at = pkt.header_len();
        let ah = pkt.payload();
        if ah.len() < AH_FIXED_LEN {
            return Err(AhDrop::Truncated);
        }
        let len = ah_len(version);
        let pl = get8(ah, field::PAYLOAD_LEN);
        if (usize::from(pl) + AH_PAYLOAD_LEN_BIAS) * 4 != len {
            return Err(AhDrop::BadPayloadLength(pl));
        }
        if ah.len() < len {
            return Err(AhDrop::Truncated);
        }
        if get32(ah, field::SPI) != self.spi {
            return Err(AhDrop::Sa(DropReason::UnknownSpi));
        }
        if self.is_expired(now) {
            return Err(AhDrop::Sa(DropReason::Expired));
        }
        let seq = get32(ah, field::SEQ);
        self.window.check(seq).map_err(|e| {
            AhDrop::Sa(match e {
                ReplayError::Zero => DropReason::InvalidSequence,
                ReplayError::Replayed => DropReason::Replayed,
                ReplayError::TooOld => DropReason::TooOld,
            })
        })?;
        let want = compute_icv(&self.key, version, bytes, at, len)?;
        let got = slice(ah, field::ICV, field::ICV + AH_ICV_LEN)?;
        if !bool::from(want.ct_eq(got)) {
            return Err(AhDrop::Sa(DropReason::BadIcv));
        }
        self.window.update(seq);
        Ok(AhVerified {
            version,
            ah_offset: at,
            ah_len: len,
            total_len: bytes.len(),
            next_header: get8(ah, field::NEXT_HEADER),
            seq,
        })
    }

    /// RFC 4302 §3.1.1 transport mode, inbound: verifies `packet` and writes
    /// it without AH into `out` (Protocol / Next Header = AH's Next Header,
    /// lengths and IPv4 checksum fixed), for delivery to a TUN device.
    pub fn unprotect_transport(
        &mut self,
        now: Instant,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<AhUnprotected, AhDrop> {
        let v = self.verify(now, packet)?;
        if v.next_header == IPPROTO_IPV4 || v.next_header == IPPROTO_IPV6 {
            return Err(AhDrop::UnexpectedNextHeader(v.next_header));
        }
        let total = v.total_len - v.ah_len;
        let available = out.len();
        let o = out.get_mut(..total).ok_or(AhDrop::BufferTooSmall {
            needed: total,
            available,
        })?;
        let head = slice(packet, 0, v.ah_offset)?;
        let rest = slice(packet, v.ah_offset + v.ah_len, v.total_len)?;
        let (oh, orest) = o.split_at_mut(v.ah_offset);
        oh.copy_from_slice(head);
        orest.copy_from_slice(rest);
        let nh_field = match v.version {
            IpVersion::V4 => 9,
            IpVersion::V6 => last_next_header_field(head),
        };
        put8(o, nh_field, v.next_header);
        fix_lengths(o, v.version, total);
        Ok(AhUnprotected {
            len: total,
            seq: v.seq,
            next_header: v.next_header,
        })
    }

    /// RFC 4302 §3.1.2 tunnel mode, inbound: verifies `packet`, requires
    /// Next Header 4 / 41, validates the inner packet, applies RFC 6040
    /// §4.2 ECN decapsulation and writes the inner packet into `out`.
    pub fn unprotect_tunnel(
        &mut self,
        now: Instant,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<AhUnprotected, AhDrop> {
        let v = self.verify(now, packet)?;
        let want = match v.next_header {
            IPPROTO_IPV4 => IPV4_VERSION,
            IPPROTO_IPV6 => IPV6_VERSION,
            other => return Err(AhDrop::UnexpectedNextHeader(other)),
        };
        let outer_ecn = match v.version {
            IpVersion::V4 => Ipv4Packet::new_unchecked(packet).ecn(),
            IpVersion::V6 => Ipv6Packet::new_unchecked(packet).ecn(),
        };
        let inner_bytes = slice(packet, v.ah_offset + v.ah_len, v.total_len)?;
        let inner = IpPacket::parse(inner_bytes).map_err(AhDrop::Inner)?;
        let got = match inner.version() {
            IpVersion::V4 => IPV4_VERSION,
            IpVersion::V6 => IPV6_VERSION,
        };
        if got != want {
            return Err(AhDrop::Inner(IpError::BadVersion(got)));
        }
        let ecn = ecn_decapsulate(inner.ecn(), outer_ecn).ok_or(AhDrop::EcnDrop)?;
        let b = inner.as_bytes();
        let available = out.len();
        let o = out.get_mut(..b.len()).ok_or(AhDrop::BufferTooSmall {
            needed: b.len(),
            available,
        })?;
        o.copy_from_slice(b);
        if ecn != inner.ecn() {
            let tc = (inner.traffic_class() & !ECN_MASK) | ecn;
            match inner.version() {
                IpVersion::V4 => {
                    let mut p = Ipv4Packet::new_unchecked(&mut *o);
                    p.set_tos(tc);
                    p.fill_checksum();
                }
                IpVersion::V6 => Ipv6Packet::new_unchecked(&mut *o).set_traffic_class(tc),
            }
        }
        Ok(AhUnprotected {
            len: b.len(),
            seq: v.seq,
            next_header: v.next_header,
        })
    }
}

/// Offset of the Next Header octet that names what follows `head` (an IPv6
/// fixed header plus extension headers, already validated).
fn last_next_header_field(head: &[u8]) -> usize {
    let mut field = 6;
    let mut at = IPV6_HEADER_LEN;
    while at < head.len() {
        field = at;
        at += (usize::from(get8(head, at + 1)) + 1) * 8;
    }
    field
}
