//! ESP transport and tunnel mode (RFC 4303 §3.1) between a TUN device and
//! the wire, both encapsulations (RFC 3948 UDP, raw IP), both families.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use ipsec_dp::ip::{
    verify_transport_checksum, IpError, IpPacket, Ipv4Packet, Ipv4Repr, Ipv6Repr, ECN_CE, ECN_ECT0,
    ECN_NOT_ECT,
};
use ipsec_dp::mode::{
    transport_protect, transport_unprotect, tunnel_protect, tunnel_unprotect, DscpPolicy, EspEncap,
    ProtectError, Received, TunnelConfig, UnprotectError,
};
use ipsec_dp::{write_udp, DropReason, EspSuite, InboundSa, OutboundSa, SaKeys, Sad};
use proptest::prelude::*;

const SPI: u32 = 0x0000_1001;

fn keys(suite: EspSuite) -> SaKeys {
    let km: Vec<u8> = (0..suite.keymat_len() as u8).map(|i| i ^ 0x5a).collect();
    SaKeys::new(suite, &km).unwrap()
}

fn pair(suite: EspSuite, now: Instant) -> (OutboundSa, InboundSa) {
    (
        OutboundSa::new(SPI, keys(suite), now, None).unwrap(),
        InboundSa::new(SPI, keys(suite), now, None).unwrap(),
    )
}

fn udp_packet(src: IpAddr, dst: IpAddr, payload: &[u8], tc: u8) -> Vec<u8> {
    let hl = if src.is_ipv4() { 20 } else { 40 };
    let mut buf = vec![0u8; hl + 8 + payload.len()];
    let n = write_udp(5683, 61616, src, dst, payload, &mut buf[hl..]).unwrap();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ipv4Repr {
            src_addr: s,
            dst_addr: d,
            protocol: 17,
            payload_len: n,
            ttl: 64,
            dscp: tc >> 2,
            ecn: tc & 3,
            ident: 77,
            dont_frag: true,
        }
        .emit(&mut buf)
        .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ipv6Repr {
            src_addr: s,
            dst_addr: d,
            next_header: 17,
            payload_len: n,
            hop_limit: 64,
            traffic_class: tc,
            flow_label: 0x12345,
        }
        .emit(&mut buf)
        .unwrap(),
        _ => unreachable!(),
    }
    buf
}

fn v4(a: [u8; 4]) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

fn v6(s: &str) -> IpAddr {
    IpAddr::V6(s.parse::<Ipv6Addr>().unwrap())
}

fn c() -> IpAddr {
    v4([192, 0, 2, 1])
}

fn rs() -> IpAddr {
    v4([198, 51, 100, 7])
}

#[test]
fn transport_mode_udp_encap_round_trip_ipv4() {
    let now = Instant::now();
    let (mut tx, rx) = pair(EspSuite::AesCcm8_128, now);
    let mut sad = Sad::new();
    sad.insert_inbound(rx).unwrap();
    let pkt = udp_packet(c(), rs(), b"GET /temp", 0);
    let mut wire = [0u8; 256];
    let p = transport_protect(&mut tx, now, &pkt, EspEncap::Udp, &mut wire).unwrap();
    assert_eq!((p.src, p.dst, p.spi, p.seq), (c(), rs(), SPI, 1));
    assert_eq!(&wire[..4], &SPI.to_be_bytes());
    assert_eq!(p.len, tx.sealed_len(pkt.len() - 20));

    let mut tun = [0u8; 256];
    let u = transport_unprotect(
        &mut sad,
        now,
        Received::Udp {
            src: c(),
            dst: rs(),
            ecn: ECN_NOT_ECT,
            esp: &mut wire[..p.len],
        },
        &mut tun,
    )
    .unwrap();
    assert_eq!((u.spi, u.seq, u.next_header), (SPI, 1, 17));
    let got = IpPacket::parse(&tun[..u.len]).unwrap();
    assert_eq!((got.src(), got.dst(), got.protocol()), (c(), rs(), 17));
    assert_eq!(got.payload(), &pkt[20..]);
}

#[test]
fn transport_mode_raw_ip_keeps_the_header_and_fixes_length_and_checksum() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
    let (s, d) = (v6("2001:db8::1"), v6("2001:db8:1::7"));
    let pkt = udp_packet(s, d, b"v6 payload", 0xb8);
    let mut wire = [0u8; 256];
    let p = transport_protect(&mut tx, now, &pkt, EspEncap::RawIp, &mut wire).unwrap();
    let outer = IpPacket::parse(&wire[..p.len]).unwrap();
    assert_eq!((outer.protocol(), outer.src(), outer.dst()), (50, s, d));
    assert_eq!(outer.traffic_class(), 0xb8);
    assert_eq!(
        &wire[..4],
        &pkt[..4],
        "version, traffic class, flow label kept"
    );

    let mut tun = [0u8; 256];
    let u =
        transport_unprotect(&mut rx, now, Received::RawIp(&mut wire[..p.len]), &mut tun).unwrap();
    assert_eq!(
        &tun[..u.len],
        &pkt[..],
        "the original packet comes back byte for byte"
    );
}

