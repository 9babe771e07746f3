//! The Security Policy Database (RFC 4301 §4.4.1) and the inbound policy
//! check (RFC 4301 §5.2), as the profile's client uses them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipsec_dp::ip::{IpPacket, Ipv4Repr, Ipv6Repr, IPPROTO_ICMP, IPPROTO_ICMPV6};
use ipsec_dp::spd::{
    Action, AddrSelector, Decision, Direction, IcmpSelector, OctetRange, PacketSelector,
    PolicyViolation, PortRange, SaRef, Selector, SelectorError, Spd,
};
use proptest::prelude::*;

const IP_C: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const IP_RS: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const COAP: u16 = 5683;
const SA1: SaRef = SaRef(1);
const SA2: SaRef = SaRef(2);

fn packet(src: IpAddr, dst: IpAddr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let hl = if src.is_ipv4() { 20 } else { 40 };
    let mut buf = vec![0u8; hl + l4.len()];
    buf[hl..].copy_from_slice(l4);
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => Ipv4Repr {
            src_addr: s,
            dst_addr: d,
            protocol,
            payload_len: l4.len(),
            ttl: 64,
            dscp: 0,
            ecn: 0,
            ident: 0,
            dont_frag: true,
        }
        .emit(&mut buf)
        .unwrap(),
        (IpAddr::V6(s), IpAddr::V6(d)) => Ipv6Repr {
            src_addr: s,
            dst_addr: d,
            next_header: protocol,
            payload_len: l4.len(),
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

fn udp(src: IpAddr, dst: IpAddr, sport: u16, dport: u16) -> Vec<u8> {
    let mut l4 = vec![0u8; 12];
    l4[0..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..6].copy_from_slice(&12u16.to_be_bytes());
    packet(src, dst, 17, &l4)
}

/// The client's SPD: IKE bypasses; CoAP to the RS on SA1; the rest to the
/// RS on SA2; everything else is discarded by default.
fn client_spd() -> Spd {
    let mut spd = Spd::new();
    let rs = AddrSelector::host(IP_RS.into());
    let me = AddrSelector::host(IP_C.into());
    for port in [500, 4500] {
        spd.push_both(
            Selector::between(me, rs)
                .with_protocol(17)
                .with_remote_ports(PortRange::single(port)),
            Action::Bypass,
        );
    }
    spd.push_both(
        Selector::between(me, rs)
            .with_protocol(17)
            .with_remote_ports(PortRange::single(COAP)),
        Action::Protect(SA1),
    );
    spd.push_both(Selector::between(me, rs), Action::Protect(SA2));
    spd
}

#[test]
fn first_matching_entry_wins_and_the_default_discards() {
    let spd = client_spd();
    let coap = udp(IP_C.into(), IP_RS.into(), 40000, COAP);
    let p = IpPacket::parse(&coap).unwrap();
    assert_eq!(
        spd.match_packet(Direction::Outbound, &p),
        Decision {
            action: Action::Protect(SA1),
            entry: Some(2)
        }
    );
    let ike = udp(IP_C.into(), IP_RS.into(), 4500, 4500);
    let p = IpPacket::parse(&ike).unwrap();
    assert_eq!(
        spd.match_packet(Direction::Outbound, &p).action,
        Action::Bypass
    );
    let other = udp(IP_C.into(), IP_RS.into(), 40000, 9999);
    let p = IpPacket::parse(&other).unwrap();
    assert_eq!(
        spd.match_packet(Direction::Outbound, &p).action,
        Action::Protect(SA2)
    );
    let elsewhere = udp(IP_C.into(), Ipv4Addr::new(8, 8, 8, 8).into(), 1, 53);
    let p = IpPacket::parse(&elsewhere).unwrap();
    assert_eq!(
        spd.match_packet(Direction::Outbound, &p),
        Decision {
            action: Action::Discard,
            entry: None
        }
    );
}

/// Selectors are local/remote: the RS's reply (source port 5683) matches
/// the same CoAP entry inbound.
#[test]
fn inbound_packets_are_matched_from_the_local_point_of_view() {
    let spd = client_spd();
    let reply = udp(IP_RS.into(), IP_C.into(), COAP, 40000);
    let p = IpPacket::parse(&reply).unwrap();
    assert_eq!(
        spd.match_packet(Direction::Inbound, &p).action,
        Action::Protect(SA1)
    );
    // The same bytes seen as outbound do not match (local would be the RS).
    assert_eq!(
        spd.match_packet(Direction::Outbound, &p).action,
        Action::Discard
    );
}

/// RFC 4301 §5.2 step 4: a packet that arrived on an SA must match an
/// inbound entry that names that SA.
#[test]
fn packet_on_the_wrong_sa_is_dropped_and_counted() {
    let mut spd = client_spd();
    let reply = udp(IP_RS.into(), IP_C.into(), COAP, 40000);
    let p = IpPacket::parse(&reply).unwrap();
    assert!(spd.check_inbound(&p, Some(SA1)).is_ok());
    let err = spd.check_inbound(&p, Some(SA2)).unwrap_err();
    assert_eq!(
        err,
        PolicyViolation::WrongSa {
            arrived: SA2,
            decision: Decision {
                action: Action::Protect(SA1),
                entry: Some(2)
            }
        }
    );
    assert_eq!(err.as_str(), "policy_wrong_sa");
    // IKE arriving on an SA is not what the policy says either.
    let ike = udp(IP_RS.into(), IP_C.into(), 500, 500);
    let p_ike = IpPacket::parse(&ike).unwrap();
    assert!(matches!(
        spd.check_inbound(&p_ike, Some(SA1)),
        Err(PolicyViolation::WrongSa { .. })
    ));
    // ... but in clear it passes (BYPASS).
    assert!(spd.check_inbound(&p_ike, None).is_ok());
    // RFC 4301 §5.2 step 3a: cleartext CoAP where the policy protects.
    assert_eq!(
        spd.check_inbound(&p, None),
        Err(PolicyViolation::Unprotected(SA1))
    );
    // Default DISCARD.
    let stray = udp(Ipv4Addr::new(203, 0, 113, 9).into(), IP_C.into(), 1, 2);
    let p_stray = IpPacket::parse(&stray).unwrap();
    assert_eq!(
        spd.check_inbound(&p_stray, Some(SA1)),
        Err(PolicyViolation::Discarded)
    );
    let c = spd.counters();
    assert_eq!(
        (c.accepted, c.wrong_sa, c.unprotected, c.discarded),
        (2, 2, 1, 1)
    );
}

#[test]
fn ranges_prefixes_and_ipv6() {
    let mut spd = Spd::new();
    let net6 = AddrSelector::prefix("2001:db8::".parse().unwrap(), 32).unwrap();
    let range4 = AddrSelector::range(
        Ipv4Addr::new(10, 0, 0, 10).into(),
        Ipv4Addr::new(10, 0, 0, 20).into(),
    )
    .unwrap();
    spd.push(
        Direction::Outbound,
        Selector::between(AddrSelector::Any, net6),
        Action::Protect(SA1),
    );
    spd.push(
        Direction::Outbound,
        Selector::between(AddrSelector::Any, range4)
            .with_protocol(6)
            .with_local_ports(PortRange {
                lo: 1024,
                hi: 65535,
            }),
        Action::Protect(SA2),
    );
    let sel = |remote: IpAddr, protocol: u8, local_port: Option<u16>| PacketSelector {
        local: IpAddr::V6(Ipv6Addr::LOCALHOST),
        remote,
        protocol,
        local_port,
        remote_port: Some(80),
        icmp: None,
    };
    let d = |s: PacketSelector| spd.match_selector(Direction::Outbound, &s).action;
    assert_eq!(
        d(sel("2001:db8:ffff::1".parse().unwrap(), 17, Some(1))),
        Action::Protect(SA1)
    );
    assert_eq!(
        d(sel("2001:db9::1".parse().unwrap(), 17, Some(1))),
        Action::Discard
    );
    assert_eq!(
        d(sel(Ipv4Addr::new(10, 0, 0, 15).into(), 6, Some(5000))),
        Action::Protect(SA2)
    );
    assert_eq!(
        d(sel(Ipv4Addr::new(10, 0, 0, 21).into(), 6, Some(5000))),
        Action::Discard
    );
    assert_eq!(
        d(sel(Ipv4Addr::new(10, 0, 0, 15).into(), 6, Some(80))),
        Action::Discard
    );
    // A port selector other than ANY never matches a packet without ports.
    assert_eq!(
        d(sel(Ipv4Addr::new(10, 0, 0, 15).into(), 6, None)),
        Action::Discard
    );
    assert_eq!(
        AddrSelector::range(
            Ipv4Addr::new(10, 0, 0, 2).into(),
            Ipv4Addr::new(10, 0, 0, 1).into()
        ),
        Err(SelectorError::EmptyRange)
    );
    assert_eq!(
        AddrSelector::range(Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()),
        Err(SelectorError::FamilyMismatch)
    );
}

/// RFC 4301 §4.4.1.1: ICMP type and code select in place of ports.
#[test]
fn icmp_type_and_code_select() {
    let mut spd = Spd::with_default(Action::Bypass);
    spd.push(
        Direction::Outbound,
        Selector::ANY
            .with_protocol(IPPROTO_ICMP)
            .with_icmp(IcmpSelector {
                types: OctetRange::single(8),
                codes: OctetRange::ANY,
            }),
        Action::Protect(SA1),
    );
    spd.push(
        Direction::Outbound,
        Selector::ANY
            .with_protocol(IPPROTO_ICMPV6)
            .with_icmp(IcmpSelector {
                types: OctetRange { lo: 128, hi: 129 },
                codes: OctetRange::single(0),
            }),
        Action::Discard,
    );
    let echo = packet(
        IP_C.into(),
        IP_RS.into(),
        IPPROTO_ICMP,
        &[8, 0, 0, 0, 0, 1, 0, 1],
    );
    let unreach = packet(
        IP_C.into(),
        IP_RS.into(),
        IPPROTO_ICMP,
        &[3, 1, 0, 0, 0, 0, 0, 0],
    );
    let l = IpAddr::V6(Ipv6Addr::LOCALHOST);
    let echo6 = packet(l, l, IPPROTO_ICMPV6, &[128, 0, 0, 0, 0, 0, 0, 0]);
    let ns6 = packet(l, l, IPPROTO_ICMPV6, &[135, 0, 0, 0, 0, 0, 0, 0]);
    let act = |b: &[u8]| {
        spd.match_packet(Direction::Outbound, &IpPacket::parse(b).unwrap())
            .action
    };
    assert_eq!(act(&echo), Action::Protect(SA1));
    assert_eq!(act(&unreach), Action::Bypass);
    assert_eq!(act(&echo6), Action::Discard);
    assert_eq!(act(&ns6), Action::Bypass);
}

#[test]
fn removing_an_sa_removes_its_entries() {
    let mut spd = client_spd();
    assert_eq!(spd.remove_sa(SA1), 2);
    spd.insert(Direction::Outbound, 0, Selector::ANY, Action::Discard);
    assert_eq!(spd.entries(Direction::Outbound).len(), 4);
    assert_eq!(spd.entries(Direction::Outbound)[0].action, Action::Discard);
}

fn selector_strategy() -> impl Strategy<Value = Selector> {
    (
        prop::option::of(0u8..4),
        prop::option::of(any::<u16>()),
        prop::option::of((any::<u32>(), 0u8..=32)),
    )
        .prop_map(|(proto, port, prefix)| {
            let mut s = Selector::ANY;
            if let Some(p) = proto {
                s = s.with_protocol([1, 6, 17, 58][usize::from(p)]);
            }
            if let Some(p) = port {
                s = s.with_remote_ports(PortRange { lo: p / 2, hi: p });
            }
            if let Some((a, l)) = prefix {
                s.remote = AddrSelector::prefix(IpAddr::V4(a.into()), l).unwrap();
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The decision is the first entry whose selector matches, else the default.
    #[test]
    fn decision_is_the_first_match(
        selectors in prop::collection::vec(selector_strategy(), 0..20),
        remote in any::<u32>(), port in prop::option::of(any::<u16>()), proto in prop::sample::select(vec![1u8, 6, 17, 58]),
    ) {
        let mut spd = Spd::new();
        for (i, s) in selectors.iter().enumerate() {
            spd.push(Direction::Outbound, *s, Action::Protect(SaRef(i as u32)));
        }
        let p = PacketSelector {
            local: IP_C.into(), remote: IpAddr::V4(remote.into()), protocol: proto,
            local_port: port, remote_port: port, icmp: None,
        };
        let want = selectors.iter().position(|s| s.matches(&p));
        let d = spd.match_selector(Direction::Outbound, &p);
        prop_assert_eq!(d.entry, want);
        prop_assert_eq!(d.action, want.map_or(Action::Discard, |i| Action::Protect(SaRef(i as u32))));
    }

    #[test]
    fn arbitrary_packets_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..120)) {
        let mut spd = client_spd();
        if let Ok(p) = IpPacket::parse(&bytes) {
            let _ = spd.match_packet(Direction::Outbound, &p);
            let _ = spd.check_inbound(&p, Some(SA1));
        }
    }
}
