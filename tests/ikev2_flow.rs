//! IKEv2 as the key management method (draft-aragon-ace-ipsec-profile-01
//! §3.2.2 PSK, §3.2.3 raw public keys), deterministic and in memory: the AS
//! issues `kmp = ikev2` tokens, the RS authorizes the token's PoP key in its
//! IKEv2 responder, the Client starts IKE_SA_INIT after the plain 2.01, and
//! the Child SA carries the CoAP request.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ace_as::{AuthorizationServer, ClientRegistration, Issuer, Policy, RsRegistration};
use ace_client::{Access, AsRegistration, ClientHost, IkeKey, Outcome};
use ace_coap::{Method, ResponseCode};
use ace_core::cwt::{ContentAlg, TokenKey};
use ace_core::edhoc::PublicKey;
use ace_core::ipsec::Seed;
use ace_core::scope::Scope;
use ace_node::sim::{pump, tick, Datagram};
use ace_node::{Host, Interface, Node, Now};
use ace_rs::{IkeResponderConfig, ResourceServer, ResourceSpec, RsConfig};
use ikev2::crypto::P256SigningKey;

const A128GCM: i64 = 1;
const CCM8: i64 = 10;
const GET: u64 = 1;
const PUT: u64 = 4;
const TOKEN_KEY: [u8; 16] = [0x11; 16];
const REG_SEED: [u8; 32] = [0x22; 32];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn token_key() -> TokenKey {
    TokenKey::new(b"rs1".to_vec(), ContentAlg::A128Gcm, &TOKEN_KEY).unwrap()
}

fn public(kid: &[u8], k: &P256SigningKey) -> PublicKey {
    let xy = k.public_key().to_xy();
    let (mut x, mut y) = ([0u8; 32], [0u8; 32]);
    x.copy_from_slice(&xy[..32]);
    y.copy_from_slice(&xy[32..]);
    PublicKey {
        kid: kid.to_vec(),
        x,
        y,
    }
}

struct World {
    as_: AuthorizationServer,
    rs: ResourceServer,
    c: ClientHost,
    now: Now,
}

#[derive(Clone, Copy, PartialEq)]
enum Method_ {
    Psk,
    Rpk,
}

