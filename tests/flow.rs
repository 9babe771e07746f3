//! The whole profile flow, deterministic and in memory: AS, RS and Client as
//! sans-IO hosts on a simulated network (no sockets, no real time). Each
//! negative test asserts the exact CoAP code and that no state changed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use ace_as::{AuthorizationServer, ClientRegistration, Issuer, Policy, RsRegistration};
use ace_client::{Access, AsRegistration, ClientHost, Outcome};
use ace_coap::consts::APPLICATION_ACE_CBOR;
use ace_coap::{Endpoint, Event, Method, Request, ResponseCode};
use ace_core::authz_info::AuthzInfoRequest;
use ace_core::cnf::Cnf;
use ace_core::cwt::{encrypt_token, Claims, ContentAlg, TokenKey};
use ace_core::ipsec::{IpsecParams, Mode, SecProtocol, Seed};
use ace_core::labels;
use ace_core::scope::Scope;
use ace_node::sim::{deliver, inject, pump, tick, Datagram};
use ace_node::{Host, Interface, Node, Now, SeqState, SEQ_RESERVATION};
use ace_rs::{ResourceServer, ResourceSpec, RsConfig};
use ipsec_dp::error::DropReason;

const A128GCM: i64 = 1;
const CCM8: i64 = 10;
const GET: u64 = 1;
const PUT: u64 = 4;
const TOKEN_KEY: [u8; 16] = [0x11; 16];
const REG_SEED: [u8; 32] = [0x22; 32];

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

struct World {
    as_: AuthorizationServer,
    rs: ResourceServer,
    c: ClientHost,
    now: Now,
}

fn token_key() -> TokenKey {
    TokenKey::new(b"rs1".to_vec(), ContentAlg::A128Gcm, &TOKEN_KEY).unwrap()
}

fn world_with(as_seed: u64) -> World {
    world_resumed(as_seed, SeqState::default())
}

fn world_resumed(as_seed: u64, client_resume: SeqState) -> World {
    world_full(as_seed, client_resume, ace_coap::Config::default())
}

fn world_full(as_seed: u64, client_resume: SeqState, coap: ace_coap::Config) -> World {
    let now = Now {
        mono: Instant::now(),
        unix: 1_800_000_000,
    };
    let node = |name: &str, plain: &str, esp: &str, seed: u64| {
        Node::new(name, addr(plain), addr(esp), coap.clone(), seed)
    };
    let as_ = make_as(now, as_seed, &|_: &str| None, coap.clone());
    let mut text_scopes = HashMap::new();
    text_scopes.insert("r_temp".to_string(), vec![("/temp".to_string(), GET)]);
    text_scopes.insert("rw_led".to_string(), vec![("/led".to_string(), GET | PUT)]);
    let rs = ResourceServer::new(
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
                ResourceSpec {
                    path: "/config".into(),
                    value: b"x".to_vec(),
                    content_format: Some(0),
                    methods: GET,
                },
            ],
            max_tokens: 10,
        },
        // The RS has been running for a day.
        now.unix - 86_400,
    );
    let c = ClientHost::new(
        node(
            "C",
            "127.0.0.3:5683",
            "127.0.0.3:4500",
            3 + u64::from(client_resume.out_reserved),
        ),
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
        // A restarted client draws new CoAP message IDs and tokens.
        Some(4 + u64::from(client_resume.out_reserved)),
        Some(client_resume),
    )
    .unwrap();
    World { as_, rs, c, now }
}

/// The AS of these tests; `resume` gives its registration pair's persisted state.
fn make_as(
    now: Now,
    as_seed: u64,
    resume: &dyn Fn(&str) -> Option<SeqState>,
    coap: ace_coap::Config,
) -> AuthorizationServer {
    let issuer = Issuer::new(
        "as.test".into(),
        3600,
        vec![RsRegistration {
            audience: "rs1".into(),
            token_key: token_key(),
            esp_alg: CCM8,
            sa_life: 600,
        }],
        vec![Policy {
            client: "c1".into(),
            audience: "rs1".into(),
            text: vec!["r_temp".into(), "rw_led".into()],
            aif: vec![],
        }],
    );
    AuthorizationServer::new(
        Node::new(
            "AS",
            addr("127.0.0.1:5683"),
            addr("127.0.0.1:4500"),
            coap,
            1,
        ),
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
        Some(as_seed),
        Some(resume),
    )
    .unwrap()
}

fn world() -> World {
    world_with(7)
}

