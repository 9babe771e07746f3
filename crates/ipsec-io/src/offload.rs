//! What the kernel leaves undone for a TUN device with offloads
//! ([`crate::tun::Tun::open_offload`]): the checksum of a packet marked
//! `VIRTIO_NET_HDR_F_NEEDS_CSUM`, and the segmentation of TCP super-packets
//! (`VIRTIO_NET_HDR_GSO_TCPV4/V6`) into packets of `gso_size` octets of
//! payload, as the kernel's own TSO would (RFC 9293 §3.1 header fields).
//! No unsafe code, no allocation.

use crate::tun::VirtioNetHdr;

/// Why a packet read from the TUN device could not be taken apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffloadError {
    /// Header offsets outside the packet, or not TCP/IPv4/IPv6.
    Malformed,
    /// A GSO type this module does not split (e.g. UDP).
    Unsupported(u8),
    /// The scratch buffer cannot hold one segment.
    Scratch,
}

/// The Internet checksum's running sum (RFC 1071) of `data`, added to `sum`.
/// One's-complement addition (RFC 1071): the carry out of the top wraps
/// around, so partial sums never overflow.
pub fn add1c(a: u64, b: u64) -> u64 {
    let (s, carry) = a.overflowing_add(b);
    s + u64::from(carry)
}

pub fn sum16(mut sum: u64, data: &[u8]) -> u64 {
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let v = u64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        let (s, carry) = sum.overflowing_add(v);
        sum = s + u64::from(carry);
    }
    let rest = chunks.remainder();
    let mut tail = [0u8; 8];
    tail[..rest.len()].copy_from_slice(rest);
    let v = u64::from_be_bytes(tail);
    let (s, carry) = sum.overflowing_add(v);
    s + u64::from(carry)
}

/// Folds a running sum to 16 bits (not complemented).
pub fn fold(mut sum: u64) -> u16 {
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff_ffff) + (sum >> 32);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// `VIRTIO_NET_HDR_F_NEEDS_CSUM` on a single packet: the field at
/// `csum_start + csum_offset` holds the pseudo-header sum; complete it over
/// `packet[csum_start..]`.
pub fn complete_checksum(hdr: &VirtioNetHdr, packet: &mut [u8]) -> Result<(), OffloadError> {
    let start = usize::from(hdr.csum_start);
    let field = start + usize::from(hdr.csum_offset);
    if field + 2 > packet.len() {
        return Err(OffloadError::Malformed);
    }
    let c = !fold(sum16(0, &packet[start..]));
    packet[field..field + 2].copy_from_slice(&c.to_be_bytes());
    Ok(())
}

const TCP_FIN: u8 = 0x01;
const TCP_PSH: u8 = 0x08;
const TCP_CWR: u8 = 0x80;