fn world(m: Method_, rs_ike: bool, token_lifetime: u64) -> World {
    let now = Now {
        mono: Instant::now(),
        unix: 1_800_000_000,
    };
    let c_key = Arc::new(P256SigningKey::generate().unwrap());
    let rs_key = Arc::new(P256SigningKey::generate().unwrap());
    let mut issuer = Issuer::new(
        "as.test".into(),
        token_lifetime,
        vec![RsRegistration {
            audience: "rs1".into(),
            token_key: token_key(),
            esp_alg: CCM8,
            sa_life: 600,
        }],
        vec![Policy {
            client: "c1".into(),
            audience: "rs1".into(),
            text: vec!["r_temp".into()],
            aif: vec![],
        }],
    );
    issuer.set_ike_rs_key("rs1", public(b"rs-ike", &rs_key));
    let coap = ace_coap::Config::default();
    let node = |name: &str, plain: &str, esp: &str, seed: u64| {
        Node::new(name, addr(plain), addr(esp), coap.clone(), seed)
    };
    let as_ = AuthorizationServer::new(
        node("AS", "127.0.0.1:5683", "127.0.0.1:4500", 1),
        issuer,
        vec![ClientRegistration {
            id: "c1".into(),
            spi_c: 0x1001,
            spi_as: 0x1002,
            seed: Seed::new(REG_SEED),
            alg: A128GCM,
            esp_addr: None,
        }],
        now.mono,
        Some(7),
        None,
    )
    .unwrap();
    let mut text_scopes = HashMap::new();
    text_scopes.insert("r_temp".to_string(), vec![("/temp".to_string(), GET)]);
    let mut rs = ResourceServer::new(
        node("RS", "127.0.0.2:5683", "127.0.0.2:4500", 2),
        RsConfig {
            audience: "rs1".into(),
            issuer: Some("as.test".into()),
            as_uri: "coap://127.0.0.1:5683/token".into(),
            token_keys: vec![token_key()],
            text_scopes,
            resources: vec![
                ResourceSpec {
                    path: "/temp".into(),
                    value: b"21.5".to_vec(),
                    content_format: Some(0),
                    methods: GET | PUT,
                },
                ResourceSpec {
                    path: "/led".into(),
                    value: b"off".to_vec(),
                    content_format: Some(0),
                    methods: GET | PUT,
                },
            ],
            max_tokens: 10,
        },
        now.unix - 86_400,
    );
    if rs_ike {
        rs.enable_ike(IkeResponderConfig {
            config: ikev2::Config::default(),
            psk_id: ikev2::payload::IdRepr {
                id_type: ikev2::IdType::ID_FQDN,
                data: b"rs1".to_vec(),
            },
            signing_key: Some((b"rs-ike".to_vec(), rs_key)),
        })
        .unwrap();
    }
    let mut c = ClientHost::new(
        node("C", "127.0.0.3:5683", "127.0.0.3:4500", 3),
        "c1".into(),
        AsRegistration {
            esp_addr: addr("127.0.0.1:4500"),
            coap_port: 5683,
            spi_c: 0x1001,
            spi_as: 0x1002,
            seed: Seed::new(REG_SEED),
            alg: A128GCM,
            uri: Some("coap://127.0.0.1:5683/token".into()),
        },
        now.mono,
        Some(4),
        None,
    )
    .unwrap();
    let key = match m {
        Method_::Psk => IkeKey::Psk,
        Method_::Rpk => IkeKey::Rpk {
            kid: b"c1-ike".to_vec(),
            key: c_key,
        },
    };
    c.set_ike(ikev2::Config::default(), key).unwrap();
    World { as_, rs, c, now }
}

impl World {
    fn access(&self, method: Method, path: &str) -> Access {
        Access {
            rs: addr("127.0.0.2:5683"),
            rs_esp: Some(addr("127.0.0.2:4500")),
            audience: Some("rs1".into()),
            scope: Some(Scope::Text("r_temp".into())),
            method,
            path: path.into(),
            payload: Vec::new(),
            content_format: None,
        }
    }

    fn run(&mut self, a: Access) -> (Result<Outcome, ace_client::ClientError>, Vec<Datagram>) {
        let id = self.c.start(self.now, a);
        let cap = pump(&mut [&mut self.as_, &mut self.rs, &mut self.c], self.now);
        let (done, r) = self.c.poll_done().expect("access finished");
        assert_eq!(done, id);
        (r, cap)
    }

    fn advance(&mut self, secs: u64) {
        for _ in 0..secs {
            self.now = self.now.later(1);
            let d = tick(&mut [&mut self.as_, &mut self.rs, &mut self.c], self.now);
            ace_node::sim::deliver(&mut [&mut self.as_, &mut self.rs, &mut self.c], self.now, d);
        }
    }
}

/// IKE messages between C and RS on the ESP-in-UDP ports: behind the
/// non-ESP marker (RFC 3948 §2.2).
fn ike_messages(cap: &[Datagram]) -> Vec<&Datagram> {
    cap.iter()
        .filter(|d| {
            d.iface == Interface::Esp && d.payload.starts_with(&[0, 0, 0, 0]) && d.payload.len() > 8
        })
        .filter(|d| {
            d.to.ip() != addr("127.0.0.1:0").ip() && d.from.ip() != addr("127.0.0.1:0").ip()
        })
        .collect()
}

