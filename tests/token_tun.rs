//! The transparent mode fed by access tokens, deterministic and in memory:
//! AS, RS and Client (built from the example configurations) run the
//! profile's flow on the simulated network; the pair then moves into both
//! hosts' data paths, where an unmodified client's CoAP packets use it and
//! the RS's scope filter delivers, or answers 4.03 / 4.05 over the same
//! pair. Direct Provisioning (examples/*-tun.toml) and EDHOC
//! (examples/{as,rs,client-edhoc}.toml).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Instant;

use ace_as::{AuthorizationServer, Issuer};
use ace_client::{Access, ClientHost};
use ace_coap::consts::option;
use ace_coap::{Message, MessageType, Method, ResponseCode};
use ace_ipsec::config::{AsToml, ClientToml, RsToml};
use ace_node::ipsec_gw::{Gateway, Inbound, Outbound, Output};
use ace_node::scope_filter::{write_udp_packet, ScopeFilter};
use ace_node::sim::pump;
use ace_node::transparent::{Change, Transparent, TransparentConfig, TransparentHost, TunMode};
use ace_node::{DpRole, Host, Node, Now};
use ace_rs::{EdhocResponderConfig, ResourceServer};
use ipsec_dp::ip::IpPacket;
use ipsec_dp::transport::parse_udp;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("examples")
        .join(name)
}

/// One set of example configurations and what to ask for.
struct Setup {
    as_toml: &'static str,
    rs_toml: &'static str,
    client_toml: &'static str,
    /// The client's plain CoAP address (the examples may say port 0).
    client_plain: &'static str,
    /// The unmodified server (the RS's configuration may have no [tun]).
    server: &'static str,
    /// A path the token grants GET on, and not PUT.
    granted: &'static str,
}

const DP: Setup = Setup {
    as_toml: "as-tun.toml",
    rs_toml: "rs-tun.toml",
    client_toml: "client-tun.toml",
    client_plain: "192.168.77.1:5700",
    server: "192.168.77.2:5683",
    granted: "/time",
};

const EDHOC: Setup = Setup {
    as_toml: "as.toml",
    rs_toml: "rs.toml",
    client_toml: "client-edhoc.toml",
    client_plain: "127.0.0.3:5700",
    server: "127.0.0.2:5699",
    granted: "/temp",
};

struct World {
    as_: AuthorizationServer,
    rs: TransparentHost<ResourceServer>,
    c: ClientHost,
    c_tun: Transparent,
    access: Access,
    now: Now,
    server: SocketAddr,
    client_ip: IpAddr,
}

fn world(s: &Setup, mode: TunMode) -> World {
    let now = Now {
        mono: Instant::now(),
        unix: 1_800_000_000,
    };
    let coap = ace_coap::Config::default;
    let (at, av) = AsToml::load(&example(s.as_toml)).unwrap();
    let mut issuer = Issuer::new(at.issuer.clone(), at.token_lifetime, av.rs, av.policies);
    for (aud, k) in av.edhoc_rs {
        issuer.set_edhoc_rs_key(&aud, k);
    }
    for (c, k) in av.edhoc_clients {
        issuer.set_edhoc_client_key(&c, k);
    }
    let as_node = Node::new("AS", at.listen, at.esp_listen, coap(), 1);
    let as_ =
        AuthorizationServer::new(as_node, issuer, av.clients, now.mono, Some(2), None).unwrap();

    let rs_file = example(s.rs_toml);
    let (rt, rcfg) = RsToml::load(&rs_file).unwrap();
    let mut rs = ResourceServer::new(
        Node::new("RS", rt.listen, rt.esp_listen, coap(), 3),
        rcfg,
        now.unix - 60,
    );
    if let Some(k) = rt.edhoc_key(&rs_file).unwrap() {
        rs.enable_edhoc(EdhocResponderConfig::new(k), Some(4));
    }
    rs.enable_hand_over();
    let server: SocketAddr = s.server.parse().unwrap();
    let rs = TransparentHost::new(
        rs,
        TransparentConfig {
            role: DpRole::Server,
            mode,
            server,
        },
    );

    let c_file = example(s.client_toml);
    let (ct, reg) = ClientToml::load(&c_file).unwrap();
    let plain: SocketAddr = s.client_plain.parse().unwrap();
    let esp = SocketAddr::new(plain.ip(), 4500);
    let mut c = ClientHost::new(
        Node::new("C", plain, esp, coap(), 5),
        ct.id.clone(),
        reg,
        now.mono,
        Some(6),
        None,
    )
    .unwrap();
    if let Some(k) = ct.edhoc_key(&c_file).unwrap() {
        c.set_edhoc_key(k);
    }
    let c_tun = Transparent::new(TransparentConfig {
        role: DpRole::Client,
        mode,
        server,
    });
    let access = Access {
        rs: rt.listen,
        rs_esp: Some(rt.esp_listen),
        audience: None,
        scope: None,
        method: Method::Get,
        path: s.granted.into(),
        payload: Vec::new(),
        content_format: None,
    };
    World {
        as_,
        rs,
        c,
        c_tun,
        access,
        now,
        server,
        client_ip: plain.ip(),
    }
}