/// RFC 3948 §3.1.2: behind a NAT, the UDP checksum the sender computed
/// over its private address does not fit the address the packet arrives
/// with; the receiver recomputes it so that the TUN's stack accepts it.
#[test]
fn transport_mode_after_nat_recomputes_the_udp_checksum() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
    let private = v4([10, 0, 0, 5]);
    let public = v4([203, 0, 113, 50]);
    let pkt = udp_packet(private, rs(), b"behind a NAT", 0);
    let mut wire = [0u8; 256];
    let p = transport_protect(&mut tx, now, &pkt, EspEncap::Udp, &mut wire).unwrap();
    let mut tun = [0u8; 256];
    let u = transport_unprotect(
        &mut rx,
        now,
        Received::Udp {
            src: public,
            dst: rs(),
            ecn: ECN_NOT_ECT,
            esp: &mut wire[..p.len],
        },
        &mut tun,
    )
    .unwrap();
    let got = IpPacket::parse(&tun[..u.len]).unwrap();
    assert_eq!(got.src(), public);
    assert!(verify_transport_checksum(public, rs(), 17, got.payload()));
    assert!(!verify_transport_checksum(public, rs(), 17, &pkt[20..]));
    // Ports and data untouched.
    assert_eq!(&got.payload()[..6], &pkt[20..26]);
    assert_eq!(&got.payload()[8..], &pkt[28..]);
}

#[test]
fn tunnel_mode_all_family_combinations_round_trip() {
    let now = Instant::now();
    let inners = [
        udp_packet(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), b"inner v4", 0xb9),
        udp_packet(v6("fd00::1"), v6("fd00::2"), b"inner v6", 0xb9),
    ];
    let outers = [(c(), rs()), (v6("2001:db8::1"), v6("2001:db8:1::7"))];
    for inner in &inners {
        for &(local, remote) in &outers {
            for encap in [EspEncap::Udp, EspEncap::RawIp] {
                let (mut tx, rx) = pair(EspSuite::AesGcm16_256, now);
                let mut sad = Sad::new();
                sad.insert_inbound(rx).unwrap();
                let cfg = TunnelConfig::new(local, remote);
                let mut wire = [0u8; 512];
                let p = tunnel_protect(&mut tx, now, &cfg, inner, encap, &mut wire).unwrap();
                // RFC 4301 §5.1.2: DSCP copied; RFC 6040 normal mode: ECN copied.
                assert_eq!(p.traffic_class, 0xb9);
                if encap == EspEncap::RawIp {
                    let o = IpPacket::parse(&wire[..p.len]).unwrap();
                    assert_eq!((o.src(), o.dst(), o.protocol()), (local, remote, 50));
                    assert_eq!((o.traffic_class(), o.hop_limit()), (0xb9, 64));
                }
                let received = match encap {
                    EspEncap::Udp => Received::Udp {
                        src: remote,
                        dst: local,
                        ecn: ECN_NOT_ECT,
                        esp: &mut wire[..p.len],
                    },
                    EspEncap::RawIp => Received::RawIp(&mut wire[..p.len]),
                };
                let mut tun = [0u8; 512];
                let u = tunnel_unprotect(&mut sad, now, received, &mut tun).unwrap();
                assert_eq!(&tun[..u.len], &inner[..]);
                assert_eq!(u.next_header, if inner[0] >> 4 == 4 { 4 } else { 41 });
            }
        }
    }
}

#[test]
fn tunnel_dscp_can_be_set_and_endpoints_must_agree() {
    let now = Instant::now();
    let (mut tx, _) = pair(EspSuite::AesGcm16_128, now);
    let inner = udp_packet(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), b"x", 0xb8 | ECN_ECT0);
    let mut cfg = TunnelConfig::new(c(), rs());
    cfg.dscp = DscpPolicy::Set(0);
    let mut wire = [0u8; 256];
    let p = tunnel_protect(&mut tx, now, &cfg, &inner, EspEncap::RawIp, &mut wire).unwrap();
    assert_eq!(p.traffic_class, ECN_ECT0);
    let bad = TunnelConfig::new(c(), v6("2001:db8::1"));
    assert_eq!(
        tunnel_protect(&mut tx, now, &bad, &inner, EspEncap::RawIp, &mut wire),
        Err(ProtectError::EndpointFamilyMismatch)
    );
}