fn get_temp_over_ikev2(m: Method_) {
    let mut w = world(m, true, 3600);
    let (r, cap) = w.run(w.access(Method::Get, "/temp"));
    let out = r.expect("access works");
    assert_eq!(out.response.code, ResponseCode::Content);
    assert_eq!(out.response.payload, b"21.5");
    // IKE_SA_INIT and IKE_AUTH, request and response each.
    assert_eq!(
        ike_messages(&cap).len(),
        4,
        "{:?}",
        cap.iter()
            .map(|d| (d.from, d.to, d.payload.len()))
            .collect::<Vec<_>>()
    );
    assert_eq!(w.rs.token_count(), 1);
    assert_eq!(w.rs.node_ref().pair_count(), 1);
    assert!(
        out.steps.iter().any(|s| s.name == "IKEv2"),
        "{:?}",
        out.steps
    );
    // The session is reused: no new token, no new IKE exchange.
    let (r, cap) = w.run(w.access(Method::Get, "/temp"));
    assert_eq!(r.unwrap().response.payload, b"21.5");
    assert!(ike_messages(&cap).is_empty());
    // Scope still enforced over the IKEv2 pair.
    let (r, _) = w.run(w.access(Method::Get, "/led"));
    assert_eq!(r.unwrap().response.code, ResponseCode::Forbidden);
}

#[test]
fn psk_token_sets_up_the_sa_pair_with_ikev2_and_serves_the_resource() {
    get_temp_over_ikev2(Method_::Psk);
}

#[test]
fn raw_public_key_token_sets_up_the_sa_pair_with_ikev2_and_serves_the_resource() {
    get_temp_over_ikev2(Method_::Rpk);
}

#[test]
fn rs_without_ikev2_refuses_the_token_and_installs_nothing() {
    let mut w = world(Method_::Psk, false, 3600);
    let (r, _) = w.run(w.access(Method::Get, "/temp"));
    let e = format!("{:?}", r.unwrap_err());
    assert!(e.contains("4.00"), "{e}");
    assert_eq!(w.rs.node_ref().pair_count(), 0);
    assert_eq!(w.rs.token_count(), 0);
}

#[test]
fn token_expiry_deletes_the_ike_sa_and_its_pair() {
    let mut w = world(Method_::Psk, true, 60);
    let (r, _) = w.run(w.access(Method::Get, "/temp"));
    assert_eq!(r.unwrap().response.payload, b"21.5");
    assert_eq!(w.c.node_ref().pair_count(), 2); // AS registration + RS
    w.advance(70);
    assert_eq!(w.rs.node_ref().pair_count(), 0);
    assert_eq!(
        w.c.node_ref().pair_count(),
        1,
        "the client removed the RS pair on DELETE"
    );
}

/// NOTES-profile point 4, the literal reading of Figure 8: C posts the
/// token with `ike_rs_initiates`, and the RS starts IKE_SA_INIT towards C's
/// ESP-in-UDP port as the token's acknowledgement.
fn rs_initiates(m: Method_) {
    let mut w = world(m, true, 3600);
    w.c.set_ike_rs_initiates(true);
    let (r, cap) = w.run(w.access(Method::Get, "/temp"));
    let out = r.expect("access works");
    assert_eq!(out.response.payload, b"21.5");
    let ike = ike_messages(&cap);
    assert_eq!(ike.len(), 4);
    // The first IKE_SA_INIT request goes from the RS to C.
    assert_eq!(ike[0].from, addr("127.0.0.2:4500"));
    assert_eq!(ike[0].to, addr("127.0.0.3:4500"));
    let h = ikev2::HeaderRepr::parse(&ike[0].payload[4..]).unwrap();
    assert!(h.initiator && !h.response, "{h:?}");
    assert!(
        out.steps
            .iter()
            .any(|s| s.detail.contains("the RS starts IKE_SA_INIT")),
        "{:?}",
        out.steps
    );
    assert_eq!(w.rs.node_ref().pair_count(), 1);
    // Scope still enforced over the pair the RS set up.
    let (r, cap) = w.run(w.access(Method::Get, "/led"));
    assert_eq!(r.unwrap().response.code, ResponseCode::Forbidden);
    assert!(ike_messages(&cap).is_empty());
}

#[test]
fn psk_rs_starts_ike_sa_init_as_the_acknowledgement() {
    rs_initiates(Method_::Psk);
}

