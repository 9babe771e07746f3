//! The hand-over of a token's SA pair from the node to the TUN data path:
//! the node used the pair (as the 2.01 over it does), the data path carries
//! on with the same SAs — sequence numbers continue, nothing is used twice —
//! and SPI ownership moves explicitly; newer pairs replace older ones for a
//! peer, and a pair leaves the data path when its lifetime ends.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ace_coap::{Config, Event, Method, Request, Response, ResponseCode};
use ace_node::ipsec_gw::{Gateway, Output, SaRef};
use ace_node::transparent::{
    Change, HandsOver, ReadyPair, Transparent, TransparentConfig, TransparentHost, TunMode,
};
use ace_node::{
    dp_pair_spec, DpRole, Host, Interface, Node, NodeEvent, Now, PairId, Peer, SeqState, TakeError,
};
use ipsec_dp::ip::IpPacket;
use ipsec_dp::suite::EspSuite;

mod common;
use common::{ip, udp_packet};

const C: &str = "192.168.77.1";
const RS: &str = "192.168.77.2";
const SPI_C: u32 = 0x5001;
const SPI_RS: u32 = 0x5002;
const LIFE: Duration = Duration::from_secs(100);

fn sa(host: &str, port: u16) -> SocketAddr {
    SocketAddr::new(ip(host), port)
}

fn node(name: &str, host: &str, coap: u16, seed: u64) -> Node {
    Node::new(
        name,
        sa(host, coap),
        sa(host, 4500),
        Config::default(),
        seed,
    )
}

/// Installs the pair `spi_c`/`spi_rs` (seed `seed`) on both nodes.
fn install(
    c: &mut Node,
    rs: &mut Node,
    now: Instant,
    spis: (u32, u32),
    seed: u8,
) -> (PairId, PairId) {
    let seed = [seed; 32];
    let suite = EspSuite::AesGcm16_128;
    let spec = |role, peer: &str, local: &str| {
        dp_pair_spec(
            role,
            &seed,
            spis.0,
            spis.1,
            suite,
            sa(peer, 4500),
            ip(local),
            ip(peer),
            Some(LIFE),
            format!("{role:?}"),
        )
        .unwrap()
    };
    let pc = c.install_pair(now, spec(DpRole::Client, RS, C)).unwrap();
    let prs = rs.install_pair(now, spec(DpRole::Server, C, RS)).unwrap();
    (pc, prs)
}

/// One CoAP exchange over the pair in the nodes: both outbound SAs use
/// sequence number 1 (as the token POST's 2.01 does on the RS).
fn exchange(c: &mut Node, rs: &mut Node, now: Instant, pc: PairId) {
    c.endpoint().request(
        now,
        Peer::Secure {
            pair: pc,
            port: 5689,
        },
        Request::new(Method::Get, "/x"),
        true,
    );
    let t = c.poll_transmit(now).unwrap();
    assert_eq!(t.iface, Interface::Esp);
    rs.handle_datagram(now, Interface::Esp, sa(C, 4500), &t.payload);
    let Some(NodeEvent::Coap(Event::Request { id, .. })) = rs.poll_event() else {
        panic!("no request at the RS")
    };
    rs.endpoint()
        .respond(now, id, Response::new(ResponseCode::Content))
        .unwrap();
    let t = rs.poll_transmit(now).unwrap();
    c.handle_datagram(now, Interface::Esp, sa(RS, 4500), &t.payload);
    assert!(matches!(
        c.poll_event(),
        Some(NodeEvent::Coap(Event::Response { .. }))
    ));
}

fn config(role: DpRole, mode: TunMode) -> TransparentConfig {
    TransparentConfig {
        role,
        mode,
        server: sa(RS, 5683),
    }
}

/// Applies every queued change to a data path.
fn apply(t: &mut Transparent, gw: &mut Gateway) -> Vec<String> {
    let mut log = Vec::new();
    while let Some(ch) = t.poll_change() {
        match ch {
            Change::Install { pair, .. } => {
                log.push(format!("install {}", pair.sa_ref.0));
                gw.install(*pair).unwrap();
            }
            Change::Remove(r) => {
                log.push(format!("remove {}", r.0));
                assert!(gw.remove(r));
            }
        }
    }
    log
}

