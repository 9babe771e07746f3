//! Two gateways back to back, in memory: what one protects from its TUN
//! device the other delivers to its own, byte for byte where the mode keeps
//! the header, and every refusal is counted.

use std::net::SocketAddr;
use std::time::Instant;

use ipsec_dp::mode::EspEncap;
use ipsec_dp::spd::{AddrSelector, PortRange, Selector};
use ipsec_dp::suite::EspSuite;
use ipsec_gw::{Drop, Gateway, Mode, Output, PairConfig, Protocol, Role};

mod common;
use common::{ip, udp4, A, B};

fn coap_selector(local: &str, remote: &str) -> Selector {
    Selector::between(
        AddrSelector::host(ip(local)),
        AddrSelector::host(ip(remote)),
    )
    .with_protocol(17)
}

fn pair(role: Role, protocol: Protocol, mode: Mode, selectors: Vec<Selector>) -> PairConfig {
    let peer = match role {
        Role::Client => SocketAddr::new(ip(B), 4500),
        Role::Server => SocketAddr::new(ip(A), 4500),
    };
    PairConfig {
        name: "test".into(),
        role,
        spi_sa_c: 0x1001,
        spi_sa_rs: 0x1002,
        seed: vec![7; 32].into(),
        protocol,
        mode,
        peer,
        options: ipsec_gw::SaOptions::default(),
        selectors,
    }
}

fn two(protocol: Protocol, tunnel: bool) -> (Gateway, Gateway, Instant) {
    let now = Instant::now();
    let (mut a, mut b) = (Gateway::new(), Gateway::new());
    let (ma, mb, sa, sb) = if tunnel {
        (
            Mode::Tunnel {
                local: ip(A),
                remote: ip(B),
            },
            Mode::Tunnel {
                local: ip(B),
                remote: ip(A),
            },
            coap_selector("10.1.0.1", "10.2.0.1"),
            coap_selector("10.2.0.1", "10.1.0.1"),
        )
    } else {
        (
            Mode::Transport,
            Mode::Transport,
            coap_selector(A, B),
            coap_selector(B, A),
        )
    };
    a.add_pair(now, pair(Role::Client, protocol, ma, vec![sa]))
        .unwrap();
    b.add_pair(now, pair(Role::Server, protocol, mb, vec![sb]))
        .unwrap();
    (a, b, now)
}

const CCM_UDP: Protocol = Protocol::Esp {
    suite: EspSuite::AesCcm8_128,
    encap: EspEncap::Udp,
};

#[test]
fn transport_mode_esp_in_udp_carries_a_coap_datagram() {
    let (mut a, mut b, now) = two(CCM_UDP, false);
    let pkt = udp4(A, B, 40000, 5683, b"\x40\x01\x12\x34");
    let mut wire = vec![0u8; 2048];
    let Output::Udp { to, len } = a.from_tun(now, &pkt, &mut wire) else {
        panic!("not sent")
    };
    assert_eq!(to, SocketAddr::new(ip(B), 4500));
    assert!(
        !wire[..len].windows(4).any(|w| w == b"\x40\x01\x12\x34"),
        "no plaintext on the wire"
    );
    let mut tun = vec![0u8; 2048];
    let Output::Tun { len: n } = b.from_udp(
        now,
        SocketAddr::new(ip(A), 4500),
        ip(B),
        &mut wire[..len],
        &mut tun,
    ) else {
        panic!("not delivered: {:?}", b.counters())
    };
    // Same addresses, protocol, ports and payload (TTL and checksum rebuilt).
    assert_eq!(&tun[12..20], &pkt[12..20]);
    assert_eq!(tun[9], 17);
    assert_eq!(&tun[20..n], &pkt[20..]);
    assert_eq!(b.counters().delivered, 1);
}

#[test]
fn tunnel_mode_carries_the_inner_packet_unchanged() {
    let (mut a, mut b, now) = two(CCM_UDP, true);
    let pkt = udp4("10.1.0.1", "10.2.0.1", 40000, 5683, b"hello tunnel");
    let mut wire = vec![0u8; 2048];
    let Output::Udp { to, len } = a.from_tun(now, &pkt, &mut wire) else {
        panic!()
    };
    assert_eq!(to.ip(), ip(B));
    let mut tun = vec![0u8; 2048];
    let Output::Tun { len: n } = b.from_udp(
        now,
        SocketAddr::new(ip(A), 4500),
        ip(B),
        &mut wire[..len],
        &mut tun,
    ) else {
        panic!("{:?}", b.counters())
    };
    assert_eq!(&tun[..n], &pkt[..]);
}

