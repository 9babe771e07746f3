//! IPv4 (RFC 791) and IPv6 (RFC 8200) views, emitters and checksums.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_dp::ip::{
    fill_transport_checksum, ipv4_header_checksum, ipv6_ipsec_split, transport_checksum,
    verify_transport_checksum, IpError, IpPacket, IpVersion, Ipv4Packet, Ipv4Repr, Ipv6Packet,
    Ipv6Repr, IPPROTO_DSTOPTS, IPPROTO_FRAGMENT, IPPROTO_HOPOPTS, IPPROTO_ICMPV6, IPPROTO_ROUTING,
};
use ipsec_dp::write_udp;
use proptest::prelude::*;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// A captured IPv4 header (the classic example used by Wikipedia's "IPv4
/// header checksum" article and many textbooks): checksum 0xb861.
const CAPTURED_V4_HEADER: &str = "4500 0073 0000 4000 4011 b861 c0a8 0001 c0a8 00c7";

#[test]
fn captured_ipv4_header_checksum_verifies_and_recomputes() {
    let mut h = unhex(CAPTURED_V4_HEADER);
    assert_eq!(ipv4_header_checksum(&h), 0);
    h[10] = 0;
    h[11] = 0;
    assert_eq!(ipv4_header_checksum(&h), 0xb861);
    // The view reads the fields.
    h.resize(0x73, 0);
    let p = Ipv4Packet::new_checked(&h[..]).unwrap();
    assert_eq!(p.src_addr(), Ipv4Addr::new(192, 168, 0, 1));
    assert_eq!(p.dst_addr(), Ipv4Addr::new(192, 168, 0, 199));
    assert_eq!((p.protocol(), p.ttl(), p.total_len()), (17, 64, 0x73));
    assert!(p.dont_frag() && !p.is_fragment());
}

fn v4_udp(src: Ipv4Addr, dst: Ipv4Addr, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 20 + 8 + payload.len()];
    let n = write_udp(5683, 40000, src.into(), dst.into(), payload, &mut buf[20..]).unwrap();
    Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: 17,
        payload_len: n,
        ttl: 64,
        dscp: 46,
        ecn: 1,
        ident: 0x1234,
        dont_frag: true,
    }
    .emit(&mut buf)
    .unwrap();
    buf
}

fn v6_udp(src: Ipv6Addr, dst: Ipv6Addr, payload: &[u8]) -> Vec<u8> {
    let mut buf = vec![0u8; 40 + 8 + payload.len()];
    let n = write_udp(5683, 40000, src.into(), dst.into(), payload, &mut buf[40..]).unwrap();
    Ipv6Repr {
        src_addr: src,
        dst_addr: dst,
        next_header: 17,
        payload_len: n,
        hop_limit: 64,
        traffic_class: 0xb8,
        flow_label: 0xabcde,
    }
    .emit(&mut buf)
    .unwrap();
    buf
}

#[test]
fn ipv4_emit_then_parse_gives_the_same_repr_and_valid_udp_checksum() {
    let (s, d) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
    let pkt = v4_udp(s, d, b"hello");
    let view = Ipv4Packet::new_checked(&pkt[..]).unwrap();
    let repr = Ipv4Repr::parse(&view).unwrap();
    assert_eq!((repr.dscp, repr.ecn, repr.ident), (46, 1, 0x1234));
    let ip = IpPacket::parse(&pkt).unwrap();
    assert_eq!(ip.version(), IpVersion::V4);
    assert_eq!(ip.ports(), Some((5683, 40000)));
    assert!(verify_transport_checksum(
        s.into(),
        d.into(),
        17,
        ip.payload()
    ));
}

