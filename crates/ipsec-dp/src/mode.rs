//! ESP transport and tunnel mode (RFC 4303 §3.1): from an IP packet read
//! from a TUN device to the bytes to send, and back.
//!
//! Every function writes into a buffer the caller owns and returns lengths;
//! nothing allocates, nothing does I/O, time comes in as an argument.
//!
//! Outbound, the result is either
//! - [`EspEncap::Udp`]: the bare ESP packet, to send as the payload of a
//!   UDP datagram from/to port 4500 (RFC 3948 §2.1) on the NAT-T socket, or
//! - [`EspEncap::RawIp`]: a whole IPv4/IPv6 packet with Protocol / Next
//!   Header 50, for a raw IP socket.
//!
//! Inbound, [`Received`] says which of the two arrived, and the result is a
//! whole IP packet to write to the TUN device. The SPD check of RFC 4301
//! §5.2 step 4 is the caller's next step ([`crate::spd::Spd::check_inbound`]
//! with the SA named by [`Unprotected::spi`]).

use std::net::IpAddr;
use std::time::Instant;

use thiserror::Error;

use crate::consts::{IPPROTO_ESP, IPPROTO_IPV4, IPPROTO_IPV6, IPPROTO_UDP};
use crate::error::{DropReason, SealError};
use crate::ip::{
    fill_transport_checksum, get16, ipv6_ipsec_split, put8, IpError, IpPacket, IpVersion,
    Ipv4Packet, Ipv4Repr, Ipv6Packet, Ipv6Repr, DEFAULT_TTL, ECN_CE, ECN_ECT0, ECN_ECT1, ECN_MASK,
    ECN_NOT_ECT, IPV6_HEADER_LEN, IP_MAX_LEN, UDP_CHECKSUM_OFFSET,
};
use crate::sa::{InboundSa, Opened, OutboundSa};
use crate::sad::Sad;

/// How an outbound ESP packet leaves this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EspEncap {
    /// RFC 3948 §2.1: the ESP packet is the payload of a UDP datagram on
    /// port 4500; `out` receives only the ESP packet (the UDP socket adds
    /// the UDP and IP headers).
    Udp,
    /// A complete IP packet with Protocol / Next Header 50 (RFC 4303 §3.1).
    RawIp,
}

/// What a protect function produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protected {
    /// Octets written at the start of `out`.
    pub len: usize,
    /// Source address of the packet on the wire.
    pub src: IpAddr,
    /// Destination address of the packet on the wire (where to send it).
    pub dst: IpAddr,
    /// Which form `out` holds.
    pub encap: EspEncap,
    /// The traffic class (DSCP << 2 | ECN) the outer header carries (for
    /// [`EspEncap::Udp`], what the driver may set on the socket).
    pub traffic_class: u8,
    /// The SA's SPI.
    pub spi: u32,
    /// The sequence number the packet carries.
    pub seq: u32,
}

/// Why a packet could not be protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum ProtectError {
    /// The packet to protect is not an acceptable IP packet.
    #[error("packet to protect: {0}")]
    Ip(#[from] IpError),
    /// The SA refused (expired, sequence numbers exhausted, ...).
    #[error("ESP: {0}")]
    Seal(#[from] SealError),
    /// `out` is too small.
    #[error("output buffer too small: need {needed} bytes, have {available}")]
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// The result would exceed 65535 octets (RFC 791 / RFC 8200 length fields).
    #[error("protected packet too long")]
    TooLong,
    /// The tunnel endpoints are of different families.
    #[error("tunnel endpoints of different address families")]
    EndpointFamilyMismatch,
}

/// What arrived from the network.
#[derive(Debug, PartialEq, Eq)]
pub enum Received<'a> {
    /// RFC 3948: the payload of a UDP datagram received on port 4500 that
    /// [`crate::classify`] called ESP, with the datagram's addresses.
    Udp {
        /// Source address of the datagram.
        src: IpAddr,
        /// Destination address of the datagram.
        dst: IpAddr,
        /// ECN field of the datagram's IP header if the socket reports it
        /// (`IP_RECVTOS` / `IPV6_RECVTCLASS`), else [`ECN_NOT_ECT`].
        ecn: u8,
        /// The ESP packet (decrypted in place).
        esp: &'a mut [u8],
    },
    /// A whole IP packet with Protocol / Next Header 50 from a raw socket.
    RawIp(&'a mut [u8]),
}

/// What an unprotect function produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unprotected {
    /// Length of the IP packet written at the start of `out`.
    pub len: usize,
    /// SPI of the SA that opened it (for the RFC 4301 §5.2 SPD check).
    pub spi: u32,
    /// Its ESP sequence number.
    pub seq: u32,
    /// ESP Next Header: the transport protocol (transport mode) or 4 / 41
    /// (tunnel mode).
    pub next_header: u8,
}