#[test]
fn ah_transport_over_raw_ip_authenticates_a_visible_payload() {
    let (mut a, mut b, now) = two(Protocol::Ah, false);
    let pkt = udp4(A, B, 40000, 5683, b"visible but authenticated");
    let mut wire = vec![0u8; 2048];
    let Output::Raw { to, protocol, len } = a.from_tun(now, &pkt, &mut wire) else {
        panic!()
    };
    assert_eq!((to, protocol), (ip(B), 51));
    assert!(
        wire[..len].windows(7).any(|w| w == b"visible"),
        "AH does not encrypt"
    );
    let mut tampered = wire[..len].to_vec();
    let last = tampered.len() - 1;
    tampered[last] ^= 1;
    let mut tun = vec![0u8; 2048];
    assert_eq!(
        b.from_raw(now, &mut tampered, &mut tun),
        Output::Dropped(Drop::BadIcv)
    );
    assert_eq!(b.counters().drops.get("bad-icv"), Some(&1));
    let Output::Tun { len: n } = b.from_raw(now, &mut wire[..len], &mut tun) else {
        panic!("{:?}", b.counters())
    };
    assert_eq!(&tun[..n], &pkt[..]);
}

#[test]
fn raw_esp_transport_round_trip() {
    let (mut a, mut b, now) = two(
        Protocol::Esp {
            suite: EspSuite::AesGcm16_128,
            encap: EspEncap::RawIp,
        },
        false,
    );
    let pkt = udp4(A, B, 40000, 5683, b"raw esp");
    let mut wire = vec![0u8; 2048];
    let Output::Raw { protocol, len, .. } = a.from_tun(now, &pkt, &mut wire) else {
        panic!()
    };
    assert_eq!(protocol, 50);
    assert_eq!(wire[9], 50, "an IPv4 packet of protocol 50");
    let mut tun = vec![0u8; 2048];
    let Output::Tun { len: n } = b.from_raw(now, &mut wire[..len], &mut tun) else {
        panic!("{:?}", b.counters())
    };
    assert_eq!(&tun[20..n], &pkt[20..]);
}

#[test]
fn traffic_outside_every_policy_is_discarded_and_counted() {
    let (mut a, _, now) = two(CCM_UDP, false);
    let other = udp4(A, "192.168.77.9", 1, 2, b"x");
    let mut wire = vec![0u8; 2048];
    assert_eq!(
        a.from_tun(now, &other, &mut wire),
        Output::Dropped(Drop::Discard)
    );
    assert_eq!(a.counters().drops.get("spd-discard"), Some(&1));
    assert_eq!(
        a.from_tun(now, b"\x45garbage", &mut wire),
        Output::Dropped(Drop::BadPacket)
    );
}

#[test]
fn a_packet_on_the_right_sa_but_outside_its_selectors_is_refused() {
    // B only accepts UDP between A and B on this SA; A (misconfigured) sends
    // TCP through it.
    let now = Instant::now();
    let (mut a, mut b) = (Gateway::new(), Gateway::new());
    let any = Selector::between(AddrSelector::host(ip(A)), AddrSelector::host(ip(B)));
    a.add_pair(now, pair(Role::Client, CCM_UDP, Mode::Transport, vec![any]))
        .unwrap();
    b.add_pair(
        now,
        pair(
            Role::Server,
            CCM_UDP,
            Mode::Transport,
            vec![coap_selector(B, A).with_remote_ports(PortRange::single(40000))],
        ),
    )
    .unwrap();
    let mut pkt = udp4(A, B, 40001, 5683, b"x");
    pkt[20..22].copy_from_slice(&40001u16.to_be_bytes());
    let mut wire = vec![0u8; 2048];
    let Output::Udp { len, .. } = a.from_tun(now, &pkt, &mut wire) else {
        panic!()
    };
    let mut tun = vec![0u8; 2048];
    assert_eq!(
        b.from_udp(
            now,
            SocketAddr::new(ip(A), 4500),
            ip(B),
            &mut wire[..len],
            &mut tun
        ),
        Output::Dropped(Drop::Policy)
    );
    assert_eq!(b.counters().delivered, 0);
}

