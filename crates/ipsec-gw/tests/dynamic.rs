//! Pairs installed into and removed from running halves, SAs handed over
//! with their sequence numbers, a socket shared with another ESP endpoint,
//! and the inbound filter's answers and refusals.

use std::net::SocketAddr;
use std::time::Instant;

use ipsec_dp::kdf::derive_dp_sa_pair;
use ipsec_dp::mode::EspEncap;
use ipsec_dp::sa::{InboundSa, OutboundSa};
use ipsec_dp::spd::{AddrSelector, PortRange, Selector};
use ipsec_dp::suite::EspSuite;
use ipsec_gw::{
    Drop, Gateway, InboundFilter, Mode, Output, PairConfig, Protocol, Role, SaRef, SplitPair,
    Verdict,
};

mod common;
use common::{ip, udp4, A, B};

const SPI_C: u32 = 0x3001;
const SPI_RS: u32 = 0x3002;
const SEED: [u8; 32] = [5; 32];
const SUITE: EspSuite = EspSuite::AesGcm16_128;

/// CoAP between A (any port) and B:5683, from `local`'s point of view.
fn selector(local: &str, remote: &str, server_is_local: bool) -> Selector {
    let s = Selector::between(
        AddrSelector::host(ip(local)),
        AddrSelector::host(ip(remote)),
    )
    .with_protocol(17);
    let p = PortRange { lo: 5683, hi: 5683 };
    if server_is_local {
        s.with_local_ports(p)
    } else {
        s.with_remote_ports(p)
    }
}

fn config(role: Role) -> PairConfig {
    let (local, remote) = match role {
        Role::Client => (A, B),
        Role::Server => (B, A),
    };
    PairConfig {
        name: "dyn".into(),
        role,
        spi_sa_c: SPI_C,
        spi_sa_rs: SPI_RS,
        seed: SEED.to_vec().into(),
        protocol: Protocol::Esp {
            suite: SUITE,
            encap: EspEncap::Udp,
        },
        mode: Mode::Transport,
        peer: SocketAddr::new(ip(remote), 4500),
        options: ipsec_gw::SaOptions::default(),
        selectors: vec![selector(local, remote, role == Role::Server)],
    }
}

fn from_a() -> SocketAddr {
    SocketAddr::new(ip(A), 4500)
}

/// Seals a request on A's side and returns the ESP-in-UDP payload.
fn seal_request(a: &mut Gateway, now: Instant, payload: &[u8]) -> Vec<u8> {
    let mut wire = vec![0u8; 2048];
    let pkt = udp4(A, B, 40000, 5683, payload);
    let Output::Udp { len, .. } = a.from_tun(now, &pkt, &mut wire) else {
        panic!("{:?}", a.counters())
    };
    wire.truncate(len);
    wire
}

#[test]
fn a_pair_installed_in_running_halves_carries_traffic_until_removed() {
    let now = Instant::now();
    let (mut a_out, _a_in) = Gateway::new().split();
    let (_b_out, mut b_in) = Gateway::new().split();
    let a = SplitPair::from_config(now, SaRef(7), config(Role::Client)).unwrap();
    let b = SplitPair::from_config(now, SaRef(9), config(Role::Server)).unwrap();
    a_out.install(a.outbound);
    b_in.install(b.inbound).unwrap();
    assert!(b_in.owns_spi(SPI_C));

    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];
    let req = udp4(A, B, 40000, 5683, b"get");
    let Output::Udp { len, .. } = a_out.from_tun(now, &req, &mut wire) else {
        panic!("{:?}", a_out.counters())
    };
    let mut copy = wire[..len].to_vec();
    let Output::Tun { len: n } = b_in.from_udp(now, from_a(), ip(B), &mut copy, &mut tun) else {
        panic!("{:?}", b_in.counters())
    };
    assert_eq!(&tun[..n], &req[..]);

    assert!(b_in.remove(SaRef(9)));
    assert!(!b_in.owns_spi(SPI_C));
    let mut again = wire[..len].to_vec();
    assert_eq!(
        b_in.from_udp(now, from_a(), ip(B), &mut again, &mut tun),
        Output::Dropped(Drop::UnknownSpi)
    );
    assert!(a_out.remove(SaRef(7)));
    assert_eq!(
        a_out.from_tun(now, &req, &mut wire),
        Output::Dropped(Drop::Discard)
    );
    assert!(!a_out.remove(SaRef(7)), "removed once");
}