/// RFC 6040 §4.2: a CE mark on the outer header reaches an ECT inner
/// header, and a CE-marked outer header of a Not-ECT inner packet is dropped.
#[test]
fn tunnel_decapsulation_propagates_ce_and_drops_ce_on_not_ect() {
    let now = Instant::now();
    for (inner_ecn, result) in [
        (ECN_ECT0, Ok(ECN_CE)),
        (ECN_NOT_ECT, Err(UnprotectError::EcnDrop)),
    ] {
        let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
        let inner = udp_packet(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), b"ecn", inner_ecn);
        let cfg = TunnelConfig::new(c(), rs());
        let mut wire = [0u8; 256];
        let p = tunnel_protect(&mut tx, now, &cfg, &inner, EspEncap::RawIp, &mut wire).unwrap();
        // A router marks congestion on the outer header.
        {
            let mut o = Ipv4Packet::new_unchecked(&mut wire[..p.len]);
            let tos = o.tos() | ECN_CE;
            o.set_tos(tos);
            o.fill_checksum();
        }
        let mut tun = [0u8; 256];
        let r = tunnel_unprotect(&mut rx, now, Received::RawIp(&mut wire[..p.len]), &mut tun);
        match result {
            Ok(want) => {
                let u = r.unwrap();
                let got = IpPacket::parse(&tun[..u.len]).unwrap();
                assert_eq!(got.ecn(), want);
                assert_eq!(got.dscp(), 0);
            }
            Err(e) => assert_eq!(r, Err(e)),
        }
    }
}

#[test]
fn wrong_next_header_for_the_mode_is_refused() {
    let now = Instant::now();
    let inner = udp_packet(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), b"x", 0);
    // Tunnel-mode packet into the transport-mode path.
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
    let cfg = TunnelConfig::new(c(), rs());
    let mut wire = [0u8; 256];
    let p = tunnel_protect(&mut tx, now, &cfg, &inner, EspEncap::RawIp, &mut wire).unwrap();
    let mut tun = [0u8; 256];
    assert_eq!(
        transport_unprotect(&mut rx, now, Received::RawIp(&mut wire[..p.len]), &mut tun),
        Err(UnprotectError::UnexpectedNextHeader(4))
    );
    // Transport-mode packet into the tunnel-mode path.
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
    let p = transport_protect(&mut tx, now, &inner, EspEncap::RawIp, &mut wire).unwrap();
    assert_eq!(
        tunnel_unprotect(&mut rx, now, Received::RawIp(&mut wire[..p.len]), &mut tun),
        Err(UnprotectError::UnexpectedNextHeader(17))
    );
}

#[test]
fn tunnel_inner_garbage_is_refused_after_authentication() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
    // A peer that seals garbage with Next Header 4.
    let mut wire = [0u8; 128];
    let n = tx
        .seal(now, 4, b"not an IPv4 packet at all", &mut wire)
        .unwrap();
    let mut tun = [0u8; 128];
    let r = tunnel_unprotect(
        &mut rx,
        now,
        Received::Udp {
            src: rs(),
            dst: c(),
            ecn: 0,
            esp: &mut wire[..n],
        },
        &mut tun,
    );
    assert!(matches!(r, Err(UnprotectError::Inner(_))), "{r:?}");
    // Next Header 41 with an IPv4 packet inside: family mismatch.
    let inner = udp_packet(v4([10, 0, 0, 1]), v4([10, 0, 0, 2]), b"x", 0);
    let n = tx.seal(now, 41, &inner, &mut wire).unwrap();
    let r = tunnel_unprotect(
        &mut rx,
        now,
        Received::Udp {
            src: rs(),
            dst: c(),
            ecn: 0,
            esp: &mut wire[..n],
        },
        &mut tun,
    );
    assert_eq!(r, Err(UnprotectError::Inner(IpError::BadVersion(4))));
}

/// RFC 4303 §2.7: TFC padding after the inner packet is cut using the
/// inner header's length.
#[test]
fn tunnel_tfc_padding_is_removed() {
    let now = Instant::now();
    let (mut tx, mut rx) = pair(EspSuite::AesGcm16_128, now);
    let inner = udp_packet(v6("fd00::1"), v6("fd00::2"), b"padded", 0);
    let mut padded = inner.clone();
    padded.extend_from_slice(&[0u8; 37]);
    let mut wire = [0u8; 256];
    let n = tx.seal(now, 41, &padded, &mut wire).unwrap();
    let mut tun = [0u8; 256];
    let u = tunnel_unprotect(
        &mut rx,
        now,
        Received::Udp {
            src: rs(),
            dst: c(),
            ecn: 0,
            esp: &mut wire[..n],
        },
        &mut tun,
    )
    .unwrap();
    assert_eq!(&tun[..u.len], &inner[..]);
}