/// Why a received packet was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum UnprotectError {
    /// The received IP packet (raw form) is malformed, or the UDP form's
    /// addresses are of different families.
    #[error("received packet: {0}")]
    Outer(IpError),
    /// The raw packet is not ESP (Protocol / Next Header is this).
    #[error("not ESP: protocol {0}")]
    NotEsp(u8),
    /// The SA dropped it (RFC 4303 §3.4: unknown SPI, replay, ICV, ...).
    #[error("ESP: {0}")]
    Esp(#[from] DropReason),
    /// ESP Next Header does not fit the mode: 4 / 41 in transport mode, or
    /// anything else in tunnel mode (RFC 4303 §3.1).
    #[error("unexpected ESP next header {0}")]
    UnexpectedNextHeader(u8),
    /// Tunnel mode: the decrypted inner packet is not a valid IP packet of
    /// the family Next Header announced; transport mode: the TCP/UDP
    /// header is truncated.
    #[error("inner packet: {0}")]
    Inner(IpError),
    /// RFC 6040 §4.2: CE on the outer header of a Not-ECT inner packet.
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
    /// The rebuilt packet would exceed 65535 octets.
    #[error("rebuilt packet too long")]
    TooLong,
}

impl UnprotectError {
    /// Stable snake_case label, for metrics.
    pub const fn as_str(&self) -> &'static str {
        match self {
            UnprotectError::Outer(_) => "outer_malformed",
            UnprotectError::NotEsp(_) => "not_esp",
            UnprotectError::Esp(r) => r.as_str(),
            UnprotectError::UnexpectedNextHeader(_) => "unexpected_next_header",
            UnprotectError::Inner(_) => "inner_malformed",
            UnprotectError::EcnDrop => "ecn_drop",
            UnprotectError::BufferTooSmall { .. } => "buffer_too_small",
            UnprotectError::TooLong => "too_long",
        }
    }
}

/// Something that opens ESP packets: a single [`InboundSa`] or the
/// [`Sad`] (lookup by SPI, RFC 4303 §3.4.2).
pub trait EspOpen {
    /// Opens `packet` in place (see [`InboundSa::open`]); returns the SPI
    /// with the result.
    fn open_esp<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<(u32, Opened<'a>), DropReason>;
}

impl EspOpen for Sad {
    fn open_esp<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<(u32, Opened<'a>), DropReason> {
        self.open(now, packet)
    }
}

impl EspOpen for InboundSa {
    fn open_esp<'a>(
        &mut self,
        now: Instant,
        packet: &'a mut [u8],
    ) -> Result<(u32, Opened<'a>), DropReason> {
        let spi = self.spi();
        self.open(now, packet).map(|o| (spi, o))
    }
}

fn too_small_p(needed: usize, available: usize) -> ProtectError {
    ProtectError::BufferTooSmall { needed, available }
}

fn too_small_u(needed: usize, available: usize) -> UnprotectError {
    UnprotectError::BufferTooSmall { needed, available }
}

