//! The transparent RS's scope filter: requests the token covers are
//! delivered, others answered 4.03 / 4.05 in place (never delivered), and
//! what cannot be checked is refused and counted.

use std::net::IpAddr;
use std::sync::Arc;

use ace_coap::consts::option;
use ace_coap::{Message, MessageType};
use ace_node::ipsec_gw::{InboundFilter, SaRef, Verdict};
use ace_node::scope::Grants;
use ace_node::scope_filter::ScopeFilter;
use ipsec_dp::ip::IpPacket;
use ipsec_dp::transport::{parse_udp, verify_udp_checksum};

mod common;
use common::{ip, udp_packet};

const C: &str = "192.168.77.1";
const RS: &str = "192.168.77.2";
const SA: SaRef = SaRef(4);
const GET: u8 = 1;
const PUT: u8 = 3;

/// GET on /time only.
fn grants() -> Grants {
    Arc::from(vec![("/time".to_string(), 1u64)])
}

fn filter() -> ScopeFilter {
    let mut f = ScopeFilter::new(0x7000);
    f.bind(SA, grants());
    f
}

fn request(mtype: MessageType, code: u8, path: &[&[u8]]) -> Message {
    let mut m = Message {
        mtype,
        code,
        message_id: 0x1234,
        token: vec![0xa1, 0xb2, 0xc3],
        options: Vec::new(),
        payload: Vec::new(),
    };
    for s in path {
        m.push_option(option::URI_PATH, s.to_vec());
    }
    m
}

/// An IP/UDP packet C:40000 → RS:5683 carrying `payload`.
fn packet(src: IpAddr, dst: IpAddr, payload: &[u8]) -> (Vec<u8>, usize) {
    udp_packet(src, dst, 40000, 5683, payload)
}

fn coap_packet(m: &Message) -> (Vec<u8>, usize) {
    packet(ip(C), ip(RS), &m.emit().unwrap())
}

/// The answer: from RS:5683 back to C:40000, checksums right; its CoAP message.
fn answer(buf: &[u8], len: usize) -> Message {
    let pkt = IpPacket::parse(&buf[..len]).expect("an IP packet");
    assert_eq!((pkt.src(), pkt.dst()), (ip(RS), ip(C)));
    assert!(verify_udp_checksum(pkt.src(), pkt.dst(), pkt.payload()));
    let udp = parse_udp(pkt.payload()).unwrap();
    assert_eq!((udp.src_port, udp.dst_port), (5683, 40000));
    Message::parse(udp.payload).expect("a CoAP message")
}

/// Checks `m` (from C:40000 to RS:5683), which must be answered; the answer.
fn answered(f: &mut ScopeFilter, m: &Message) -> Message {
    let (mut buf, len) = coap_packet(m);
    let Verdict::Answer { len } = f.check(SA, &mut buf, len) else {
        panic!("{m:?} not answered")
    };
    answer(&buf, len)
}

#[test]
fn a_request_the_token_covers_is_delivered_unchanged() {
    let mut f = filter();
    let (mut buf, len) = coap_packet(&request(MessageType::Confirmable, GET, &[b"time"]));
    let before = buf.clone();
    assert_eq!(f.check(SA, &mut buf, len), Verdict::Deliver);
    assert_eq!(buf, before);
    assert_eq!(f.stats().delivered, 1);
}

#[test]
fn another_resource_gets_4_03_as_a_piggybacked_ack_and_is_not_delivered() {
    let mut f = filter();
    let req = request(MessageType::Confirmable, GET, &[b"example_data"]);
    let a = answered(&mut f, &req);
    assert_eq!(a.mtype, MessageType::Acknowledgement);
    assert_eq!(a.code, (4 << 5) | 3);
    assert_eq!(a.message_id, req.message_id);
    assert_eq!(a.token, req.token);
    assert_eq!(a.payload, b"the access token does not cover this resource");
    assert_eq!((f.stats().forbidden, f.stats().delivered), (1, 0));
}

#[test]
fn another_method_gets_4_05_and_a_non_request_a_non_answer() {
    let mut f = filter();
    let req = request(MessageType::NonConfirmable, PUT, &[b"time"]);
    let a = answered(&mut f, &req);
    assert_eq!(a.mtype, MessageType::NonConfirmable);
    assert_eq!(a.code, (4 << 5) | 5);
    assert_eq!(a.message_id, 0x7000, "the filter's own Message ID");
    assert_eq!(a.token, req.token);
    assert_eq!(answered(&mut f, &req).message_id, 0x7001);
    assert_eq!(f.stats().method_not_allowed, 2);
}

