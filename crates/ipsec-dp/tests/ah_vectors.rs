//! AH (RFC 4302) with HMAC-SHA-256-128 (RFC 4868): the MAC's published
//! vectors, packets from an independent implementation (scapy), and the
//! RFC 4302 §3.3.3.1 mutable-field rules as scenarios.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use ipsec_dp::ah::{
    ah_len, hmac_sha256_128, peek_spi, AhDrop, AhInbound, AhKey, AhOutbound, AhProtectError,
    AhSaError, AH_ICV_LEN,
};
use ipsec_dp::ip::{IpError, IpPacket, IpVersion, Ipv4Packet, Ipv4Repr, Ipv6Repr};
use ipsec_dp::mode::TunnelConfig;
use ipsec_dp::{write_udp, DropReason};
use proptest::prelude::*;
use sha2::Sha256;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// RFC 4868 §2.7.2.1 "Test Cases for PRF-HMAC-SHA-256" with 32-octet keys
/// (the AUTH_HMAC_SHA2_256_128 key size), whose first 128 bits are the
/// AUTH256 outputs of §2.7.2.2. Cross-checked with Python's `hmac` module.
const RFC4868_SHA256: [(&str, &str, &str); 4] = [
    (
        "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
        "4869205468657265", // "Hi There"
        "198a607eb44bfbc69903a0f1cf2bbdc5ba0aa3f3d9ae3c1c7a3b1696a0b68cf7",
    ),
    (
        "4a6566654a6566654a6566654a6566654a6566654a6566654a6566654a656665", // "Jefe" x 8
        "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
        "167f928588c5cc2eef8e3093caa0e87c9ff566a14794aa61648d81621a2a40c6",
    ),
    (
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd",
        "cdcb1220d1ecccea91e53aba3092f962e549fe6ce9ed7fdc43191fbde45c30b0",
    ),
    (
        "0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20",
        "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
        "372efcf9b40b35c2115b1346903d2ef42fced46f0846e7257bb156d3d7b30d3f",
    ),
];

#[test]
fn rfc4868_auth_hmac_sha2_256_128_vectors() {
    for (key, data, full) in RFC4868_SHA256 {
        let k = AhKey::new(&unhex(key)).unwrap();
        let data = unhex(data);
        // Fed in two pieces: the result must not depend on the split.
        let (a, b) = data.split_at(data.len() / 3);
        let icv = hmac_sha256_128(&k, &[a, b]);
        assert_eq!(hex::encode(icv), full[..2 * AH_ICV_LEN]);
    }
}

/// RFC 4231 §4.3 (test case 2, a 4-octet key) and §4.7 (test case 6, a
/// 131-octet key): the HMAC-SHA-256 primitive behind AH, with key lengths
/// AUTH_HMAC_SHA2_256_128 itself does not allow.
#[test]
fn rfc4231_hmac_sha256_vectors_for_the_primitive() {
    let cases = [
        (
            hex::encode(b"Jefe"),
            hex::encode(b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        ),
        (
            "aa".repeat(131),
            hex::encode(b"Test Using Larger Than Block-Size Key - Hash Key First"),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
        ),
    ];
    for (key, data, want) in cases {
        let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&unhex(&key)).unwrap();
        m.update(&unhex(&data));
        assert_eq!(hex::encode(m.finalize().into_bytes()), want);
    }
}

#[test]
fn keys_are_32_octets_and_never_printed() {
    assert_eq!(
        AhKey::new(&[0u8; 31]).unwrap_err(),
        AhSaError::BadKeyLength(31)
    );
    let k = AhKey::new(&[0x42; 32]).unwrap();
    assert!(!format!("{k:?}").contains("42"));
    let now = Instant::now();
    assert_eq!(
        AhOutbound::new(255, k.clone(), now, None).unwrap_err(),
        AhSaError::ReservedSpi(255)
    );
}

#[test]
fn ah_header_lengths_are_aligned_per_family() {
    // RFC 4302 §2.6: 12 + 16 = 28 octets is 32-bit aligned for IPv4; IPv6
    // needs 64-bit alignment, so 4 octets of padding.
    assert_eq!(ah_len(IpVersion::V4), 28);
    assert_eq!(ah_len(IpVersion::V6), 32);
}

// ---------------------------------------------------------------------------
// scapy's AH (tests/vectors/gen_scapy_ipsec_modes.py).
// ---------------------------------------------------------------------------

fn scapy_ah_cases() -> Vec<serde_json::Value> {
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
        .filter(|c| c["proto"] == "ah")
        .cloned()
        .collect()
}

fn hexf(c: &serde_json::Value, k: &str) -> Vec<u8> {
    unhex(c[k].as_str().unwrap())
}