#[test]
fn raw_public_key_rs_starts_ike_sa_init_as_the_acknowledgement() {
    rs_initiates(Method_::Rpk);
}

/// The RS's 2.01 is lost: its IKE exchange completes first, C keeps the
/// Child SA until the retransmitted POST gets its (deduplicated) 2.01.
#[test]
fn rs_initiated_child_sa_before_the_lost_2_01_waits_for_it() {
    use std::collections::VecDeque;
    let mut w = world(Method_::Psk, true, 3600);
    w.c.set_ike_rs_initiates(true);
    let id = w.c.start(w.now, w.access(Method::Get, "/temp"));
    let (rs_plain, c_plain) = (addr("127.0.0.2:5683"), addr("127.0.0.3:5683"));
    let mut plain_to_c = 0;
    let mut dropped = 0;
    let mut done = None;
    for round in 0..20 {
        let dropped_before = dropped;
        let mut q: VecDeque<Datagram> = tick(&mut [&mut w.as_, &mut w.rs, &mut w.c], w.now).into();
        while let Some(d) = q.pop_front() {
            if d.from == rs_plain && d.to == c_plain {
                plain_to_c += 1;
                // With audience and scope known, C asks the AS at once: the
                // first plain datagram from the RS is the token's 2.01.
                if plain_to_c == 1 {
                    dropped += 1;
                    continue;
                }
            }
            q.extend(ace_node::sim::inject(
                &mut [&mut w.as_, &mut w.rs, &mut w.c],
                w.now,
                &d,
            ));
        }
        if dropped_before == 0 && dropped == 1 {
            // The IKE exchange finished without the 2.01: nothing is done yet.
            assert_eq!(round, 0);
            let early = w.c.poll_done();
            assert!(
                early.is_none(),
                "{:?}",
                early.map(|(_, r)| r.map(|o| o.steps))
            );
            assert_eq!(w.rs.node_ref().pair_count(), 1);
        }
        if let Some(d) = w.c.poll_done() {
            done = Some(d);
            break;
        }
        w.now = w.now.later(1);
    }
    assert_eq!(dropped, 1);
    let (done_id, r) = done.expect("the access finished after the retransmission");
    assert_eq!(done_id, id);
    assert_eq!(r.unwrap().response.payload, b"21.5");
    assert_eq!(w.c.node_ref().pair_count(), 2);
}

/// C asked the RS to start but cannot be reached there: the RS's exchange
/// times out and it forgets the token, so that a later post starts over.
#[test]
fn rs_initiated_exchange_that_fails_forgets_the_token() {
    let mut w = world(Method_::Psk, true, 3600);
    w.c.set_ike_rs_initiates(true);
    let id = w.c.start(w.now, w.access(Method::Get, "/temp"));
    let c_esp = addr("127.0.0.3:4500");
    let mut saw_rs_init = 0;
    for _ in 0..120 {
        let mut q: std::collections::VecDeque<Datagram> =
            tick(&mut [&mut w.as_, &mut w.rs, &mut w.c], w.now).into();
        while let Some(d) = q.pop_front() {
            if d.to == c_esp && d.from.ip() == addr("127.0.0.2:0").ip() {
                saw_rs_init += 1;
                continue; // C's ESP port unreachable from the RS
            }
            q.extend(ace_node::sim::inject(
                &mut [&mut w.as_, &mut w.rs, &mut w.c],
                w.now,
                &d,
            ));
        }
        if w.c.poll_done().is_some_and(|(d, r)| d == id && r.is_err()) {
            break;
        }
        w.now = w.now.later(1);
    }
    assert!(
        saw_rs_init >= 2,
        "the RS retransmitted IKE_SA_INIT: {saw_rs_init}"
    );
    assert_eq!(w.rs.token_count(), 0, "the RS forgot the token");
    assert_eq!(w.rs.node_ref().pair_count(), 0);
}