#[test]
fn replays_and_unknown_spis_are_dropped_and_counted() {
    let (mut a, mut b, now) = two(CCM_UDP, false);
    let pkt = udp4(A, B, 40000, 5683, b"once");
    let mut wire = vec![0u8; 2048];
    let Output::Udp { len, .. } = a.from_tun(now, &pkt, &mut wire) else {
        panic!()
    };
    let copy = wire[..len].to_vec();
    let mut tun = vec![0u8; 2048];
    let from = SocketAddr::new(ip(A), 4500);
    assert!(matches!(
        b.from_udp(now, from, ip(B), &mut wire[..len], &mut tun),
        Output::Tun { .. }
    ));
    let mut again = copy.clone();
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut again, &mut tun),
        Output::Dropped(Drop::Replayed)
    );
    let Output::Udp { len, .. } = a.from_tun(now, &pkt, &mut wire) else {
        panic!()
    };
    let mut forged = wire[..len].to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 0x80;
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut forged, &mut tun),
        Output::Dropped(Drop::BadIcv)
    );
    let mut unknown = copy;
    unknown[..4].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut unknown, &mut tun),
        Output::Dropped(Drop::UnknownSpi)
    );
    let c = b.counters();
    assert_eq!(c.delivered, 1);
    assert_eq!(
        c.drops.into_iter().collect::<Vec<_>>(),
        [("bad-icv", 1), ("replayed", 1), ("unknown-spi", 1)]
    );
}

#[test]
fn each_refusal_is_counted_under_its_own_reason() {
    let (mut a, mut b, now) = two(CCM_UDP, false);
    let from = SocketAddr::new(ip(A), 4500);
    let mut tun = vec![0u8; 2048];
    let mut wire = vec![0u8; 2048];
    let Output::Udp { len, .. } = a.from_tun(now, &udp4(A, B, 40000, 5683, b"x"), &mut wire) else {
        panic!()
    };
    // The SPI of B's inbound SA, then too little for IV and ICV.
    let mut short = wire[..12].to_vec();
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut short, &mut tun),
        Output::Dropped(Drop::Truncated)
    );
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut [], &mut tun),
        Output::Dropped(Drop::EmptyDatagram)
    );
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut [0xff], &mut tun),
        Output::Dropped(Drop::Keepalive)
    );
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut [1, 2, 3], &mut tun),
        Output::Dropped(Drop::NotIpsec)
    );
    // Sequence number 0: never sent (RFC 4303 §3.3.3); authentic or not,
    // it is refused before the ICV.
    let mut zero = wire[..len].to_vec();
    zero[4..8].copy_from_slice(&[0; 4]);
    assert_eq!(
        b.from_udp(now, from, ip(B), &mut zero, &mut tun),
        Output::Dropped(Drop::InvalidSequence)
    );
    let c = b.counters();
    assert_eq!(c.delivered, 0);
    assert_eq!(
        c.drops.into_iter().collect::<Vec<_>>(),
        [
            ("empty-datagram", 1),
            ("invalid-sequence", 1),
            ("keepalive", 1),
            ("not-ipsec", 1),
            ("truncated", 1)
        ]
    );
}

/// RFC 4303 §2.6: an authentic packet with Next Header 59 is discarded
/// silently and counted as a dummy, not as a failure.
#[test]
fn dummy_packets_are_discarded_and_counted_as_dummies() {
    let (_, mut b, now) = two(CCM_UDP, false);
    let Protocol::Esp { suite, .. } = CCM_UDP else {
        unreachable!()
    };
    // A's outbound SA, built by hand: SA-C keys, SPI_SA_C.
    let (c, _) = ipsec_dp::derive_dp_sa_pair(&[7; 32], 0x1001, 0x1002, suite).unwrap();
    let mut sa = ipsec_dp::sa::OutboundSa::new(0x1001, c, now, None).unwrap();
    let mut wire = vec![0u8; 256];
    let len = sa
        .seal(now, ipsec_dp::consts::IPPROTO_NONE, b"", &mut wire)
        .unwrap();
    let mut tun = vec![0u8; 2048];
    assert_eq!(
        b.from_udp(
            now,
            SocketAddr::new(ip(A), 4500),
            ip(B),
            &mut wire[..len],
            &mut tun
        ),
        Output::Dropped(Drop::Dummy)
    );
    assert_eq!(b.counters().drops.get("dummy"), Some(&1));
    assert_eq!(b.counters().drops.len(), 1);
}

