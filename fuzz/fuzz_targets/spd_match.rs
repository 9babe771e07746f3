//! Arbitrary packet bytes against a fixed SPD: parsing and matching never
//! panic, and the decision is the first matching entry.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use ipsec_dp::ip::IpPacket;
use ipsec_dp::spd::{
    Action, AddrSelector, Direction, PacketSelector, PortRange, SaRef, Selector, Spd,
};
use libfuzzer_sys::fuzz_target;

fn spd() -> Spd {
    let c = AddrSelector::host(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
    let rs = AddrSelector::prefix(IpAddr::V4(Ipv4Addr::new(198, 51, 100, 0)), 24).expect("prefix");
    let v6 = AddrSelector::prefix("2001:db8::".parse().expect("addr"), 32).expect("prefix");
    let mut spd = Spd::new();
    spd.push_both(
        Selector::between(c, rs)
            .with_protocol(17)
            .with_remote_ports(PortRange::single(4500)),
        Action::Bypass,
    );
    spd.push_both(
        Selector::between(c, rs)
            .with_protocol(17)
            .with_remote_ports(PortRange::single(5683)),
        Action::Protect(SaRef(1)),
    );
    spd.push_both(
        Selector::between(AddrSelector::Any, v6),
        Action::Protect(SaRef(2)),
    );
    spd.push_both(Selector::ANY.with_protocol(1), Action::Bypass);
    spd
}

fuzz_target!(|data: &[u8]| {
    let mut spd = spd();
    if let Ok(p) = IpPacket::parse(data) {
        assert!(p.len() <= data.len());
        for dir in [Direction::Outbound, Direction::Inbound] {
            let d = spd.match_packet(dir, &p);
            let sel = PacketSelector::from_packet(dir, &p);
            let first = spd
                .entries(dir)
                .iter()
                .position(|e| e.selector.matches(&sel));
            assert_eq!(d.entry, first);
        }
        let _ = spd.check_inbound(&p, Some(SaRef(1)));
        let _ = spd.check_inbound(&p, None);
    }
});