#[test]
fn scapy_ah_packets_are_reproduced_byte_for_byte_and_verified() {
    let now = Instant::now();
    let cases = scapy_ah_cases();
    assert_eq!(cases.len(), 4);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let key = hexf(&case, "key");
        let spi = case["spi"].as_u64().unwrap() as u32;
        let seq = case["seq"].as_u64().unwrap() as u32;
        let plain = hexf(&case, "plain");
        let want = hexf(&case, "protected");
        let mut tx = AhOutbound::new(spi, AhKey::new(&key).unwrap(), now, None)
            .unwrap()
            .resume_after(seq - 1);
        let mut rx = AhInbound::new(spi, AhKey::new(&key).unwrap(), now, None).unwrap();
        let mut out = [0u8; 512];
        let mut tun = [0u8; 512];
        if case["mode"] == "tunnel" {
            let ip = |k: &str| case[k].as_str().unwrap().parse::<IpAddr>().unwrap();
            let cfg = TunnelConfig::new(ip("local"), ip("remote"));
            let p = tx.protect_tunnel(now, &cfg, &plain, &mut out).unwrap();
            assert_eq!(hex::encode(&out[..p.len]), hex::encode(&want), "{name}");
            let u = rx.unprotect_tunnel(now, &want, &mut tun).unwrap();
            assert_eq!(&tun[..u.len], &plain[..], "{name}");
        } else {
            let p = tx.protect_transport(now, &plain, &mut out).unwrap();
            assert_eq!(hex::encode(&out[..p.len]), hex::encode(&want), "{name}");
            assert_eq!(p.seq, seq);
            let u = rx.unprotect_transport(now, &want, &mut tun).unwrap();
            assert_eq!(&tun[..u.len], &plain[..], "{name}");
        }
        assert_eq!(peek_spi(&want), Ok(spi));
    }
}

// ---------------------------------------------------------------------------
// RFC 4302 §3.3.3.1 as scenarios, on scapy's IPv4-with-options and
// IPv6-with-extension-headers packets.
// ---------------------------------------------------------------------------

fn scapy_case(name: &str) -> (Vec<u8>, AhInbound) {
    let c = scapy_ah_cases()
        .into_iter()
        .find(|c| c["name"] == name)
        .unwrap();
    let rx = AhInbound::new(
        c["spi"].as_u64().unwrap() as u32,
        AhKey::new(&hexf(&c, "key")).unwrap(),
        Instant::now(),
        None,
    )
    .unwrap();
    (hexf(&c, "protected"), rx)
}

#[test]
fn ipv4_mutable_fields_may_change_in_transit() {
    let (pkt, mut rx) = scapy_case("ah_transport_ipv4_options");
    let mut p = pkt.clone();
    {
        let mut v = Ipv4Packet::new_unchecked(&mut p[..]);
        v.set_ttl(v.ttl() - 3); // routers decrement TTL
        v.set_tos(0x03); // re-marked DSCP, CE
        v.set_flags_frag(0); // DF cleared
        v.fill_checksum();
    }
    // Record Route option (type 7 at 24, length 7, pointer, one address):
    // a router records its address and advances the pointer.
    assert_eq!((p[24], p[25]), (7, 7));
    p[26] = 8;
    p[27..31].copy_from_slice(&[198, 51, 100, 1]);
    Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
    assert!(rx.verify(Instant::now(), &p).is_ok());
}

#[test]
fn ipv4_immutable_fields_are_authenticated() {
    // Identification, source address, Router Alert option data (immutable,
    // Appendix A.1), UDP payload (after the 36-octet header and 28-octet AH).
    for at in [4usize, 12, 22, 70] {
        let (pkt, mut rx) = scapy_case("ah_transport_ipv4_options");
        let mut p = pkt.clone();
        p[at] ^= 0x01;
        Ipv4Packet::new_unchecked(&mut p[..]).fill_checksum();
        assert_eq!(
            rx.verify(Instant::now(), &p),
            Err(AhDrop::Sa(DropReason::BadIcv)),
            "offset {at}"
        );
        assert_eq!(rx.counters().drops.get(DropReason::BadIcv), 1);
    }
}