/// Hands each IP packet that `packet` (read after `hdr`) stands for to `f`:
/// the packet itself (its checksum completed if asked for), or the TCP
/// segments of a super-packet, each built in `scratch`.
pub fn for_each_segment(
    hdr: &VirtioNetHdr,
    packet: &mut [u8],
    scratch: &mut [u8],
    mut f: impl FnMut(&[u8]),
) -> Result<usize, OffloadError> {
    let gso = hdr.gso_type & !VirtioNetHdr::GSO_ECN;
    if gso == VirtioNetHdr::GSO_NONE {
        if hdr.flags & VirtioNetHdr::F_NEEDS_CSUM != 0 {
            complete_checksum(hdr, packet)?;
        }
        f(packet);
        return Ok(1);
    }
    if gso != VirtioNetHdr::GSO_TCPV4 && gso != VirtioNetHdr::GSO_TCPV6 {
        return Err(OffloadError::Unsupported(hdr.gso_type));
    }
    let v4 = gso == VirtioNetHdr::GSO_TCPV4;
    let l4 = usize::from(hdr.csum_start);
    let first = *packet.first().ok_or(OffloadError::Malformed)?;
    if (first >> 4) != if v4 { 4 } else { 6 } || l4 + 20 > packet.len() {
        return Err(OffloadError::Malformed);
    }
    if v4 && l4 < 20 || !v4 && l4 < 40 {
        return Err(OffloadError::Malformed);
    }
    let tcp_len = usize::from(packet[l4 + 12] >> 4) * 4;
    let hlen = l4 + tcp_len;
    if tcp_len < 20 || hlen > packet.len() {
        return Err(OffloadError::Malformed);
    }
    let mss = usize::from(hdr.gso_size);
    if mss == 0 {
        return Err(OffloadError::Malformed);
    }
    if scratch.len() < hlen + mss {
        return Err(OffloadError::Scratch);
    }
    let (headers, payload) = packet.split_at(hlen);
    let seq0 = u32::from_be_bytes([
        headers[l4 + 4],
        headers[l4 + 5],
        headers[l4 + 6],
        headers[l4 + 7],
    ]);
    let flags0 = headers[l4 + 13];
    let id0 = u16::from_be_bytes([headers[4], headers[5]]);
    // Pseudo-header (RFC 9293 §3.1, RFC 8200 §8.1) without the length.
    let addr_sum = if v4 {
        sum16(0, &headers[12..20])
    } else {
        sum16(0, &headers[8..40])
    };
    let n = payload.len().div_ceil(mss).max(1);
    for i in 0..n {
        let chunk = &payload[(i * mss).min(payload.len())..((i + 1) * mss).min(payload.len())];
        let total = hlen + chunk.len();
        let seg = &mut scratch[..total];
        seg[..hlen].copy_from_slice(headers);
        seg[hlen..].copy_from_slice(chunk);
        if v4 {
            seg[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            seg[4..6].copy_from_slice(&id0.wrapping_add(i as u16).to_be_bytes());
            seg[10..12].copy_from_slice(&[0, 0]);
            let c = !fold(sum16(0, &seg[..l4]));
            seg[10..12].copy_from_slice(&c.to_be_bytes());
        } else {
            seg[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
        }
        let seq = seq0.wrapping_add((i * mss) as u32);
        seg[l4 + 4..l4 + 8].copy_from_slice(&seq.to_be_bytes());
        let mut flags = flags0;
        if i + 1 < n {
            flags &= !(TCP_FIN | TCP_PSH);
        }
        if i > 0 {
            flags &= !TCP_CWR;
        }
        seg[l4 + 13] = flags;
        seg[l4 + 16..l4 + 18].copy_from_slice(&[0, 0]);
        let l4_len = (total - l4) as u64;
        let sum = sum16(add1c(add1c(addr_sum, 6), l4_len), &seg[l4..]);
        let c = !fold(sum);
        seg[l4 + 16..l4 + 18].copy_from_slice(&c.to_be_bytes());
        f(seg);
    }
    Ok(n)
}

/// Receive-side coalescing for a TUN device with offloads (what GRO does
/// for a NIC): consecutive in-order segments of one TCP flow are joined
/// into one super-packet written with a [`VirtioNetHdr`] (`GSO_TCPV4/V6`,
/// `NEEDS_CSUM`), so the kernel's TCP receive path runs once for many
/// segments. Segments join only when Linux GRO would join them (RFC 9293
/// header fields equal but the sequence number, PSH last, in order, each
/// full-sized but the last). Likewise consecutive equal-sized datagrams of
/// one UDP flow become one `GSO_UDP_L4` packet (the kernel splits it again
/// for a socket without `UDP_GRO`), saving a TUN write and a trip through
/// the IP layer each.
pub struct TcpCoalescer {
    /// [`VirtioNetHdr`] room, then the first segment's headers and the
    /// joined payloads.
    buf: Vec<u8>,
    /// Octets of the IP packet in `buf` (0: nothing pending).
    len: usize,
    /// Transport header offset, headers' length.
    l4: usize,
    hlen: usize,
    /// Payload size of the first segment (the GSO size).
    mss: usize,
    count: usize,
    next_seq: u32,
    /// No segment may follow (a short one or PSH came).
    closed: bool,
    v4: bool,
    /// UDP datagrams rather than TCP segments.
    udp: bool,
    /// Whether UDP datagrams may be joined.
    join_udp: bool,
}

impl Default for TcpCoalescer {
    fn default() -> Self {
        Self::new()
    }
}

const TCP_SYN: u8 = 0x02;
const TCP_RST: u8 = 0x04;
const TCP_ACK: u8 = 0x10;
const TCP_URG: u8 = 0x20;
const TCP_ECE: u8 = 0x40;
/// The largest super-packet (the IP length fields).
const MAX_SUPER: usize = 65_535;
/// Most segments in one super-packet (the kernel's `UDP_MAX_SEGMENTS`).
const MAX_SEGMENTS: usize = 64;
/// Most payload octets joined into one UDP super-packet. The kernel splits
/// it again into the receiving socket's queue at once: a 64 KiB burst is
/// most of a default 208 KiB receive buffer, 16 KiB is not.
const MAX_UDP_SUPER: usize = 16 * 1024;

impl TcpCoalescer {
    pub fn new() -> Self {
        TcpCoalescer {
            buf: vec![0u8; VirtioNetHdr::LEN + MAX_SUPER],
            len: 0,
            l4: 0,
            hlen: 0,
            mss: 0,
            count: 0,
            next_seq: 0,
            closed: false,
            v4: true,
            udp: false,
            join_udp: true,
        }
    }

    /// Stops joining UDP datagrams (a kernel that refuses `GSO_UDP_L4` writes).
    pub fn stop_joining_udp(&mut self) {
        self.join_udp = false;
    }

    /// Whether the packet [`TcpCoalescer::finish`] returned last was a
    /// `GSO_UDP_L4` super-packet.
    pub fn finished_udp_gso(&self) -> bool {
        self.udp && self.count > 1
    }

    /// How many packets the one [`TcpCoalescer::finish`] returned last holds.
    pub fn finished_count(&self) -> usize {
        self.count
    }

    /// Whether a packet is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// (transport offset, header length, payload length, IPv4?, UDP?) of a
    /// TCP segment or UDP datagram that may be coalesced, else None.
    fn candidate(&self, p: &[u8]) -> Option<(usize, usize, usize, bool, bool)> {
        // An IPv6 packet's length field allows 65535 + 40 octets; the
        // pending buffer (and the super-packet's length fields) hold 65535.
        if p.len() > MAX_SUPER {
            return None;
        }
        let first = *p.first()?;
        let (l4, v4, proto) = match first >> 4 {
            4 => {
                // No options, no fragments, the length field right.
                if first != 0x45
                    || p.len() < 28
                    || u16::from_be_bytes([p[6], p[7]]) & 0x3fff != 0
                    || usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len()
                {
                    return None;
                }
                (20, true, p[9])
            }
            6 => {
                if p.len() < 48 || usize::from(u16::from_be_bytes([p[4], p[5]])) + 40 != p.len() {
                    return None;
                }
                (40, false, p[6])
            }
            _ => return None,
        };
        if proto == 17 {
            let ulen = usize::from(u16::from_be_bytes([p[l4 + 4], p[l4 + 5]]));
            if !self.join_udp || ulen != p.len() - l4 || ulen <= 8 {
                return None;
            }
            return Some((l4, l4 + 8, ulen - 8, v4, true));
        }
        if proto != 6 || p.len() < l4 + 20 {
            return None;
        }
        let hlen = l4 + usize::from(p[l4 + 12] >> 4) * 4;
        if hlen < l4 + 20 || hlen >= p.len() {
            return None; // no payload: a pure ACK goes as it is
        }
        let flags = p[l4 + 13];
        if flags & TCP_ACK == 0
            || flags & (TCP_SYN | TCP_FIN | TCP_RST | TCP_URG | TCP_ECE | TCP_CWR) != 0
        {
            return None;
        }
        Some((l4, hlen, p.len() - hlen, v4, false))
    }

    /// Takes `p` into the pending super-packet (or starts one with it);
    /// false if it does not join: the caller then writes what
    /// [`TcpCoalescer::finish`] returns and offers `p` again, or writes `p`
    /// alone if it is refused a second time.
    pub fn push(&mut self, p: &[u8]) -> bool {
        let Some((l4, hlen, plen, v4, udp)) = self.candidate(p) else {
            return false;
        };
        let seq = if udp {
            0
        } else {
            u32::from_be_bytes([p[l4 + 4], p[l4 + 5], p[l4 + 6], p[l4 + 7]])
        };
        let h = VirtioNetHdr::LEN;
        if self.len == 0 {
            self.buf[h..h + p.len()].copy_from_slice(p);
            self.len = p.len();
            self.l4 = l4;
            self.hlen = hlen;
            self.mss = plen;
            self.count = 1;
            self.next_seq = seq.wrapping_add(plen as u32);
            self.closed = !udp && p[l4 + 13] & TCP_PSH != 0;
            self.v4 = v4;
            self.udp = udp;
            return true;
        }
        if self.closed
            || v4 != self.v4
            || udp != self.udp
            || hlen != self.hlen
            || (!udp && seq != self.next_seq)
            || plen > self.mss
            || self.len + plen > if udp { MAX_UDP_SUPER } else { MAX_SUPER }
            || self.count >= MAX_SEGMENTS
        {
            return false;
        }
        let first = &self.buf[h..h + self.hlen];
        let same_ip = if v4 {
            // Version..TOS, flags, TTL, protocol, addresses.
            p[..2] == first[..2]
                && p[6] == first[6]
                && p[8..10] == first[8..10]
                && p[12..20] == first[12..20]
        } else {
            p[..4] == first[..4] && p[6..40] == first[6..40]
        };
        let same_l4 = if udp {
            p[l4..l4 + 4] == first[l4..l4 + 4]
        } else {
            // Ports, acknowledgment, data offset, flags but PSH, window,
            // urgent pointer and options equal.
            p[l4..l4 + 4] == first[l4..l4 + 4]
                && p[l4 + 8..l4 + 13] == first[l4 + 8..l4 + 13]
                && (p[l4 + 13] & !TCP_PSH) == (first[l4 + 13] & !TCP_PSH)
                && p[l4 + 14..l4 + 16] == first[l4 + 14..l4 + 16]
                && p[l4 + 18..hlen] == first[l4 + 18..hlen]
        };
        if !(same_ip && same_l4) {
            return false;
        }
        let at = h + self.len;
        self.buf[at..at + plen].copy_from_slice(&p[hlen..]);
        self.len += plen;
        self.count += 1;
        self.next_seq = seq.wrapping_add(plen as u32);
        if !udp && p[l4 + 13] & TCP_PSH != 0 {
            self.buf[h + l4 + 13] |= TCP_PSH;
            self.closed = true;
        }
        if plen < self.mss {
            self.closed = true;
        }
        true
    }

    /// The pending packet with its [`VirtioNetHdr`] in front, ready to
    /// write to the TUN device; nothing is pending afterwards.
    pub fn finish(&mut self) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        let h = VirtioNetHdr::LEN;
        let total = self.len;
        self.len = 0;
        let hdr = if self.count == 1 {
            // As it came: its checksums are complete.
            VirtioNetHdr::default()
        } else {
            let l4 = self.l4;
            let pkt = &mut self.buf[h..h + total];
            let l4_len = (total - l4) as u64;
            let addr_sum = if self.v4 {
                pkt[2..4].copy_from_slice(&(total as u16).to_be_bytes());
                pkt[10..12].copy_from_slice(&[0, 0]);
                let c = !fold(sum16(0, &pkt[..20]));
                pkt[10..12].copy_from_slice(&c.to_be_bytes());
                sum16(0, &pkt[12..20])
            } else {
                pkt[4..6].copy_from_slice(&((total - 40) as u16).to_be_bytes());
                sum16(0, &pkt[8..40])
            };
            // CHECKSUM_PARTIAL: the field holds the pseudo-header sum.
            let (proto, csum_offset, gso_type) = if self.udp {
                pkt[l4 + 4..l4 + 6].copy_from_slice(&(l4_len as u16).to_be_bytes());
                (17, 6, VirtioNetHdr::GSO_UDP_L4)
            } else if self.v4 {
                (6, 16, VirtioNetHdr::GSO_TCPV4)
            } else {
                (6, 16, VirtioNetHdr::GSO_TCPV6)
            };
            let partial = fold(add1c(add1c(addr_sum, proto), l4_len));
            let field = l4 + csum_offset;
            pkt[field..field + 2].copy_from_slice(&partial.to_be_bytes());
            VirtioNetHdr {
                flags: VirtioNetHdr::F_NEEDS_CSUM,
                gso_type,
                hdr_len: self.hlen as u16,
                gso_size: self.mss as u16,
                csum_start: l4 as u16,
                csum_offset: csum_offset as u16,
            }
        };
        hdr.emit(&mut self.buf[..h]);
        Some(&self.buf[..h + total])
    }
}

#[cfg(test)]
mod tests {
    /// Found by the `offload` fuzz target: all-ones addresses made the
    /// pseudo-header sum overflow; the segments' checksums must also be right.
    #[test]
    fn segmentation_with_all_ones_addresses_gives_valid_checksums() {
        let payload_len = 30;
        let mut p = vec![0u8; 40 + payload_len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&((40 + payload_len) as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..20].copy_from_slice(&[0xff; 8]);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x18;
        for (k, b) in p[40..].iter_mut().enumerate() {
            *b = k as u8;
        }
        let hdr = VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            gso_type: VirtioNetHdr::GSO_TCPV4,
            hdr_len: 40,
            gso_size: 10,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut scratch = vec![0u8; 2048];
        let mut segs = 0;
        let n = for_each_segment(&hdr, &mut p, &mut scratch, |seg| {
            segs += 1;
            let tcp_len = (seg.len() - 20) as u64;
            let sum = sum16(add1c(add1c(sum16(0, &seg[12..20]), 6), tcp_len), &seg[20..]);
            assert_eq!(fold(sum), 0xffff, "TCP checksum of segment {segs}");
            assert_eq!(fold(sum16(0, &seg[..20])), 0xffff, "IPv4 header checksum");
        })
        .unwrap();
        assert_eq!((n, segs), (3, 3));
    }

    use super::*;

    fn csum(data: &[u8]) -> u16 {
        !fold(sum16(0, data))
    }

    /// An IPv4/TCP packet with `payload`, checksums correct.
    fn tcp4(seq: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
        let total = 40 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&7u16.to_be_bytes());
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 1, 0, 1]);
        p[16..20].copy_from_slice(&[10, 2, 0, 1]);
        let c = csum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&5000u16.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = flags;
        p[40..].copy_from_slice(payload);
        let mut ph = Vec::new();
        ph.extend_from_slice(&p[12..20]);
        ph.extend_from_slice(&[0, 6]);
        ph.extend_from_slice(&((total - 20) as u16).to_be_bytes());
        ph.extend_from_slice(&p[20..]);
        let c = csum(&ph);
        p[36..38].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn a_super_packet_splits_into_what_the_sender_would_have_sent() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 7) as u8).collect();
        let mut sup = tcp4(1000, 0x18, &data); // PSH|ACK
                                               // What the kernel hands over: the pseudo-header sum in the field.
        let hdr = VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            gso_type: VirtioNetHdr::GSO_TCPV4,
            hdr_len: 40,
            gso_size: 1400,
            csum_start: 20,
            csum_offset: 16,
        };
        let mut segs = Vec::new();
        let mut scratch = vec![0u8; 2000];
        let n = for_each_segment(&hdr, &mut sup, &mut scratch, |s| segs.push(s.to_vec())).unwrap();
        assert_eq!(n, 3);
        let want = [
            tcp4(1000, 0x10, &data[..1400]),
            tcp4(2400, 0x10, &data[1400..2800]),
            tcp4(3800, 0x18, &data[2800..]),
        ];
        for (i, (got, want)) in segs.iter().zip(&want).enumerate() {
            let mut want = want.clone();
            want[4..6].copy_from_slice(&(7 + i as u16).to_be_bytes());
            want[10..12].copy_from_slice(&[0, 0]);
            let c = csum(&want[..20]);
            want[10..12].copy_from_slice(&c.to_be_bytes());
            assert_eq!(got, &want, "segment {i}");
        }
    }

    #[test]
    fn a_single_packet_gets_its_checksum_completed() {
        let good = tcp4(1, 0x10, b"hello");
        let mut p = good.clone();
        // Pseudo-header sum only, as with CHECKSUM_PARTIAL.
        let mut ph = Vec::new();
        ph.extend_from_slice(&p[12..20]);
        ph.extend_from_slice(&[0, 6, 0, 25]);
        let partial = fold(sum16(0, &ph));
        p[36..38].copy_from_slice(&partial.to_be_bytes());
        let hdr = VirtioNetHdr {
            flags: VirtioNetHdr::F_NEEDS_CSUM,
            csum_start: 20,
            csum_offset: 16,
            ..Default::default()
        };
        let mut out = Vec::new();
        for_each_segment(&hdr, &mut p, &mut [], |s| out = s.to_vec()).unwrap();
        assert_eq!(out, good);
    }

    #[test]
    fn bad_offsets_are_refused_not_panicked_on() {
        let mut p = tcp4(1, 0x10, b"x");
        for (start, off, gso, size) in [
            (200u16, 16u16, 0u8, 0u16),
            (20, 200, 0, 0),
            (60, 16, 1, 100),
            (20, 16, 1, 0),
            (20, 16, 3, 100),
        ] {
            let hdr = VirtioNetHdr {
                flags: 1,
                gso_type: gso,
                hdr_len: 0,
                gso_size: size,
                csum_start: start,
                csum_offset: off,
            };
            assert!(for_each_segment(&hdr, &mut p, &mut [0u8; 2000], |_| {}).is_err());
        }
    }

    #[test]
    fn in_order_segments_of_one_flow_join_and_split_back_unchanged() {
        let data: Vec<u8> = (0..3000u32).map(|i| (i * 13) as u8).collect();
        let segs = [
            tcp4(1000, 0x10, &data[..1400]),
            tcp4(2400, 0x10, &data[1400..2800]),
            tcp4(3800, 0x18, &data[2800..]),
        ];
        let mut g = TcpCoalescer::new();
        for s in &segs {
            assert!(g.push(s));
        }
        // PSH closed it.
        assert!(!g.push(&tcp4(4000, 0x10, b"late")));
        let mut sup = g.finish().unwrap().to_vec();
        assert!(g.is_empty());
        let hdr = VirtioNetHdr::parse(&sup).unwrap();
        assert_eq!(hdr.gso_type, VirtioNetHdr::GSO_TCPV4);
        assert_eq!(hdr.gso_size, 1400);
        let mut back = Vec::new();
        let mut scratch = vec![0u8; 2000];
        for_each_segment(&hdr, &mut sup[VirtioNetHdr::LEN..], &mut scratch, |s| {
            back.push(s.to_vec())
        })
        .unwrap();
        assert_eq!(back.len(), 3);
        for (got, want) in back.iter().zip(&segs) {
            // Same but the IP ID, which TSO numbers upwards.
            assert_eq!(got[20..], want[20..]);
            assert_eq!(got[..4], want[..4]);
        }
    }

    #[test]
    fn out_of_order_or_other_flows_do_not_join() {
        let mut g = TcpCoalescer::new();
        assert!(g.push(&tcp4(1000, 0x10, &[1; 100])));
        assert!(!g.push(&tcp4(1200, 0x10, &[1; 100])), "a gap");
        let mut other = tcp4(1100, 0x10, &[1; 100]);
        other[22..24].copy_from_slice(&80u16.to_be_bytes());
        assert!(!g.push(&other), "another port");
        assert!(!g.push(&tcp4(1100, 0x11, &[1; 100])), "FIN");
        // A lone packet goes out as it came, without GSO.
        let one = g.finish().unwrap().to_vec();
        assert_eq!(one[..VirtioNetHdr::LEN], [0; VirtioNetHdr::LEN]);
        assert_eq!(one[VirtioNetHdr::LEN..], tcp4(1000, 0x10, &[1; 100])[..]);
        assert!(!g.push(&tcp4(1, 0x10, b"")), "no payload");
        assert!(g.finish().is_none());
    }

    #[test]
    fn an_ipv6_packet_larger_than_a_super_packet_is_refused_not_panicked_on() {
        let mut g = TcpCoalescer::new();
        for proto in [17u8, 6] {
            // Payload length 65535: 65575 octets in all.
            let mut p = vec![0u8; 40 + 65_535];
            p[0] = 0x60;
            p[4..6].copy_from_slice(&65_535u16.to_be_bytes());
            p[6] = proto;
            p[8] = 64;
            p[40 + 4..40 + 6].copy_from_slice(&65_535u16.to_be_bytes()); // UDP length
            p[40 + 12] = 5 << 4; // TCP data offset
            p[40 + 13] = TCP_ACK;
            assert!(!g.push(&p), "protocol {proto}");
            assert!(g.is_empty());
        }
        // The largest that fits still joins.
        let mut p = vec![0u8; MAX_SUPER];
        p[0] = 0x60;
        p[4..6].copy_from_slice(&((MAX_SUPER - 40) as u16).to_be_bytes());
        p[6] = 17;
        p[40 + 4..40 + 6].copy_from_slice(&((MAX_SUPER - 40) as u16).to_be_bytes());
        assert!(g.push(&p));
        assert_eq!(g.finish().unwrap().len(), VirtioNetHdr::LEN + MAX_SUPER);
    }

    fn udp4(sport: u16, payload: &[u8]) -> Vec<u8> {
        let total = 28 + payload.len();
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 1, 0, 1]);
        p[16..20].copy_from_slice(&[10, 2, 0, 1]);
        let c = csum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p[20..22].copy_from_slice(&sport.to_be_bytes());
        p[22..24].copy_from_slice(&5201u16.to_be_bytes());
        p[24..26].copy_from_slice(&((total - 20) as u16).to_be_bytes());
        p[28..].copy_from_slice(payload);
        p
    }

    #[test]
    fn equal_datagrams_of_one_flow_become_one_udp_gso_packet() {
        let mut g = TcpCoalescer::new();
        assert!(g.push(&udp4(4000, &[1; 100])));
        assert!(g.push(&udp4(4000, &[2; 100])));
        assert!(!g.push(&udp4(4001, &[3; 100])), "another flow");
        assert!(!g.push(&udp4(4000, &[3; 101])), "larger");
        assert!(g.push(&udp4(4000, &[3; 60])), "a shorter one ends it");
        assert!(!g.push(&udp4(4000, &[4; 60])));
        let sup = g.finish().unwrap().to_vec();
        assert!(g.finished_udp_gso());
        let hdr = VirtioNetHdr::parse(&sup).unwrap();
        assert_eq!(
            (
                hdr.gso_type,
                hdr.gso_size,
                hdr.csum_start,
                hdr.csum_offset,
                hdr.hdr_len
            ),
            (VirtioNetHdr::GSO_UDP_L4, 100, 20, 6, 28)
        );
        let p = &sup[VirtioNetHdr::LEN..];
        assert_eq!(p.len(), 28 + 260);
        assert_eq!(u16::from_be_bytes([p[2], p[3]]) as usize, p.len());
        assert_eq!(u16::from_be_bytes([p[24], p[25]]) as usize, p.len() - 20);
        assert_eq!(csum(&p[..20]), 0, "IPv4 header checksum valid");
        assert_eq!(&p[28..128], &[1; 100]);
        assert_eq!(&p[228..], &[3; 60]);
    }
}