#[test]
fn unknown_spi_replay_not_esp_and_small_buffers_are_typed_errors() {
    let now = Instant::now();
    let (mut tx, rx) = pair(EspSuite::AesGcm16_128, now);
    let mut sad = Sad::new();
    sad.insert_inbound(rx).unwrap();
    let pkt = udp_packet(c(), rs(), b"once", 0);
    let mut wire = [0u8; 256];
    let p = transport_protect(&mut tx, now, &pkt, EspEncap::RawIp, &mut wire).unwrap();
    let copy = wire;
    let mut tun = [0u8; 256];
    transport_unprotect(&mut sad, now, Received::RawIp(&mut wire[..p.len]), &mut tun).unwrap();
    let mut again = copy;
    assert_eq!(
        transport_unprotect(
            &mut sad,
            now,
            Received::RawIp(&mut again[..p.len]),
            &mut tun
        ),
        Err(UnprotectError::Esp(DropReason::Replayed))
    );
    let mut other = copy;
    other[20] ^= 0xFF; // SPI
    assert_eq!(
        transport_unprotect(
            &mut sad,
            now,
            Received::RawIp(&mut other[..p.len]),
            &mut tun
        ),
        Err(UnprotectError::Esp(DropReason::UnknownSpi))
    );
    assert_eq!(sad.drops().get(DropReason::Replayed), 1);
    assert_eq!(sad.drops().get(DropReason::UnknownSpi), 1);
    // A UDP packet on the raw path is not ESP.
    let mut plain = pkt.clone();
    assert_eq!(
        transport_unprotect(&mut sad, now, Received::RawIp(&mut plain), &mut tun),
        Err(UnprotectError::NotEsp(17))
    );
    // Truncated outer packet.
    let mut short = copy;
    assert!(matches!(
        transport_unprotect(&mut sad, now, Received::RawIp(&mut short[..10]), &mut tun),
        Err(UnprotectError::Outer(IpError::Truncated))
    ));
    // Output buffer too small: nothing sealed, the sequence number is not spent.
    let before = tx.last_seq();
    let mut tiny = [0u8; 30];
    assert!(matches!(
        transport_protect(&mut tx, now, &pkt, EspEncap::RawIp, &mut tiny),
        Err(ProtectError::BufferTooSmall { .. })
    ));
    assert_eq!(tx.last_seq(), before);
    // A fragment from the TUN is refused.
    let mut frag = pkt.clone();
    frag[6] |= 0x20;
    Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
    assert_eq!(
        transport_protect(&mut tx, now, &frag, EspEncap::RawIp, &mut wire),
        Err(ProtectError::Ip(IpError::Fragment))
    );
}

// ---------------------------------------------------------------------------
// Independent vectors: scapy's ESP (tests/vectors/gen_scapy_ipsec_modes.py).
// ---------------------------------------------------------------------------

fn scapy_cases(proto: &str) -> Vec<serde_json::Value> {
    let path = format!(
        "{}/tests/vectors/scapy_ipsec_modes.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    v["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["proto"] == proto)
        .cloned()
        .collect()
}

fn hexf(c: &serde_json::Value, k: &str) -> Vec<u8> {
    hex::decode(c[k].as_str().unwrap()).unwrap()
}

#[test]
fn scapy_esp_packets_are_reproduced_byte_for_byte_and_opened() {
    let now = Instant::now();
    let cases = scapy_cases("esp");
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let km = hexf(&case, "keymat");
        let seq = case["seq"].as_u64().unwrap() as u32;
        let spi = case["spi"].as_u64().unwrap() as u32;
        let plain = hexf(&case, "plain");
        let want = hexf(&case, "protected");
        let k = || SaKeys::new(EspSuite::AesGcm16_128, &km).unwrap();
        let mut tx = OutboundSa::new(spi, k(), now, None)
            .unwrap()
            .resume_after(seq - 1);
        let mut rx = InboundSa::new(spi, k(), now, None).unwrap();
        let mut wire = [0u8; 512];
        let mut tun = [0u8; 512];
        let tunnel = case["mode"] == "tunnel";
        let p = if tunnel {
            let ip = |k: &str| case[k].as_str().unwrap().parse::<IpAddr>().unwrap();
            let cfg = TunnelConfig::new(ip("local"), ip("remote"));
            tunnel_protect(&mut tx, now, &cfg, &plain, EspEncap::RawIp, &mut wire).unwrap()
        } else {
            transport_protect(&mut tx, now, &plain, EspEncap::RawIp, &mut wire).unwrap()
        };
        assert_eq!(hex::encode(&wire[..p.len]), hex::encode(&want), "{name}");
        let mut theirs = want.clone();
        let u = if tunnel {
            tunnel_unprotect(&mut rx, now, Received::RawIp(&mut theirs), &mut tun).unwrap()
        } else {
            transport_unprotect(&mut rx, now, Received::RawIp(&mut theirs), &mut tun).unwrap()
        };
        assert_eq!(&tun[..u.len], &plain[..], "{name}");
    }
}

