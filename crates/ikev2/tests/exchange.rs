//! Whole IKEv2 exchanges through the sans-IO endpoint, in one thread, with
//! scripted loss, duplication and reordering and a virtual clock.

use std::collections::VecDeque;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ikev2::config::key_id;
use ikev2::consts::{AuthMethod, NotifyType};
use ikev2::crypto::P256SigningKey;
use ikev2::payload::{IdRepr, TrafficSelector};
use ikev2::{
    ChildPolicy, ChildSa, ChildSuite, Config, Credential, DownReason, Endpoint, Event, Failure,
    IkeSuite, InitiatorParams, Mode, PeerAuth, PeerEntry, Secret, Transmit,
};

const I_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const R_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn i_addr() -> SocketAddr {
    SocketAddr::new(I_IP.into(), 500)
}
fn r_addr() -> SocketAddr {
    SocketAddr::new(R_IP.into(), 500)
}

/// A datagram on the wire, with who sent it.
#[derive(Debug, Clone)]
struct Wire {
    to_responder: bool,
    t: Transmit,
}

/// Two endpoints, a wire between them and a virtual clock. `filter`
/// decides the fate of each datagram (index in the order sent): deliver,
/// drop, duplicate.
struct Sim {
    i: Endpoint,
    r: Endpoint,
    now: Instant,
    wire: VecDeque<Wire>,
    sent: usize,
    ev_i: Vec<Event>,
    ev_r: Vec<Event>,
    log: Vec<(bool, usize)>,
    fate: FateFn,
    reorder: bool,
}

type FateFn = Box<dyn FnMut(usize, &Wire) -> Fate>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Deliver,
    Drop,
    Duplicate,
}

impl Sim {
    fn new(ci: Config, cr: Config) -> Self {
        Sim {
            i: Endpoint::new(ci).unwrap(),
            r: Endpoint::new(cr).unwrap(),
            now: Instant::now(),
            wire: VecDeque::new(),
            sent: 0,
            ev_i: Vec::new(),
            ev_r: Vec::new(),
            log: Vec::new(),
            fate: Box::new(|_, _| Fate::Deliver),
            reorder: false,
        }
    }

    fn collect(&mut self) {
        while let Some(t) = self.i.poll_transmit() {
            assert_eq!(t.local.ip(), std::net::IpAddr::V4(I_IP));
            self.push(Wire {
                to_responder: true,
                t,
            });
        }
        while let Some(t) = self.r.poll_transmit() {
            assert_eq!(t.local.ip(), std::net::IpAddr::V4(R_IP));
            self.push(Wire {
                to_responder: false,
                t,
            });
        }
        while let Some(e) = self.i.poll_event() {
            self.ev_i.push(e);
        }
        while let Some(e) = self.r.poll_event() {
            self.ev_r.push(e);
        }
    }

    fn push(&mut self, w: Wire) {
        let n = self.sent;
        self.sent += 1;
        self.log.push((w.to_responder, w.t.payload.len()));
        match (self.fate)(n, &w) {
            Fate::Deliver => self.wire.push_back(w),
            Fate::Drop => {}
            Fate::Duplicate => {
                self.wire.push_back(w.clone());
                self.wire.push_back(w);
            }
        }
    }

    /// Delivers everything on the wire (and what it causes), then advances
    /// the clock to the next timer, until `until` or quiet.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.collect();
            if let Some(w) = if self.reorder && self.wire.len() > 1 {
                self.wire.pop_back()
            } else {
                self.wire.pop_front()
            } {
                // NAT-T: the marker travels with the port.
                assert_eq!(
                    w.t.non_esp_marker,
                    w.t.local.port() == 4500,
                    "marker only on 4500"
                );
                if w.to_responder {
                    self.r.handle(self.now, w.t.remote, w.t.local, &w.t.payload);
                } else {
                    self.i.handle(self.now, w.t.remote, w.t.local, &w.t.payload);
                }
                continue;
            }
            let next = [self.i.poll_timeout(), self.r.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.i.handle_timeout(self.now);
                    self.r.handle_timeout(self.now);
                }
                _ => {
                    self.now = end;
                    self.i.handle_timeout(self.now);
                    self.r.handle_timeout(self.now);
                    self.collect();
                    if self.wire.is_empty() {
                        return;
                    }
                }
            }
        }
    }
}

fn ts_host(ip: Ipv4Addr) -> Vec<TrafficSelector> {
    vec![TrafficSelector::host_v4(ip)]
}

fn policy(mode: Mode, local: Ipv4Addr, remote: Ipv4Addr) -> ChildPolicy {
    ChildPolicy {
        mode,
        local_ts: ts_host(local),
        remote_ts: ts_host(remote),
        lifetime: Duration::from_secs(3600),
    }
}

fn psk() -> Secret {
    Secret::from_slice(b"0123456789abcdef0123456789abcdef")
}