#[test]
fn a_second_pair_with_an_inbound_spi_in_use_is_refused_and_changes_nothing() {
    let now = Instant::now();
    let mut b = Gateway::new();
    b.install(SplitPair::from_config(now, SaRef(1), config(Role::Server)).unwrap())
        .unwrap();
    let e = b.install(SplitPair::from_config(now, SaRef(2), config(Role::Server)).unwrap());
    assert!(e.is_err());
    let mut a = Gateway::new();
    a.add_pair(now, config(Role::Client)).unwrap();
    let mut dgram = seal_request(&mut a, now, b"x");
    let mut tun = vec![0u8; 2048];
    assert!(matches!(
        b.from_udp(now, from_a(), ip(B), &mut dgram, &mut tun),
        Output::Tun { .. }
    ));
    assert!(b.remove(SaRef(1)));
    assert!(!b.remove(SaRef(2)), "the refused pair was never installed");
}

#[test]
fn handed_over_sas_continue_their_sequence_numbers() {
    let now = Instant::now();
    // The client's SAs, used elsewhere first: one packet sealed (seq 1).
    let (c, rs) = derive_dp_sa_pair(&SEED, SPI_C, SPI_RS, SUITE).unwrap();
    let mut out_sa = OutboundSa::new(SPI_C, c, now, None).unwrap();
    let in_sa = InboundSa::new(SPI_RS, rs, now, None).unwrap();
    let mut first = vec![0u8; 256];
    let n = out_sa.seal(now, 17, b"12345678node", &mut first).unwrap();
    first.truncate(n);
    assert_eq!(&first[4..8], &1u32.to_be_bytes());

    let mut a = Gateway::new();
    a.install(SplitPair::from_esp_sas(
        SaRef(3),
        "handed over".into(),
        in_sa,
        out_sa,
        EspEncap::Udp,
        Mode::Transport,
        SocketAddr::new(ip(B), 4500),
        vec![selector(A, B, false)],
    ))
    .unwrap();
    let second = seal_request(&mut a, now, b"after the hand-over");
    assert_eq!(
        &second[4..8],
        &2u32.to_be_bytes(),
        "no sequence number twice"
    );

    // The peer, which saw the first packet, accepts the second.
    let mut b = Gateway::new();
    b.add_pair(now, config(Role::Server)).unwrap();
    let mut tun = vec![0u8; 2048];
    let mut s = second.clone();
    assert!(matches!(
        b.from_udp(now, from_a(), ip(B), &mut s, &mut tun),
        Output::Tun { .. }
    ));
    let mut s = second;
    assert_eq!(
        b.from_udp(now, from_a(), ip(B), &mut s, &mut tun),
        Output::Dropped(Drop::Replayed)
    );
}

#[test]
fn a_shared_socket_gets_back_what_the_gateway_does_not_own_untouched() {
    let now = Instant::now();
    let mut a = Gateway::new();
    a.add_pair(now, config(Role::Client)).unwrap();
    let owned = seal_request(&mut a, now, b"mine");
    let mut b = Gateway::new();
    b.add_pair(now, config(Role::Server)).unwrap();
    b.pass_unowned(true);
    let mut tun = vec![0u8; 2048];

    let mut other_spi = owned.clone();
    other_spi[..4].copy_from_slice(&0x0bad_cafeu32.to_be_bytes());
    let ike = [0u8, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8];
    let keepalive = [0xffu8];
    for d in [&other_spi[..], &ike[..], &keepalive[..]] {
        let mut copy = d.to_vec();
        assert_eq!(
            b.from_udp(now, from_a(), ip(B), &mut copy, &mut tun),
            Output::NotOwned
        );
        assert_eq!(copy, d, "passed on untouched");
    }
    let mut copy = owned.clone();
    assert!(matches!(
        b.from_udp(now, from_a(), ip(B), &mut copy, &mut tun),
        Output::Tun { .. }
    ));
    let c = b.counters();
    assert_eq!((c.not_owned, c.delivered), (3, 1));
    assert!(c.drops.is_empty(), "{:?}", c.drops);

    // Not shared: the same datagrams are drops, each under its reason.
    b.pass_unowned(false);
    for d in [&other_spi[..], &ike[..], &keepalive[..]] {
        let mut copy = d.to_vec();
        assert!(matches!(
            b.from_udp(now, from_a(), ip(B), &mut copy, &mut tun),
            Output::Dropped(_)
        ));
    }
    let drops = b.counters().drops;
    assert_eq!(drops.get("unknown-spi"), Some(&1));
    assert_eq!(drops.get("ike"), Some(&1));
    assert_eq!(drops.get("keepalive"), Some(&1));
}

