//! EDHOC as the key management method (draft-aragon-ace-ipsec-profile-01
//! Appendix B), deterministic and in memory: AS, RS and Client as sans-IO
//! hosts on a simulated network. Each negative test asserts the exact CoAP
//! code and that no SA pair was installed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ace_as::{AuthorizationServer, ClientRegistration, Issuer, Policy, RsRegistration};
use ace_client::{Access, AsRegistration, ClientHost, Outcome};
use ace_coap::consts::APPLICATION_ACE_CBOR;
use ace_coap::{Endpoint, Event, Method, Request, Response, ResponseCode};
use ace_core::authz_info::AuthzInfoEdhoc;
use ace_core::cnf::{Cnf, Kmp};
use ace_core::coset::CoseKeyBuilder;
use ace_core::cwt::{ContentAlg, TokenKey};
use ace_core::edhoc::{self, PublicKey, StaticKey};
use ace_core::ipsec::Seed;
use ace_core::labels::content_format::{CID_EDHOC_CBOR_SEQ, EDHOC_CBOR_SEQ};
use ace_core::labels::edhoc::WELL_KNOWN_PATH;
use ace_core::scope::Scope;
use ace_core::token::{AceErrorCode, TokenRequest, TokenResponse};
use ace_node::sim::{inject, pump, tick, Datagram};
use ace_node::{Host, Interface, Node, Now};
use ace_rs::{EdhocResponderConfig, ResourceServer, ResourceSpec, RsConfig};
use rand::rngs::StdRng;
use rand::SeedableRng;

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

/// The client's and the RS's static keys (fixed, from a seeded RNG).
fn keys() -> (StaticKey, StaticKey) {
    let mut rng = StdRng::seed_from_u64(42);
    let c = StaticKey::generate(&mut rng, vec![0x2b]).unwrap();
    let rs = StaticKey::generate(&mut rng, vec![0x32]).unwrap();
    (c, rs)
}

struct World {
    as_: AuthorizationServer,
    rs: ResourceServer,
    c: ClientHost,
    now: Now,
    c_key: StaticKey,
}

#[derive(Clone)]
struct Setup {
    /// The client key the AS has registered (normally the client's own).
    registered_client: Option<PublicKey>,
    /// The RS key the AS has registered (normally the RS's own); None: the
    /// audience does not support EDHOC.
    registered_rs: Option<PublicKey>,
    /// The RS runs EDHOC.
    rs_edhoc: bool,
    max_pending: usize,
}

fn setup() -> Setup {
    let (c, rs) = keys();
    Setup {
        registered_client: Some(c.public().clone()),
        registered_rs: Some(rs.public().clone()),
        rs_edhoc: true,
        max_pending: 4,
    }
}