fn psk_params(k: Secret, mode: Mode) -> InitiatorParams {
    InitiatorParams {
        local_id: key_id(b"kid-1"),
        credential: Credential::Psk(k.clone()),
        peer_id: None,
        peer_auth: PeerAuth::Psk(k),
        child: policy(mode, I_IP, R_IP),
        peer_natt_port: 4500,
        not_after: None,
        tag: 7,
    }
}

fn rs_id() -> IdRepr {
    IdRepr {
        id_type: ikev2::IdType::ID_FQDN,
        data: b"rs.example".to_vec(),
    }
}

fn psk_entry(now: Instant, k: Secret, mode: Mode) -> PeerEntry {
    PeerEntry {
        id: key_id(b"kid-1"),
        auth: PeerAuth::Psk(k.clone()),
        local_id: rs_id(),
        credential: Credential::Psk(k),
        child: policy(mode, R_IP, I_IP),
        not_after: now + Duration::from_secs(3600),
        tag: 42,
    }
}

fn child_ups(ev: &[Event]) -> Vec<&ChildSa> {
    ev.iter()
        .filter_map(|e| match e {
            Event::ChildSaUp(c) => Some(c.as_ref()),
            _ => None,
        })
        .collect()
}

fn ike_ups(ev: &[Event]) -> usize {
    ev.iter()
        .filter(|e| matches!(e, Event::IkeSaUp { .. }))
        .count()
}

fn failures(ev: &[Event]) -> Vec<Failure> {
    ev.iter()
        .filter_map(|e| match e {
            Event::Failed { failure, .. } => Some(failure.clone()),
            _ => None,
        })
        .collect()
}

/// The pair the two sides installed fits together: our outbound is their
/// inbound, with the same keys.
fn assert_pair(a: &ChildSa, b: &ChildSa) {
    assert_eq!(a.spi_out, b.spi_in);
    assert_eq!(a.spi_in, b.spi_out);
    assert_eq!(a.keymat_out.as_bytes(), b.keymat_in.as_bytes());
    assert_eq!(a.keymat_in.as_bytes(), b.keymat_out.as_bytes());
    assert_ne!(a.keymat_in.as_bytes(), a.keymat_out.as_bytes());
    assert_eq!(a.suite, b.suite);
    assert_eq!(a.mode, b.mode);
    assert_eq!(a.keymat_in.len(), a.cipher.keymat_len());
}

fn established_psk(mode: Mode) -> (Sim, u64) {
    let mut s = Sim::new(Config::default(), Config::default());
    s.r.authorize_peer(psk_entry(s.now, psk(), mode));
    let id =
        s.i.initiate(s.now, i_addr(), r_addr(), psk_params(psk(), mode))
            .unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(ike_ups(&s.ev_i), 1, "initiator events: {:?}", s.ev_i);
    assert_eq!(ike_ups(&s.ev_r), 1);
    (s, id)
}

#[test]
fn psk_exchange_sets_up_a_matching_child_sa_pair() {
    let (s, _) = established_psk(Mode::Transport);
    let (ci, cr) = (child_ups(&s.ev_i), child_ups(&s.ev_r));
    assert_eq!((ci.len(), cr.len()), (1, 1));
    assert_pair(ci[0], cr[0]);
    assert_eq!(ci[0].mode, Mode::Transport);
    assert_eq!(ci[0].suite, ChildSuite::ESP_AES128GCM16);
    // always_encap: both floated to 4500 and encapsulate.
    assert!(ci[0].encap && cr[0].encap);
    assert_eq!(ci[0].remote.port(), 4500);
    assert_eq!(cr[0].remote.port(), 4500);
    assert_eq!(ci[0].tag, 7);
    assert_eq!(cr[0].tag, 42);
    // Four messages: IKE_SA_INIT and IKE_AUTH, no retransmission.
    assert_eq!(s.log.len(), 4);
    assert_eq!(s.i.counters().retransmits, 0);
    assert_eq!(s.r.half_open(), 0);
}

#[test]
fn tunnel_mode_and_traffic_selector_narrowing() {
    let mut s = Sim::new(Config::default(), Config::default());
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Tunnel));
    let mut p = psk_params(psk(), Mode::Tunnel);
    // Ask for the whole /24 on the responder's side: narrowed to its host.
    p.child.remote_ts = vec![TrafficSelector {
        range: ikev2::payload::TsRange::V4(
            Ipv4Addr::new(10, 0, 0, 0),
            Ipv4Addr::new(10, 0, 0, 255),
        ),
        ..TrafficSelector::any_v4()
    }];
    s.i.initiate(s.now, i_addr(), r_addr(), p).unwrap();
    s.run_for(Duration::from_secs(1));
    let ci = child_ups(&s.ev_i);
    assert_eq!(ci[0].mode, Mode::Tunnel);
    assert_eq!(ci[0].remote_ts, ts_host(R_IP));
    assert_pair(ci[0], child_ups(&s.ev_r)[0]);
}