#[test]
fn ipv6_mutable_fields_may_change_and_immutable_ones_may_not() {
    let (pkt, mut rx) = scapy_case("ah_transport_ipv6_ext_headers");
    let mut p = pkt.clone();
    p[1] ^= 0xF3; // traffic class low bits and flow label
    p[3] ^= 0x55; // flow label
    p[7] -= 1; // hop limit
               // Hop-by-Hop option type 0x3e has the "may change" bit: its data may change.
    let hbh = 40;
    assert_eq!(p[hbh + 6], 0x3e);
    p[hbh + 8] ^= 0xFF;
    assert!(rx.verify(Instant::now(), &p).is_ok());

    let (pkt, mut rx) = scapy_case("ah_transport_ipv6_ext_headers");
    for at in [
        8usize,  /* source address */
        hbh + 4, /* Router Alert value */
    ] {
        let mut p = pkt.clone();
        p[at] ^= 1;
        assert_eq!(
            rx.verify(Instant::now(), &p),
            Err(AhDrop::Sa(DropReason::BadIcv))
        );
    }
}

fn udp_packet(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    let hl = if src.is_ipv4() { 20 } else { 40 };
    let mut buf = vec![0u8; hl + 8 + payload.len()];
    let n = write_udp(5683, 5683, src, dst, payload, &mut buf[hl..]).unwrap();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ipv4Repr {
            src_addr: s,
            dst_addr: d,
            protocol: 17,
            payload_len: n,
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 1,
            dont_frag: false,
        }
        .emit(&mut buf)
        .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ipv6Repr {
            src_addr: s,
            dst_addr: d,
            next_header: 17,
            payload_len: n,
            hop_limit: 64,
            traffic_class: 0,
            flow_label: 0,
        }
        .emit(&mut buf)
        .unwrap(),
        _ => unreachable!(),
    }
    buf
}

fn sa_pair(now: Instant) -> (AhOutbound, AhInbound) {
    let k = || AhKey::new(&[7u8; 32]).unwrap();
    (
        AhOutbound::new(0x2000, k(), now, Some(Duration::from_secs(60))).unwrap(),
        AhInbound::new(0x2000, k(), now, Some(Duration::from_secs(60))).unwrap(),
    )
}

fn c() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1))
}

fn rs() -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7))
}

#[test]
fn replayed_unknown_and_zero_sequence_packets_are_dropped() {
    let now = Instant::now();
    let (mut tx, mut rx) = sa_pair(now);
    let pkt = udp_packet(c(), rs(), b"once");
    let mut out = [0u8; 128];
    let p = tx.protect_transport(now, &pkt, &mut out).unwrap();
    let wire = out[..p.len].to_vec();
    assert!(rx.verify(now, &wire).is_ok());
    assert_eq!(rx.verify(now, &wire), Err(AhDrop::Sa(DropReason::Replayed)));
    let mut other = wire.clone();
    other[20 + 4] ^= 1; // SPI
    assert_eq!(
        rx.verify(now, &other),
        Err(AhDrop::Sa(DropReason::UnknownSpi))
    );
    let mut zero = wire.clone();
    zero[28..32].copy_from_slice(&[0; 4]);
    assert_eq!(
        rx.verify(now, &zero),
        Err(AhDrop::Sa(DropReason::InvalidSequence))
    );
    assert_eq!(rx.counters().packets, 1);
    assert_eq!(rx.counters().drops.total(), 3);
    // After the lifetime: expired on both sides.
    let later = now + Duration::from_secs(61);
    assert_eq!(
        tx.protect_transport(later, &pkt, &mut out),
        Err(AhProtectError::Expired)
    );
    assert_eq!(
        rx.verify(later, &wire),
        Err(AhDrop::Sa(DropReason::Expired))
    );
}

#[test]
fn sequence_number_never_wraps() {
    let now = Instant::now();
    let (tx, _) = sa_pair(now);
    let mut tx = tx.resume_after(u32::MAX - 1);
    let pkt = udp_packet(c(), rs(), b"last");
    let mut out = [0u8; 128];
    assert_eq!(
        tx.protect_transport(now, &pkt, &mut out).unwrap().seq,
        u32::MAX
    );
    assert_eq!(
        tx.protect_transport(now, &pkt, &mut out),
        Err(AhProtectError::SequenceExhausted)
    );
    assert_eq!(tx.last_seq(), u32::MAX);
}