/// Seals `payload` with `sa` into `out[at..]`, after checking that the
/// whole result (`at` + ESP packet) fits the buffer and 65535 octets, so
/// that no sequence number is spent on a packet that cannot be sent.
fn seal_at(
    sa: &mut OutboundSa,
    now: Instant,
    next_header: u8,
    payload: &[u8],
    out: &mut [u8],
    at: usize,
    limit_to_ip_max: bool,
) -> Result<usize, ProtectError> {
    let esp_len = sa.sealed_len(payload.len());
    let total = at.checked_add(esp_len).ok_or(ProtectError::TooLong)?;
    if limit_to_ip_max && total > IP_MAX_LEN {
        return Err(ProtectError::TooLong);
    }
    let available = out.len();
    let dst = out
        .get_mut(at..total)
        .ok_or(too_small_p(total, available))?;
    Ok(sa.seal(now, next_header, payload, dst)?)
}

/// Writes the IP length field(s) and the IPv4 checksum of the packet in
/// `out[..total]` whose header is already there.
fn fix_lengths(out: &mut [u8], version: IpVersion, total: usize) -> Result<(), IpError> {
    let len16 = u16::try_from(total).map_err(|_| IpError::TooLong)?;
    let pkt = out.get_mut(..total).ok_or(IpError::Truncated)?;
    match version {
        IpVersion::V4 => {
            let mut p = Ipv4Packet::new_unchecked(pkt);
            p.set_total_len(len16);
            p.fill_checksum();
        }
        IpVersion::V6 => {
            let plen = total
                .checked_sub(IPV6_HEADER_LEN)
                .ok_or(IpError::Truncated)?;
            let plen = u16::try_from(plen).map_err(|_| IpError::TooLong)?;
            Ipv6Packet::new_unchecked(pkt).set_payload_len(plen);
        }
    }
    Ok(())
}

/// Where ESP goes in `packet` in transport mode: `(offset, next header
/// field offset, protocol carried)`.
fn transport_split(packet: &IpPacket<'_>) -> Result<(usize, usize, u8), IpError> {
    match packet.version() {
        IpVersion::V4 => Ok((
            packet.header_len(),
            packet.next_header_field(),
            packet.protocol(),
        )),
        IpVersion::V6 => {
            let end = ipv6_ipsec_split(packet.as_bytes())?;
            Ok((end.offset, end.next_header_field, end.protocol))
        }
    }
}

fn seq_of(sa: &OutboundSa) -> u32 {
    sa.last_seq()
}

/// RFC 4303 §3.1.1 transport mode, outbound: ESP-protects the transport
/// payload of the IPv4/IPv6 `packet` (ESP Next Header = its protocol, e.g.
/// 17) and writes the result in the form `encap` into `out`.
///
/// - [`EspEncap::Udp`]: `out` = the ESP packet, to send from
///   [`Protected::src`] to [`Protected::dst`] on the NAT-T socket.
/// - [`EspEncap::RawIp`]: `out` = the original IP header (IPv4 options and
///   the IPv6 extension headers that precede ESP kept, see
///   [`ipv6_ipsec_split`]) with Protocol / Next Header 50, the length
///   fields and the IPv4 checksum fixed, followed by ESP.
pub fn transport_protect(
    sa: &mut OutboundSa,
    now: Instant,
    packet: &[u8],
    encap: EspEncap,
    out: &mut [u8],
) -> Result<Protected, ProtectError> {
    let pkt = IpPacket::parse(packet)?;
    let (split, nh_field, protocol) = transport_split(&pkt)?;
    let bytes = pkt.as_bytes();
    let payload = bytes.get(split..).ok_or(IpError::Truncated)?;
    let len = match encap {
        EspEncap::Udp => seal_at(sa, now, protocol, payload, out, 0, false)?,
        EspEncap::RawIp => {
            let header = bytes.get(..split).ok_or(IpError::Truncated)?;
            // Check sizes before writing anything.
            let esp_len = sa.sealed_len(payload.len());
            let total = split.checked_add(esp_len).ok_or(ProtectError::TooLong)?;
            if total > IP_MAX_LEN {
                return Err(ProtectError::TooLong);
            }
            let available = out.len();
            out.get_mut(..split)
                .ok_or(too_small_p(total, available))?
                .copy_from_slice(header);
            let n = seal_at(sa, now, protocol, payload, out, split, true)?;
            put8(out, nh_field, IPPROTO_ESP);
            fix_lengths(out, pkt.version(), split + n)?;
            split + n
        }
    };
    Ok(Protected {
        len,
        src: pkt.src(),
        dst: pkt.dst(),
        encap,
        traffic_class: pkt.traffic_class(),
        spi: sa.spi(),
        seq: seq_of(sa),
    })
}