#[test]
fn ike_auth_with_the_wrong_psk_gets_authentication_failed() {
    let mut s = Sim::new(Config::default(), Config::default());
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    let wrong = Secret::from_slice(b"not the key of this token.......");
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(wrong, Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(5));
    assert_eq!(
        failures(&s.ev_i),
        vec![Failure::Notified(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert_eq!(s.r.counters().auth_failed, 1);
    assert!(child_ups(&s.ev_r).is_empty() && ike_ups(&s.ev_r) == 0);
}

#[test]
fn unknown_kid_gets_authentication_failed() {
    let mut s = Sim::new(Config::default(), Config::default());
    // Nothing authorized at the responder.
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(5));
    assert_eq!(
        failures(&s.ev_i),
        vec![Failure::Notified(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert_eq!(s.r.counters().auth_failed, 1);
}

#[test]
fn expired_authorization_gets_authentication_failed() {
    let mut s = Sim::new(Config::default(), Config::default());
    let mut e = psk_entry(s.now, psk(), Mode::Transport);
    e.not_after = s.now;
    s.r.authorize_peer(e);
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(5));
    assert_eq!(
        failures(&s.ev_i),
        vec![Failure::Notified(NotifyType::AUTHENTICATION_FAILED)]
    );
}

#[test]
fn responder_wrong_psk_fails_at_the_initiator() {
    let mut s = Sim::new(Config::default(), Config::default());
    // The responder authenticates itself with another key than the
    // initiator expects.
    let mut e = psk_entry(s.now, psk(), Mode::Transport);
    e.credential = Credential::Psk(Secret::from_slice(b"another key of 32 octets........"));
    s.r.authorize_peer(e);
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(2));
    assert_eq!(failures(&s.ev_i), vec![Failure::AuthenticationFailed]);
    assert_eq!(s.i.counters().auth_failed, 1);
    assert!(child_ups(&s.ev_i).is_empty());
}

#[test]
fn no_common_ike_suite_gets_no_proposal_chosen() {
    let ci = Config {
        ike_suites: vec![IkeSuite::AES256CBC_SHA256_P256],
        ..Config::default()
    };
    let cr = Config {
        ike_suites: vec![IkeSuite::AES128GCM_SHA256_X25519],
        ..Config::default()
    };
    let mut s = Sim::new(ci, cr);
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(failures(&s.ev_i), vec![Failure::NoProposalChosen]);
    assert_eq!(s.r.counters().no_proposal_chosen, 1);
    assert_eq!(s.r.sa_count(), 0, "no state for a refused IKE_SA_INIT");
}

#[test]
fn no_common_child_suite_leaves_the_ike_sa_without_child() {
    let ci = Config {
        child_suites: vec![ChildSuite::ESP_AES256GCM16],
        ..Config::default()
    };
    let cr = Config {
        child_suites: vec![ChildSuite::ESP_AES128CCM8],
        ..Config::default()
    };
    let mut s = Sim::new(ci, cr);
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(ike_ups(&s.ev_i), 1);
    assert!(child_ups(&s.ev_i).is_empty() && child_ups(&s.ev_r).is_empty());
    assert!(s.ev_i.iter().any(|e| matches!(
        e,
        Event::ChildSaFailed {
            failure: Failure::Notified(NotifyType::NO_PROPOSAL_CHOSEN),
            ..
        }
    )));
}

#[test]
fn ccm8_child_sa_for_constrained_peers() {
    let c = Config {
        child_suites: vec![ChildSuite::ESP_AES128CCM8],
        ..Config::default()
    };
    let mut s = Sim::new(c.clone(), c);
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    let ci = child_ups(&s.ev_i);
    assert_eq!(ci[0].suite, ChildSuite::ESP_AES128CCM8);
    // 16-octet key + 3-octet salt per direction (RFC 4309 §7.1).
    assert_eq!(ci[0].keymat_in.len(), 19);
    assert_pair(ci[0], child_ups(&s.ev_r)[0]);
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_group_asked_for() {
    let ci = Config {
        ike_suites: vec![
            IkeSuite::AES128GCM_SHA256_P256,
            IkeSuite::AES128GCM_SHA256_X25519,
        ],
        ..Config::default()
    };
    let cr = Config {
        ike_suites: vec![IkeSuite::AES128GCM_SHA256_X25519],
        ..Config::default()
    };
    let mut s = Sim::new(ci, cr);
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.r.counters().invalid_ke, 1);
    assert_eq!(child_ups(&s.ev_i).len(), 1);
}

/// Raw-key set-up; `authorized_other_key`: the responder expects another
/// key than the one the initiator holds.
fn rpk_run(method: Option<AuthMethod>, cert: bool, mtu: usize, authorized_other_key: bool) -> Sim {
    let cfg = Config {
        signature_method: method,
        send_raw_key_cert: cert,
        fragment_mtu: mtu,
        ike_suites: vec![IkeSuite::AES128GCM_SHA256_P256],
        ..Config::default()
    };
    let mut s = Sim::new(cfg.clone(), cfg);
    let c_key = Arc::new(P256SigningKey::generate().unwrap());
    let other = Arc::new(P256SigningKey::generate().unwrap());
    let rs_key = Arc::new(P256SigningKey::generate().unwrap());
    let expected = if authorized_other_key { &other } else { &c_key };
    s.r.authorize_peer(PeerEntry {
        id: key_id(b"client-key"),
        auth: PeerAuth::P256(expected.public_key()),
        local_id: key_id(b"rs-key"),
        credential: Credential::P256(rs_key.clone()),
        child: policy(Mode::Transport, R_IP, I_IP),
        not_after: s.now + Duration::from_secs(600),
        tag: 1,
    });
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        InitiatorParams {
            local_id: key_id(b"client-key"),
            credential: Credential::P256(c_key),
            peer_id: Some(key_id(b"rs-key")),
            peer_auth: PeerAuth::P256(rs_key.public_key()),
            child: policy(Mode::Transport, I_IP, R_IP),
            peer_natt_port: 4500,
            not_after: None,
            tag: 2,
        },
    )
    .unwrap();
    s.run_for(Duration::from_secs(2));
    s
}

fn rpk_setup(method: Option<AuthMethod>, cert: bool, mtu: usize) -> Sim {
    rpk_run(method, cert, mtu, false)
}

#[test]
fn raw_public_keys_with_rfc7427_signatures() {
    let s = rpk_setup(None, false, 1280);
    assert_eq!(ike_ups(&s.ev_i), 1, "{:?}", s.ev_i);
    assert_pair(child_ups(&s.ev_i)[0], child_ups(&s.ev_r)[0]);
}

#[test]
fn raw_public_keys_with_rfc4754_signatures_and_cert_payloads() {
    let s = rpk_setup(Some(AuthMethod::ECDSA_SHA256_P256), true, 1280);
    assert_eq!(ike_ups(&s.ev_i), 1, "{:?}", s.ev_i);
    assert_pair(child_ups(&s.ev_i)[0], child_ups(&s.ev_r)[0]);
}

#[test]
fn ike_auth_is_fragmented_below_the_mtu_and_reassembled() {
    let s = rpk_setup(None, true, 200);
    assert_eq!(ike_ups(&s.ev_i), 1, "{:?}", s.ev_i);
    assert_pair(child_ups(&s.ev_i)[0], child_ups(&s.ev_r)[0]);
    // IKE_AUTH went in several datagrams, each within the MTU.
    assert!(s.log.len() > 4, "{:?}", s.log);
    assert!(s
        .log
        .iter()
        .all(|(_, n)| *n <= 200 || *n > 0 && s.log.len() > 4));
    assert!(s.log.iter().skip(2).all(|(_, n)| *n <= 200), "{:?}", s.log);
}

#[test]
fn wrong_raw_key_gets_authentication_failed() {
    let s = rpk_run(None, false, 1280, true);
    assert_eq!(
        failures(&s.ev_i),
        vec![Failure::Notified(NotifyType::AUTHENTICATION_FAILED)]
    );
    assert_eq!(s.r.counters().auth_failed, 1);
}

#[test]
fn cookies_when_too_many_half_open_sas() {
    let cr = Config {
        cookie_threshold: 0,
        ..Config::default()
    };
    let mut s = Sim::new(Config::default(), cr);
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.r.counters().cookies_sent, 1);
    assert_eq!(child_ups(&s.ev_i).len(), 1);
    assert_pair(child_ups(&s.ev_i)[0], child_ups(&s.ev_r)[0]);
    // COOKIE, IKE_SA_INIT with cookie, response, IKE_AUTH pair.
    assert_eq!(s.log.len(), 6);
}

/// A COOKIE answer that arrives twice (duplicated on the wire, or the
/// answer to a retransmission) is ignored: the handshake goes on.
#[test]
fn a_repeated_cookie_answer_does_not_end_the_handshake() {
    let cr = Config {
        cookie_threshold: 0,
        ..Config::default()
    };
    let mut s = Sim::new(Config::default(), cr);
    // The responder's first datagram (the COOKIE) is duplicated.
    s.fate = Box::new(|_, w| {
        if !w.to_responder && w.t.payload.len() < 100 {
            Fate::Duplicate
        } else {
            Fate::Deliver
        }
    });
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(2));
    assert!(s.r.counters().cookies_sent >= 1);
    assert!(failures(&s.ev_i).is_empty(), "{:?}", s.ev_i);
    assert_eq!(child_ups(&s.ev_i).len(), 1);
    assert_pair(child_ups(&s.ev_i)[0], child_ups(&s.ev_r)[0]);
    assert!(s.i.counters().unexpected_message >= 1);
}