/// Answers "deny" with "no" (addresses and ports swapped), refuses
/// "drop", delivers the rest; remembers the SA each packet came on.
#[derive(Default)]
struct Toy {
    seen: Vec<SaRef>,
}

impl InboundFilter for Toy {
    fn check(&mut self, sa: SaRef, buf: &mut [u8], len: usize) -> Verdict {
        self.seen.push(sa);
        match &buf[28..len] {
            b"deny" => {
                let answer = udp4(B, A, 5683, 40000, b"no");
                buf[..answer.len()].copy_from_slice(&answer);
                Verdict::Answer { len: answer.len() }
            }
            b"drop" => Verdict::Refuse("toy-refusal"),
            _ => Verdict::Deliver,
        }
    }
}

#[test]
fn the_filter_answers_over_the_pair_the_request_came_on_and_refusals_are_counted() {
    let now = Instant::now();
    let mut a = Gateway::new();
    a.add_pair(now, config(Role::Client)).unwrap();
    let mut b = Gateway::new();
    let b_ref = b.add_pair(now, config(Role::Server)).unwrap();
    let (mut b_out, mut b_in) = b.split();
    let mut toy = Toy::default();
    let mut tun = vec![0u8; 2048];
    let mut wire = vec![0u8; 2048];
    let mut filtered = |d: &mut Vec<u8>, tun: &mut Vec<u8>, toy: &mut Toy| {
        b_in.from_udp_filtered(now, from_a(), ip(B), d, tun, Some(toy))
    };

    let mut d = seal_request(&mut a, now, b"deny");
    let Output::Answer { sa_ref, len } = filtered(&mut d, &mut tun, &mut toy) else {
        panic!("no answer")
    };
    assert_eq!(sa_ref, b_ref);
    let Output::Udp { to, len } = b_out.answer(now, sa_ref, &tun[..len], &mut wire) else {
        panic!("{:?}", b_out.counters())
    };
    assert_eq!(to, from_a());
    let mut back = wire[..len].to_vec();
    let Output::Tun { len: n } = a.from_udp(
        now,
        SocketAddr::new(ip(B), 4500),
        ip(A),
        &mut back,
        &mut tun,
    ) else {
        panic!("{:?}", a.counters())
    };
    assert_eq!(&tun[..n], &udp4(B, A, 5683, 40000, b"no")[..]);

    let mut d = seal_request(&mut a, now, b"drop");
    assert_eq!(
        filtered(&mut d, &mut tun, &mut toy),
        Output::Dropped(Drop::Filtered("toy-refusal"))
    );
    let mut d = seal_request(&mut a, now, b"fine");
    assert!(matches!(
        filtered(&mut d, &mut tun, &mut toy),
        Output::Tun { .. }
    ));
    assert_eq!(toy.seen, vec![b_ref; 3]);
    let c = b_in.counters();
    assert_eq!((c.answered, c.delivered), (1, 1));
    assert_eq!(c.drops.get("toy-refusal"), Some(&1));
}

#[test]
fn an_answer_leaves_only_over_its_own_pair() {
    let now = Instant::now();
    let mut b = Gateway::new();
    let b_ref = b.add_pair(now, config(Role::Server)).unwrap();
    let mut wire = vec![0u8; 2048];
    let answer = udp4(B, A, 5683, 40000, b"no");
    // Another pair's name, or a packet the SPD would send elsewhere.
    assert_eq!(
        b.answer(now, SaRef(b_ref.0 + 1), &answer, &mut wire),
        Output::Dropped(Drop::Answer)
    );
    let elsewhere = udp4(B, "192.168.77.9", 5683, 40000, b"no");
    assert_eq!(
        b.answer(now, b_ref, &elsewhere, &mut wire),
        Output::Dropped(Drop::Answer)
    );
    assert!(b.remove(b_ref));
    assert_eq!(
        b.answer(now, b_ref, &answer, &mut wire),
        Output::Dropped(Drop::Answer)
    );
    assert_eq!(b.counters().drops.get("answer-refused"), Some(&3));
}