#[test]
fn a_method_code_without_an_aif_bit_is_not_covered() {
    let mut f = filter();
    let req = request(MessageType::Confirmable, 0x1f, &[b"time"]);
    assert_eq!(answered(&mut f, &req).code, (4 << 5) | 5);
}

#[test]
fn paths_that_read_two_ways_and_proxy_requests_are_covered_by_no_grant() {
    let odd: [&[&[u8]]; 5] = [
        &[b"ti/me"],
        &[b"..", b"time"],
        &[b".", b"time"],
        &[b"\xfftime"],
        &[b"time", b""],
    ];
    for path in odd {
        let req = request(MessageType::Confirmable, GET, path);
        assert_eq!(answered(&mut filter(), &req).code, (4 << 5) | 3, "{path:?}");
    }
    let mut proxied = request(MessageType::Confirmable, GET, &[]);
    proxied.push_option(option::PROXY_URI, b"coap://192.168.77.2/time".to_vec());
    assert_eq!(answered(&mut filter(), &proxied).code, (4 << 5) | 3);
}

#[test]
fn messages_that_are_not_requests_pass() {
    let mut f = filter();
    let empty_ack = Message::empty(MessageType::Acknowledgement, 9);
    let rst = Message::empty(MessageType::Reset, 10);
    let mut content = request(MessageType::Acknowledgement, (2 << 5) | 5, &[]);
    content.payload = b"21.5".to_vec();
    for m in [empty_ack, rst, content] {
        let (mut buf, len) = coap_packet(&m);
        assert_eq!(f.check(SA, &mut buf, len), Verdict::Deliver, "{m:?}");
    }
    assert_eq!(f.stats().delivered, 3);
}

#[test]
fn a_packet_on_an_unbound_pair_is_refused_and_counted() {
    let mut f = filter();
    let (mut buf, len) = coap_packet(&request(MessageType::Confirmable, GET, &[b"time"]));
    assert_eq!(
        f.check(SaRef(5), &mut buf, len),
        Verdict::Refuse("unbound-sa")
    );
    assert!(f.unbind(SA));
    assert_eq!(f.check(SA, &mut buf, len), Verdict::Refuse("unbound-sa"));
    assert_eq!(f.stats().refused.get("unbound-sa"), Some(&2));
    assert_eq!(f.stats().delivered, 0);
}

#[test]
fn what_is_not_coap_is_refused_by_reason() {
    let mut f = filter();
    // A request in an ACK is a message format error (RFC 7252 §4.2).
    let (mut buf, len) = coap_packet(&request(MessageType::Acknowledgement, GET, &[b"time"]));
    assert_eq!(f.check(SA, &mut buf, len), Verdict::Refuse("bad-coap"));
    let (mut buf, len) = packet(ip(C), ip(RS), b"\x40");
    assert_eq!(f.check(SA, &mut buf, len), Verdict::Refuse("bad-coap"));
    let (mut buf, len) = packet(ip(C), ip(RS), b"");
    assert_eq!(f.check(SA, &mut buf, len), Verdict::Refuse("bad-coap"));
    let (mut buf, len) = coap_packet(&request(MessageType::Confirmable, GET, &[b"time"]));
    buf[9] = 6; // TCP
    let c = ipsec_dp::ip::ipv4_header_checksum(&{
        let mut h = buf[..20].to_vec();
        h[10] = 0;
        h[11] = 0;
        h
    });
    buf[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(f.check(SA, &mut buf, len), Verdict::Refuse("not-udp"));
    let mut junk = vec![0x45u8, 0, 0, 99];
    junk.resize(64, 0);
    assert_eq!(f.check(SA, &mut junk, 64), Verdict::Refuse("bad-ip"));
    assert_eq!(f.check(SA, &mut junk, 1000), Verdict::Refuse("bad-ip"));
    let r = &f.stats().refused;
    assert_eq!(
        (r.get("bad-coap"), r.get("not-udp"), r.get("bad-ip")),
        (Some(&3), Some(&1), Some(&2))
    );
}

#[test]
fn ipv6_requests_get_ipv6_answers() {
    let (c6, rs6) = (ip("2001:db8::1"), ip("2001:db8::2"));
    let mut f = filter();
    let req = request(MessageType::Confirmable, GET, &[b"secret"]);
    let (mut buf, len) = packet(c6, rs6, &req.emit().unwrap());
    let Verdict::Answer { len } = f.check(SA, &mut buf, len) else {
        panic!()
    };
    let pkt = IpPacket::parse(&buf[..len]).unwrap();
    assert_eq!((pkt.src(), pkt.dst()), (rs6, c6));
    assert!(verify_udp_checksum(rs6, c6, pkt.payload()));
    let udp = parse_udp(pkt.payload()).unwrap();
    assert_eq!(Message::parse(udp.payload).unwrap().code, (4 << 5) | 3);
}