/// A pair whose peer is not where its traffic goes: a NAT in front of the
/// peer (transport), or a tunnel endpoint behind one.
fn pair_behind_nat(mode: Mode, selector: Selector, nat: SocketAddr) -> Gateway {
    let mut g = Gateway::new();
    let mut cfg = pair(Role::Client, CCM_UDP, mode, vec![selector]);
    cfg.peer = nat;
    g.add_pair(Instant::now(), cfg).unwrap();
    g
}

#[test]
fn esp_in_udp_goes_to_the_configured_peer_not_the_packets_destination() {
    let now = Instant::now();
    let nat = SocketAddr::new(ip("203.0.113.7"), 4501);
    let mut g = pair_behind_nat(Mode::Transport, coap_selector(A, B), nat);
    let mut wire = vec![0u8; 2048];
    let Output::Udp { to, .. } = g.from_tun(now, &udp4(A, B, 40000, 5683, b"x"), &mut wire) else {
        panic!()
    };
    assert_eq!(to, nat);

    let nat = SocketAddr::new(ip("198.51.100.1"), 4500);
    let mut g = pair_behind_nat(
        Mode::Tunnel {
            local: ip(A),
            remote: ip(B),
        },
        coap_selector("10.1.0.1", "10.2.0.1"),
        nat,
    );
    let Output::Udp { to, .. } = g.from_tun(
        now,
        &udp4("10.1.0.1", "10.2.0.1", 40000, 5683, b"x"),
        &mut wire,
    ) else {
        panic!()
    };
    assert_eq!(to, nat, "not tunnel_remote {B}");

    // Port 0: the NAT-T port.
    let mut g = pair_behind_nat(
        Mode::Transport,
        coap_selector(A, B),
        SocketAddr::new(ip("203.0.113.7"), 0),
    );
    let Output::Udp { to, .. } = g.from_tun(now, &udp4(A, B, 40000, 5683, b"x"), &mut wire) else {
        panic!()
    };
    assert_eq!(to, SocketAddr::new(ip("203.0.113.7"), 4500));
}

// Rebinding: tunnel mode, where the outer addresses are free to change
// (transport mode rebuilds the packet with the datagram's addresses, so a
// NAT-changed source address only passes the SPD with a matching selector).

/// Seals `n` packets A → B (tunnel, ESP-in-UDP).
fn sealed(a: &mut Gateway, now: Instant, n: usize) -> Vec<Vec<u8>> {
    let mut wire = vec![0u8; 2048];
    (0..n)
        .map(|i| {
            let pkt = udp4(
                "10.1.0.1",
                "10.2.0.1",
                40000,
                5683,
                format!("packet {i}").as_bytes(),
            );
            let Output::Udp { len, .. } = a.from_tun(now, &pkt, &mut wire) else {
                panic!()
            };
            wire[..len].to_vec()
        })
        .collect()
}

fn b_sends_to(b: &mut Gateway, now: Instant) -> SocketAddr {
    let mut wire = vec![0u8; 2048];
    let resp = udp4("10.2.0.1", "10.1.0.1", 5683, 40000, b"r");
    let Output::Udp { to, .. } = b.from_tun(now, &resp, &mut wire) else {
        panic!()
    };
    to
}

#[test]
fn a_rebinding_moves_the_whole_address() {
    let (mut a, mut b, now) = two(CCM_UDP, true);
    let mut p = sealed(&mut a, now, 1);
    let moved = SocketAddr::new(ip("203.0.113.50"), 61000);
    let mut tun = vec![0u8; 2048];
    assert!(matches!(
        b.from_udp(now, moved, ip(B), &mut p[0], &mut tun),
        Output::Tun { .. }
    ));
    assert_eq!(b_sends_to(&mut b, now), moved);
}

#[test]
fn an_old_or_replayed_packet_from_elsewhere_does_not_rebind() {
    let (mut a, mut b, now) = two(CCM_UDP, true);
    let home = SocketAddr::new(ip(A), 4500);
    let elsewhere = SocketAddr::new(ip("203.0.113.66"), 1234);
    let mut p = sealed(&mut a, now, 3);
    let mut tun = vec![0u8; 2048];
    // Packet 2 first, from home; then the reordered packet 1 from elsewhere:
    // delivered (in the window), but not the newest.
    assert!(matches!(
        b.from_udp(now, home, ip(B), &mut p[1].clone(), &mut tun),
        Output::Tun { .. }
    ));
    assert!(matches!(
        b.from_udp(now, elsewhere, ip(B), &mut p[0], &mut tun),
        Output::Tun { .. }
    ));
    assert_eq!(b_sends_to(&mut b, now), home, "reordered packet");
    // A replay of packet 2 from elsewhere.
    assert_eq!(
        b.from_udp(now, elsewhere, ip(B), &mut p[1], &mut tun),
        Output::Dropped(Drop::Replayed)
    );
    assert_eq!(b_sends_to(&mut b, now), home, "replay");
}