/// A host's data path: both halves, and the RS's filter.
struct DataPath {
    out: Outbound,
    inb: Inbound,
    filter: Option<ScopeFilter>,
}

impl DataPath {
    fn new(filter: Option<ScopeFilter>) -> Self {
        let (out, mut inb) = Gateway::new().split();
        inb.pass_unowned(true);
        DataPath { out, inb, filter }
    }

    /// What the driver does with a hand-over change.
    fn apply(&mut self, c: Change) -> String {
        match c {
            Change::Install { pair, grants } => {
                let sa = pair.sa_ref;
                self.inb.install(pair.inbound).unwrap();
                self.out.install(pair.outbound);
                if let (Some(f), Some(g)) = (self.filter.as_mut(), grants) {
                    f.bind(sa, g);
                }
                format!("install {}", sa.0)
            }
            Change::Remove(sa) => {
                self.inb.remove(sa);
                self.out.remove(sa);
                if let Some(f) = self.filter.as_mut() {
                    f.unbind(sa);
                }
                format!("remove {}", sa.0)
            }
        }
    }

    fn open(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: IpAddr,
        d: &mut [u8],
        out: &mut [u8],
    ) -> Output {
        let f = self
            .filter
            .as_mut()
            .map(|f| f as &mut dyn ace_node::ipsec_gw::InboundFilter);
        self.inb.from_udp_filtered(now, src, dst, d, out, f)
    }
}

impl World {
    /// The flow up to the pair's confirmation, then both hand-overs.
    fn establish(&mut self, rs_dp: &mut DataPath, c_dp: &mut DataPath) -> Vec<String> {
        let id = self.c.establish(self.now, self.access.clone());
        pump(&mut [&mut self.as_, &mut self.rs, &mut self.c], self.now);
        let (done, r) = self.c.poll_done().expect("finished");
        assert_eq!(done, id);
        let confirmed = r.expect("SA pair set up");
        assert!(matches!(
            confirmed.response.code,
            ResponseCode::Created | ResponseCode::Changed
        ));
        // The RS hands over after the turn that sealed its 2.01 / 2.04.
        self.rs.after_turn(self.now);
        let mut log = Vec::new();
        while let Some(c) = self.rs.poll_change() {
            log.push(format!("RS {}", rs_dp.apply(c)));
        }
        let pair = self.c.session(self.access.rs).unwrap().pair;
        self.c_tun
            .hand_over(self.c.node(), self.now.mono, pair, None)
            .unwrap();
        self.c.drop_session(self.access.rs);
        while let Some(c) = self.c_tun.poll_change() {
            log.push(format!("C {}", c_dp.apply(c)));
        }
        log
    }

