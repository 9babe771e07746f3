//! The gateway split in two halves, one per direction, behaves as the
//! whole: what the outbound half of one side protects the inbound half of
//! the other delivers, and a NAT rebinding seen inbound reaches the
//! outbound half through the driver.

use std::net::SocketAddr;
use std::time::Instant;

use ipsec_dp::mode::EspEncap;
use ipsec_dp::spd::{AddrSelector, Selector};
use ipsec_dp::suite::EspSuite;
use ipsec_gw::{Drop, Gateway, Mode, Output, PairConfig, Protocol, Role};

mod common;
use common::{ip, udp4, A, B};

fn pair(role: Role, local: &str, remote: &str, peer: &str) -> PairConfig {
    PairConfig {
        name: "split".into(),
        role,
        spi_sa_c: 0x2001,
        spi_sa_rs: 0x2002,
        seed: vec![9; 32].into(),
        protocol: Protocol::Esp {
            suite: EspSuite::AesGcm16_128,
            encap: EspEncap::Udp,
        },
        mode: Mode::Tunnel {
            local: ip(local),
            remote: ip(remote),
        },
        peer: SocketAddr::new(ip(peer), 4500),
        options: ipsec_gw::SaOptions::default(),
        selectors: vec![Selector::between(
            AddrSelector::host(ip(if role == Role::Client {
                "10.1.0.1"
            } else {
                "10.2.0.1"
            })),
            AddrSelector::host(ip(if role == Role::Client {
                "10.2.0.1"
            } else {
                "10.1.0.1"
            })),
        )],
    }
}

fn two() -> (Gateway, Gateway, Instant) {
    let now = Instant::now();
    let (mut a, mut b) = (Gateway::new(), Gateway::new());
    a.add_pair(now, pair(Role::Client, A, B, B)).unwrap();
    b.add_pair(now, pair(Role::Server, B, A, A)).unwrap();
    (a, b, now)
}

#[test]
fn the_halves_carry_a_packet_both_ways_as_the_whole_does() {
    let (a, b, now) = two();
    let (mut a_out, mut a_in) = a.split();
    let (mut b_out, mut b_in) = b.split();
    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];

    let req = udp4("10.1.0.1", "10.2.0.1", 40000, 5683, b"request");
    let Output::Udp { to, len } = a_out.from_tun(now, &req, &mut wire) else {
        panic!("{:?}", a_out.counters())
    };
    assert_eq!(to, SocketAddr::new(ip(B), 4500));
    let Output::Tun { len: n } = b_in.from_udp(
        now,
        SocketAddr::new(ip(A), 4500),
        ip(B),
        &mut wire[..len],
        &mut tun,
    ) else {
        panic!("{:?}", b_in.counters())
    };
    assert_eq!(&tun[..n], &req[..]);

    let resp = udp4("10.2.0.1", "10.1.0.1", 5683, 40000, b"response");
    let Output::Udp { len, .. } = b_out.from_tun(now, &resp, &mut wire) else {
        panic!()
    };
    let Output::Tun { len: n } = a_in.from_udp(
        now,
        SocketAddr::new(ip(B), 4500),
        ip(A),
        &mut wire[..len],
        &mut tun,
    ) else {
        panic!("{:?}", a_in.counters())
    };
    assert_eq!(&tun[..n], &resp[..]);
    assert_eq!(a_out.counters().protected, 1);
    assert_eq!(a_in.counters().delivered, 1);
    assert!(a_in.take_peer_update().is_none(), "no rebinding");
}

#[test]
fn a_nat_rebinding_seen_inbound_moves_the_outbound_port() {
    let (a, b, now) = two();
    let (mut a_out, _) = a.split();
    let (mut b_out, mut b_in) = b.split();
    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];
    let req = udp4("10.1.0.1", "10.2.0.1", 40000, 5683, b"via a NAT");
    let Output::Udp { len, .. } = a_out.from_tun(now, &req, &mut wire) else {
        panic!()
    };
    // A's packet arrives from another port (a NAT in between).
    let natted = SocketAddr::new(ip(A), 61000);
    assert!(matches!(
        b_in.from_udp(now, natted, ip(B), &mut wire[..len], &mut tun),
        Output::Tun { .. }
    ));
    let update = b_in.take_peer_update().expect("a rebinding");
    assert!(b_in.take_peer_update().is_none(), "reported once");
    b_out.set_peer(update.0, update.1);
    let resp = udp4("10.2.0.1", "10.1.0.1", 5683, 40000, b"back");
    let Output::Udp { to, .. } = b_out.from_tun(now, &resp, &mut wire) else {
        panic!()
    };
    assert_eq!(to, natted);
}

#[test]
fn the_whole_gateway_still_follows_a_rebinding_by_itself() {
    let (mut a, mut b, now) = two();
    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];
    let req = udp4("10.1.0.1", "10.2.0.1", 40000, 5683, b"x");
    let Output::Udp { len, .. } = a.from_tun(now, &req, &mut wire) else {
        panic!()
    };
    let natted = SocketAddr::new(ip(A), 61001);
    assert!(matches!(
        b.from_udp(now, natted, ip(B), &mut wire[..len], &mut tun),
        Output::Tun { .. }
    ));
    let resp = udp4("10.2.0.1", "10.1.0.1", 5683, 40000, b"y");
    let Output::Udp { to, .. } = b.from_tun(now, &resp, &mut wire) else {
        panic!()
    };
    assert_eq!(to, natted);
}

#[test]
fn drops_are_counted_in_the_half_that_saw_them_and_summed_by_the_whole() {
    let (mut a, _, now) = two();
    let mut out = vec![0u8; 2048];
    let stray = udp4("10.1.0.1", "10.9.9.9", 1, 2, b"x");
    assert_eq!(
        a.from_tun(now, &stray, &mut out),
        Output::Dropped(Drop::Discard)
    );
    let mut junk = vec![0u8; 40];
    junk[..4].copy_from_slice(&0x0bad_f00du32.to_be_bytes());
    assert_eq!(
        a.from_udp(
            now,
            SocketAddr::new(ip(B), 4500),
            ip(A),
            &mut junk,
            &mut out
        ),
        Output::Dropped(Drop::UnknownSpi)
    );
    let c = a.counters();
    assert_eq!(c.drops.get("spd-discard"), Some(&1));
    assert_eq!(c.drops.get("unknown-spi"), Some(&1));
    let (a_out, a_in) = a.split();
    assert_eq!(a_out.counters().drops.get("spd-discard"), Some(&1));
    assert_eq!(a_in.counters().drops.get("unknown-spi"), Some(&1));
}