#[test]
fn the_newest_packet_refused_by_the_inbound_policy_does_not_rebind() {
    // B accepts only A's port 40000 on this SA; A sends from 40001.
    let now = Instant::now();
    let (mut a, mut b) = (Gateway::new(), Gateway::new());
    let any = Selector::between(AddrSelector::host(ip(A)), AddrSelector::host(ip(B)));
    a.add_pair(now, pair(Role::Client, CCM_UDP, Mode::Transport, vec![any]))
        .unwrap();
    b.add_pair(
        now,
        pair(
            Role::Server,
            CCM_UDP,
            Mode::Transport,
            vec![coap_selector(B, A).with_remote_ports(PortRange::single(40000))],
        ),
    )
    .unwrap();
    let mut wire = vec![0u8; 2048];
    let Output::Udp { len, .. } = a.from_tun(now, &udp4(A, B, 40001, 5683, b"x"), &mut wire) else {
        panic!()
    };
    let mut tun = vec![0u8; 2048];
    let elsewhere = SocketAddr::new(ip(A), 1234);
    assert_eq!(
        b.from_udp(now, elsewhere, ip(B), &mut wire[..len], &mut tun),
        Output::Dropped(Drop::Policy)
    );
    let Output::Udp { to, .. } = b.from_tun(now, &udp4(B, A, 5683, 40000, b"r"), &mut wire) else {
        panic!()
    };
    assert_eq!(to, SocketAddr::new(ip(A), 4500));
}

#[test]
fn the_newest_packet_from_elsewhere_rebinds_and_only_the_latest_is_kept() {
    let (a, b, now) = two(CCM_UDP, true);
    let (mut a_out, _) = a.split();
    let (mut b_out, mut b_in) = b.split();
    let mut tun = vec![0u8; 2048];
    let mut wire = vec![0u8; 2048];
    for i in 0..3u16 {
        let pkt = udp4("10.1.0.1", "10.2.0.1", 40000, 5683, b"moving");
        let Output::Udp { len, .. } = a_out.from_tun(now, &pkt, &mut wire) else {
            panic!()
        };
        let from = SocketAddr::new(ip("203.0.113.1"), 50000 + i);
        assert!(matches!(
            b_in.from_udp(now, from, ip(B), &mut wire[..len], &mut tun),
            Output::Tun { .. }
        ));
    }
    let (r, to) = b_in.take_peer_update().expect("a rebinding");
    assert_eq!(to, SocketAddr::new(ip("203.0.113.1"), 50002), "the latest");
    assert!(b_in.take_peer_update().is_none(), "one per pair");
    b_out.set_peer(r, to);
    let resp = udp4("10.2.0.1", "10.1.0.1", 5683, 40000, b"r");
    let Output::Udp { to: sent, .. } = b_out.from_tun(now, &resp, &mut wire) else {
        panic!()
    };
    assert_eq!(sent, to);
}