/// The peer deleted the IKE SA and every answer to its DELETE is lost for
/// a while: the deleted SA's cached answer is still there for the
/// retransmissions, so the deleter's SA goes well before its timeout.
#[test]
fn a_deleted_ike_sa_answers_retransmitted_deletes() {
    let (mut s, id_i) = established_psk(Mode::Transport);
    // Every answer from the responder is lost for 20 s.
    let start = s.now;
    let clock = std::rc::Rc::new(std::cell::Cell::new(start));
    let c = clock.clone();
    s.fate = Box::new(move |_, w| {
        if !w.to_responder && c.get() < start + Duration::from_secs(20) {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    s.i.delete_ike(s.now, id_i).unwrap();
    for _ in 0..40 {
        s.run_for(Duration::from_secs(1));
        clock.set(s.now);
    }
    let down_at = |ev: &[Event]| {
        ev.iter()
            .filter_map(|e| match e {
                Event::IkeSaDown { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(down_at(&s.ev_r).len(), 1);
    let i_down = down_at(&s.ev_i);
    assert_eq!(i_down.len(), 1, "{:?}", s.ev_i);
    assert_ne!(
        i_down[0],
        ikev2::DownReason::Timeout,
        "answered, not timed out"
    );
    assert!(s.i.counters().retransmits >= 3);
}

#[test]
fn lost_duplicated_and_reordered_messages_still_complete() {
    for seed in 0..40u64 {
        let (ci, cr) = (Config::default(), Config::default());
        let mut s = Sim::new(ci, cr);
        // A deterministic 30 % loss and 20 % duplication pattern.
        let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        s.fate = Box::new(move |_, _| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            match x % 10 {
                0..=2 => Fate::Drop,
                3 | 4 => Fate::Duplicate,
                _ => Fate::Deliver,
            }
        });
        s.reorder = seed % 2 == 0;
        s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
        s.i.initiate(
            s.now,
            i_addr(),
            r_addr(),
            psk_params(psk(), Mode::Transport),
        )
        .unwrap();
        s.run_for(Duration::from_secs(60));
        let (ci, cr) = (child_ups(&s.ev_i), child_ups(&s.ev_r));
        if failures(&s.ev_i) == vec![Failure::Timeout] {
            continue; // every retransmission lost: allowed, but rare
        }
        assert_eq!(
            (ci.len(), cr.len()),
            (1, 1),
            "seed {seed}: {:?} / {:?}",
            s.ev_i,
            s.ev_r
        );
        assert_pair(ci[0], cr[0]);
    }
}

#[test]
fn unanswered_initiator_gives_up_after_its_retransmissions() {
    let mut s = Sim::new(Config::default(), Config::default());
    s.fate = Box::new(|_, w| {
        if w.to_responder {
            Fate::Drop
        } else {
            Fate::Deliver
        }
    });
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(120));
    assert_eq!(failures(&s.ev_i), vec![Failure::Timeout]);
    assert_eq!(
        s.i.counters().retransmits,
        u64::from(Config::default().retransmit_tries)
    );
    assert_eq!(s.i.sa_count(), 0);
}

fn rekey_child_from(initiator_side: bool) {
    let (mut s, id_i) = established_psk(Mode::Transport);
    let old_i = child_ups(&s.ev_i)[0].clone();
    let old_r = child_ups(&s.ev_r)[0].clone();
    if initiator_side {
        s.i.rekey_child(s.now, id_i, old_i.spi_in).unwrap();
    } else {
        let id_r = match s.ev_r.iter().find(|e| matches!(e, Event::IkeSaUp { .. })) {
            Some(Event::IkeSaUp { sa, .. }) => *sa,
            _ => unreachable!(),
        };
        s.r.rekey_child(s.now, id_r, old_r.spi_in).unwrap();
    }
    s.run_for(Duration::from_secs(1));
    let (ci, cr) = (child_ups(&s.ev_i), child_ups(&s.ev_r));
    assert_eq!((ci.len(), cr.len()), (2, 2));
    assert_pair(ci[1], cr[1]);
    assert_eq!(ci[1].rekeyed_from, Some(old_i.spi_in));
    assert_eq!(cr[1].rekeyed_from, Some(old_r.spi_in));
    assert_ne!(ci[1].keymat_out.as_bytes(), old_i.keymat_out.as_bytes());
    // The old pair is deleted on both sides.
    let deleted = |ev: &[Event], spi: u32| {
        ev.iter()
            .any(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == spi))
    };
    assert!(deleted(&s.ev_i, old_i.spi_in), "{:?}", s.ev_i);
    assert!(deleted(&s.ev_r, old_r.spi_in), "{:?}", s.ev_r);
}

#[test]
fn child_sa_rekey_started_by_the_initiator_with_pfs() {
    rekey_child_from(true);
}

#[test]
fn child_sa_rekey_started_by_the_responder_with_pfs() {
    rekey_child_from(false);
}

/// Child SAs reported up and not deleted since, by inbound SPI.
fn live_children(ev: &[Event]) -> Vec<&ChildSa> {
    child_ups(ev)
        .into_iter()
        .filter(|c| {
            !ev.iter()
                .any(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == c.spi_in))
        })
        .collect()
}

/// RFC 7296 §2.8.1: both ends rekey the same Child SA at once. Each
/// answers the other's request; the SA of the exchange with the lowest of
/// the four nonces is closed by its creator, the old one by the other, and
/// one pair survives, reported on each side as replacing what it had.
#[test]
fn simultaneous_child_sa_rekeys_leave_one_pair() {
    for seed in 0..8 {
        let (mut s, id_i) = established_psk(Mode::Transport);
        let id_r = match s.ev_r.iter().find(|e| matches!(e, Event::IkeSaUp { .. })) {
            Some(Event::IkeSaUp { sa, .. }) => *sa,
            _ => unreachable!(),
        };
        let old_i = child_ups(&s.ev_i)[0].clone();
        let old_r = child_ups(&s.ev_r)[0].clone();
        if seed % 2 == 0 {
            s.i.rekey_child(s.now, id_i, old_i.spi_in).unwrap();
            s.r.rekey_child(s.now, id_r, old_r.spi_in).unwrap();
        } else {
            s.r.rekey_child(s.now, id_r, old_r.spi_in).unwrap();
            s.i.rekey_child(s.now, id_i, old_i.spi_in).unwrap();
        }
        s.run_for(Duration::from_secs(2));
        assert_eq!(s.i.counters().rekey_collisions, 1, "seed {seed}");
        assert_eq!(s.r.counters().rekey_collisions, 1, "seed {seed}");
        let (li, lr) = (live_children(&s.ev_i), live_children(&s.ev_r));
        assert_eq!(
            (li.len(), lr.len()),
            (1, 1),
            "seed {seed}: {:?} {:?}",
            s.ev_i,
            s.ev_r
        );
        assert_pair(li[0], lr[0]);
        assert_ne!(li[0].spi_in, old_i.spi_in);
        // Both endpoints agree on what is left.
        assert_eq!(s.i.child_spis(id_i), vec![li[0].spi_in], "seed {seed}");
        assert_eq!(s.r.child_spis(id_r), vec![lr[0].spi_in], "seed {seed}");
        // Every pair reported up replaces one reported before.
        for ev in [&s.ev_i, &s.ev_r] {
            let ups = child_ups(ev);
            for c in &ups[1..] {
                let from = c.rekeyed_from.expect("a rekey");
                assert!(ups.iter().any(|o| o.spi_in == from), "seed {seed}");
            }
        }
    }
}

/// RFC 7296 §2.25.1: a rekey request for an SA that was already replaced
/// (its DELETE pending) gets TEMPORARY_FAILURE and changes nothing.
#[test]
fn rekey_of_an_already_replaced_child_sa_gets_temporary_failure() {
    let (mut s, id_i) = established_psk(Mode::Transport);
    let id_r = match s.ev_r.iter().find(|e| matches!(e, Event::IkeSaUp { .. })) {
        Some(Event::IkeSaUp { sa, .. }) => *sa,
        _ => unreachable!(),
    };
    let old_i = child_ups(&s.ev_i)[0].clone();
    let old_r = child_ups(&s.ev_r)[0].clone();
    // Both rekey; the responder's request is delayed until the
    // initiator's rekey is complete.
    s.i.rekey_child(s.now, id_i, old_i.spi_in).unwrap();
    s.r.rekey_child(s.now, id_r, old_r.spi_in).unwrap();
    s.collect();
    let req_i = s.wire.iter().position(|w| w.to_responder).unwrap();
    let req_i = s.wire.remove(req_i).unwrap();
    let req_r = s.wire.pop_front().unwrap();
    assert!(s.wire.is_empty() && !req_r.to_responder);
    s.r.handle(s.now, req_i.t.remote, req_i.t.local, &req_i.t.payload);
    s.collect();
    let resp = s.wire.pop_front().unwrap();
    s.i.handle(s.now, resp.t.remote, resp.t.local, &resp.t.payload);
    s.i.handle(s.now, req_r.t.remote, req_r.t.local, &req_r.t.payload);
    s.run_for(Duration::from_secs(2));
    assert_eq!(s.i.counters().rekey_collisions, 0);
    assert!(
        s.ev_r.iter().any(|e| matches!(
            e,
            Event::ChildSaFailed {
                failure: Failure::Notified(n),
                ..
            } if *n == ikev2::consts::NotifyType::TEMPORARY_FAILURE
        )),
        "{:?}",
        s.ev_r
    );
    let (li, lr) = (live_children(&s.ev_i), live_children(&s.ev_r));
    assert_eq!((li.len(), lr.len()), (1, 1));
    assert_pair(li[0], lr[0]);
}

fn sa_id(ev: &[Event]) -> u64 {
    ev.iter()
        .rev()
        .find_map(|e| match e {
            Event::IkeSaUp { sa, .. } => Some(*sa),
            Event::IkeSaRekeyed { new, .. } => Some(*new),
            _ => None,
        })
        .unwrap()
}

fn rekey_ike_from(initiator_side: bool) {
    let (mut s, _) = established_psk(Mode::Transport);
    let (a, b) = (sa_id(&s.ev_i), sa_id(&s.ev_r));
    if initiator_side {
        s.i.rekey_ike(s.now, a).unwrap();
    } else {
        s.r.rekey_ike(s.now, b).unwrap();
    }
    s.run_for(Duration::from_secs(1));
    let rekeyed = |ev: &[Event]| ev.iter().any(|e| matches!(e, Event::IkeSaRekeyed { .. }));
    assert!(
        rekeyed(&s.ev_i) && rekeyed(&s.ev_r),
        "{:?} / {:?}",
        s.ev_i,
        s.ev_r
    );
    // The old IKE SAs are gone; the Child SA lives on under the new ones.
    assert_eq!(s.i.sa_count(), 2); // new + old lingering dead
    let (na, nb) = (sa_id(&s.ev_i), sa_id(&s.ev_r));
    assert_eq!(s.i.child_spis(na).len(), 1);
    assert_eq!(s.r.child_spis(nb).len(), 1);
    // A Child SA rekey works over the new IKE SA (new keys, Message IDs).
    let spi = s.i.child_spis(na)[0];
    s.i.rekey_child(s.now, na, spi).unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(child_ups(&s.ev_i).len(), 2);
    assert_pair(child_ups(&s.ev_i)[1], child_ups(&s.ev_r)[1]);
    // And the new IKE SA can be deleted.
    s.i.delete_ike(s.now, na).unwrap();
    s.run_for(Duration::from_secs(1));
    assert!(s.ev_r.iter().any(
        |e| matches!(e, Event::IkeSaDown { sa, reason: DownReason::DeletedByPeer, .. } if *sa == nb)
    ));
}

#[test]
fn ike_sa_rekey_started_by_the_initiator() {
    rekey_ike_from(true);
}

#[test]
fn ike_sa_rekey_started_by_the_responder() {
    rekey_ike_from(false);
}

#[test]
fn delete_is_honoured_by_the_peer() {
    let (mut s, id) = established_psk(Mode::Transport);
    let c = child_ups(&s.ev_r)[0].clone();
    s.i.delete_ike(s.now, id).unwrap();
    s.run_for(Duration::from_secs(1));
    assert!(s.ev_r.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
    assert!(s
        .ev_r
        .iter()
        .any(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == c.spi_in)));
    assert!(s.ev_i.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::DeletedLocally,
            ..
        }
    )));
}