/// What RFC 4301 §5.1.2 lets a tunnel configure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DscpPolicy {
    /// RFC 4301 §5.1.2.1 / §5.1.2.2: copy DSCP from the inner header (the default).
    Copy,
    /// Set this DSCP (6 bits) on every outer header.
    Set(u8),
}

/// A tunnel-mode SA's outer header parameters (RFC 4301 §5.1.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TunnelConfig {
    /// This end's tunnel address (the profile's IP_C at the client, IP_RS
    /// at the resource server): the outer source.
    pub local: IpAddr,
    /// The peer's tunnel address: the outer destination.
    pub remote: IpAddr,
    /// RFC 4301 §5.1.2.1 / §5.1.2.2: the outer TTL / Hop Limit is
    /// constructed; [`DEFAULT_TTL`] by default.
    pub hop_limit: u8,
    /// DSCP treatment.
    pub dscp: DscpPolicy,
}

impl TunnelConfig {
    /// Endpoints with the defaults: outer TTL 64, DSCP copied.
    pub fn new(local: IpAddr, remote: IpAddr) -> Self {
        TunnelConfig {
            local,
            remote,
            hop_limit: DEFAULT_TTL,
            dscp: DscpPolicy::Copy,
        }
    }

    /// Family of the outer header, if the endpoints agree.
    pub fn outer_version(&self) -> Option<IpVersion> {
        let v = IpVersion::of_addr(&self.local);
        (v == IpVersion::of_addr(&self.remote)).then_some(v)
    }

    /// The outer Traffic Class for an inner one: DSCP per [`DscpPolicy`],
    /// ECN copied (RFC 6040 §4.1, normal mode).
    pub fn outer_traffic_class(&self, inner_tc: u8) -> u8 {
        let dscp = match self.dscp {
            DscpPolicy::Copy => inner_tc >> 2,
            DscpPolicy::Set(d) => d & 0x3F,
        };
        (dscp << 2) | (inner_tc & ECN_MASK)
    }
}

/// RFC 6040 §4.2 (Figure 4): the ECN field of the inner header after
/// decapsulation, or `None` when the packet must be dropped (CE outer on
/// Not-ECT inner).
pub const fn ecn_decapsulate(inner: u8, outer: u8) -> Option<u8> {
    match (inner & ECN_MASK, outer & ECN_MASK) {
        (ECN_NOT_ECT, ECN_CE) => None,
        (ECN_NOT_ECT, _) => Some(ECN_NOT_ECT),
        (_, ECN_CE) | (ECN_CE, _) => Some(ECN_CE),
        (ECN_ECT0, ECN_ECT1) => Some(ECN_ECT1),
        (i, _) => Some(i),
    }
}