/// A's outbound and B's inbound halves of a pair with these SPIs, built
/// like a Child SA of IKEv2 (keys from a seed here), under `a_ref`/`b_ref`.
fn pair_with_spis(now: Instant, spi_c: u32, spi_rs: u32, seed: u8) -> (SplitPair, SplitPair) {
    let mut a = config(Role::Client);
    a.spi_sa_c = spi_c;
    a.spi_sa_rs = spi_rs;
    a.seed = vec![seed; 32].into();
    let mut b = config(Role::Server);
    b.spi_sa_c = spi_c;
    b.spi_sa_rs = spi_rs;
    b.seed = vec![seed; 32].into();
    (
        SplitPair::from_config(now, SaRef(7), a).unwrap(),
        SplitPair::from_config(now, SaRef(9), b).unwrap(),
    )
}

#[test]
fn a_rekeyed_child_sa_takes_over_outbound_and_both_inbound_sas_pass_until_the_old_is_deleted() {
    let now = Instant::now();
    let (mut a_out, _a_in) = Gateway::new().split();
    let (_b_out, mut b_in) = Gateway::new().split();
    let (a1, b1) = pair_with_spis(now, SPI_C, SPI_RS, 1);
    a_out.install(a1.outbound);
    b_in.install(b1.inbound).unwrap();

    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];
    let req = udp4(A, B, 40000, 5683, b"get");
    let Output::Udp { len, .. } = a_out.from_tun(now, &req, &mut wire) else {
        panic!("{:?}", a_out.counters())
    };
    let old_packet = wire[..len].to_vec();
    assert_eq!(&old_packet[..4], &SPI_C.to_be_bytes());

    // The rekey: new SPIs and keys, the same pair.
    let (a2, b2) = pair_with_spis(now, 0x4001, 0x4002, 2);
    a_out.rekey(a2.outbound);
    b_in.rekey(b2.inbound).unwrap();
    assert_eq!(b_in.pair_of_spi(0x4001), Some(SaRef(9)));
    assert_eq!(b_in.pair_of_spi(SPI_C), Some(SaRef(9)));
    let Output::Udp { len, .. } = a_out.from_tun(now, &req, &mut wire) else {
        panic!("{:?}", a_out.counters())
    };
    let new_packet = wire[..len].to_vec();
    assert_eq!(&new_packet[..4], &0x4001u32.to_be_bytes(), "outbound moved");

    // Both pass the inbound SPD check (the old one was still in flight).
    for p in [&new_packet, &old_packet] {
        let mut copy = p.clone();
        let Output::Tun { len: n } = b_in.from_udp(now, from_a(), ip(B), &mut copy, &mut tun)
        else {
            panic!("{:?}", b_in.counters())
        };
        assert_eq!(&tun[..n], &req[..]);
    }
    // A second SA with an SPI in use is refused.
    let (_, b_dup) = pair_with_spis(now, 0x4001, 0x4002, 3);
    assert!(b_in.rekey(b_dup.inbound).is_err());

    // The old SA is deleted: its packets are unknown, the pair stays.
    assert_eq!(b_in.remove_spi(SPI_C), Some((SaRef(9), false)));
    let mut copy = old_packet.clone();
    assert_eq!(
        b_in.from_udp(now, from_a(), ip(B), &mut copy, &mut tun),
        Output::Dropped(Drop::UnknownSpi)
    );
    let Output::Udp { len, .. } = a_out.from_tun(now, &req, &mut wire) else {
        panic!("{:?}", a_out.counters())
    };
    let mut copy = wire[..len].to_vec();
    assert!(matches!(
        b_in.from_udp(now, from_a(), ip(B), &mut copy, &mut tun),
        Output::Tun { .. }
    ));
    // The last SA goes: the caller learns the pair is empty.
    assert_eq!(b_in.remove_spi(0x4001), Some((SaRef(9), true)));
    assert_eq!(b_in.remove_spi(0x4001), None);
}