#[test]
fn malformed_packets_are_typed_errors() {
    let now = Instant::now();
    let (mut tx, mut rx) = sa_pair(now);
    let pkt = udp_packet(c(), rs(), b"payload");
    let mut out = [0u8; 128];
    let p = tx.protect_transport(now, &pkt, &mut out).unwrap();
    let wire = out[..p.len].to_vec();

    assert_eq!(rx.verify(now, &pkt), Err(AhDrop::NotAh(17)));
    let mut bad_len = wire.clone();
    bad_len[21] = 6;
    assert_eq!(rx.verify(now, &bad_len), Err(AhDrop::BadPayloadLength(6)));
    // Truncated AH: cut the packet inside the AH header, lengths fixed.
    let mut cut = wire[..30].to_vec();
    {
        let mut v = Ipv4Packet::new_unchecked(&mut cut[..]);
        v.set_total_len(30);
        v.fill_checksum();
    }
    assert_eq!(rx.verify(now, &cut), Err(AhDrop::Truncated));
    assert_eq!(
        rx.verify(now, &wire[..10]),
        Err(AhDrop::Ip(IpError::Truncated))
    );
    // Fragments are refused (RFC 4302 §3.4.1).
    let mut frag = wire.clone();
    frag[6] |= 0x20;
    Ipv4Packet::new_unchecked(&mut frag[..]).fill_checksum();
    assert_eq!(rx.verify(now, &frag), Err(AhDrop::Ip(IpError::Fragment)));
    // Transport-mode AH into the tunnel path.
    assert_eq!(
        rx.unprotect_tunnel(now, &wire, &mut [0u8; 128]),
        Err(AhDrop::UnexpectedNextHeader(17))
    );
    // A loose source route option cannot be protected.
    let mut lsrr = pkt[..20].to_vec();
    lsrr.extend_from_slice(&[0x83, 7, 4, 1, 2, 3, 4, 0]);
    lsrr.extend_from_slice(&pkt[20..]);
    {
        let mut v = Ipv4Packet::new_unchecked(&mut lsrr[..]);
        v.set_version_and_header_len(28);
        v.set_total_len((pkt.len() + 8) as u16);
        v.fill_checksum();
    }
    let mut big = [0u8; 256];
    assert_eq!(
        tx.protect_transport(now, &lsrr, &mut big),
        Err(AhProtectError::UnsupportedOption)
    );
    assert!(matches!(
        tx.protect_transport(now, &pkt, &mut [0u8; 20]),
        Err(AhProtectError::BufferTooSmall { .. })
    ));
}

fn any_addr_pair() -> impl Strategy<Value = (IpAddr, IpAddr)> {
    prop_oneof![
        (any::<u32>(), any::<u32>())
            .prop_map(|(a, b)| (IpAddr::V4(a.into()), IpAddr::V4(b.into()))),
        (any::<u128>(), any::<u128>())
            .prop_map(|(a, b)| (IpAddr::V6(Ipv6Addr::from(a)), IpAddr::V6(Ipv6Addr::from(b)))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn ah_transport_and_tunnel_round_trip(
        (s, d) in any_addr_pair(), (os, od) in any_addr_pair(),
        payload in prop::collection::vec(any::<u8>(), 0..600), tunnel in any::<bool>(),
    ) {
        let now = Instant::now();
        let (mut tx, mut rx) = sa_pair(now);
        let pkt = udp_packet(s, d, &payload);
        let mut out = vec![0u8; pkt.len() + 100];
        let mut back = vec![0u8; pkt.len()];
        if tunnel {
            let cfg = TunnelConfig::new(os, od);
            let p = tx.protect_tunnel(now, &cfg, &pkt, &mut out).unwrap();
            prop_assert_eq!(IpPacket::parse(&out[..p.len]).unwrap().protocol(), 51);
            let u = rx.unprotect_tunnel(now, &out[..p.len], &mut back).unwrap();
            prop_assert_eq!(&back[..u.len], &pkt[..]);
        } else {
            let p = tx.protect_transport(now, &pkt, &mut out).unwrap();
            let u = rx.unprotect_transport(now, &out[..p.len], &mut back).unwrap();
            prop_assert_eq!(&back[..u.len], &pkt[..]);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_authenticate(
        mut bytes in prop::collection::vec(any::<u8>(), 0..300), v6 in any::<bool>(), aim in any::<bool>(),
    ) {
        let now = Instant::now();
        let (_, mut rx) = sa_pair(now);
        if let Some(b) = bytes.first_mut() {
            *b = (*b & 0x0F) | if v6 { 0x60 } else { 0x40 };
        }
        if aim && !v6 && bytes.len() >= 20 {
            // Make it look like a proper IPv4 AH packet for the SA.
            bytes[0] = 0x45;
            let n = bytes.len() as u16;
            bytes[2..4].copy_from_slice(&n.to_be_bytes());
            bytes[6] = 0;
            bytes[7] = 0;
            bytes[9] = 51;
            if bytes.len() >= 32 {
                bytes[21] = 5;
                bytes[24..28].copy_from_slice(&0x2000u32.to_be_bytes());
            }
            Ipv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
        }
        let mut out = [0u8; 300];
        prop_assert!(rx.verify(now, &bytes).is_err());
        prop_assert!(rx.unprotect_transport(now, &bytes, &mut out).is_err());
        prop_assert!(rx.unprotect_tunnel(now, &bytes, &mut out).is_err());
        let _ = peek_spi(&bytes);
    }
}
