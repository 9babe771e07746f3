//! Two gateways back to back, in memory: what one protects from its TUN
//! device the other delivers to its own, byte for byte where the mode keeps
//! the header, and every refusal is counted.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipsec_dp::mode::EspEncap;
use ipsec_dp::spd::{AddrSelector, PortRange, Selector};
use ipsec_dp::suite::EspSuite;
use ipsec_gw::{Drop, Gateway, Mode, Output, PairConfig, Protocol, Role};

const A: &str = "192.168.77.1";
const B: &str = "192.168.77.2";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4/UDP packet with correct checksums.
fn udp4(src: &str, dst: &str, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let (s, d) = match (ip(src), ip(dst)) {
        (IpAddr::V4(s), IpAddr::V4(d)) => (s.octets(), d.octets()),
        _ => unreachable!(),
    };
    let udp_len = 8 + payload.len();
    let total = 20 + udp_len;
    let mut p = vec![0u8; total];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&s);
    p[16..20].copy_from_slice(&d);
    let hc = checksum(&p[..20]);
    p[10..12].copy_from_slice(&hc.to_be_bytes());
    p[20..22].copy_from_slice(&sport.to_be_bytes());
    p[22..24].copy_from_slice(&dport.to_be_bytes());
    p[24..26].copy_from_slice(&(udp_len as u16).to_be_bytes());
    p[28..].copy_from_slice(payload);
    let mut pseudo = Vec::new();
    pseudo.extend_from_slice(&s);
    pseudo.extend_from_slice(&d);
    pseudo.extend_from_slice(&[0, 17]);
    pseudo.extend_from_slice(&(udp_len as u16).to_be_bytes());
    pseudo.extend_from_slice(&p[20..]);
    let c = checksum(&pseudo);
    p[26..28].copy_from_slice(&(if c == 0 { 0xffff } else { c }).to_be_bytes());
    p
}

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
        seed: vec![7; 32],
        protocol,
        mode,
        peer,
        lifetime: None,
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
        Output::Dropped(Drop::Open)
    );
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
    assert!(matches!(
        b.from_udp(
            now,
            SocketAddr::new(ip(A), 4500),
            ip(B),
            &mut wire[..len],
            &mut tun
        ),
        Output::Tun { .. }
    ));
    let mut again = copy.clone();
    assert_eq!(
        b.from_udp(
            now,
            SocketAddr::new(ip(A), 4500),
            ip(B),
            &mut again,
            &mut tun
        ),
        Output::Dropped(Drop::Open)
    );
    let mut unknown = copy;
    unknown[..4].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    assert_eq!(
        b.from_udp(
            now,
            SocketAddr::new(ip(A), 4500),
            ip(B),
            &mut unknown,
            &mut tun
        ),
        Output::Dropped(Drop::UnknownSpi)
    );
    assert_eq!(b.counters().delivered, 1);
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
}
