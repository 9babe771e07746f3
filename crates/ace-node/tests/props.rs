//! Whatever arrives on either interface, the node never panics, never
//! delivers unauthenticated data to CoAP, and counts what it rejects.

use std::net::SocketAddr;
use std::time::Instant;

use ace_node::{dp_pair_spec, DpRole, Interface, Node, NodeEvent, SaPairSpec};
use ipsec_dp::suite::EspSuite;
use proptest::prelude::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn spec(role: DpRole) -> SaPairSpec {
    dp_pair_spec(
        role,
        &[9u8; 32],
        0x2000,
        0x3000,
        EspSuite::AesCcm8_128,
        addr("127.0.0.1:4500"),
        addr("127.0.0.1:0").ip(),
        addr("127.0.0.1:0").ip(),
        None,
        "test".into(),
    )
    .unwrap()
}

fn node() -> (Node, Instant) {
    let now = Instant::now();
    let mut n = Node::new(
        "N",
        addr("127.0.0.2:5683"),
        addr("127.0.0.2:4500"),
        ace_coap::Config::default(),
        1,
    );
    n.install_pair(now, spec(DpRole::Server)).unwrap();
    (n, now)
}

proptest! {
    #[test]
    fn arbitrary_esp_port_datagrams_never_reach_coap(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (mut n, now) = node();
        n.handle_datagram(now, Interface::Esp, addr("127.0.0.9:4500"), &data);
        // Nothing unauthenticated is delivered.
        prop_assert!(n.poll_event().is_none());
        // And it was counted somewhere.
        let c = n.counters().clone();
        let counted = n.sad().drops().total() + c.keepalives + c.ike_unhandled + c.encap_malformed;
        prop_assert_eq!(counted, 1);
    }

    #[test]
    fn arbitrary_plain_datagrams_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        let (mut n, now) = node();
        n.handle_datagram(now, Interface::Plain, addr("127.0.0.9:5683"), &data);
        while let Some(ev) = n.poll_event() {
            if let NodeEvent::Coap(ace_coap::Event::Request { id, .. }) = ev {
                let _ = n.endpoint().respond(now, id, ace_coap::Response::new(ace_coap::ResponseCode::NotFound));
            }
        }
        while n.poll_transmit(now).is_some() {}
    }

    #[test]
    fn sealed_coap_round_trips_between_two_nodes(path in "[a-z]{1,20}", payload in proptest::collection::vec(any::<u8>(), 0..500)) {
        let now = Instant::now();
        let mut c = Node::new("C", addr("127.0.0.3:5683"), addr("127.0.0.3:4500"), ace_coap::Config::default(), 2);
        let pair_c = c.install_pair(now, spec(DpRole::Client)).unwrap();
        let (mut s, _) = node();
        let req = ace_coap::Request::new(ace_coap::Method::Post, format!("/{path}")).with_payload(0, payload.clone());
        c.endpoint().request(now, ace_node::Peer::Secure { pair: pair_c, port: 5683 }, req, true);
        while let Some(t) = c.poll_transmit(now) {
            prop_assert_eq!(t.iface, Interface::Esp);
            s.handle_datagram(now, Interface::Esp, addr("127.0.0.3:4500"), &t.payload);
        }
        match s.poll_event() {
            Some(NodeEvent::Coap(ace_coap::Event::Request { request, .. })) => {
                prop_assert_eq!(request.path, format!("/{path}"));
                prop_assert_eq!(request.payload, payload);
            }
            other => prop_assert!(false, "expected the request, got {:?}", other),
        }
    }
}