/// RFC 4303 §3.1.2 tunnel mode, outbound: the whole `inner` IP packet
/// becomes the ESP payload (Next Header 4 for IPv4, 41 for IPv6) behind a
/// new outer header from `cfg.local` to `cfg.remote` (families may differ).
///
/// Outer header (RFC 4301 §5.1.2.1 for IPv4, §5.1.2.2 for IPv6): TTL /
/// Hop Limit `cfg.hop_limit`; DSCP per `cfg.dscp`; ECN copied from the
/// inner header (RFC 6040 §4.1 normal mode); IPv4 DF copied from an IPv4
/// inner header and set for an IPv6 one, Identification = the low 16 bits
/// of the ESP sequence number (unique per SA until it wraps, RFC 6864); IPv6
/// Flow Label copied from an IPv6 inner header, else 0; no options or
/// extension headers.
///
/// The inner TTL is not decremented: packets from a TUN device were
/// originated or already forwarded (and decremented) by the host's stack.
pub fn tunnel_protect(
    sa: &mut OutboundSa,
    now: Instant,
    cfg: &TunnelConfig,
    inner: &[u8],
    encap: EspEncap,
    out: &mut [u8],
) -> Result<Protected, ProtectError> {
    let outer_version = cfg
        .outer_version()
        .ok_or(ProtectError::EndpointFamilyMismatch)?;
    let pkt = IpPacket::parse(inner)?;
    let inner_bytes = pkt.as_bytes();
    let next_header = pkt.version().encapsulation_protocol();
    let tc = cfg.outer_traffic_class(pkt.traffic_class());
    let header_len = match (encap, outer_version) {
        (EspEncap::Udp, _) => 0,
        (EspEncap::RawIp, IpVersion::V4) => crate::ip::IPV4_MIN_HEADER_LEN,
        (EspEncap::RawIp, IpVersion::V6) => IPV6_HEADER_LEN,
    };
    let n = seal_at(
        sa,
        now,
        next_header,
        inner_bytes,
        out,
        header_len,
        encap == EspEncap::RawIp,
    )?;
    let seq = seq_of(sa);
    if encap == EspEncap::RawIp {
        match (cfg.local, cfg.remote) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => {
                let dont_frag = match pkt.version() {
                    IpVersion::V4 => Ipv4Packet::new_unchecked(inner_bytes).dont_frag(),
                    IpVersion::V6 => true,
                };
                Ipv4Repr {
                    src_addr,
                    dst_addr,
                    protocol: IPPROTO_ESP,
                    payload_len: n,
                    ttl: cfg.hop_limit,
                    dscp: tc >> 2,
                    ecn: tc & ECN_MASK,
                    ident: seq as u16,
                    dont_frag,
                }
                .emit(out)?;
            }
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => {
                let flow_label = match pkt.version() {
                    IpVersion::V6 => Ipv6Packet::new_unchecked(inner_bytes).flow_label(),
                    IpVersion::V4 => 0,
                };
                Ipv6Repr {
                    src_addr,
                    dst_addr,
                    next_header: IPPROTO_ESP,
                    payload_len: n,
                    hop_limit: cfg.hop_limit,
                    traffic_class: tc,
                    flow_label,
                }
                .emit(out)?;
            }
            _ => return Err(ProtectError::EndpointFamilyMismatch),
        }
    }
    Ok(Protected {
        len: header_len + n,
        src: cfg.local,
        dst: cfg.remote,
        encap,
        traffic_class: tc,
        spi: sa.spi(),
        seq,
    })
}

/// The received ESP packet and what is known of the outer header.
struct Outer<'a> {
    esp: &'a mut [u8],
    /// The outer IP header (raw form), with the ESP packet's offset range
    /// removed: header bytes only.
    header: &'a [u8],
    /// Offset in `header` of the octet that said 50.
    next_header_field: usize,
    version: IpVersion,
    src: IpAddr,
    dst: IpAddr,
    ecn: u8,
}