/// Client TUN → client gateway → RS gateway → RS TUN, and back.
fn round_trip(c_gw: &mut Gateway, rs_gw: &mut Gateway, now: Instant, expect_seq: u32) -> Vec<u8> {
    let mut wire = vec![0u8; 2048];
    let mut tun = vec![0u8; 2048];
    let (req, n) = udp_packet(ip(C), ip(RS), 40000, 5683, b"GET /time");
    let Output::Udp { to, len } = c_gw.from_tun(now, &req[..n], &mut wire) else {
        panic!("{:?}", c_gw.counters())
    };
    assert_eq!(to, sa(RS, 4500));
    assert_eq!(
        &wire[4..8],
        &expect_seq.to_be_bytes(),
        "client's sequence number"
    );
    let Output::Tun { len: m } =
        rs_gw.from_udp(now, sa(C, 4500), ip(RS), &mut wire[..len], &mut tun)
    else {
        panic!("{:?}", rs_gw.counters())
    };
    assert_same_datagram(&tun[..m], &req[..n]);
    let (resp, n) = udp_packet(ip(RS), ip(C), 5683, 40000, b"2.05 12:00");
    let Output::Udp { len, .. } = rs_gw.from_tun(now, &resp[..n], &mut wire) else {
        panic!("{:?}", rs_gw.counters())
    };
    assert_eq!(
        &wire[4..8],
        &expect_seq.to_be_bytes(),
        "RS's sequence number"
    );
    let esp = wire[..len].to_vec();
    let Output::Tun { len: m } =
        c_gw.from_udp(now, sa(RS, 4500), ip(C), &mut wire[..len], &mut tun)
    else {
        panic!("{:?}", c_gw.counters())
    };
    assert_same_datagram(&tun[..m], &resp[..n]);
    esp
}

/// Same addresses and UDP datagram (transport mode rebuilds the IP header).
fn assert_same_datagram(got: &[u8], sent: &[u8]) {
    let (g, s) = (
        IpPacket::parse(got).unwrap(),
        IpPacket::parse(sent).unwrap(),
    );
    assert_eq!(
        (g.src(), g.dst(), g.payload()),
        (s.src(), s.dst(), s.payload())
    );
}

fn both_modes(f: impl Fn(TunMode)) {
    f(TunMode::Transport);
    f(TunMode::Tunnel);
}

#[test]
fn a_handed_over_pair_carries_on_in_the_data_path_with_its_sequence_numbers() {
    both_modes(|mode| {
        let now = Instant::now();
        let (mut c, mut rs) = (node("C", C, 5683, 1), node("RS", RS, 5689, 2));
        let (pc, prs) = install(&mut c, &mut rs, now, (SPI_C, SPI_RS), 3);
        exchange(&mut c, &mut rs, now, pc);

        let mut c_tun = Transparent::new(config(DpRole::Client, mode));
        let mut rs_tun = Transparent::new(config(DpRole::Server, mode));
        let c_ref = c_tun.hand_over(&mut c, now, pc, None).unwrap();
        let grants = Arc::from(vec![("/time".to_string(), 1u64)]);
        rs_tun.hand_over(&mut rs, now, prs, Some(grants)).unwrap();
        let (mut c_gw, mut rs_gw) = (Gateway::new(), Gateway::new());
        c_gw.pass_unowned(true);
        rs_gw.pass_unowned(true);
        assert_eq!(apply(&mut c_tun, &mut c_gw), ["install 1"]);
        assert_eq!(apply(&mut rs_tun, &mut rs_gw), ["install 1"]);

        // The node no longer has the pair, but its SPI stays taken.
        assert!(c.pair(pc).is_none() && rs.pair(prs).is_none());
        assert!(c.spi_in_use(SPI_RS) && rs.spi_in_use(SPI_C));
        assert!(c.is_handed_over(pc));
        let h = c_tun.pairs().next().unwrap().clone();
        assert_eq!((h.sa_ref, h.spi_in, h.spi_out), (c_ref, SPI_RS, SPI_C));
        assert_eq!(h.peer_esp, sa(RS, 4500));

        // Sequence number 1 went to the nodes' exchange: the data path
        // starts at 2, in both directions, in either mode.
        let esp = round_trip(&mut c_gw, &mut rs_gw, now, 2);
        round_trip(&mut c_gw, &mut rs_gw, now, 3);

        // ESP for a handed-over SPI that still reaches the node is dropped
        // under its own reason, not opened.
        c.handle_datagram(now, Interface::Esp, sa(RS, 4500), &esp);
        assert_eq!(c.counters().handed_over_spi, 1);
        assert!(c.poll_event().is_none());
        // What the data path does not own goes back to the node.
        let mut other = esp.clone();
        other[..4].copy_from_slice(&0x6666u32.to_be_bytes());
        let mut tun = vec![0u8; 2048];
        assert_eq!(
            c_gw.from_udp(now, sa(RS, 4500), ip(C), &mut other, &mut tun),
            Output::NotOwned
        );
    });
}

/// A client whose pair (transport mode) moved into a data path.
fn client_in_data_path(now: Instant) -> (Node, Transparent, Gateway) {
    let (mut c, mut rs) = (node("C", C, 5683, 1), node("RS", RS, 5689, 2));
    let (pc, _) = install(&mut c, &mut rs, now, (SPI_C, SPI_RS), 3);
    let mut t = Transparent::new(config(DpRole::Client, TunMode::Transport));
    t.hand_over(&mut c, now, pc, None).unwrap();
    let mut gw = Gateway::new();
    apply(&mut t, &mut gw);
    (c, t, gw)
}

#[test]
fn the_policies_select_only_the_protected_server() {
    let now = Instant::now();
    let (_, _, mut gw) = client_in_data_path(now);
    let mut wire = vec![0u8; 2048];
    for (dst, port) in [(RS, 5689), (RS, 5684), ("192.168.77.3", 5683)] {
        let (p, n) = udp_packet(ip(C), ip(dst), 40000, port, b"x");
        assert!(
            matches!(gw.from_tun(now, &p[..n], &mut wire), Output::Dropped(_)),
            "{dst}:{port} protected"
        );
    }
}