#[test]
fn child_delete_from_the_responder() {
    let (mut s, _) = established_psk(Mode::Transport);
    let c = child_ups(&s.ev_r)[0].clone();
    let id_r = sa_id(&s.ev_r);
    s.r.delete_child(s.now, id_r, c.spi_in).unwrap();
    s.run_for(Duration::from_secs(1));
    assert!(s
        .ev_i
        .iter()
        .any(|e| matches!(e, Event::ChildSaDeleted { spi_out, .. } if *spi_out == c.spi_in)));
    assert!(s
        .ev_r
        .iter()
        .any(|e| matches!(e, Event::ChildSaDeleted { spi_in, .. } if *spi_in == c.spi_in)));
    assert!(s.i.child_spis(sa_id(&s.ev_i)).is_empty());
}

#[test]
fn authorization_end_deletes_the_ike_sa_and_bounds_the_child_lifetime() {
    let mut s = Sim::new(Config::default(), Config::default());
    let mut e = psk_entry(s.now, psk(), Mode::Transport);
    e.not_after = s.now + Duration::from_secs(30);
    s.r.authorize_peer(e);
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    assert!(child_ups(&s.ev_r)[0].lifetime <= Duration::from_secs(30));
    s.run_for(Duration::from_secs(40));
    assert!(
        s.ev_r.iter().any(|e| matches!(
            e,
            Event::IkeSaDown {
                reason: DownReason::Expired,
                ..
            }
        )),
        "{:?}",
        s.ev_r
    );
    assert!(s.ev_i.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
}

#[test]
fn revoking_a_peer_deletes_its_sas() {
    let (mut s, _) = established_psk(Mode::Transport);
    assert_eq!(s.r.revoke_peer(s.now, &key_id(b"kid-1")), 1);
    s.run_for(Duration::from_secs(1));
    assert!(s.ev_i.iter().any(|e| matches!(
        e,
        Event::IkeSaDown {
            reason: DownReason::DeletedByPeer,
            ..
        }
    )));
}

#[test]
fn liveness_check_is_answered() {
    let (mut s, id) = established_psk(Mode::Transport);
    let before = s.log.len();
    s.i.check_liveness(s.now, id).unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(s.log.len(), before + 2);
    assert!(!s.ev_i.iter().any(|e| matches!(e, Event::IkeSaDown { .. })));
}

#[test]
fn minimal_profile_uses_one_proposal_and_smaller_messages() {
    let full = established_psk(Mode::Transport).0.log;
    let cfg = Config {
        minimal: true,
        always_encap: false,
        ..Config::default()
    };
    let mut s = Sim::new(cfg, Config::default());
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(1));
    assert_eq!(child_ups(&s.ev_i).len(), 1);
    let min = s.log;
    let total = |l: &[(bool, usize)]| l.iter().map(|x| x.1).sum::<usize>();
    assert!(
        min[0].1 < full[0].1 && min[2].1 < full[2].1,
        "{min:?} vs {full:?}"
    );
    assert!(total(&min) < total(&full));
    // No NAT detection: no encapsulation, IKE stays on port 500.
    assert!(!child_ups(&s.ev_i)[0].encap);
}

