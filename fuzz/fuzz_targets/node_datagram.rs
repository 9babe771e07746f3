//! Arbitrary datagrams into a node with an installed SA pair, on either
//! interface: the ESP-port classification, SAD lookup, inner UDP parsing and
//! CoAP delivery must never panic.
#![no_main]

use std::net::SocketAddr;
use std::time::Instant;

use ace_node::{dp_pair_spec, DpRole, Interface, Node, NodeEvent};
use ipsec_dp::suite::EspSuite;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let a = |s: &str| -> SocketAddr { s.parse().expect("literal address") };
    let now = Instant::now();
    let mut n = Node::new("N", a("127.0.0.2:5683"), a("127.0.0.2:4500"), ace_coap::Config::default(), 1);
    let spec = dp_pair_spec(
        DpRole::Server,
        &[9u8; 32],
        0x2000,
        0x3000,
        EspSuite::AesCcm8_128,
        a("127.0.0.1:4500"),
        a("127.0.0.1:0").ip(),
        a("127.0.0.1:0").ip(),
        None,
        "fuzz".into(),
    )
    .expect("valid spec");
    n.install_pair(now, spec).expect("installs");
    let (iface, body) = match data.split_first() {
        Some((b, rest)) if b & 1 == 0 => (Interface::Esp, rest),
        Some((_, rest)) => (Interface::Plain, rest),
        None => return,
    };
    n.handle_datagram(now, iface, a("127.0.0.9:4500"), body);
    while let Some(ev) = n.poll_event() {
        if let NodeEvent::Coap(ace_coap::Event::Request { id, .. }) = ev {
            let _ = n.endpoint().respond(now, id, ace_coap::Response::new(ace_coap::ResponseCode::NotFound));
        }
    }
    while n.poll_transmit(now).is_some() {}
});