#[test]
fn a_newer_pair_for_the_same_peer_replaces_the_older_one() {
    let now = Instant::now();
    let (mut c, mut rs) = (node("C", C, 5683, 1), node("RS", RS, 5689, 2));
    let (_, old) = install(&mut c, &mut rs, now, (SPI_C, SPI_RS), 3);
    let mut t = Transparent::new(config(DpRole::Server, TunMode::Transport));
    t.hand_over(&mut rs, now, old, None).unwrap();
    let (_, new) = install(&mut c, &mut rs, now, (SPI_C + 10, SPI_RS + 10), 4);
    t.hand_over(&mut rs, now, new, None).unwrap();
    let mut gw = Gateway::new();
    assert_eq!(
        apply(&mut t, &mut gw),
        ["install 1", "remove 1", "install 2"]
    );
    assert_eq!(t.stats().replaced, 1);
    assert!(!rs.spi_in_use(SPI_C), "the older SPI is free again");
    assert!(rs.spi_in_use(SPI_C + 10));
    assert_eq!(t.pairs().map(|p| p.sa_ref).collect::<Vec<_>>(), [SaRef(2)]);
}

#[test]
fn a_pair_leaves_the_data_path_when_its_lifetime_ends() {
    let now = Instant::now();
    let (mut c, mut t, mut gw) = client_in_data_path(now);
    assert_eq!(t.poll_timeout(), Some(now + LIFE));
    assert_eq!(t.renew_at(), Some(now + LIFE * 3 / 4));

    t.handle_timeout(&mut c, now + LIFE - Duration::from_millis(1));
    assert!(t.poll_change().is_none(), "not yet");
    t.handle_timeout(&mut c, now + LIFE);
    assert_eq!(apply(&mut t, &mut gw), ["remove 1"]);
    assert_eq!(t.stats().expired, 1);
    assert!(!c.spi_in_use(SPI_RS));
    assert_eq!(t.poll_timeout(), None);
}

#[test]
fn the_registration_pair_and_unknown_pairs_are_not_handed_over() {
    let now = Instant::now();
    let mut c = node("C", C, 5683, 1);
    let mut spec = dp_pair_spec(
        DpRole::Client,
        &[1; 32],
        0x7001,
        0x7002,
        EspSuite::AesGcm16_128,
        sa("192.168.77.9", 4500),
        ip(C),
        ip("192.168.77.9"),
        None,
        "AS".into(),
    )
    .unwrap();
    spec.persist = Some(("reg".into(), SeqState::default()));
    let reg = c.install_pair(now, spec).unwrap();
    let mut t = Transparent::new(config(DpRole::Client, TunMode::Transport));
    assert_eq!(
        t.hand_over(&mut c, now, reg, None).err(),
        Some(TakeError::Persistent)
    );
    assert_eq!(
        t.hand_over(&mut c, now, PairId(99), None).err(),
        Some(TakeError::NotInstalled)
    );
    assert!(c.pair(reg).is_some(), "untouched");
    assert!(t.poll_change().is_none());
    assert_eq!(t.stats().failed, 2);
}

/// A host whose pair becomes ready after an exchange, like the RS after
/// its 2.01.
struct Toy {
    node: Node,
    ready: Vec<ReadyPair>,
}

impl Host for Toy {
    fn node(&mut self) -> &mut Node {
        &mut self.node
    }
    fn node_ref(&self) -> &Node {
        &self.node
    }
    fn on_event(&mut self, _now: Now, _event: NodeEvent) {}
}

impl HandsOver for Toy {
    fn take_ready(&mut self) -> Vec<ReadyPair> {
        std::mem::take(&mut self.ready)
    }
}

#[test]
fn a_transparent_host_hands_ready_pairs_over_and_joins_their_timers() {
    let now = Now {
        mono: Instant::now(),
        unix: 1_800_000_000,
    };
    let (mut c, mut rs) = (node("C", C, 5683, 1), node("RS", RS, 5689, 2));
    let (_, prs) = install(&mut c, &mut rs, now.mono, (SPI_C, SPI_RS), 3);
    let mut host = TransparentHost::new(
        Toy {
            node: rs,
            ready: Vec::new(),
        },
        config(DpRole::Server, TunMode::Transport),
    );
    host.after_turn(now);
    assert!(host.poll_change().is_none(), "nothing ready");
    host.inner.ready.push(ReadyPair {
        pair: prs,
        grants: None,
    });
    host.after_turn(now);
    assert!(matches!(host.poll_change(), Some(Change::Install { .. })));
    // The node's own timer for the pair is gone; the data path's is the host's.
    assert_eq!(host.node_ref().poll_timeout(), None);
    assert_eq!(Host::poll_timeout(&host), Some(now.mono + LIFE));
    ace_node::host::handle_timeout(&mut host, now.later(LIFE.as_secs()));
    assert!(matches!(host.poll_change(), Some(Change::Remove(SaRef(1)))));
}