fn split_received(received: Received<'_>) -> Result<Outer<'_>, UnprotectError> {
    match received {
        Received::Udp { src, dst, ecn, esp } => {
            let version = IpVersion::of_addr(&src);
            if version != IpVersion::of_addr(&dst) {
                return Err(UnprotectError::Outer(IpError::AddressFamilyMismatch));
            }
            Ok(Outer {
                esp,
                header: &[],
                next_header_field: 0,
                version,
                src,
                dst,
                ecn: ecn & ECN_MASK,
            })
        }
        Received::RawIp(bytes) => {
            let (hl, total, version, src, dst, ecn, nh_field) = {
                let pkt = IpPacket::parse(bytes).map_err(UnprotectError::Outer)?;
                if pkt.protocol() != IPPROTO_ESP {
                    return Err(UnprotectError::NotEsp(pkt.protocol()));
                }
                (
                    pkt.header_len(),
                    pkt.len(),
                    pkt.version(),
                    pkt.src(),
                    pkt.dst(),
                    pkt.ecn(),
                    pkt.next_header_field(),
                )
            };
            let bytes = bytes
                .get_mut(..total)
                .ok_or(UnprotectError::Outer(IpError::Truncated))?;
            let (header, esp) = bytes
                .split_at_mut_checked(hl)
                .ok_or(UnprotectError::Outer(IpError::Truncated))?;
            Ok(Outer {
                esp,
                header,
                next_header_field: nh_field,
                version,
                src,
                dst,
                ecn,
            })
        }
    }
}

/// RFC 4303 §3.1.1 transport mode, inbound: opens the ESP packet that
/// arrived (either form) with `sa` (an [`InboundSa`] or the [`Sad`]) and
/// rebuilds the original IP packet into `out` for delivery to a TUN device:
///
/// - raw form: the received IP header (options, extension headers before
///   ESP, TTL, DSCP/ECN kept) with Protocol / Next Header = ESP's Next
///   Header, the length fields and IPv4 checksum fixed;
/// - UDP form: a new header from the datagram's addresses, TTL / Hop Limit
///   [`DEFAULT_TTL`], ECN as reported, DSCP 0.
///
/// RFC 3948 §3.1.2: behind a NAT the addresses the sender summed into its
/// TCP/UDP checksum are not the ones the packet arrived with, so the
/// TCP, UDP and ICMPv6 checksums are recomputed over the rebuilt header's
/// addresses (ESP's ICV already vouched for every octet). An IPv4 UDP
/// checksum of 0 ("none") is left as it is.
pub fn transport_unprotect<O: EspOpen + ?Sized>(
    sa: &mut O,
    now: Instant,
    received: Received<'_>,
    out: &mut [u8],
) -> Result<Unprotected, UnprotectError> {
    let outer = split_received(received)?;
    let (spi, opened) = sa.open_esp(now, outer.esp)?;
    let nh = opened.next_header;
    if nh == IPPROTO_IPV4 || nh == IPPROTO_IPV6 {
        return Err(UnprotectError::UnexpectedNextHeader(nh));
    }
    let payload = opened.payload;
    let header_len = if outer.header.is_empty() {
        match outer.version {
            IpVersion::V4 => crate::ip::IPV4_MIN_HEADER_LEN,
            IpVersion::V6 => IPV6_HEADER_LEN,
        }
    } else {
        outer.header.len()
    };
    let total = header_len
        .checked_add(payload.len())
        .ok_or(UnprotectError::TooLong)?;
    if total > IP_MAX_LEN {
        return Err(UnprotectError::TooLong);
    }
    let available = out.len();
    let out = out.get_mut(..total).ok_or(too_small_u(total, available))?;
    let (hdr_out, data_out) = out.split_at_mut(header_len);
    data_out.copy_from_slice(payload);
    if outer.header.is_empty() {
        match (outer.src, outer.dst) {
            (IpAddr::V4(src_addr), IpAddr::V4(dst_addr)) => Ipv4Repr {
                src_addr,
                dst_addr,
                protocol: nh,
                payload_len: payload.len(),
                ttl: DEFAULT_TTL,
                dscp: 0,
                ecn: outer.ecn,
                ident: 0,
                dont_frag: true,
            }
            .emit(hdr_out),
            (IpAddr::V6(src_addr), IpAddr::V6(dst_addr)) => Ipv6Repr {
                src_addr,
                dst_addr,
                next_header: nh,
                payload_len: payload.len(),
                hop_limit: DEFAULT_TTL,
                traffic_class: outer.ecn,
                flow_label: 0,
            }
            .emit(hdr_out),
            _ => Err(IpError::AddressFamilyMismatch),
        }
        .map_err(UnprotectError::Outer)?;
    } else {
        hdr_out.copy_from_slice(outer.header);
        put8(hdr_out, outer.next_header_field, nh);
    }
    fix_lengths(out, outer.version, total).map_err(UnprotectError::Outer)?;

    // RFC 3948 §3.1.2: recompute the transport checksum with the addresses
    // the packet is delivered with.
    let segment = out.get_mut(header_len..).unwrap_or(&mut []);
    let udp_v4_no_checksum = nh == IPPROTO_UDP
        && outer.version == IpVersion::V4
        && segment.len() >= crate::consts::UDP_HEADER_LEN
        && get16(segment, UDP_CHECKSUM_OFFSET) == 0;
    if !udp_v4_no_checksum {
        fill_transport_checksum(outer.src, outer.dst, nh, segment)
            .map_err(UnprotectError::Inner)?;
    }
    Ok(Unprotected {
        len: total,
        spi,
        seq: opened.seq,
        next_header: nh,
    })
}

/// RFC 4303 §3.1.2 tunnel mode, inbound: opens the ESP packet that arrived
/// (either form), requires Next Header 4 or 41, validates the inner packet
/// (an IPv4 / IPv6 packet of that family, header checksum, no fragment,
/// extension headers), cuts any TFC padding after it (RFC 4303 §2.7: the
/// inner header's length decides), applies RFC 6040 §4.2 ECN
/// decapsulation, and copies it into `out`. The inner TTL, DSCP and
/// addresses are not changed (RFC 4301 §5.1.2: "no change" at the
/// decapsulator).
pub fn tunnel_unprotect<O: EspOpen + ?Sized>(
    sa: &mut O,
    now: Instant,
    received: Received<'_>,
    out: &mut [u8],
) -> Result<Unprotected, UnprotectError> {
    let outer = split_received(received)?;
    let outer_ecn = outer.ecn;
    let (spi, opened) = sa.open_esp(now, outer.esp)?;
    let nh = opened.next_header;
    let want = match nh {
        IPPROTO_IPV4 => IpVersion::V4,
        IPPROTO_IPV6 => IpVersion::V6,
        other => return Err(UnprotectError::UnexpectedNextHeader(other)),
    };
    let inner = IpPacket::parse(opened.payload).map_err(UnprotectError::Inner)?;
    if inner.version() != want {
        let v = match inner.version() {
            IpVersion::V4 => crate::ip::IPV4_VERSION,
            IpVersion::V6 => crate::ip::IPV6_VERSION,
        };
        return Err(UnprotectError::Inner(IpError::BadVersion(v)));
    }
    let ecn = ecn_decapsulate(inner.ecn(), outer_ecn).ok_or(UnprotectError::EcnDrop)?;
    let bytes = inner.as_bytes();
    let total = bytes.len();
    let available = out.len();
    let out_pkt = out.get_mut(..total).ok_or(too_small_u(total, available))?;
    out_pkt.copy_from_slice(bytes);
    if ecn != inner.ecn() {
        let tc = (inner.traffic_class() & !ECN_MASK) | ecn;
        match want {
            IpVersion::V4 => {
                let mut p = Ipv4Packet::new_unchecked(&mut *out_pkt);
                p.set_tos(tc);
                p.fill_checksum();
            }
            IpVersion::V6 => Ipv6Packet::new_unchecked(&mut *out_pkt).set_traffic_class(tc),
        }
    }
    Ok(Unprotected {
        len: total,
        spi,
        seq: opened.seq,
        next_header: nh,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6040 §4.2 Figure 4, every cell.
    #[test]
    fn rfc6040_decapsulation_table() {
        let (n, e0, e1, ce) = (ECN_NOT_ECT, ECN_ECT0, ECN_ECT1, ECN_CE);
        // rows: inner; columns: outer Not-ECT, ECT(0), ECT(1), CE
        let table = [
            (n, [Some(n), Some(n), Some(n), None]),
            (e0, [Some(e0), Some(e0), Some(e1), Some(ce)]),
            (e1, [Some(e1), Some(e1), Some(e1), Some(ce)]),
            (ce, [Some(ce), Some(ce), Some(ce), Some(ce)]),
        ];
        for (inner, row) in table {
            for (outer, want) in [n, e0, e1, ce].into_iter().zip(row) {
                assert_eq!(ecn_decapsulate(inner, outer), want, "{inner} {outer}");
            }
        }
    }
}