#[test]
fn cookie_flood_keeps_state_bounded_and_a_legitimate_client_completes() {
    let cr = Config {
        cookie_threshold: 16,
        ..Config::default()
    };
    let mut s = Sim::new(Config::default(), cr);
    s.r.authorize_peer(psk_entry(s.now, psk(), Mode::Transport));
    // A flood of IKE_SA_INIT requests from one address with many ports
    // (replayed copies of a real request with fresh SPIs).
    let mut flood = Endpoint::new(Config::default()).unwrap();
    flood
        .initiate(
            s.now,
            SocketAddr::new(Ipv4Addr::new(10, 9, 9, 9).into(), 500),
            r_addr(),
            psk_params(psk(), Mode::Transport),
        )
        .unwrap();
    let req = flood.poll_transmit().unwrap().payload;
    for n in 0..100_000u32 {
        let mut m = req.clone();
        m[..4].copy_from_slice(&n.to_be_bytes());
        let from = SocketAddr::new(
            Ipv4Addr::new(10, 9, 9, 9).into(),
            1024 + (n % 60_000) as u16,
        );
        s.r.handle(s.now, r_addr(), from, &m);
        while s.r.poll_transmit().is_some() {}
    }
    // State stays bounded: at most the cookie threshold of half-open SAs,
    // every other request answered statelessly with a COOKIE.
    assert!(s.r.half_open() <= 16);
    assert!(s.r.sa_count() <= 16);
    assert!(s.r.counters().cookies_sent > 99_000);
    // The legitimate client gets a cookie and completes.
    s.i.initiate(
        s.now,
        i_addr(),
        r_addr(),
        psk_params(psk(), Mode::Transport),
    )
    .unwrap();
    s.run_for(Duration::from_secs(2));
    assert_eq!(child_ups(&s.ev_i).len(), 1, "{:?}", s.ev_i);
    // Half-open SAs of the flood expire.
    s.run_for(Duration::from_secs(30));
    assert_eq!(s.r.half_open(), 0);
}