/// draft §3.2.2: a client that holds a PSK names it by `kid` in its next
/// token request; the AS puts it in the token and does not send it again.
#[test]
fn a_held_psk_is_named_by_kid_in_the_next_token_request() {
    let mut w = world(Method_::Psk, true, 60);
    let (r, _) = w.run(w.access(Method::Get, "/temp"));
    assert_eq!(r.unwrap().response.payload, b"21.5");
    let kid =
        w.c.held_ike_psk_kid("rs1")
            .expect("the drawn PSK is held")
            .to_vec();
    assert_eq!(w.as_.issuer_mut().ike_psk_count(), 1);
    w.advance(70); // the token expires; IKE SA and pair are deleted
    let (r, cap) = w.run(w.access(Method::Get, "/temp"));
    assert_eq!(r.unwrap().response.payload, b"21.5");
    assert_eq!(
        ike_messages(&cap).len(),
        4,
        "a new IKE SA with the same PSK"
    );
    assert_eq!(w.c.held_ike_psk_kid("rs1"), Some(kid.as_slice()));
    assert_eq!(w.as_.issuer_mut().ike_psk_count(), 1, "no new PSK drawn");
}

#[test]
fn the_as_returns_only_the_kid_of_a_held_psk_and_refuses_another_clients() {
    let mut w = world(Method_::Psk, true, 3600);
    let kid = b"device-psk-1".to_vec();
    let k = [0x5a; 32];
    w.as_
        .issuer_mut()
        .register_ike_psk("c1", "rs1", kid.clone(), Seed::new(k));
    let mut rng = rand::rng();
    let req = |kid: &[u8]| {
        let mut tr = ace_core::TokenRequest::new();
        tr.audience = Some("rs1".into());
        tr.scope = Some(Scope::Text("r_temp".into()));
        tr.req_cnf = Some(ace_core::cnf::Cnf {
            kmp: Some(ace_core::cnf::Kmp::Ikev2),
            kid: Some(kid.to_vec()),
            ..Default::default()
        });
        tr
    };
    let now = w.now.unix;
    let resp = w
        .as_
        .issuer_mut()
        .issue(now, "c1", &req(&kid), &mut rng)
        .unwrap();
    let cnf = resp.cnf.unwrap();
    assert!(cnf.cose_key.is_none(), "the PSK is not sent back");
    assert_eq!(cnf.kid.as_deref(), Some(kid.as_slice()));
    // A PSK registered for another client, or an unknown kid: refused.
    w.as_
        .issuer_mut()
        .register_ike_psk("c9", "rs1", b"c9-psk".to_vec(), Seed::new([9; 32]));
    for other in [&b"c9-psk"[..], b"nope"] {
        let e = w
            .as_
            .issuer_mut()
            .issue(now, "c1", &req(other), &mut rng)
            .unwrap_err();
        assert_eq!(e.error, ace_core::token::AceErrorCode::InvalidRequest);
    }
    // The client that holds it gets its channel with it.
    w.c.hold_ike_psk("rs1", kid.clone(), &k);
    let (r, _) = w.run(w.access(Method::Get, "/temp"));
    assert_eq!(r.unwrap().response.payload, b"21.5");
    assert_eq!(w.c.held_ike_psk_kid("rs1"), Some(kid.as_slice()));
}

/// The AS does not know the PSK the client holds (it restarted, say): the
/// client forgets it and asks for a fresh one.
#[test]
fn a_psk_the_as_does_not_know_is_forgotten_and_a_new_one_drawn() {
    let mut w = world(Method_::Psk, true, 3600);
    w.c.hold_ike_psk("rs1", b"forgotten".to_vec(), &[1; 32]);
    let (r, _) = w.run(w.access(Method::Get, "/temp"));
    let out = r.unwrap();
    assert_eq!(out.response.payload, b"21.5");
    assert!(out
        .steps
        .iter()
        .any(|s| s.detail.contains("refused the held IKEv2 PSK")));
    let kid = w.c.held_ike_psk_kid("rs1").unwrap();
    assert_ne!(kid, b"forgotten");
    assert_eq!(kid.len(), 8);
}