#[test]
fn ipv4_bad_checksum_fragments_and_lengths_are_typed_errors() {
    let pkt = v4_udp(Ipv4Addr::LOCALHOST, Ipv4Addr::LOCALHOST, b"x");
    let mut bad = pkt.clone();
    bad[10] ^= 1;
    assert_eq!(IpPacket::parse(&bad), Err(IpError::BadChecksum));

    // More Fragments set, checksum fixed: a fragment.
    let mut frag = pkt.clone();
    frag[6] |= 0x20;
    Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
    assert_eq!(IpPacket::parse(&frag), Err(IpError::Fragment));
    // A non-zero offset: also a fragment.
    let mut frag = pkt.clone();
    frag[7] = 1;
    Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
    assert_eq!(IpPacket::parse(&frag), Err(IpError::Fragment));

    assert_eq!(IpPacket::parse(&pkt[..19]), Err(IpError::Truncated));
    assert_eq!(
        IpPacket::parse(&pkt[..pkt.len() - 1]),
        Err(IpError::BadLength {
            field: pkt.len(),
            available: pkt.len() - 1
        })
    );
    let mut ihl = pkt.clone();
    ihl[0] = 0x44;
    assert_eq!(IpPacket::parse(&ihl), Err(IpError::BadHeaderLength(4)));
    let mut v = pkt.clone();
    v[0] = 0x55;
    assert_eq!(IpPacket::parse(&v), Err(IpError::BadVersion(5)));
    assert_eq!(IpPacket::parse(&[]), Err(IpError::Truncated));
}

#[test]
fn ipv4_options_are_kept_and_link_padding_is_cut() {
    // IHL 6: a 4-octet option area (NOP NOP NOP EOL).
    let inner = v4_udp(Ipv4Addr::new(1, 2, 3, 4), Ipv4Addr::new(5, 6, 7, 8), b"opt");
    let mut pkt = inner[..20].to_vec();
    pkt.extend_from_slice(&[1, 1, 1, 0]);
    pkt.extend_from_slice(&inner[20..]);
    pkt.extend_from_slice(&[0xEE; 6]); // Ethernet padding after the packet
    {
        let mut p = Ipv4Packet::new_unchecked(&mut pkt[..]);
        p.set_version_and_header_len(24);
        p.set_total_len((inner.len() + 4) as u16);
        p.fill_checksum();
    }
    let ip = IpPacket::parse(&pkt).unwrap();
    assert_eq!(ip.header_len(), 24);
    assert_eq!(ip.len(), inner.len() + 4);
    assert_eq!(ip.payload(), &inner[20..]);
    assert_eq!(
        Ipv4Packet::new_checked(&pkt[..]).unwrap().options(),
        &[1, 1, 1, 0]
    );
}

#[test]
fn ipv6_emit_then_parse() {
    let (s, d): (Ipv6Addr, Ipv6Addr) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::2".parse().unwrap(),
    );
    let pkt = v6_udp(s, d, b"hello6");
    let v = Ipv6Packet::new_checked(&pkt[..]).unwrap();
    let r = Ipv6Repr::parse(&v).unwrap();
    assert_eq!(
        (r.traffic_class, r.flow_label, r.hop_limit),
        (0xb8, 0xabcde, 64)
    );
    let ip = IpPacket::parse(&pkt).unwrap();
    assert_eq!((ip.protocol(), ip.header_len()), (17, 40));
    assert_eq!((ip.dscp(), ip.ecn()), (0xb8 >> 2, 0));
    assert!(verify_transport_checksum(
        s.into(),
        d.into(),
        17,
        ip.payload()
    ));
}

/// Builds `fixed header | ext headers | UDP` with the given chain of
/// (kind, body length in 8-octet units beyond the first).
fn v6_with_chain(chain: &[(u8, u8)]) -> Vec<u8> {
    let base = v6_udp(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, b"chain");
    let mut exts = Vec::new();
    for (i, &(_, units)) in chain.iter().enumerate() {
        let next = chain.get(i + 1).map_or(17, |c| c.0);
        let mut h = vec![0u8; (usize::from(units) + 1) * 8];
        h[0] = next;
        h[1] = units;
        // PadN covering the rest of an options header.
        h[2] = 1;
        h[3] = (h.len() - 4) as u8;
        exts.extend_from_slice(&h);
    }
    let mut pkt = base[..40].to_vec();
    pkt.extend_from_slice(&exts);
    pkt.extend_from_slice(&base[40..]);
    pkt[6] = chain.first().map_or(17, |c| c.0);
    let plen = (pkt.len() - 40) as u16;
    pkt[4..6].copy_from_slice(&plen.to_be_bytes());
    pkt
}