// ---------------------------------------------------------------------------
// Properties.
// ---------------------------------------------------------------------------

fn any_addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into()))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (IpAddr::V6(a.into()), IpAddr::V6(b.into()))),
    ]
}

fn suite() -> impl Strategy<Value = EspSuite> {
    prop::sample::select(EspSuite::ALL.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn transport_protect_unprotect_round_trips(
        suite in suite(), (s, d) in any_addr_pair(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        raw in any::<bool>(), tc in any::<u8>(),
    ) {
        let now = Instant::now();
        let (mut tx, mut rx) = pair(suite, now);
        let pkt = udp_packet(s, d, &payload, tc);
        let mut wire = vec![0u8; pkt.len() + 100];
        let encap = if raw { EspEncap::RawIp } else { EspEncap::Udp };
        let p = transport_protect(&mut tx, now, &pkt, encap, &mut wire).unwrap();
        let received = if raw {
            Received::RawIp(&mut wire[..p.len])
        } else {
            Received::Udp { src: s, dst: d, ecn: tc & 3, esp: &mut wire[..p.len] }
        };
        let mut tun = vec![0u8; pkt.len()];
        let u = transport_unprotect(&mut rx, now, received, &mut tun).unwrap();
        let got = IpPacket::parse(&tun[..u.len]).unwrap();
        prop_assert_eq!((got.src(), got.dst(), got.protocol()), (s, d, 17));
        prop_assert_eq!(got.payload(), IpPacket::parse(&pkt).unwrap().payload());
        if raw {
            prop_assert_eq!(&tun[..u.len], &pkt[..]);
        }
    }

    #[test]
    fn tunnel_protect_unprotect_round_trips(
        suite in suite(), (s, d) in any_addr_pair(), (os, od) in any_addr_pair(),
        payload in prop::collection::vec(any::<u8>(), 0..600),
        raw in any::<bool>(), tc in any::<u8>(),
    ) {
        let now = Instant::now();
        let (mut tx, mut rx) = pair(suite, now);
        let inner = udp_packet(s, d, &payload, tc);
        let cfg = TunnelConfig::new(os, od);
        let mut wire = vec![0u8; inner.len() + 120];
        let encap = if raw { EspEncap::RawIp } else { EspEncap::Udp };
        let p = tunnel_protect(&mut tx, now, &cfg, &inner, encap, &mut wire).unwrap();
        let received = if raw {
            Received::RawIp(&mut wire[..p.len])
        } else {
            Received::Udp { src: od, dst: os, ecn: ECN_NOT_ECT, esp: &mut wire[..p.len] }
        };
        let mut tun = vec![0u8; inner.len()];
        let u = tunnel_unprotect(&mut rx, now, received, &mut tun).unwrap();
        prop_assert_eq!(&tun[..u.len], &inner[..]);
    }

    #[test]
    fn arbitrary_bytes_through_unprotect_never_panic(
        mut bytes in prop::collection::vec(any::<u8>(), 0..300),
        tunnel in any::<bool>(), raw in any::<bool>(), aim in any::<bool>(),
    ) {
        let now = Instant::now();
        let (_, rx) = pair(EspSuite::AesGcm16_128, now);
        let mut sad = Sad::new();
        sad.insert_inbound(rx).unwrap();
        if aim && !raw && bytes.len() >= 4 {
            bytes[..4].copy_from_slice(&SPI.to_be_bytes());
        }
        let received = if raw {
            Received::RawIp(&mut bytes)
        } else {
            Received::Udp { src: c(), dst: rs(), ecn: 0, esp: &mut bytes }
        };
        let mut tun = [0u8; 512];
        let r = if tunnel {
            tunnel_unprotect(&mut sad, now, received, &mut tun)
        } else {
            transport_unprotect(&mut sad, now, received, &mut tun)
        };
        prop_assert!(r.is_err());
    }
}
