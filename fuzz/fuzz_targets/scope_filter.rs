//! Decrypted peer input through the transparent RS's scope filter: the
//! first byte picks the form (raw bytes as the IP packet, or a CoAP
//! message in a valid IPv4/IPv6 + UDP packet) and the pair; never a panic,
//! and every answer is a well-formed 4.03 / 4.05 back to the sender.
#![no_main]

use std::net::IpAddr;
use std::sync::Arc;

use ace_coap::Message;
use ace_node::ipsec_gw::{InboundFilter, SaRef, Verdict};
use ace_node::scope_filter::{write_udp_packet, ScopeFilter};
use ipsec_dp::ip::IpPacket;
use ipsec_dp::transport::parse_udp;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, rest)) = data.split_first() else {
        return;
    };
    let mut f = ScopeFilter::new(u16::from(ctl));
    f.bind(
        SaRef(1),
        Arc::from(vec![("/time".to_string(), 1u64), ("/a/b".to_string(), 0x7f)]),
    );
    let sa = SaRef(if ctl & 4 == 0 { 1 } else { 2 });
    let mut buf = vec![0u8; rest.len() + 2048];
    let (c, s): (IpAddr, IpAddr) = if ctl & 2 == 0 {
        ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap())
    } else {
        ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap())
    };
    let len = if ctl & 1 == 0 {
        buf[..rest.len()].copy_from_slice(rest);
        rest.len()
    } else {
        match write_udp_packet((c, 40000), (s, 5683), rest, &mut buf) {
            Some(n) => n,
            None => return,
        }
    };
    let from = IpPacket::parse(&buf[..len]).ok().map(|p| (p.src(), p.dst()));
    let extra = usize::from(ctl >> 3);
    // The length may claim more than the packet holds (bounded by the buffer).
    let len = (len + extra).min(buf.len());
    match f.check(sa, &mut buf, len) {
        Verdict::Answer { len } => {
            assert!(len <= buf.len());
            let ip = IpPacket::parse(&buf[..len]).expect("answer is an IP packet");
            let (src, dst) = from.expect("only a parsed request is answered");
            assert_eq!((ip.src(), ip.dst()), (dst, src));
            let udp = parse_udp(ip.payload()).expect("answer is UDP");
            let m = Message::parse(udp.payload).expect("answer is CoAP");
            assert!(m.code == 0x83 || m.code == 0x85);
        }
        Verdict::Deliver => assert_eq!(sa, SaRef(1)),
        Verdict::Refuse(_) => {}
    }
});