    /// coap-client's request through both data paths: what the RS's TUN
    /// device gets (`Ok`) or the answer coap-client gets (`Err`).
    fn request(
        &self,
        rs_dp: &mut DataPath,
        c_dp: &mut DataPath,
        method: Method,
        path: &str,
    ) -> Result<Vec<u8>, Message> {
        let now = self.now.mono;
        let mut m = Message {
            mtype: MessageType::Confirmable,
            code: method.code(),
            message_id: 0x4242,
            token: vec![7, 7],
            options: Vec::new(),
            payload: Vec::new(),
        };
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            m.push_option(option::URI_PATH, seg.as_bytes().to_vec());
        }
        let mut pkt = vec![0u8; 2048];
        let n = write_udp_packet(
            (self.client_ip, 40000),
            (self.server.ip(), self.server.port()),
            &m.emit().unwrap(),
            &mut pkt,
        )
        .unwrap();
        let mut wire = vec![0u8; 4096];
        let mut tun = vec![0u8; 4096];
        let Output::Udp { to, len } = c_dp.out.from_tun(now, &pkt[..n], &mut wire) else {
            panic!("client did not protect: {:?}", c_dp.out.counters())
        };
        let rs_esp = self.rs.node_ref().local_esp();
        assert_eq!(to, rs_esp);
        let c_esp = SocketAddr::new(self.client_ip, 4500);
        match rs_dp.open(now, c_esp, rs_esp.ip(), &mut wire[..len], &mut tun) {
            Output::Tun { len } => Ok(tun[..len].to_vec()),
            Output::Answer { sa_ref, len } => {
                let answer = tun[..len].to_vec();
                let Output::Udp { to, len } = rs_dp.out.answer(now, sa_ref, &answer, &mut wire)
                else {
                    panic!("answer not protected: {:?}", rs_dp.out.counters())
                };
                assert_eq!(to, c_esp);
                let Output::Tun { len } =
                    c_dp.open(now, rs_esp, self.client_ip, &mut wire[..len], &mut tun)
                else {
                    panic!("answer not delivered: {:?}", c_dp.inb.counters())
                };
                let ip = IpPacket::parse(&tun[..len]).unwrap();
                let udp = parse_udp(ip.payload()).unwrap();
                assert_eq!((udp.src_port, udp.dst_port), (self.server.port(), 40000));
                Err(Message::parse(udp.payload).unwrap())
            }
            other => panic!("{other:?}: {:?}", rs_dp.inb.counters()),
        }
    }
}

fn coap_path(delivered: &[u8]) -> String {
    let ip = IpPacket::parse(delivered).unwrap();
    let udp = parse_udp(ip.payload()).unwrap();
    let m = Message::parse(udp.payload).unwrap();
    let segs: Vec<String> = m
        .options_of(option::URI_PATH)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect();
    format!("/{}", segs.join("/"))
}

fn run(s: &Setup, mode: TunMode) {
    let mut w = world(s, mode);
    let mut rs_dp = DataPath::new(Some(ScopeFilter::new(1)));
    let mut c_dp = DataPath::new(None);
    assert_eq!(
        w.establish(&mut rs_dp, &mut c_dp),
        ["RS install 1", "C install 1"]
    );
    assert_eq!(w.rs.inner.stats().tokens_accepted, 1);
    assert_eq!(
        w.rs.node_ref().pair_count(),
        0,
        "the RS node holds no token pair"
    );
    assert_eq!(
        w.c.node_ref().pair_count(),
        1,
        "the client node: only the AS pair"
    );

    // In scope: delivered to the server, unchanged CoAP.
    let got = w
        .request(&mut rs_dp, &mut c_dp, Method::Get, s.granted)
        .expect("delivered");
    assert_eq!(coap_path(&got), s.granted);
    // Outside: answered by the RS over the same pair, not delivered.
    let a = w
        .request(&mut rs_dp, &mut c_dp, Method::Get, "/example_data")
        .expect_err("answered");
    assert_eq!(
        (a.mtype, a.code, a.message_id),
        (MessageType::Acknowledgement, 0x83, 0x4242)
    );
    assert_eq!(a.token, vec![7, 7]);
    let a = w
        .request(&mut rs_dp, &mut c_dp, Method::Put, s.granted)
        .expect_err("answered");
    assert_eq!(a.code, 0x85);
    let f = rs_dp.filter.as_ref().unwrap().stats();
    assert_eq!((f.delivered, f.forbidden, f.method_not_allowed), (1, 1, 1));

    // A new token (the client's renewal) replaces the pair on both sides.
    let old_spi = w.rs.tun.pairs().next().unwrap().spi_in;
    assert!(rs_dp.inb.owns_spi(old_spi));
    let log = w.establish(&mut rs_dp, &mut c_dp);
    assert_eq!(
        log,
        ["RS remove 1", "RS install 2", "C remove 1", "C install 2"]
    );
    let got = w
        .request(&mut rs_dp, &mut c_dp, Method::Get, s.granted)
        .expect("delivered over the new pair");
    assert_eq!(coap_path(&got), s.granted);
    assert_eq!(rs_dp.inb.counters().answered, 2);
    assert!(!rs_dp.inb.owns_spi(old_spi), "the old pair is gone");
    assert!(!w.rs.node_ref().spi_in_use(old_spi), "and its SPI free");
}

#[test]
fn direct_provisioning_transport_mode() {
    run(&DP, TunMode::Transport);
}

#[test]
fn direct_provisioning_tunnel_mode() {
    run(&DP, TunMode::Tunnel);
}

#[test]
fn edhoc_transport_mode() {
    run(&EDHOC, TunMode::Transport);
}