#[test]
fn ipv6_extension_headers_are_walked_to_the_upper_layer() {
    let pkt = v6_with_chain(&[
        (IPPROTO_HOPOPTS, 0),
        (IPPROTO_ROUTING, 1),
        (IPPROTO_DSTOPTS, 0),
    ]);
    let ip = IpPacket::parse(&pkt).unwrap();
    assert_eq!(ip.protocol(), 17);
    assert_eq!(ip.header_len(), 40 + 8 + 16 + 8);
    assert_eq!(ip.next_header_field(), 40 + 8 + 16);
    assert_eq!(ip.ports(), Some((5683, 40000)));
    let kinds: Vec<u8> = Ipv6Packet::new_checked(&pkt[..])
        .unwrap()
        .ext_headers()
        .map(|h| h.unwrap().kind)
        .collect();
    assert_eq!(kinds, [IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS]);
}

/// RFC 4303 §3.1.1: ESP/AH go after Hop-by-Hop and Routing; a Destination
/// Options header after a Routing header stays behind them (Linux, scapy).
#[test]
fn ipsec_split_point_follows_the_linux_placement() {
    let pkt = v6_with_chain(&[
        (IPPROTO_HOPOPTS, 0),
        (IPPROTO_ROUTING, 1),
        (IPPROTO_DSTOPTS, 0),
    ]);
    let s = ipv6_ipsec_split(&pkt).unwrap();
    assert_eq!(
        (s.offset, s.protocol, s.next_header_field),
        (40 + 8 + 16, IPPROTO_DSTOPTS, 48)
    );
    let pkt = v6_with_chain(&[(IPPROTO_HOPOPTS, 0), (IPPROTO_DSTOPTS, 0)]);
    let s = ipv6_ipsec_split(&pkt).unwrap();
    assert_eq!((s.offset, s.protocol), (56, 17));
    let pkt = v6_with_chain(&[]);
    let s = ipv6_ipsec_split(&pkt).unwrap();
    assert_eq!((s.offset, s.protocol, s.next_header_field), (40, 17, 6));
}

#[test]
fn ipv6_fragment_header_and_broken_chains_are_typed_errors() {
    let pkt = v6_with_chain(&[(IPPROTO_FRAGMENT, 0)]);
    assert_eq!(IpPacket::parse(&pkt), Err(IpError::Fragment));
    let pkt = v6_with_chain(&[(IPPROTO_DSTOPTS, 0), (IPPROTO_HOPOPTS, 0)]);
    assert_eq!(IpPacket::parse(&pkt), Err(IpError::HopByHopNotFirst));
    let mut pkt = v6_with_chain(&[(IPPROTO_DSTOPTS, 0)]);
    pkt[41] = 200; // header length far beyond the packet
    assert_eq!(
        IpPacket::parse(&pkt),
        Err(IpError::ExtensionHeaderTruncated)
    );
    let pkt = v6_udp(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, b"x");
    assert_eq!(
        IpPacket::parse(&pkt[..pkt.len() - 1]),
        Err(IpError::BadLength {
            field: pkt.len(),
            available: pkt.len() - 1
        })
    );
}