proptest::proptest! {
    #[test]
    fn arbitrary_input_never_panics(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400)) {
        let (mut a, mut b, now) = two(CCM_UDP, false);
        let mut out = vec![0u8; 2048];
        let _ = a.from_tun(now, &data, &mut out);
        let mut d = data.clone();
        let _ = b.from_udp(now, SocketAddr::new(ip(A), 4500), ip(B), &mut d, &mut out);
        let mut d = data;
        let _ = b.from_raw(now, &mut d, &mut out);
    }

    /// A sealed packet (ESP-in-UDP, raw ESP, AH), mutated behind its SPI so
    /// it reaches the SA: never a panic, every packet either delivered or
    /// counted, a changed packet refused, the original delivered intact.
    #[test]
    fn mutated_sealed_packets_reach_the_sa_and_are_refused_or_intact(
        which in 0usize..3,
        flips in proptest::collection::vec((proptest::prelude::any::<usize>(), 1u8..), 0..6),
        cut in proptest::option::of(proptest::prelude::any::<usize>()),
        tail in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..3),
    ) {
        let protocol = match which {
            0 => CCM_UDP,
            1 => Protocol::Esp { suite: EspSuite::AesGcm16_128, encap: EspEncap::RawIp },
            _ => Protocol::Ah,
        };
        let (mut a, mut b, now) = two(protocol, false);
        let pkt = udp4(A, B, 40000, 5683, b"mutate me, keep my SPI");
        let mut wire = vec![0u8; 2048];
        let (len, spi_end) = match a.from_tun(now, &pkt, &mut wire) {
            Output::Udp { len, .. } => (len, 4),
            // Raw IPv4 without options: the SPI right after the header
            // (ESP: bytes 20..24; AH: 24..28).
            Output::Raw { len, protocol: 50, .. } => (len, 24),
            Output::Raw { len, .. } => (len, 28),
            o => panic!("{o:?}"),
        };
        let original = wire[..len].to_vec();
        let mut m = original.clone();
        for (at, x) in flips {
            let span = m.len() - spi_end;
            m[spi_end + at % span] ^= x;
        }
        if let Some(c) = cut {
            m.truncate(spi_end + c % (m.len() - spi_end + 1));
        }
        m.extend_from_slice(&tail);
        let mut out = vec![0u8; 2048];
        let o = if which == 0 {
            b.from_udp(now, SocketAddr::new(ip(A), 4500), ip(B), &mut m.clone(), &mut out)
        } else {
            b.from_raw(now, &mut m.clone(), &mut out)
        };
        let c = b.counters();
        proptest::prop_assert_eq!(c.delivered + c.drops.values().sum::<u64>(), 1);
        match o {
            Output::Tun { len: n } => {
                // Raw: trailing octets past the IP length are the link's
                // padding, not the packet's; anything else is authenticated.
                let body_changed = m.len() < original.len() || m[..original.len()] != original[..];
                proptest::prop_assert!(!body_changed, "changed but delivered");
                proptest::prop_assert!(which != 0 || m == original, "UDP: changed but delivered");
                proptest::prop_assert_eq!(&out[20..n], &pkt[20..]);
            }
            Output::Dropped(_) => proptest::prop_assert!(m != original, "the original is delivered"),
            o => proptest::prop_assert!(false, "{:?}", o),
        }
    }
}

#[test]
fn esn_pairs_carry_traffic_and_a_hard_packet_lifetime_ends_the_sa() {
    let now = Instant::now();
    let opts = ipsec_gw::SaOptions {
        esn: true,
        replay_window: 1024,
        lifetime: ipsec_gw::SaLifetime {
            hard_packets: Some(2),
            ..ipsec_gw::SaLifetime::default()
        },
    };
    let (mut a, mut b) = (Gateway::new(), Gateway::new());
    let mut pa = pair(
        Role::Client,
        CCM_UDP,
        Mode::Transport,
        vec![coap_selector(A, B)],
    );
    pa.options = opts;
    let mut pb = pair(
        Role::Server,
        CCM_UDP,
        Mode::Transport,
        vec![coap_selector(B, A)],
    );
    pb.options = opts;
    a.add_pair(now, pa).unwrap();
    b.add_pair(now, pb).unwrap();
    let pkt = udp4(A, B, 40000, 5683, b"esn");
    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];
    for _ in 0..2 {
        let Output::Udp { len, .. } = a.from_tun(now, &pkt, &mut wire) else {
            panic!("not sent")
        };
        let got = b.from_udp(
            now,
            SocketAddr::new(ip(A), 4500),
            ip(B),
            &mut wire[..len],
            &mut tun,
        );
        assert!(
            matches!(got, Output::Tun { .. }),
            "{got:?} {:?}",
            b.counters()
        );
    }
    // The third packet exceeds the hard packet lifetime: refused, counted.
    assert_eq!(
        a.from_tun(now, &pkt, &mut wire),
        Output::Dropped(Drop::Protect)
    );
}

#[test]
fn ah_refuses_options_it_does_not_have() {
    let now = Instant::now();
    let mut p = pair(
        Role::Client,
        Protocol::Ah,
        Mode::Transport,
        vec![coap_selector(A, B)],
    );
    p.options.esn = true;
    assert!(Gateway::new().add_pair(now, p).is_err());
}