impl World {
    fn access(&self, method: Method, path: &str, payload: &[u8], discover: bool) -> Access {
        Access {
            rs: addr("127.0.0.2:5683"),
            rs_esp: Some(addr("127.0.0.2:4500")),
            audience: if discover { None } else { Some("rs1".into()) },
            scope: Some(Scope::Text("r_temp rw_led".into())),
            method,
            path: path.into(),
            payload: payload.to_vec(),
            content_format: None,
        }
    }

    fn pump(&mut self) -> Vec<Datagram> {
        pump(&mut [&mut self.as_, &mut self.rs, &mut self.c], self.now)
    }

    fn run(&mut self, a: Access) -> (Result<Outcome, ace_client::ClientError>, Vec<Datagram>) {
        let id = self.c.start(self.now, a);
        let cap = self.pump();
        let (done, r) = self.c.poll_done().expect("access finished");
        assert_eq!(done, id);
        (r, cap)
    }

    fn rs_state(&self) -> (usize, usize) {
        (self.rs.token_count(), self.rs.node_ref().pair_count())
    }

    /// Sends `payload` to the RS's /authz-info from a bare CoAP endpoint; returns the response code.
    fn post_authz_info(&mut self, payload: Vec<u8>) -> ResponseCode {
        let mut ep: Endpoint<SocketAddr> = Endpoint::new(ace_coap::Config::default(), 9);
        let rs = addr("127.0.0.2:5683");
        let me = addr("127.0.0.9:5683");
        ep.request(
            self.now.mono,
            rs,
            Request {
                method: Method::Post,
                path: "/authz-info".into(),
                query: vec![],
                content_format: Some(APPLICATION_ACE_CBOR),
                payload,
            },
            true,
        );
        let (to, bytes) = ep.poll_transmit().unwrap();
        assert_eq!(to, rs);
        let out = inject(
            &mut [&mut self.rs],
            self.now,
            &Datagram {
                from: me,
                iface: Interface::Plain,
                to: rs,
                payload: bytes,
            },
        );
        // A refusal comes back in plain CoAP.
        let plain: Vec<_> = out
            .iter()
            .filter(|d| d.iface == Interface::Plain && d.to == me)
            .collect();
        assert_eq!(plain.len(), 1, "one plain answer: {out:?}");
        ep.handle_datagram(self.now.mono, rs, &plain[0].payload);
        match ep.poll_event() {
            Some(Event::Response { response, .. }) => response.code,
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

fn dp_claims(now: u64, spi_c: u32, spi_rs: u32) -> Claims {
    Claims {
        iss: Some("as.test".into()),
        aud: Some("rs1".into()),
        exp: Some(now + 600),
        iat: Some(now),
        cti: Some(spi_c.to_be_bytes().to_vec()),
        scope: Some(Scope::Text("r_temp".into())),
        ace_profile: Some(labels::ace_profile::COAP_IPSEC),
        cnf: Some(Cnf {
            ipsec: Some(IpsecParams {
                mode: Mode::Transport,
                protocol: SecProtocol::Esp,
                life: 600,
                ip_c: None,
                ip_rs: None,
                spi_sa_c: Some(spi_c),
                spi_sa_rs: Some(spi_rs),
                alg: Some(CCM8),
                seed: Some(Seed::new([0x33; 32])),
            }),
            ..Cnf::default()
        }),
        ..Claims::default()
    }
}

fn upload(token: Vec<u8>) -> Vec<u8> {
    AuthzInfoRequest::new(token, Some(4500)).to_cbor()
}

fn codes(o: &Outcome) -> Vec<(&'static str, String)> {
    o.steps
        .iter()
        .map(|s| (s.name, s.code.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn whole_flow_with_discovery_then_get_over_esp() {
    let mut w = world();
    let (r, cap) = w.run(w.access(Method::Get, "/temp", b"", true));
    let o = r.unwrap();
    assert_eq!(o.response.code, ResponseCode::Content);
    assert_eq!(o.response.payload, b"21.5");
    assert_eq!(
        codes(&o),
        vec![
            ("unauthorized request", "4.01".to_string()),
            ("POST /token", "2.01".to_string()),
            ("POST /authz-info", "2.01".to_string()),
            ("resource request", "2.05".to_string()),
        ]
    );
    assert_eq!(w.rs_state(), (1, 1));
    assert_eq!(w.as_.issuer_stats().issued, 1);
    // Only the unauthorized request, its 4.01 and the token upload are plain CoAP.
    let plain: Vec<_> = cap.iter().filter(|d| d.iface == Interface::Plain).collect();
    assert_eq!(plain.len(), 3, "{plain:?}");
    // The 2.01 to /authz-info travels over ESP from the RS.
    assert!(cap
        .iter()
        .any(|d| d.iface == Interface::Esp && d.from == addr("127.0.0.2:4500")));
}

#[test]
fn scope_is_enforced_with_403_and_405_on_the_same_sa() {
    let mut w = world();
    w.run(w.access(Method::Get, "/temp", b"", false)).0.unwrap();
    let (r, _) = w.run(w.access(Method::Put, "/led", b"on", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::Changed);
    assert_eq!(w.rs.resource("/led"), Some(&b"on"[..]));
    let (r, _) = w.run(w.access(Method::Get, "/config", b"", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::Forbidden);
    let (r, _) = w.run(w.access(Method::Put, "/temp", b"99", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::MethodNotAllowed);
    assert_eq!(w.rs.resource("/temp"), Some(&b"21.5"[..]));
    assert_eq!(
        w.as_.issuer_stats().issued,
        1,
        "one token served every request"
    );
}

#[test]
fn retransmitted_token_request_issues_one_token() {
    let mut w = world();
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let sent = ace_node::host::process(&mut w.c, w.now);
    assert_eq!(sent.len(), 1);
    let d = Datagram {
        from: addr("127.0.0.3:4500"),
        iface: sent[0].iface,
        to: sent[0].to,
        payload: sent[0].payload.clone(),
    };
    assert_eq!(d.iface, Interface::Esp);
    let first = inject(&mut [&mut w.as_], w.now, &d);
    let again = inject(&mut [&mut w.as_], w.now, &d);
    // The duplicate is a replay at the ESP layer already: dropped, counted, no second token.
    assert_eq!(first.len(), 1);
    assert!(again.is_empty());
    assert_eq!(w.as_.node_ref().sad().drops().get(DropReason::Replayed), 1);
    assert_eq!(w.as_.issuer_stats().issued, 1);
}

#[test]
fn coap_retransmission_of_token_request_is_deduplicated() {
    // The client's CoAP layer retransmits the CON (new ESP sequence number, same
    // CoAP message ID): the AS answers from its cache and issues one token.
    let mut w = world();
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let first = ace_node::host::process(&mut w.c, w.now);
    assert_eq!(first.len(), 1);
    let later = Now {
        mono: w.now.mono + std::time::Duration::from_secs(5),
        unix: w.now.unix + 5,
    };
    ace_node::host::handle_timeout(&mut w.c, later);
    let retx = ace_node::host::process(&mut w.c, later);
    assert_eq!(retx.len(), 1, "the CON was retransmitted");
    for t in [&first[0], &retx[0]] {
        let d = Datagram {
            from: addr("127.0.0.3:4500"),
            iface: t.iface,
            to: t.to,
            payload: t.payload.clone(),
        };
        let out = inject(&mut [&mut w.as_], later, &d);
        assert_eq!(out.len(), 1, "each copy gets the (same) answer");
    }
    assert_eq!(w.as_.issuer_stats().issued, 1);
}

#[test]
fn expired_token_is_refused_and_changes_nothing() {
    let mut w = world();
    let mut claims = dp_claims(w.now.unix - 7200, 0x5000, 0x5001);
    claims.exp = Some(w.now.unix - 10);
    let token = encrypt_token(&claims, &token_key(), &mut rand::rng()).unwrap();
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::Unauthorized);
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(w.rs.stats().tokens_rejected.get("expired"), Some(&1));
}

#[test]
fn wrong_audience_is_refused_and_changes_nothing() {
    let mut w = world();
    let mut claims = dp_claims(w.now.unix, 0x5000, 0x5001);
    claims.aud = Some("another-rs".into());
    let token = encrypt_token(&claims, &token_key(), &mut rand::rng()).unwrap();
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::Forbidden);
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(
        w.rs.stats().tokens_rejected.get("wrong-audience"),
        Some(&1),
        "{:?}",
        w.rs.stats()
    );
}

#[test]
fn token_under_another_key_is_refused() {
    let mut w = world();
    let other = TokenKey::new(b"rs1".to_vec(), ContentAlg::A128Gcm, &[0x99; 16]).unwrap();
    let token = encrypt_token(
        &dp_claims(w.now.unix, 0x5000, 0x5001),
        &other,
        &mut rand::rng(),
    )
    .unwrap();
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::Unauthorized);
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(
        w.rs.stats().tokens_rejected.get("token-invalid"),
        Some(&1),
        "{:?}",
        w.rs.stats()
    );
}

#[test]
fn tampered_token_is_refused() {
    let mut w = world();
    let mut token = encrypt_token(
        &dp_claims(w.now.unix, 0x5000, 0x5001),
        &token_key(),
        &mut rand::rng(),
    )
    .unwrap();
    let n = token.len();
    token[n - 3] ^= 0x01;
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::Unauthorized);
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(
        w.rs.stats().tokens_rejected.get("token-invalid"),
        Some(&1),
        "{:?}",
        w.rs.stats()
    );
}

#[test]
fn unknown_profile_is_refused() {
    let mut w = world();
    let mut claims = dp_claims(w.now.unix, 0x5000, 0x5001);
    claims.ace_profile = Some(2); // coap_oscore
    let token = encrypt_token(&claims, &token_key(), &mut rand::rng()).unwrap();
    // RFC 9200 §5.10.1.1: claims the RS cannot use → 4.00.
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::BadRequest);
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(
        w.rs.stats().tokens_rejected.get("wrong-profile"),
        Some(&1),
        "{:?}",
        w.rs.stats()
    );
}

#[test]
fn garbage_upload_is_a_bad_request() {
    let mut w = world();
    assert_eq!(
        w.post_authz_info(vec![0xff, 0x00, 0x13]),
        ResponseCode::BadRequest
    );
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(
        w.rs.stats().tokens_rejected.get("malformed"),
        Some(&1),
        "{:?}",
        w.rs.stats()
    );
}

#[test]
fn spi_sa_c_collision_gets_409_and_installs_nothing() {
    let mut w = world();
    let t1 = encrypt_token(
        &dp_claims(w.now.unix, 0x5000, 0x5001),
        &token_key(),
        &mut rand::rng(),
    )
    .unwrap();
    // The first token's 2.01 goes out over ESP, so only count state here.
    let mut ep: Endpoint<SocketAddr> = Endpoint::new(ace_coap::Config::default(), 9);
    ep.request(
        w.now.mono,
        addr("127.0.0.2:5683"),
        Request {
            method: Method::Post,
            path: "/authz-info".into(),
            query: vec![],
            content_format: None,
            payload: upload(t1),
        },
        true,
    );
    let (_, bytes) = ep.poll_transmit().unwrap();
    inject(
        &mut [&mut w.rs],
        w.now,
        &Datagram {
            from: addr("127.0.0.8:5683"),
            iface: Interface::Plain,
            to: addr("127.0.0.2:5683"),
            payload: bytes,
        },
    );
    assert_eq!(w.rs_state(), (1, 1));
    // Another token, same SPI_SA_C, different cti.
    let mut c2 = dp_claims(w.now.unix, 0x5000, 0x7777);
    c2.cti = Some(b"other".to_vec());
    let t2 = encrypt_token(&c2, &token_key(), &mut rand::rng()).unwrap();
    assert_eq!(w.post_authz_info(upload(t2)), ResponseCode::Conflict);
    assert_eq!(w.rs_state(), (1, 1));
    assert_eq!(w.rs.stats().tokens_rejected.get("spi-collision"), Some(&1));
}

#[test]
fn spi_sa_rs_collision_at_client_triggers_a_token_update() {
    // Learn which SPI_SA_RS the AS (seeded) will draw, then make it collide at C.
    let mut probe = world_with(42);
    let (r, _) = probe.run(probe.access(Method::Get, "/temp", b"", false));
    r.unwrap();
    let drawn = probe.rs.tokens().next().unwrap().spi_sa_rs;

    let mut w = world_with(42);
    let now = w.now;
    let spec = ace_node::dp_pair_spec(
        ace_node::DpRole::Server,
        &[0x44; 32],
        drawn,
        0x9999,
        ipsec_dp::suite::EspSuite::AesGcm16_128,
        addr("127.0.0.50:4500"),
        addr("127.0.0.3:4500").ip(),
        addr("127.0.0.50:4500").ip(),
        None,
        "occupies SPI_SA_RS".into(),
    )
    .unwrap();
    w.c.node().install_pair(now.mono, spec).unwrap();
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    let o = r.unwrap();
    assert_eq!(o.response.code, ResponseCode::Content);
    assert!(
        o.steps.iter().any(|s| s.name == "SPI_SA_RS collision"),
        "{:?}",
        o.steps
    );
    assert_eq!(w.as_.issuer_stats().updates, 1);
    let t = w.rs.tokens().next().unwrap();
    assert_ne!(t.spi_sa_rs, drawn);
    assert_eq!(
        t.spi_sa_c,
        probe.rs.tokens().next().unwrap().spi_sa_c,
        "the update changes SPI_SA_RS only"
    );
}

/// Runs a GET over the SA and returns the client's ESP datagram to the RS.
fn esp_request_to_rs(w: &mut World) -> Datagram {
    w.run(w.access(Method::Get, "/temp", b"", false)).0.unwrap();
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let sent = ace_node::host::process(&mut w.c, w.now);
    assert_eq!(sent.len(), 1);
    Datagram {
        from: addr("127.0.0.3:4500"),
        iface: sent[0].iface,
        to: sent[0].to,
        payload: sent[0].payload.clone(),
    }
}

#[test]
fn esp_with_bad_icv_is_dropped_and_counted() {
    let mut w = world();
    let mut d = esp_request_to_rs(&mut w);
    let served = w.rs.stats().served;
    let n = d.payload.len();
    d.payload[n - 1] ^= 0x80;
    let out = inject(&mut [&mut w.rs], w.now, &d);
    assert!(out.is_empty());
    assert_eq!(w.rs.node_ref().sad().drops().get(DropReason::BadIcv), 1);
    assert_eq!(w.rs.stats().served, served);
}

#[test]
fn replayed_esp_packet_is_dropped_and_counted() {
    let mut w = world();
    let d = esp_request_to_rs(&mut w);
    let first = inject(&mut [&mut w.rs], w.now, &d);
    assert_eq!(first.len(), 1, "the original is answered");
    let served = w.rs.stats().served;
    let again = inject(&mut [&mut w.rs], w.now, &d);
    assert!(again.is_empty());
    assert_eq!(w.rs.node_ref().sad().drops().get(DropReason::Replayed), 1);
    assert_eq!(w.rs.stats().served, served);
}

#[test]
fn esp_with_unknown_spi_is_dropped_and_counted() {
    let mut w = world();
    let mut d = esp_request_to_rs(&mut w);
    d.payload[..4].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    assert!(inject(&mut [&mut w.rs], w.now, &d).is_empty());
    assert_eq!(w.rs.node_ref().sad().drops().get(DropReason::UnknownSpi), 1);
}

#[test]
fn sa_pair_ends_with_its_lifetime_on_both_sides() {
    let mut w = world();
    w.run(w.access(Method::Get, "/temp", b"", false)).0.unwrap();
    assert_eq!(w.rs_state(), (1, 1));
    assert_eq!(w.c.node_ref().pair_count(), 2, "AS pair + RS pair");
    // life is 600 s (the RS's sa_life, below the 3600 s token): one second
    // later both SAs of the pair are gone on both sides; the RS keeps the
    // token's record (so it cannot be reused) until exp.
    let later = w.now.later(601);
    tick(&mut [&mut w.as_, &mut w.rs, &mut w.c], later);
    assert_eq!(w.rs_state(), (1, 0));
    assert_eq!(
        w.c.node_ref().pair_count(),
        1,
        "only the AS pair is left at C"
    );
    assert!(
        w.c.session(addr("127.0.0.2:5683")).is_none(),
        "C forgot the session"
    );
    // The next access fetches a new token.
    w.now = later;
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::Content);
    assert_eq!(w.as_.issuer_stats().issued, 2);
}

#[test]
fn plain_request_to_the_as_is_refused() {
    let mut w = world();
    let mut ep: Endpoint<SocketAddr> = Endpoint::new(ace_coap::Config::default(), 9);
    ep.request(
        w.now.mono,
        addr("127.0.0.1:5683"),
        Request {
            method: Method::Post,
            path: "/token".into(),
            query: vec![],
            content_format: Some(APPLICATION_ACE_CBOR),
            payload: vec![0xa0],
        },
        true,
    );
    let (_, bytes) = ep.poll_transmit().unwrap();
    let out = inject(
        &mut [&mut w.as_],
        w.now,
        &Datagram {
            from: addr("127.0.0.9:5683"),
            iface: Interface::Plain,
            to: addr("127.0.0.1:5683"),
            payload: bytes,
        },
    );
    ep.handle_datagram(w.now.mono, addr("127.0.0.1:5683"), &out[0].payload);
    match ep.poll_event() {
        Some(Event::Response { response, .. }) => {
            assert_eq!(response.code, ResponseCode::Unauthorized)
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.as_.issuer_stats().issued, 0);
}

#[test]
fn a_restarted_client_continues_its_registration_sa() {
    // First run: the client's registration pair reserves sequence numbers
    // and must hand that reservation to its driver before anything is sent.
    let mut w = world();
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let first = ace_node::host::process(&mut w.c, w.now);
    let persisted = w.c.node().take_persist();
    assert_eq!(
        persisted.len(),
        1,
        "the reservation is written before the first packet leaves"
    );
    let (name, blob) = &persisted[0];
    assert_eq!(name, ace_client::flow::REGISTRATION_STATE);
    let state = SeqState::decode(blob).unwrap();
    assert_eq!(state.out_reserved, 1 + SEQ_RESERVATION);
    let seq_of = |pkt: &[u8]| u32::from_be_bytes([pkt[4], pkt[5], pkt[6], pkt[7]]);
    assert_eq!(seq_of(&first[0].payload), 1);
    for t in &first {
        let d = Datagram {
            from: addr("127.0.0.3:4500"),
            iface: t.iface,
            to: t.to,
            payload: t.payload.clone(),
        };
        inject(&mut [&mut w.as_], w.now, &d);
    }
    assert_eq!(w.as_.issuer_stats().issued, 1);

    // The client process restarts with the persisted state; the AS keeps running.
    let mut w2 = world_resumed(7, state);
    std::mem::swap(&mut w2.as_, &mut w.as_);
    let mut w = w2;
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let second = ace_node::host::process(&mut w.c, w.now);
    assert!(
        seq_of(&second[0].payload) > state.out_reserved,
        "no sequence number (hence no IV) is reused"
    );
    let d = Datagram {
        from: addr("127.0.0.3:4500"),
        iface: second[0].iface,
        to: second[0].to,
        payload: second[0].payload.clone(),
    };
    let answer = inject(&mut [&mut w.as_], w.now, &d);
    assert_eq!(answer.len(), 1, "the AS accepts the resumed SA at once");
    assert_eq!(w.as_.node_ref().sad().drops().get(DropReason::Replayed), 0);
    assert_eq!(
        w.as_.issuer_stats().issued,
        2,
        "{:?} {:?}",
        w.as_.issuer_stats(),
        w.as_.node_ref().counters()
    );
}

#[test]
fn an_old_registration_packet_is_refused_after_an_as_restart() {
    let mut w = world();
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let sent = ace_node::host::process(&mut w.c, w.now);
    let d = Datagram {
        from: addr("127.0.0.3:4500"),
        iface: sent[0].iface,
        to: sent[0].to,
        payload: sent[0].payload.clone(),
    };
    inject(&mut [&mut w.as_], w.now, &d);
    let saved = w.as_.node().take_persist();
    let (_, blob) = saved
        .iter()
        .find(|(n, _)| n.starts_with("as-registration-"))
        .expect("AS persisted the pair");
    let st = SeqState::decode(blob).unwrap();
    assert_eq!(st.in_highest, 1);
    // The AS restarts with what it persisted: the old packet is a replay.
    let lookup = move |_: &str| Some(st);
    let mut as2 = make_as(w.now, 1, &lookup, ace_coap::Config::default());
    assert!(inject(&mut [&mut as2], w.now, &d).is_empty());
    assert_eq!(as2.node_ref().sad().drops().get(DropReason::Replayed), 1);
    assert_eq!(as2.issuer_stats().issued, 0);
}

#[test]
fn tokens_larger_than_a_block_travel_blockwise() {
    // 64-byte blocks: the 280-byte token response comes back in Block2
    // pieces over ESP, the 220-byte token upload goes out in Block1 pieces in
    // plain CoAP, and the final 2.01 of the upload still arrives over ESP.
    let coap = ace_coap::Config {
        block_szx: 2,
        ..ace_coap::Config::default()
    };
    let mut w = world_full(7, SeqState::default(), coap);
    let id = w.c.start(w.now, w.access(Method::Get, "/temp", b"", true));
    let cap = w.pump();
    let (done, r) = w.c.poll_done().expect("access finished");
    assert_eq!(done, id);
    let o = r.unwrap();
    assert_eq!(o.response.code, ResponseCode::Content);
    assert_eq!(w.rs_state(), (1, 1));
    let token_response_pieces = cap
        .iter()
        .filter(|d| d.iface == Interface::Esp && d.from == addr("127.0.0.1:4500"))
        .count();
    assert!(
        token_response_pieces >= 3,
        "Block2 from the AS: {token_response_pieces} datagrams"
    );
    let upload_pieces = cap
        .iter()
        .filter(|d| d.iface == Interface::Plain && d.to == addr("127.0.0.2:5683"))
        .count();
    assert!(
        upload_pieces >= 3,
        "Block1 to /authz-info (+ the probe): {upload_pieces} datagrams"
    );
    let plain_answers: Vec<String> = cap
        .iter()
        .filter(|d| d.iface == Interface::Plain && d.from == addr("127.0.0.2:5683"))
        .map(|d| ace_node::tap::summarize(&d.payload))
        .collect();
    assert!(
        plain_answers
            .iter()
            .all(|s| s.contains("4.01") || s.contains("2.31")),
        "the 2.01 came over ESP: {plain_answers:?}"
    );
    assert_eq!(w.as_.issuer_stats().issued, 1);
}

/// Posts `payload` to /authz-info from another client address and returns
/// every datagram the RS sends back.
fn post_as_client(w: &mut World, payload: Vec<u8>) -> Vec<Datagram> {
    let mut ep: Endpoint<SocketAddr> = Endpoint::new(ace_coap::Config::default(), 77);
    ep.request(
        w.now.mono,
        addr("127.0.0.2:5683"),
        Request {
            method: Method::Post,
            path: "/authz-info".into(),
            query: vec![],
            content_format: None,
            payload,
        },
        true,
    );
    let (_, bytes) = ep.poll_transmit().unwrap();
    let d = Datagram {
        from: addr("127.0.0.8:5683"),
        iface: Interface::Plain,
        to: addr("127.0.0.2:5683"),
        payload: bytes,
    };
    inject(&mut [&mut w.rs], w.now, &d)
}

#[test]
fn reposting_a_token_after_its_pair_ended_is_refused() {
    // The SA lives 600 s, the token 3600 s: after the pair ends, the same
    // token must not set up the same keys again with counters at zero.
    let mut w = world();
    let mut claims = dp_claims(w.now.unix, 0x5000, 0x5001);
    claims.exp = Some(w.now.unix + 3600);
    let token = encrypt_token(&claims, &token_key(), &mut rand::rng()).unwrap();
    let first = post_as_client(&mut w, upload(token.clone()));
    assert!(
        !first.is_empty() && first.iter().all(|d| d.iface == Interface::Esp),
        "2.01 over ESP"
    );
    assert_eq!(w.rs_state(), (1, 1));
    let later = w.now.later(601);
    tick(&mut [&mut w.rs], later);
    assert_eq!(
        w.rs_state(),
        (1, 0),
        "the pair ended, the token's record stays until exp"
    );
    w.now = later;
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::Unauthorized);
    assert_eq!(w.rs_state(), (1, 0));
    assert_eq!(w.rs.stats().tokens_rejected.get("token-spent"), Some(&1));
    // At exp the record goes too.
    tick(&mut [&mut w.rs], w.now.later(3000));
    assert_eq!(w.rs_state(), (0, 0));
}

#[test]
fn a_token_issued_before_the_rs_started_is_refused() {
    let mut w = world();
    let mut claims = dp_claims(w.now.unix - 90_000, 0x5000, 0x5001);
    claims.exp = Some(w.now.unix + 600);
    let token = encrypt_token(&claims, &token_key(), &mut rand::rng()).unwrap();
    assert_eq!(w.post_authz_info(upload(token)), ResponseCode::Unauthorized);
    assert_eq!(w.rs_state(), (0, 0));
    assert_eq!(w.rs.stats().tokens_rejected.get("predates-rs"), Some(&1));
}

#[test]
fn reposting_a_live_token_with_odd_block_options_changes_nothing() {
    let mut w = world();
    let token = encrypt_token(
        &dp_claims(w.now.unix, 0x5000, 0x5001),
        &token_key(),
        &mut rand::rng(),
    )
    .unwrap();
    post_as_client(&mut w, upload(token.clone()));
    assert_eq!(w.rs_state(), (1, 1));
    // The same upload asking for block 1 of the answer: the redirected answer
    // cannot be sent, and the live pair must survive.
    let msg = ace_coap::Message {
        mtype: ace_coap::MessageType::Confirmable,
        code: 0x02,
        message_id: 0x4242,
        token: vec![9, 9],
        options: vec![
            (11, b"authz-info".to_vec()),
            (
                23,
                ace_coap::BlockOption {
                    num: 1,
                    more: false,
                    szx: 2,
                }
                .encode(),
            ),
        ],
        payload: upload(token),
    };
    let d = Datagram {
        from: addr("127.0.0.8:5683"),
        iface: Interface::Plain,
        to: addr("127.0.0.2:5683"),
        payload: msg.emit().unwrap(),
    };
    inject(&mut [&mut w.rs], w.now, &d);
    assert_eq!(
        w.rs_state(),
        (1, 1),
        "the existing pair and token are untouched"
    );
    assert_eq!(w.rs.stats().tokens_accepted, 1);
}

#[test]
fn a_plain_201_to_authz_info_is_not_taken_as_confirmation() {
    let mut w = world();
    w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    // Let the token exchange run; hold back the client's token upload.
    let mut out = ace_node::host::process(&mut w.c, w.now);
    let mut upload_dgram = None;
    for _ in 0..20 {
        let mut next = Vec::new();
        for t in out.drain(..) {
            let from = if t.iface == Interface::Esp {
                addr("127.0.0.3:4500")
            } else {
                addr("127.0.0.3:5683")
            };
            let d = Datagram {
                from,
                iface: t.iface,
                to: t.to,
                payload: t.payload,
            };
            if d.iface == Interface::Plain && d.to == addr("127.0.0.2:5683") {
                upload_dgram = Some(d);
                continue;
            }
            for r in inject(&mut [&mut w.as_], w.now, &d) {
                next.extend(inject(&mut [&mut w.c], w.now, &r));
            }
        }
        if upload_dgram.is_some() {
            break;
        }
        out = next
            .into_iter()
            .map(|d| ace_node::Transmit {
                iface: d.iface,
                to: d.to,
                payload: d.payload,
            })
            .collect();
    }
    let up = upload_dgram.expect("the client posted its token");
    // An on-path attacker answers the plain POST with a plain ACK 2.01.
    let req = ace_coap::Message::parse(&up.payload).unwrap();
    let forged = ace_coap::Message {
        mtype: ace_coap::MessageType::Acknowledgement,
        code: (2 << 5) | 1,
        message_id: req.message_id,
        token: req.token.clone(),
        options: vec![],
        payload: vec![],
    };
    let d = Datagram {
        from: addr("127.0.0.2:5683"),
        iface: Interface::Plain,
        to: addr("127.0.0.3:5683"),
        payload: forged.emit().unwrap(),
    };
    inject(&mut [&mut w.c], w.now, &d);
    let (_, r) = w.c.poll_done().expect("the access ended");
    assert!(
        matches!(
            r,
            Err(ace_client::ClientError::Protocol {
                step: "POST /authz-info",
                ..
            })
        ),
        "{r:?}"
    );
    assert_eq!(
        w.c.node_ref().pair_count(),
        1,
        "only the AS pair remains: the unconfirmed pair is removed"
    );
}

#[test]
fn a_lost_session_fetches_a_new_token() {
    let mut w = world();
    w.run(w.access(Method::Get, "/temp", b"", false)).0.unwrap();
    // The RS restarts: it knows neither the token nor the pair.
    w.rs = world().rs;
    let id = w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    let mut now = w.now;
    let mut done = None;
    for _ in 0..300 {
        pump(&mut [&mut w.as_, &mut w.rs, &mut w.c], now);
        if let Some(d) = w.c.poll_done() {
            done = Some(d);
            break;
        }
        now = now.later(1);
        let sent = tick(&mut [&mut w.as_, &mut w.rs, &mut w.c], now);
        deliver(&mut [&mut w.as_, &mut w.rs, &mut w.c], now, sent);
    }
    let (got, r) = done.expect("finished");
    assert_eq!(got, id);
    let o = r.unwrap();
    assert_eq!(o.response.code, ResponseCode::Content);
    assert!(
        o.steps.iter().any(|s| s.name == "session lost"),
        "{:?}",
        o.steps
    );
    assert_eq!(w.as_.issuer_stats().issued, 2);
}

#[test]
fn concurrent_accesses_to_one_rs_share_one_token() {
    let mut w = world();
    let a = w.c.start(w.now, w.access(Method::Get, "/temp", b"", true));
    let b = w.c.start(w.now, w.access(Method::Put, "/led", b"on", true));
    w.pump();
    let mut done = std::collections::HashMap::new();
    while let Some((id, r)) = w.c.poll_done() {
        done.insert(id, r.unwrap());
    }
    assert_eq!(done[&a].response.code, ResponseCode::Content);
    assert_eq!(done[&b].response.code, ResponseCode::Changed);
    assert!(
        done[&b].steps.iter().all(|s| s.name == "resource request"),
        "the second access waited and reused the session: {:?}",
        done[&b].steps
    );
    assert_eq!(w.as_.issuer_stats().issued, 1, "one token");
    assert_eq!(w.rs_state(), (1, 1), "one SA pair at the RS");
    assert_eq!(w.c.node_ref().pair_count(), 2, "AS pair + one RS pair at C");
}

#[test]
fn a_waiting_access_tries_on_its_own_when_the_first_acquisition_fails() {
    let mut w = world();
    // The first access asks for an audience the AS does not know: refused.
    let mut bad = w.access(Method::Get, "/temp", b"", false);
    bad.audience = Some("nobody".into());
    let a = w.c.start(w.now, bad);
    let b = w.c.start(w.now, w.access(Method::Get, "/temp", b"", false));
    w.pump();
    let mut done = std::collections::HashMap::new();
    while let Some((id, r)) = w.c.poll_done() {
        done.insert(id, r);
    }
    assert!(done[&a].is_err());
    assert_eq!(
        done[&b].as_ref().unwrap().response.code,
        ResponseCode::Content
    );
    assert_eq!(w.as_.issuer_stats().issued, 1);
}