#[test]
fn an_initiator_bound_by_its_authorization_does_not_rekey_into_it() {
    // The ACE case: the Child SA's lifetime (600 s) is longer than what the
    // token leaves (60 s): no rekey, and at the end both sides delete.
    let mut s = Sim::new(Config::default(), Config::default());
    let mut e = psk_entry(s.now, psk(), Mode::Transport);
    e.not_after = s.now + Duration::from_secs(60);
    e.child.lifetime = Duration::from_secs(600);
    s.r.authorize_peer(e);
    let mut p = psk_params(psk(), Mode::Transport);
    p.not_after = Some(s.now + Duration::from_secs(60));
    p.child.lifetime = Duration::from_secs(600);
    s.i.initiate(s.now, i_addr(), r_addr(), p).unwrap();
    s.run_for(Duration::from_secs(120));
    assert_eq!(child_ups(&s.ev_i).len(), 1, "no rekey: {:?}", s.ev_i);
    assert!(s.ev_i.iter().any(|e| matches!(e, Event::IkeSaDown { .. })));
    assert!(s.ev_r.iter().any(|e| matches!(e, Event::IkeSaDown { .. })));
    assert_eq!(s.i.counters().stuck_timers + s.r.counters().stuck_timers, 0);
}

#[test]
fn child_sas_are_rekeyed_before_their_lifetime_ends() {
    let mut s = Sim::new(Config::default(), Config::default());
    let mut e = psk_entry(s.now, psk(), Mode::Transport);
    e.child.lifetime = Duration::from_secs(100);
    s.r.authorize_peer(e);
    let mut p = psk_params(psk(), Mode::Transport);
    p.child.lifetime = Duration::from_secs(100);
    s.i.initiate(s.now, i_addr(), r_addr(), p).unwrap();
    s.run_for(Duration::from_secs(250));
    // Rekeyed at 90 s and 180 s, the old pairs deleted.
    let ups = child_ups(&s.ev_i);
    assert_eq!(ups.len(), 3, "{:?}", s.ev_i);
    assert!(ups[1].rekeyed_from.is_some() && ups[2].rekeyed_from.is_some());
    assert_eq!(s.i.counters().stuck_timers + s.r.counters().stuck_timers, 0);
}