fn issuer(s: &Setup) -> Issuer {
    let mut issuer = Issuer::new(
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
    if let Some(k) = &s.registered_rs {
        issuer.set_edhoc_rs_key("rs1", k.clone());
    }
    if let Some(k) = &s.registered_client {
        issuer.set_edhoc_client_key("c1", k.clone());
    }
    issuer
}

fn world_with(s: Setup) -> World {
    let now = Now {
        mono: Instant::now(),
        unix: 1_800_000_000,
    };
    let coap = ace_coap::Config::default();
    let node = |name: &str, plain: &str, esp: &str, seed: u64| {
        Node::new(name, addr(plain), addr(esp), coap.clone(), seed)
    };
    let as_ = AuthorizationServer::new(
        node("AS", "127.0.0.1:5683", "127.0.0.1:4500", 1),
        issuer(&s),
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
    text_scopes.insert("rw_led".to_string(), vec![("/led".to_string(), GET | PUT)]);
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
    let (c_key, rs_key) = keys();
    if s.rs_edhoc {
        let mut cfg = EdhocResponderConfig::new(rs_key);
        cfg.max_pending = s.max_pending;
        rs.enable_edhoc(cfg, Some(5));
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
    c.set_edhoc_key(c_key.clone());
    World {
        as_,
        rs,
        c,
        now,
        c_key,
    }
}

fn world() -> World {
    world_with(setup())
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

    fn run(&mut self, a: Access) -> (Result<Outcome, ace_client::ClientError>, Vec<Datagram>) {
        let id = self.c.start(self.now, a);
        let cap = pump(&mut [&mut self.as_, &mut self.rs, &mut self.c], self.now);
        let (done, r) = self.c.poll_done().expect("access finished");
        assert_eq!(done, id);
        (r, cap)
    }

    /// The RS's public EDHOC key (what `rs_cnf` carries).
    fn rs_public(&self) -> PublicKey {
        keys().1.public().clone()
    }

    fn rs_state(&self) -> (usize, usize, usize) {
        (
            self.rs.token_count(),
            self.rs.node_ref().pair_count(),
            self.rs.pending_edhoc_count(),
        )
    }

    /// An EDHOC token for client c1 from a separate issuer with the same
    /// registrations (the AS of this world is not asked).
    fn edhoc_token(&self, s: &Setup) -> TokenResponse {
        let mut tr = TokenRequest::new();
        tr.audience = Some("rs1".into());
        tr.req_cnf = Some(Cnf {
            kid: Some(vec![0x2b]),
            ..Cnf::default()
        });
        let mut rng = StdRng::seed_from_u64(99);
        issuer(s)
            .issue(self.now.unix, "c1", &tr, &mut rng)
            .expect("EDHOC token")
    }

    /// One request from a bare CoAP endpoint (127.0.0.9) to the RS; returns
    /// the plain answer, or None if the RS answered over ESP (or not at all).
    fn post(
        &mut self,
        ep: &mut Endpoint<SocketAddr>,
        path: &str,
        cf: u16,
        payload: Vec<u8>,
    ) -> Option<Response> {
        self.post_from(ep, addr("127.0.0.9:5683"), path, cf, payload)
    }

    /// [`World::post`] from the address `me`.
    fn post_from(
        &mut self,
        ep: &mut Endpoint<SocketAddr>,
        me: SocketAddr,
        path: &str,
        cf: u16,
        payload: Vec<u8>,
    ) -> Option<Response> {
        let rs = addr("127.0.0.2:5683");
        ep.request(
            self.now.mono,
            rs,
            Request {
                method: Method::Post,
                path: path.into(),
                query: vec![],
                content_format: Some(cf),
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
        let plain: Vec<_> = out
            .iter()
            .filter(|d| d.iface == Interface::Plain && d.to == me)
            .collect();
        let p = plain.first()?;
        ep.handle_datagram(self.now.mono, rs, &p.payload);
        match ep.poll_event() {
            Some(Event::Response { response, .. }) => Some(response),
            other => panic!("expected a response, got {other:?}"),
        }
    }
}

/// Posts a fresh EDHOC token with a genuine message_1 from 127.0.0.9 and
/// processes message_2: the token and what C would post as C_R ‖ message_3.
fn start_exchange(w: &mut World, ep: &mut Endpoint<SocketAddr>) -> (Vec<u8>, Vec<u8>) {
    let s = setup();
    let tr = w.edhoc_token(&s);
    let rs_key = PublicKey::from_cose_key(tr.rs_cnf.as_ref().unwrap()).unwrap();
    let (wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(8), &w.c_key).unwrap();
    let upload = AuthzInfoEdhoc {
        access_token: tr.access_token.clone(),
        esp_udp_port: Some(4500),
        message_1,
    };
    let m2 = w
        .post(ep, "/authz-info", APPLICATION_ACE_CBOR, upload.to_cbor())
        .unwrap();
    assert_eq!(m2.code, ResponseCode::Created);
    assert_eq!(w.rs_state(), (0, 0, 1), "pending, nothing installed");
    let done = wait.process_message_2(&m2.payload, &rs_key).unwrap();
    (tr.access_token, done.message_3_request())
}

/// An EDHOC error message in a 4.00 (RFC 9528 Appendix A.2).
fn assert_edhoc_error(resp: &Response) {
    assert_eq!(resp.code, ResponseCode::BadRequest);
    assert_eq!(resp.content_format, Some(EDHOC_CBOR_SEQ));
    assert_eq!(resp.payload[0], 0x01, "EDHOC error message, ERR_CODE 1");
}

fn codes(o: &Outcome) -> Vec<(&'static str, String)> {
    o.steps
        .iter()
        .map(|s| (s.name, s.code.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn whole_flow_with_edhoc_then_get_over_esp() {
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
            ("EDHOC message_3", "2.04".to_string()),
            ("resource request", "2.05".to_string()),
        ]
    );
    assert!(o.steps[1].detail.contains("kmp edhoc"), "{:?}", o.steps[1]);
    assert_eq!(w.rs_state(), (1, 1, 0));
    assert_eq!(w.rs.stats().edhoc_started, 1);
    assert_eq!(w.rs.stats().edhoc_completed, 1);
    // Plain: the unauthorized request and its 4.01, token + message_1 and
    // message_2, C_R ‖ message_3. The 2.04 travels over ESP from the RS.
    let plain: Vec<_> = cap.iter().filter(|d| d.iface == Interface::Plain).collect();
    assert_eq!(plain.len(), 5, "{plain:?}");
    let from_rs_esp: Vec<_> = cap
        .iter()
        .filter(|d| d.iface == Interface::Esp && d.from == addr("127.0.0.2:4500"))
        .collect();
    assert_eq!(from_rs_esp.len(), 2, "the 2.04 and the 2.05 over ESP");
    // The same pair serves the scope, and enforces it.
    let (r, _) = w.run(w.access(Method::Put, "/led", b"on", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::Changed);
    let (r, _) = w.run(w.access(Method::Put, "/temp", b"9", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::MethodNotAllowed);
    assert_eq!(w.rs_state(), (1, 1, 0));
}

#[test]
fn the_token_carries_the_client_key_and_the_response_the_rs_key() {
    let w = world();
    let s = setup();
    let tr = w.edhoc_token(&s);
    let cnf = tr.cnf.as_ref().unwrap();
    assert_eq!(cnf.kmp, Some(Kmp::Edhoc));
    let ipsec = cnf.ipsec.as_ref().unwrap();
    assert!(ipsec.seed.is_none(), "EDHOC: no seed from the AS");
    assert!(ipsec.spi_sa_c.is_some() && ipsec.spi_sa_rs.is_some() && ipsec.alg == Some(CCM8));
    assert_eq!(
        PublicKey::from_cose_key(tr.rs_cnf.as_ref().unwrap()).unwrap(),
        s.registered_rs.clone().unwrap()
    );
    let key = token_key();
    let claims = ace_core::cwt::decrypt_token(&tr.access_token, |_| Some(&key)).unwrap();
    let tcnf = claims.cnf.unwrap();
    assert_eq!(tcnf.kmp, Some(Kmp::Edhoc));
    assert_eq!(
        PublicKey::from_cose_key(tcnf.cose_key.as_ref().unwrap()).unwrap(),
        *w.c_key.public()
    );
}

#[test]
fn invalid_token_with_valid_message_1_aborts_edhoc_with_the_rfc9200_error() {
    let mut w = world();
    let s = setup();
    let mut token = w.edhoc_token(&s).access_token;
    let n = token.len();
    token[n - 3] ^= 0x01; // tampered: the AEAD fails
    let (_wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(8), &w.c_key).unwrap();
    let upload = AuthzInfoEdhoc {
        access_token: token,
        esp_udp_port: Some(4500),
        message_1,
    };
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let resp = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .expect("a plain refusal");
    assert_eq!(resp.code, ResponseCode::Unauthorized);
    assert_ne!(
        resp.content_format,
        Some(EDHOC_CBOR_SEQ),
        "an RFC 9200 error, not EDHOC's"
    );
    assert_eq!(w.rs_state(), (0, 0, 0), "no EDHOC state, nothing installed");
    assert_eq!(w.rs.stats().edhoc_started, 0);
    assert_eq!(w.rs.stats().tokens_rejected.get("token-invalid"), Some(&1));
}

#[test]
fn expired_token_with_valid_message_1_is_refused_before_edhoc() {
    let mut w = world();
    let s = setup();
    let mut tr = TokenRequest::new();
    tr.audience = Some("rs1".into());
    tr.req_cnf = Some(Cnf {
        kid: Some(vec![0x2b]),
        ..Cnf::default()
    });
    let old = issuer(&s)
        .issue(w.now.unix - 7200, "c1", &tr, &mut StdRng::seed_from_u64(1))
        .unwrap();
    let (_wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(8), &w.c_key).unwrap();
    let upload = AuthzInfoEdhoc {
        access_token: old.access_token,
        esp_udp_port: None,
        message_1,
    };
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let resp = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .unwrap();
    assert_eq!(resp.code, ResponseCode::Unauthorized);
    assert_eq!(w.rs_state(), (0, 0, 0));
}

#[test]
fn corrupted_message_3_installs_nothing_and_the_genuine_one_still_completes() {
    let mut w = world();
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let (_token, good) = start_exchange(&mut w, &mut ep);
    let mut bad = good.clone();
    let n = bad.len();
    bad[n - 1] ^= 0x80; // last byte of the AEAD tag
    let resp = w
        .post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, bad)
        .expect("a plain EDHOC error");
    assert_edhoc_error(&resp);
    assert_eq!(
        w.rs_state(),
        (0, 0, 1),
        "no SA, no token; an undecryptable message_3 (anyone can post one) does not end the exchange"
    );
    assert_eq!(w.rs.stats().edhoc_failed.get("message-3"), Some(&1));
    let none = w.post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, good);
    assert!(none.is_none(), "the 2.04 goes over ESP");
    assert_eq!(w.rs_state(), (1, 1, 0));
    assert_eq!(w.rs.stats().edhoc_completed, 1);
}

#[test]
fn three_undecryptable_message_3_end_the_exchange() {
    let mut w = world();
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let (_token, good) = start_exchange(&mut w, &mut ep);
    for i in 0..3 {
        assert_eq!(w.rs_state(), (0, 0, 1), "attempt {i}");
        let mut bad = good.clone();
        let n = bad.len();
        bad[n - 1 - i] ^= 0x01;
        let resp = w
            .post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, bad)
            .unwrap();
        assert_edhoc_error(&resp);
    }
    assert_eq!(w.rs_state(), (0, 0, 0), "exchange gone, nothing installed");
    assert_eq!(w.rs.stats().edhoc_failed.get("message-3"), Some(&3));
    // The genuine message_3 now names no exchange.
    let resp = w
        .post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, good)
        .unwrap();
    assert_edhoc_error(&resp);
    assert_eq!(w.rs.stats().edhoc_failed.get("unknown-c_r"), Some(&1));
    assert_eq!(w.rs_state(), (0, 0, 0));
}

#[test]
fn message_3_from_another_address_does_not_consume_the_exchange() {
    let mut w = world();
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let (_token, good) = start_exchange(&mut w, &mut ep);
    let mut other = Endpoint::new(ace_coap::Config::default(), 10);
    let attacker = addr("127.0.0.66:5683");
    // Garbage for every one-byte C_R (RFC 9528 §3.3.2 encodings), and the
    // genuine bytes, from elsewhere.
    for raw in 0..=255u8 {
        let mut payload = edhoc::conn_id_cbor(&[raw]).unwrap();
        payload.push(0x51);
        payload.extend_from_slice(&[0; 17]);
        let resp = w
            .post_from(
                &mut other,
                attacker,
                WELL_KNOWN_PATH,
                CID_EDHOC_CBOR_SEQ,
                payload,
            )
            .unwrap();
        assert_edhoc_error(&resp);
    }
    let resp = w
        .post_from(
            &mut other,
            attacker,
            WELL_KNOWN_PATH,
            CID_EDHOC_CBOR_SEQ,
            good.clone(),
        )
        .unwrap();
    assert_edhoc_error(&resp);
    assert_eq!(w.rs_state(), (0, 0, 1), "still pending, nothing installed");
    assert_eq!(w.rs.stats().edhoc_failed.get("wrong-peer"), Some(&2));
    assert_eq!(w.rs.stats().edhoc_failed.get("unknown-c_r"), Some(&255));
    assert_eq!(w.rs.stats().edhoc_failed.get("message-3"), None);
    // The client itself completes.
    let none = w.post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, good);
    assert!(none.is_none(), "the 2.04 goes over ESP");
    assert_eq!(w.rs_state(), (1, 1, 0));
}

#[test]
fn a_garbage_re_post_does_not_cancel_the_pending_exchange() {
    let mut w = world();
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let (token, good) = start_exchange(&mut w, &mut ep);
    // The (sniffed) token again, with bad message_1s, from the client's
    // address and from another one.
    let mut other = Endpoint::new(ace_coap::Config::default(), 10);
    for (i, m1) in [vec![0x03, 0x02, 0x58, 0x20, 0x00], empty_suites_message_1()]
        .into_iter()
        .enumerate()
    {
        let upload = AuthzInfoEdhoc {
            access_token: token.clone(),
            esp_udp_port: None,
            message_1: m1,
        };
        let resp = if i == 0 {
            w.post(
                &mut ep,
                "/authz-info",
                APPLICATION_ACE_CBOR,
                upload.to_cbor(),
            )
        } else {
            w.post_from(
                &mut other,
                addr("127.0.0.66:5683"),
                "/authz-info",
                APPLICATION_ACE_CBOR,
                upload.to_cbor(),
            )
        }
        .unwrap();
        assert_edhoc_error(&resp);
        assert_eq!(w.rs_state(), (0, 0, 1), "the pending exchange stays");
    }
    let none = w.post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, good);
    assert!(none.is_none(), "the 2.04 goes over ESP");
    assert_eq!(w.rs_state(), (1, 1, 0));
    assert_eq!(w.rs.stats().edhoc_completed, 1);
}

#[test]
fn a_valid_re_post_replaces_the_pending_exchange() {
    let mut w = world();
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let (token, old) = start_exchange(&mut w, &mut ep);
    let rs_key = w.rs_public();
    let (wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(18), &w.c_key).unwrap();
    let upload = AuthzInfoEdhoc {
        access_token: token,
        esp_udp_port: Some(4500),
        message_1,
    };
    let m2 = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .unwrap();
    assert_eq!(m2.code, ResponseCode::Created);
    assert_eq!(w.rs_state(), (0, 0, 1), "one exchange per token");
    let new = wait
        .process_message_2(&m2.payload, &rs_key)
        .unwrap()
        .message_3_request();
    let resp = w
        .post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, old)
        .unwrap();
    assert_eq!(
        resp.code,
        ResponseCode::BadRequest,
        "the old exchange is gone"
    );
    let none = w.post(&mut ep, WELL_KNOWN_PATH, CID_EDHOC_CBOR_SEQ, new);
    assert!(none.is_none());
    assert_eq!(w.rs_state(), (1, 1, 0));
}

/// Finding: lakers 0.8 indexed `suites_i[len - 1]` of an empty SUITES_I
/// (`98 00`) and panicked the RS; anyone with a valid token could send it.
fn empty_suites_message_1() -> Vec<u8> {
    let mut m = vec![0x03, 0x98, 0x00, 0x58, 0x20];
    m.extend_from_slice(&[0x11; 32]);
    m.push(0x00);
    m
}

#[test]
fn empty_suites_i_in_message_1_gets_an_edhoc_error_not_a_panic() {
    let mut w = world();
    let s = setup();
    let tr = w.edhoc_token(&s);
    let upload = AuthzInfoEdhoc {
        access_token: tr.access_token,
        esp_udp_port: None,
        message_1: empty_suites_message_1(),
    };
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let r = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .unwrap();
    assert_edhoc_error(&r);
    assert_eq!(
        w.rs_state(),
        (0, 0, 0),
        "nothing installed, nothing pending"
    );
    assert_eq!(w.rs.stats().edhoc_failed.get("message-1"), Some(&1));
    assert_eq!(
        w.rs.stats().edhoc_failed.get("internal"),
        None,
        "refused before lakers"
    );
    // The RS is still there: a genuine exchange completes.
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    assert_eq!(r.unwrap().response.code, ResponseCode::Content);
}

#[test]
fn max_pending_is_clamped_so_c_r_allocation_always_ends() {
    let mut s = setup();
    s.max_pending = 1000;
    let w = world_with(s);
    assert_eq!(w.rs.edhoc_max_pending(), Some(ace_rs::MAX_PENDING_LIMIT));
    const { assert!(ace_rs::MAX_PENDING_LIMIT < 256) };
}

#[test]
fn valid_message_3_answers_204_over_the_new_pair_only() {
    let mut w = world();
    let s = setup();
    let tr = w.edhoc_token(&s);
    let rs_key = PublicKey::from_cose_key(tr.rs_cnf.as_ref().unwrap()).unwrap();
    let (wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(8), &w.c_key).unwrap();
    let upload = AuthzInfoEdhoc {
        access_token: tr.access_token.clone(),
        esp_udp_port: Some(4500),
        message_1,
    };
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let m2 = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .unwrap();
    let done = wait.process_message_2(&m2.payload, &rs_key).unwrap();
    let none = w.post(
        &mut ep,
        WELL_KNOWN_PATH,
        CID_EDHOC_CBOR_SEQ,
        done.message_3_request(),
    );
    assert!(none.is_none(), "no plain answer: the 2.04 goes over ESP");
    assert_eq!(w.rs_state(), (1, 1, 0));
    assert_eq!(w.rs.stats().edhoc_completed, 1);
    // The same token cannot start a second exchange while its pair lives.
    let (_w2, m1b) = edhoc::initiate(StdRng::seed_from_u64(9), &w.c_key).unwrap();
    let again = AuthzInfoEdhoc {
        access_token: tr.access_token,
        esp_udp_port: Some(4500),
        message_1: m1b,
    };
    let resp = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            again.to_cbor(),
        )
        .unwrap();
    assert_eq!(resp.code, ResponseCode::Conflict);
    assert_eq!(w.rs_state(), (1, 1, 0));
}