#[test]
fn no_next_header_and_icmpv6_stop_the_walk() {
    let mut pkt = v6_udp(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, b"");
    pkt[6] = 59;
    assert_eq!(IpPacket::parse(&pkt).unwrap().protocol(), 59);
    pkt[6] = IPPROTO_ICMPV6;
    pkt[40] = 128; // echo request
    pkt[41] = 0;
    let ip = IpPacket::parse(&pkt).unwrap();
    assert_eq!(ip.icmp_type_code(), Some((128, 0)));
    assert_eq!(ip.ports(), None);
}

#[test]
fn transport_checksum_helpers_agree_with_the_udp_writer() {
    let (s, d): (IpAddr, IpAddr) = (
        "2001:db8::1".parse().unwrap(),
        "2001:db8::99".parse().unwrap(),
    );
    let mut seg = vec![0u8; 8 + 11];
    write_udp(1, 2, s, d, b"checksummed", &mut seg).unwrap();
    let written = u16::from_be_bytes([seg[6], seg[7]]);
    fill_transport_checksum(s, d, 17, &mut seg).unwrap();
    assert_eq!(u16::from_be_bytes([seg[6], seg[7]]), written);
    assert_eq!(transport_checksum(s, d, 17, &seg), Ok(0));
    // Mixed families are refused.
    assert_eq!(
        transport_checksum(s, IpAddr::V4(Ipv4Addr::LOCALHOST), 17, &seg),
        Err(IpError::AddressFamilyMismatch)
    );
    // A zero UDP checksum is "none" over IPv4 only.
    seg[6] = 0;
    seg[7] = 0;
    assert!(!verify_transport_checksum(s, d, 17, &seg));
    let v4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert!(verify_transport_checksum(v4, v4, 17, &seg));
    assert_eq!(
        fill_transport_checksum(s, d, 6, &mut [0u8; 19]),
        Err(IpError::Truncated)
    );
}

fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    any::<u128>().prop_map(Ipv6Addr::from)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn ipv4_repr_round_trips(
        src in v4_addr(), dst in v4_addr(), protocol in any::<u8>(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        ttl in any::<u8>(), dscp in 0u8..64, ecn in 0u8..4, ident in any::<u16>(), df in any::<bool>(),
    ) {
        let repr = Ipv4Repr { src_addr: src, dst_addr: dst, protocol, payload_len: payload.len(), ttl, dscp, ecn, ident, dont_frag: df };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        buf[20..].copy_from_slice(&payload);
        let view = Ipv4Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&view).unwrap(), repr);
        prop_assert_eq!(view.payload(), &payload[..]);
    }

    #[test]
    fn ipv6_repr_round_trips(
        src in v6_addr(), dst in v6_addr(), next_header in any::<u8>(),
        payload in prop::collection::vec(any::<u8>(), 0..300),
        hop_limit in any::<u8>(), tc in any::<u8>(), flow in 0u32..(1 << 20),
    ) {
        let repr = Ipv6Repr { src_addr: src, dst_addr: dst, next_header, payload_len: payload.len(), hop_limit, traffic_class: tc, flow_label: flow };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut buf).unwrap();
        buf[40..].copy_from_slice(&payload);
        let view = Ipv6Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(Ipv6Repr::parse(&view).unwrap(), repr);
        prop_assert_eq!(view.payload(), &payload[..]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200), v6 in any::<bool>()) {
        let mut bytes = bytes;
        if let Some(b) = bytes.first_mut() {
            *b = (*b & 0x0F) | if v6 { 0x60 } else { 0x40 };
        }
        if let Ok(p) = IpPacket::parse(&bytes) {
            let _ = (p.ports(), p.icmp_type_code(), p.payload(), p.hop_limit(), p.dscp());
            prop_assert!(p.len() <= bytes.len());
        }
        let _ = ipv6_ipsec_split(&bytes);
        let v4 = Ipv4Packet::new_unchecked(&bytes[..]);
        let _ = (v4.payload(), v4.options(), v4.src_addr(), v4.verify_checksum());
        let v6p = Ipv6Packet::new_unchecked(&bytes[..]);
        for h in v6p.ext_headers() { let _ = h; }
    }
}