#[test]
fn wrong_client_credential_in_the_token_installs_nothing() {
    // The AS binds another key under the client's kid: message_3's MAC fails at the RS.
    let mut s = setup();
    let mut rng = StdRng::seed_from_u64(1234);
    s.registered_client = Some(
        StaticKey::generate(&mut rng, vec![0x2b])
            .unwrap()
            .public()
            .clone(),
    );
    let mut w = world_with(s);
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    let err = r.unwrap_err();
    assert!(
        matches!(&err, ace_client::ClientError::Refused { step: "EDHOC message_3", code, .. } if code == "4.00"),
        "{err:?}"
    );
    assert_eq!(w.rs_state(), (0, 0, 0));
    assert_eq!(w.rs.stats().edhoc_failed.get("message-3"), Some(&1));
    // The client removed the pair it had derived.
    assert_eq!(
        w.c.node_ref().pair_count(),
        1,
        "only the AS registration pair"
    );
}

#[test]
fn wrong_rs_credential_in_rs_cnf_is_caught_by_the_client_and_the_exchange_expires() {
    let mut s = setup();
    let mut rng = StdRng::seed_from_u64(4321);
    s.registered_rs = Some(
        StaticKey::generate(&mut rng, vec![0x32])
            .unwrap()
            .public()
            .clone(),
    );
    let mut w = world_with(s);
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    let err = r.unwrap_err();
    assert!(
        matches!(
            &err,
            ace_client::ClientError::Protocol {
                step: "EDHOC message_2",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(w.c.node_ref().pair_count(), 1, "nothing installed at C");
    assert_eq!(w.rs_state(), (0, 0, 1), "the RS waits for message_3");
    let later = Now {
        mono: w.now.mono + Duration::from_secs(31),
        unix: w.now.unix + 31,
    };
    tick(&mut [&mut w.rs], later);
    assert_eq!(w.rs_state(), (0, 0, 0), "expired");
    assert_eq!(w.rs.stats().edhoc_failed.get("expired"), Some(&1));
}

#[test]
fn pending_exchanges_are_bounded() {
    let mut s = setup();
    s.max_pending = 2;
    let mut w = world_with(s.clone());
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let mut codes = Vec::new();
    for i in 0..3u64 {
        let mut tr = TokenRequest::new();
        tr.audience = Some("rs1".into());
        tr.req_cnf = Some(Cnf {
            kid: Some(vec![0x2b]),
            ..Cnf::default()
        });
        let t = issuer(&s)
            .issue(w.now.unix, "c1", &tr, &mut StdRng::seed_from_u64(100 + i))
            .unwrap();
        let (_wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(i), &w.c_key).unwrap();
        let upload = AuthzInfoEdhoc {
            access_token: t.access_token,
            esp_udp_port: None,
            message_1,
        };
        let r = w
            .post(
                &mut ep,
                "/authz-info",
                APPLICATION_ACE_CBOR,
                upload.to_cbor(),
            )
            .unwrap();
        codes.push(r.code);
    }
    assert_eq!(
        codes,
        vec![
            ResponseCode::Created,
            ResponseCode::Created,
            ResponseCode::ServiceUnavailable
        ]
    );
    assert_eq!(w.rs_state(), (0, 0, 2));
    assert_eq!(w.rs.stats().edhoc_failed.get("pending-full"), Some(&1));
}

#[test]
fn garbage_message_1_with_a_valid_token_gets_an_edhoc_error() {
    let mut w = world();
    let s = setup();
    let tr = w.edhoc_token(&s);
    let upload = AuthzInfoEdhoc {
        access_token: tr.access_token,
        esp_udp_port: None,
        message_1: vec![0x03, 0x02, 0x58, 0x20, 0x00],
    };
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let r = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .unwrap();
    assert_eq!(r.code, ResponseCode::BadRequest);
    assert_eq!(r.content_format, Some(EDHOC_CBOR_SEQ));
    assert_eq!(w.rs_state(), (0, 0, 0));
    assert_eq!(w.rs.stats().edhoc_failed.get("message-1"), Some(&1));
}

#[test]
fn edhoc_token_without_message_1_and_dp_token_with_one_are_refused() {
    let mut w = world();
    let s = setup();
    let tr = w.edhoc_token(&s);
    let mut ep = Endpoint::new(ace_coap::Config::default(), 9);
    let plain_upload = ace_core::AuthzInfoRequest::new(tr.access_token, None);
    let r = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            plain_upload.to_cbor(),
        )
        .unwrap();
    assert_eq!(r.code, ResponseCode::BadRequest);
    let dp = issuer(&s)
        .issue(
            w.now.unix,
            "c1",
            &TokenRequest {
                audience: Some("rs1".into()),
                ..TokenRequest::new()
            },
            &mut StdRng::seed_from_u64(3),
        )
        .unwrap();
    let (_wait, message_1) = edhoc::initiate(StdRng::seed_from_u64(8), &w.c_key).unwrap();
    let upload = AuthzInfoEdhoc {
        access_token: dp.access_token,
        esp_udp_port: None,
        message_1,
    };
    let r = w
        .post(
            &mut ep,
            "/authz-info",
            APPLICATION_ACE_CBOR,
            upload.to_cbor(),
        )
        .unwrap();
    assert_eq!(r.code, ResponseCode::BadRequest);
    assert_eq!(w.rs_state(), (0, 0, 0));
    assert_eq!(
        w.rs.stats().tokens_rejected.get("edhoc-message-1-missing"),
        Some(&1)
    );
    assert_eq!(
        w.rs.stats().tokens_rejected.get("edhoc-not-selected"),
        Some(&1)
    );
}

#[test]
fn symmetric_pop_key_is_refused_for_edhoc() {
    let s = setup();
    let mut tr = TokenRequest::new();
    tr.audience = Some("rs1".into());
    tr.req_cnf = Some(Cnf {
        cose_key: Some(
            CoseKeyBuilder::new_symmetric_key(vec![7; 16])
                .key_id(b"psk".to_vec())
                .build(),
        ),
        ..Cnf::default()
    });
    let mut is = issuer(&s);
    let err = is
        .issue(1_800_000_000, "c1", &tr, &mut StdRng::seed_from_u64(1))
        .unwrap_err();
    assert_eq!(err.error, AceErrorCode::UnsupportedPopKey);
    let d = err.error_description.unwrap();
    assert!(d.contains("symmetric") && d.contains("PSK"), "{d}");
    assert_eq!(is.stats().refused.get("unsupported_pop_key"), Some(&1));
}

#[test]
fn a_kid_the_as_does_not_know_is_refused() {
    let s = setup();
    let mut tr = TokenRequest::new();
    tr.audience = Some("rs1".into());
    tr.req_cnf = Some(Cnf {
        kid: Some(vec![0x99]),
        ..Cnf::default()
    });
    let err = issuer(&s)
        .issue(1_800_000_000, "c1", &tr, &mut StdRng::seed_from_u64(1))
        .unwrap_err();
    assert_eq!(err.error, AceErrorCode::InvalidRequest);
}

#[test]
fn an_audience_without_edhoc_gets_direct_provisioning() {
    let mut s = setup();
    s.registered_rs = None;
    s.rs_edhoc = false;
    let mut w = world_with(s);
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    let o = r.unwrap();
    assert_eq!(o.response.code, ResponseCode::Content);
    assert_eq!(
        codes(&o),
        vec![
            ("POST /token", "2.01".to_string()),
            ("POST /authz-info", "2.01".to_string()),
            ("resource request", "2.05".to_string()),
        ]
    );
    assert_eq!(w.rs.stats().edhoc_started, 0);
}

#[test]
fn both_sides_derive_the_same_sa_pair() {
    // The seed is an exporter output: the pair C and RS installed must
    // interoperate in both directions, which the resource round trip shows;
    // here also the SPIs line up.
    let mut w = world();
    let (r, _) = w.run(w.access(Method::Get, "/temp", b"", false));
    r.unwrap();
    let t = w.rs.tokens().next().unwrap().clone();
    let rs_pair = w.rs.node_ref().pair(t.pair.unwrap()).unwrap();
    let c_session = w.c.session(addr("127.0.0.2:5683")).unwrap().pair;
    let c_pair = w.c.node_ref().pair(c_session).unwrap();
    assert_eq!(rs_pair.spi_in, c_pair.spi_out);
    assert_eq!(rs_pair.spi_out, c_pair.spi_in);
}
