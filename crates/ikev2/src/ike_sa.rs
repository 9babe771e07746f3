//! One IKE SA (RFC 7296): its typed states, its exchanges, its Child SAs.
//!
//! ```text
//! initiator:  InitSent --IKE_SA_INIT resp--> AuthSent --IKE_AUTH resp--> Established
//! responder:  (IKE_SA_INIT handled by the endpoint) InitDone --IKE_AUTH req--> Established
//! Established: CREATE_CHILD_SA (Child SA rekey, IKE SA rekey), INFORMATIONAL
//!              (DELETE, liveness) both ways, window size 1.
//! ```
//!
//! A state is a value of its own type holding exactly what that state
//! needs; a message that does not fit the state is refused and leaves the
//! state as it was. No I/O, no clock: the endpoint passes `now` in, and
//! takes [`Transmit`]s and [`Event`]s out.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::auth::{psk_auth, signed_octets, verify_psk_auth, Role};
use crate::config::{ChildPolicy, Config, Credential, InitiatorParams, Mode, PeerAuth};
use crate::consts::{
    AuthMethod, CertEncoding, DhGroup, ExchangeType, HashAlgorithm, NotifyType, PayloadType,
    ProtocolId,
};
use crate::crypto::{sign_auth, verify_auth, DhPrivate, P256PublicKey, Reassembler, SkCrypter};
use crate::error::IkeError;
use crate::event::{ChildSa, Counters, DownReason, Event, Failure, IkeSaId, Transmit};
use crate::header::{HeaderRepr, IkeSpi};
use crate::keys::{ChildSaKeys, IkeSaKeys, SkeySeed};
use crate::payload::{
    AuthRepr, CertRepr, DeleteRepr, IdRepr, KeRepr, NonceRepr, NotifyRepr, Payload, SaRepr,
    TrafficSelector, TsRepr,
};
use crate::prf::Prf;
use crate::proposal::{self, ChildSuite, IkeSuite};
use crate::selectors;
use crate::util::{nat_hash, random_nonce, random_spi_u32};

/// Outputs of a step: the endpoint drains them.
#[derive(Debug, Default)]
pub(crate) struct Outputs {
    pub transmits: VecDeque<Transmit>,
    pub events: VecDeque<Event>,
    pub counters: Counters,
}

/// The keys of an established (or half-established) IKE SA.
pub(crate) struct Keys {
    pub suite: IkeSuite,
    pub prf: Prf,
    pub sk: IkeSaKeys,
    pub out: SkCrypter,
    pub inn: SkCrypter,
}

impl Keys {
    /// RFC 7296 §2.14 for `role` (the original initiator or responder of
    /// this IKE SA).
    pub fn derive(
        suite: IkeSuite,
        seed: &SkeySeed,
        ni: &[u8],
        nr: &[u8],
        spi_i: &IkeSpi,
        spi_r: &IkeSpi,
        role: Role,
    ) -> Result<Self, IkeError> {
        let prf = suite.prf().ok_or(IkeError::Unsupported("PRF"))?;
        let cipher = suite.cipher().ok_or(IkeError::Unsupported("IKE cipher"))?;
        let sk = IkeSaKeys::derive(prf, seed, &cipher, ni, nr, spi_i, spi_r)?;
        let (out, inn) = match role {
            Role::Initiator => (
                SkCrypter::new(&cipher, &sk.sk_ei, &sk.sk_ai)?,
                SkCrypter::new(&cipher, &sk.sk_er, &sk.sk_ar)?,
            ),
            Role::Responder => (
                SkCrypter::new(&cipher, &sk.sk_er, &sk.sk_ar)?,
                SkCrypter::new(&cipher, &sk.sk_ei, &sk.sk_ai)?,
            ),
        };
        Ok(Keys {
            suite,
            prf,
            sk,
            out,
            inn,
        })
    }
}

/// Initiator, IKE_SA_INIT request sent.
pub(crate) struct InitSent {
    params: InitiatorParams,
    suites: Vec<IkeSuite>,
    dh: DhPrivate,
    ni: Vec<u8>,
    cookie: Option<Vec<u8>>,
    msg1: Vec<u8>,
    child_spi: u32,
    /// Our NAT_DETECTION_SOURCE_IP is deliberately wrong (always_encap).
    faked_natd: bool,
}

/// Initiator, IKE_AUTH request sent.
pub(crate) struct AuthSent {
    params: InitiatorParams,
    keys: Keys,
    ni: Vec<u8>,
    nr: Vec<u8>,
    msg2: Vec<u8>,
    child_spi: u32,
}

/// Responder, IKE_SA_INIT answered, waiting for IKE_AUTH.
pub(crate) struct InitDone {
    pub keys: Keys,
    pub ni: Vec<u8>,
    pub nr: Vec<u8>,
    pub msg1: Vec<u8>,
    pub msg2: Vec<u8>,
    pub deadline: Instant,
}

/// What an established IKE SA knows of its peer.
#[derive(Clone)]
pub(crate) struct PeerInfo {
    pub policy: ChildPolicy,
    pub not_after: Option<Instant>,
}

/// One Child SA pair as the IKE SA remembers it.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub protocol: ProtocolId,
    pub suite: ChildSuite,
    pub mode: Mode,
    pub spi_in: u32,
    pub spi_out: u32,
    pub local_ts: Vec<TrafficSelector>,
    pub remote_ts: Vec<TrafficSelector>,
    /// When we start a rekey (`None`: never, e.g. the responder, or
    /// bounded by the authorization).
    pub rekey_at: Option<Instant>,
    /// Replaced by a rekey; waiting for its DELETE.
    pub rekeyed: bool,
    /// The peer's rekey of this SA that we answered: the SA it created
    /// (our inbound SPI) and that exchange's nonces (Ni, Nr), to settle a
    /// collision with our own rekey (RFC 7296 §2.8.1).
    pub peer_rekey: Option<(u32, Vec<u8>, Vec<u8>)>,
}

/// How long a peer with our retransmission timers keeps retransmitting a
/// request (all tries plus one second), at most two minutes.
fn peer_retransmit_span(cfg: &Config) -> Duration {
    let tries = cfg.retransmit_tries.min(16);
    let span = cfg
        .retransmit_base
        .saturating_mul((1u32 << (tries + 1)).saturating_sub(1));
    (span + Duration::from_secs(1)).min(Duration::from_secs(120))
}

/// A Child SA we negotiated and will not use: it is remembered only so
/// that its DELETE names it (and its protocol), and is never reported.
fn close_unused_child(e: &mut Established, suite: ChildSuite, spi_in: u32, spi_out: u32) {
    e.children.push(Child {
        protocol: suite.protocol,
        suite,
        mode: Mode::Tunnel,
        spi_in,
        spi_out,
        local_ts: Vec::new(),
        remote_ts: Vec::new(),
        rekey_at: None,
        rekeyed: true,
        peer_rekey: None,
    });
    e.pending.push_back(Pending::DeleteChild(vec![spi_in]));
}

/// RFC 7296 §2.8.1: of two simultaneous rekeys of one SA, the SA created
/// by the exchange holding the lowest of the four nonces (compared octet
/// by octet) is redundant. True when that is the exchange (`ni`, `nr`).
pub(crate) fn lowest_nonce_is_in(ni: &[u8], nr: &[u8], other_ni: &[u8], other_nr: &[u8]) -> bool {
    ni.min(nr) < other_ni.min(other_nr)
}

/// A request of ours, queued or in flight.
pub(crate) enum Req {
    Init,
    Auth,
    RekeyChild {
        old_spi_in: u32,
        new_spi_in: u32,
        suite: ChildSuite,
        ni: Vec<u8>,
        dh: Option<DhPrivate>,
    },
    RekeyIke {
        new_spi: IkeSpi,
        ni: Vec<u8>,
        dh: DhPrivate,
    },
    DeleteChild {
        spis_in: Vec<u32>,
    },
    DeleteIke,
    Liveness,
}

/// A request to start once the window is free.
pub(crate) enum Pending {
    RekeyChild(u32),
    RekeyIke,
    DeleteChild(Vec<u32>),
    DeleteIke(DownReason),
    Liveness,
}

/// Established.
pub(crate) struct Established {
    pub keys: Keys,
    pub peer: PeerInfo,
    pub children: Vec<Child>,
    pub pending: VecDeque<Pending>,
    pub last_heard: Instant,
    pub rekey_ike_at: Option<Instant>,
    /// Why we are deleting the IKE SA, once a DeleteIke is under way.
    pub closing: Option<DownReason>,
}

pub(crate) enum State {
    InitSent(Box<InitSent>),
    AuthSent(Box<AuthSent>),
    InitDone(Box<InitDone>),
    Established(Box<Established>),
    /// Gone; kept until `until` so that a retransmitted request still gets
    /// its cached answer.
    Dead {
        until: Instant,
    },
}

struct InFlight {
    msg_id: u32,
    datagrams: Vec<Vec<u8>>,
    tries: u32,
    next_at: Instant,
    req: Req,
}

/// RFC 7296 §2.1-§2.3: message IDs, window size 1, retransmission and the
/// response cache.
#[derive(Default)]
struct Window {
    next_req_id: u32,
    inflight: Option<InFlight>,
    peer_next_id: u32,
    last_resp: Option<(u32, Vec<Vec<u8>>)>,
    reassembly: Option<(u32, bool, Reassembler)>,
}

/// One IKE SA.
pub(crate) struct IkeSa {
    pub id: IkeSaId,
    pub role: Role,
    pub spi_i: IkeSpi,
    pub spi_r: IkeSpi,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub peer_natt_port: u16,
    pub encap: bool,
    pub frag: bool,
    pub peer_sig_sha256: bool,
    pub tag: u64,
    pub state: State,
    win: Window,
    /// Stays counted among the endpoint's half-open SAs.
    pub half_open: bool,
    /// IKE moved to the NAT-T port (RFC 7296 §2.23).
    pub floated: bool,
    /// The peer's address when IKE_SA_INIT arrived (the endpoint's
    /// retransmission index).
    pub init_remote: SocketAddr,
}

fn notify(t: NotifyType, data: Vec<u8>) -> Payload {
    Payload::Notify(NotifyRepr::new(t, data))
}

fn find<T>(payloads: &[Payload], f: impl Fn(&Payload) -> Option<&T>) -> Option<&T> {
    payloads.iter().find_map(f)
}

fn notifies(payloads: &[Payload]) -> impl Iterator<Item = &NotifyRepr> {
    payloads.iter().filter_map(|p| match p {
        Payload::Notify(n) => Some(n),
        _ => None,
    })
}

fn has_notify(payloads: &[Payload], t: NotifyType) -> bool {
    notifies(payloads).any(|n| n.notify_type == t)
}

fn first_error(payloads: &[Payload]) -> Option<NotifyType> {
    notifies(payloads)
        .map(|n| n.notify_type)
        .find(|t| t.is_error())
}

fn sa_of(p: &[Payload]) -> Option<&SaRepr> {
    find(p, |x| match x {
        Payload::Sa(s) => Some(s),
        _ => None,
    })
}
fn ke_of(p: &[Payload]) -> Option<&KeRepr> {
    find(p, |x| match x {
        Payload::Ke(s) => Some(s),
        _ => None,
    })
}
fn nonce_of(p: &[Payload]) -> Option<&NonceRepr> {
    find(p, |x| match x {
        Payload::Nonce(s) => Some(s),
        _ => None,
    })
}
fn tsi_of(p: &[Payload]) -> Option<&TsRepr> {
    find(p, |x| match x {
        Payload::TsI(s) => Some(s),
        _ => None,
    })
}
fn tsr_of(p: &[Payload]) -> Option<&TsRepr> {
    find(p, |x| match x {
        Payload::TsR(s) => Some(s),
        _ => None,
    })
}
fn auth_of(p: &[Payload]) -> Option<&AuthRepr> {
    find(p, |x| match x {
        Payload::Auth(s) => Some(s),
        _ => None,
    })
}
fn raw_key_cert(p: &[Payload]) -> Option<&CertRepr> {
    find(p, |x| match x {
        Payload::Cert(c) if c.encoding == CertEncoding::RAW_PUBLIC_KEY => Some(c),
        _ => None,
    })
}

/// The AUTH payload for `cred` over `octets` (RFC 7296 §2.15, RFC 7427,
/// RFC 4754).
fn make_auth(
    prf: Prf,
    cred: &Credential,
    octets: &[u8],
    sig_method: AuthMethod,
) -> Result<AuthRepr, IkeError> {
    Ok(match cred {
        Credential::Psk(k) => AuthRepr {
            method: AuthMethod::SHARED_KEY_MIC,
            data: psk_auth(prf, k.as_bytes(), octets).as_bytes().to_vec(),
        },
        Credential::P256(key) => AuthRepr {
            method: sig_method,
            data: sign_auth(sig_method, key, octets)?,
        },
    })
}

/// Checks the peer's AUTH (and a raw-key CERT, if sent, against the key we
/// expect): `false` is AUTHENTICATION_FAILED.
fn check_auth(
    prf: Prf,
    expected: &PeerAuth,
    auth: &AuthRepr,
    cert: Option<&CertRepr>,
    octets: &[u8],
) -> bool {
    match expected {
        PeerAuth::Psk(k) => {
            auth.method == AuthMethod::SHARED_KEY_MIC
                && verify_psk_auth(prf, k.as_bytes(), octets, &auth.data)
        }
        PeerAuth::P256(key) => {
            if let Some(c) = cert {
                match P256PublicKey::from_spki_der(&c.data) {
                    Ok(k) if k.to_xy() == key.to_xy() => {}
                    _ => return false,
                }
            }
            matches!(
                auth.method,
                AuthMethod::ECDSA_SHA256_P256 | AuthMethod::DIGITAL_SIGNATURE
            ) && verify_auth(auth.method, key, octets, &auth.data).is_ok()
        }
    }
}

fn cert_payload(cred: &Credential, cfg: &Config) -> Option<Payload> {
    match cred {
        Credential::P256(k) if cfg.send_raw_key_cert => Some(Payload::Cert(CertRepr {
            encoding: CertEncoding::RAW_PUBLIC_KEY,
            data: k.public_key().spki_der(),
        })),
        _ => None,
    }
}

/// RFC 7427 §4: the SIGNATURE_HASH_ALGORITHMS data we announce (SHA2-256).
fn sig_hash_data() -> Vec<u8> {
    HashAlgorithm::SHA2_256.0.to_be_bytes().to_vec()
}

fn announces_sha256(payloads: &[Payload]) -> bool {
    notifies(payloads)
        .filter(|n| n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS)
        .any(|n| {
            n.data
                .chunks_exact(2)
                .any(|c| c == HashAlgorithm::SHA2_256.0.to_be_bytes())
        })
}

impl IkeSa {
    /// The peer's address when IKE_SA_INIT arrived.
    pub fn remote_at_init(&self) -> SocketAddr {
        self.init_remote
    }

    /// The SPI that identifies this SA at our end.
    pub fn local_spi(&self) -> IkeSpi {
        match self.role {
            Role::Initiator => self.spi_i,
            Role::Responder => self.spi_r,
        }
    }

    fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> HeaderRepr {
        HeaderRepr {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            next_payload: PayloadType::NONE,
            exchange_type: exchange,
            initiator: self.role == Role::Initiator,
            response,
            version_flag: false,
            message_id,
            length: 0,
        }
    }

    fn transmit(&self, payload: Vec<u8>) -> Transmit {
        Transmit {
            local: self.local,
            remote: self.remote,
            non_esp_marker: self.floated,
            payload,
        }
    }

    /// The signature method for our AUTH: RFC 7427 when the peer announced
    /// SHA2-256, else RFC 4754.
    fn sig_method(&self, cfg: &Config) -> AuthMethod {
        cfg.signature_method.unwrap_or(if self.peer_sig_sha256 {
            AuthMethod::DIGITAL_SIGNATURE
        } else {
            AuthMethod::ECDSA_SHA256_P256
        })
    }

    fn seal(
        &mut self,
        cfg: &Config,
        hdr: &HeaderRepr,
        payloads: &[Payload],
    ) -> Result<Vec<Vec<u8>>, IkeError> {
        let frag = self.frag;
        let keys = self.keys_mut().ok_or(IkeError::WrongState)?;
        let whole = keys.out.seal_message(hdr, payloads)?;
        if frag && whole.len() > cfg.fragment_mtu {
            Ok(keys.out.seal_fragments(hdr, payloads, cfg.fragment_mtu)?)
        } else {
            Ok(vec![whole])
        }
    }

    fn keys(&self) -> Option<&Keys> {
        match &self.state {
            State::AuthSent(s) => Some(&s.keys),
            State::InitDone(s) => Some(&s.keys),
            State::Established(s) => Some(&s.keys),
            _ => None,
        }
    }

    fn keys_mut(&mut self) -> Option<&mut Keys> {
        match &mut self.state {
            State::AuthSent(s) => Some(&mut s.keys),
            State::InitDone(s) => Some(&mut s.keys),
            State::Established(s) => Some(&mut s.keys),
            _ => None,
        }
    }

    fn send_request(
        &mut self,
        cfg: &Config,
        now: Instant,
        req: Req,
        datagrams: Vec<Vec<u8>>,
        out: &mut Outputs,
    ) {
        let msg_id = self.win.next_req_id;
        self.win.next_req_id = self.win.next_req_id.wrapping_add(1);
        for d in &datagrams {
            out.transmits.push_back(self.transmit(d.clone()));
        }
        self.win.inflight = Some(InFlight {
            msg_id,
            datagrams,
            tries: 0,
            next_at: now + cfg.retransmit_base,
            req,
        });
    }

    fn send_response(&mut self, msg_id: u32, datagrams: Vec<Vec<u8>>, out: &mut Outputs) {
        for d in &datagrams {
            out.transmits.push_back(self.transmit(d.clone()));
        }
        self.win.last_resp = Some((msg_id, datagrams));
    }

    /// The earliest instant this SA needs [`IkeSa::on_timeout`].
    pub fn next_deadline(&self) -> Option<Instant> {
        let mut t: Option<Instant> = self.win.inflight.as_ref().map(|f| f.next_at);
        let mut consider = |x: Option<Instant>| {
            if let Some(x) = x {
                t = Some(t.map_or(x, |y| y.min(x)));
            }
        };
        match &self.state {
            State::InitDone(s) => consider(Some(s.deadline)),
            State::Dead { until } => consider(Some(*until)),
            // Once closing, only the DELETE's retransmissions count.
            State::Established(e) if e.closing.is_none() => {
                consider(e.peer.not_after);
                consider(e.rekey_ike_at);
                for c in &e.children {
                    consider(c.rekey_at);
                }
            }
            _ => {}
        }
        t
    }

    pub fn is_dead(&self) -> bool {
        matches!(self.state, State::Dead { .. })
    }

    fn die(&mut self, now: Instant, linger: Duration) {
        self.win.inflight = None;
        self.state = State::Dead {
            until: now + linger,
        };
    }

    /// Reports every Child SA as deleted and the IKE SA as down.
    fn tear_down(&mut self, now: Instant, reason: DownReason, out: &mut Outputs) {
        self.tear_down_for(now, reason, Duration::from_secs(5), out);
    }

    /// [`Self::tear_down`], keeping the dead SA (and its cached last
    /// response) for `linger`.
    fn tear_down_for(
        &mut self,
        now: Instant,
        reason: DownReason,
        linger: Duration,
        out: &mut Outputs,
    ) {
        if let State::Established(e) = &self.state {
            for c in &e.children {
                out.events.push_back(Event::ChildSaDeleted {
                    sa: self.id,
                    tag: self.tag,
                    spi_in: c.spi_in,
                    spi_out: c.spi_out,
                });
            }
            out.events.push_back(Event::IkeSaDown {
                sa: self.id,
                tag: self.tag,
                reason,
            });
        }
        self.die(now, linger);
    }

    fn fail(&mut self, now: Instant, failure: Failure, out: &mut Outputs) {
        out.events.push_back(Event::Failed {
            sa: self.id,
            tag: self.tag,
            remote: self.remote,
            failure,
        });
        self.die(now, Duration::from_secs(5));
    }

    /// Timers: retransmission, half-open expiry, rekeys, the peer's
    /// authorization ending.
    pub fn on_timeout(&mut self, cfg: &Config, now: Instant, out: &mut Outputs) {
        if let State::Dead { .. } = self.state {
            return;
        }
        if let State::InitDone(s) = &self.state {
            if now >= s.deadline {
                out.counters.half_open_expired += 1;
                self.fail(now, Failure::HalfOpenExpired, out);
                return;
            }
        }
        // Retransmission (RFC 7296 §2.1): the initiator of an exchange
        // retransmits until it gets the answer, then gives up the SA.
        let mut resend = None;
        let mut give_up = false;
        if let Some(f) = &mut self.win.inflight {
            if now >= f.next_at {
                if f.tries >= cfg.retransmit_tries {
                    give_up = true;
                } else {
                    f.tries += 1;
                    let backoff = cfg.retransmit_base.saturating_mul(1u32 << f.tries.min(16));
                    f.next_at = now + backoff;
                    resend = Some(f.datagrams.clone());
                }
            }
        }
        if give_up {
            out.counters.timeouts += 1;
            match self.state {
                State::Established(_) => self.tear_down(now, DownReason::Timeout, out),
                _ => self.fail(now, Failure::Timeout, out),
            }
            return;
        }
        if let Some(ds) = resend {
            out.counters.retransmits += 1;
            for d in ds {
                out.transmits.push_back(self.transmit(d));
            }
        }
        // Established: authorization end, IKE SA rekey, Child SA rekeys.
        let mut queue = Vec::new();
        if let State::Established(e) = &mut self.state {
            if e.closing.is_none() {
                if e.peer.not_after.is_some_and(|t| now >= t) {
                    e.closing = Some(DownReason::Expired);
                    queue.push(Pending::DeleteIke(DownReason::Expired));
                } else {
                    if e.rekey_ike_at.is_some_and(|t| now >= t) {
                        e.rekey_ike_at = None;
                        queue.push(Pending::RekeyIke);
                    }
                    for c in &mut e.children {
                        if c.rekey_at.is_some_and(|t| now >= t) && !c.rekeyed {
                            c.rekey_at = None;
                            queue.push(Pending::RekeyChild(c.spi_in));
                        }
                    }
                }
            }
            e.pending.extend(queue);
        }
        self.pump(cfg, now, out);
    }

    // -----------------------------------------------------------------
    // Initiator
    // -----------------------------------------------------------------

    /// A new initiator SA: sends IKE_SA_INIT.
    #[allow(clippy::too_many_arguments)]
    pub fn new_initiator(
        id: IkeSaId,
        cfg: &Config,
        now: Instant,
        spi_i: IkeSpi,
        local: SocketAddr,
        remote: SocketAddr,
        params: InitiatorParams,
        out: &mut Outputs,
    ) -> Result<Self, IkeError> {
        let suites: Vec<IkeSuite> = if cfg.minimal {
            cfg.ike_suites.iter().take(1).copied().collect()
        } else {
            cfg.ike_suites.clone()
        };
        let first = suites
            .first()
            .ok_or(IkeError::Unsupported("no IKE suite configured"))?;
        let dh = DhPrivate::generate(first.dh)?;
        let ni = random_nonce()?;
        let child_spi = random_spi_u32()?;
        let mut sa = IkeSa {
            id,
            role: Role::Initiator,
            spi_i,
            spi_r: [0; 8],
            local,
            remote,
            peer_natt_port: params.peer_natt_port,
            encap: false,
            frag: false,
            peer_sig_sha256: false,
            tag: params.tag,
            state: State::Dead { until: now },
            win: Window::default(),
            half_open: false,
            floated: false,
            init_remote: remote,
        };
        let mut st = InitSent {
            params,
            suites,
            dh,
            ni,
            cookie: None,
            msg1: Vec::new(),
            child_spi,
            faked_natd: cfg.always_encap && !cfg.minimal,
        };
        st.msg1 = sa.init_request(cfg, &st)?;
        let m = st.msg1.clone();
        sa.state = State::InitSent(Box::new(st));
        sa.send_request(cfg, now, Req::Init, vec![m], out);
        Ok(sa)
    }

    fn init_request(&self, cfg: &Config, st: &InitSent) -> Result<Vec<u8>, IkeError> {
        let mut p = Vec::with_capacity(8);
        if let Some(c) = &st.cookie {
            p.push(notify(NotifyType::COOKIE, c.clone()));
        }
        p.push(Payload::Sa(proposal::ike_sa_payload(&st.suites, &[])));
        p.push(Payload::Ke(KeRepr {
            group: st.dh.group(),
            data: st.dh.public_key().to_vec(),
        }));
        p.push(Payload::Nonce(NonceRepr {
            data: st.ni.clone(),
        }));
        if !cfg.minimal {
            let src = if st.faked_natd {
                random_nonce()?.get(..20).unwrap_or(&[]).to_vec()
            } else {
                nat_hash(&self.spi_i, &[0; 8], self.local)
            };
            p.push(notify(NotifyType::NAT_DETECTION_SOURCE_IP, src));
            p.push(notify(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(&self.spi_i, &[0; 8], self.remote),
            ));
            if cfg.fragmentation {
                p.push(notify(
                    NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                    Vec::new(),
                ));
            }
            p.push(notify(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                sig_hash_data(),
            ));
        }
        let msg = crate::message::MessageRepr {
            header: self.header(ExchangeType::IKE_SA_INIT, false, 0),
            payloads: p,
        };
        Ok(msg.emit()?)
    }

    /// The IKE_SA_INIT response, unencrypted.
    pub fn on_init_response(
        &mut self,
        cfg: &Config,
        now: Instant,
        spi_r: IkeSpi,
        raw: &[u8],
        payloads: Vec<Payload>,
        out: &mut Outputs,
    ) {
        let State::InitSent(mut st) =
            std::mem::replace(&mut self.state, State::Dead { until: now })
        else {
            out.counters.unexpected_message += 1;
            return;
        };
        match self.init_response_step(cfg, now, spi_r, raw, &payloads, &mut st, out) {
            Ok(Some(next)) => self.state = next,
            Ok(None) => self.state = State::InitSent(st),
            Err(failure) => {
                self.state = State::InitSent(st);
                self.fail(now, failure, out);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn init_response_step(
        &mut self,
        cfg: &Config,
        now: Instant,
        spi_r: IkeSpi,
        raw: &[u8],
        payloads: &[Payload],
        st: &mut InitSent,
        out: &mut Outputs,
    ) -> Result<Option<State>, Failure> {
        let invalid = Failure::Invalid;
        // RFC 7296 §2.6: retry with the cookie as the first payload.
        if let Some(c) = notifies(payloads).find(|n| n.notify_type == NotifyType::COOKIE) {
            // A repeat (a duplicated datagram, or the answer to a
            // retransmission of our first request) or a malformed one (the
            // message is unauthenticated: anyone may send it) changes
            // nothing: the exchange goes on.
            if st.cookie.as_deref() == Some(c.data.as_slice()) {
                out.counters.unexpected_message += 1;
                return Ok(None);
            }
            if c.data.is_empty() || c.data.len() > 64 {
                out.counters.malformed += 1;
                return Ok(None);
            }
            st.cookie = Some(c.data.clone());
            st.msg1 = self
                .init_request(cfg, st)
                .map_err(|_| invalid("cannot emit"))?;
            self.restart_init(cfg, now, st.msg1.clone(), out);
            return Ok(None);
        }
        // RFC 7296 §1.2: retry with the group the responder wants.
        if let Some(n) =
            notifies(payloads).find(|n| n.notify_type == NotifyType::INVALID_KE_PAYLOAD)
        {
            let group = <[u8; 2]>::try_from(n.data.as_slice())
                .map(|b| DhGroup(u16::from_be_bytes(b)))
                .map_err(|_| invalid("INVALID_KE_PAYLOAD without a group"))?;
            if group == st.dh.group() || !st.suites.iter().any(|s| s.dh == group) {
                return Err(Failure::Notified(NotifyType::INVALID_KE_PAYLOAD));
            }
            st.dh = DhPrivate::generate(group).map_err(|_| invalid("D-H group"))?;
            st.msg1 = self
                .init_request(cfg, st)
                .map_err(|_| invalid("cannot emit"))?;
            self.restart_init(cfg, now, st.msg1.clone(), out);
            return Ok(None);
        }
        if let Some(e) = first_error(payloads) {
            return Err(if e == NotifyType::NO_PROPOSAL_CHOSEN {
                Failure::NoProposalChosen
            } else {
                Failure::Notified(e)
            });
        }
        if spi_r == [0; 8] {
            return Err(invalid("IKE_SA_INIT response with SPIr 0"));
        }
        let sa = sa_of(payloads).ok_or(invalid("no SA payload"))?;
        let (suite, _) = proposal::accepted_ike(sa, &st.suites).ok_or(Failure::NoProposalChosen)?;
        let ke = ke_of(payloads).ok_or(invalid("no KE payload"))?;
        if ke.group != suite.dh || ke.group != st.dh.group() {
            return Err(invalid("KE group differs from the chosen one"));
        }
        let nr = nonce_of(payloads)
            .ok_or(invalid("no Nonce payload"))?
            .data
            .clone();
        let g_ir = st.dh.agree(&ke.data).map_err(|_| invalid("bad KE data"))?;
        let prf = suite.prf().ok_or(Failure::NoProposalChosen)?;
        let seed = SkeySeed::initial(prf, &st.ni, &nr, g_ir.as_bytes());
        self.spi_r = spi_r;
        let keys = Keys::derive(
            suite,
            &seed,
            &st.ni,
            &nr,
            &self.spi_i,
            &self.spi_r,
            Role::Initiator,
        )
        .map_err(|_| invalid("key derivation"))?;
        // RFC 7296 §2.23: NAT detection.
        let src: Vec<&NotifyRepr> = notifies(payloads)
            .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
            .collect();
        let dst =
            notifies(payloads).find(|n| n.notify_type == NotifyType::NAT_DETECTION_DESTINATION_IP);
        if !src.is_empty() && dst.is_some() {
            let peer_ok = src
                .iter()
                .any(|n| n.data == nat_hash(&self.spi_i, &self.spi_r, self.remote));
            let me_ok =
                dst.is_some_and(|n| n.data == nat_hash(&self.spi_i, &self.spi_r, self.local));
            if !peer_ok || !me_ok || st.faked_natd {
                self.float(cfg);
            }
        }
        self.frag = cfg.fragmentation
            && !cfg.minimal
            && has_notify(payloads, NotifyType::IKEV2_FRAGMENTATION_SUPPORTED);
        self.peer_sig_sha256 = announces_sha256(payloads);
        // IKE_AUTH request.
        let p = &st.params;
        let id_body = p.local_id.rest_of_payload();
        let octets = signed_octets(prf, &keys.sk, Role::Initiator, &st.msg1, &nr, &id_body);
        let auth = make_auth(prf, &p.credential, &octets, self.sig_method(cfg))
            .map_err(|_| invalid("signing"))?;
        let mut inner = vec![Payload::IdI(p.local_id.clone())];
        inner.extend(cert_payload(&p.credential, cfg));
        if let (Some(idr), false) = (&p.peer_id, cfg.minimal) {
            inner.push(Payload::IdR(idr.clone()));
        }
        inner.push(Payload::Auth(auth));
        if !cfg.minimal {
            inner.push(notify(NotifyType::INITIAL_CONTACT, Vec::new()));
        }
        if p.child.mode == Mode::Transport {
            inner.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        let child_suites: Vec<ChildSuite> = if cfg.minimal {
            cfg.child_suites.iter().take(1).copied().collect()
        } else {
            cfg.child_suites.clone()
        };
        inner.push(Payload::Sa(proposal::child_sa_payload(
            &child_suites,
            st.child_spi,
            None,
        )));
        inner.push(Payload::TsI(TsRepr {
            selectors: p.child.local_ts.clone(),
        }));
        inner.push(Payload::TsR(TsRepr {
            selectors: p.child.remote_ts.clone(),
        }));
        let next = AuthSent {
            params: st.params.clone(),
            keys,
            ni: st.ni.clone(),
            nr,
            msg2: raw.to_vec(),
            child_spi: st.child_spi,
        };
        self.state = State::AuthSent(Box::new(next));
        self.win.inflight = None;
        let hdr = self.header(ExchangeType::IKE_AUTH, false, 1);
        let datagrams = self
            .seal(cfg, &hdr, &inner)
            .map_err(|_| invalid("sealing IKE_AUTH"))?;
        self.win.next_req_id = 1;
        self.send_request(cfg, now, Req::Auth, datagrams, out);
        let State::AuthSent(s) = std::mem::replace(&mut self.state, State::Dead { until: now })
        else {
            return Err(invalid("state"));
        };
        Ok(Some(State::AuthSent(s)))
    }

    /// Switches IKE to the NAT-T ports (RFC 7296 §2.23) and ESP to UDP
    /// encapsulation.
    fn float(&mut self, cfg: &Config) {
        self.encap = true;
        if !self.floated {
            self.floated = true;
            self.local.set_port(cfg.natt_port);
            self.remote.set_port(self.peer_natt_port);
        }
    }

    fn restart_init(&mut self, cfg: &Config, now: Instant, msg1: Vec<u8>, out: &mut Outputs) {
        self.win.inflight = None;
        self.win.next_req_id = 0;
        self.send_request(cfg, now, Req::Init, vec![msg1], out);
    }

    fn on_auth_response(
        &mut self,
        cfg: &Config,
        now: Instant,
        payloads: Vec<Payload>,
        out: &mut Outputs,
    ) {
        let State::AuthSent(st) = std::mem::replace(&mut self.state, State::Dead { until: now })
        else {
            out.counters.unexpected_message += 1;
            return;
        };
        let st = *st;
        if has_notify(&payloads, NotifyType::AUTHENTICATION_FAILED) {
            out.counters.auth_failed += 1;
            self.fail(
                now,
                Failure::Notified(NotifyType::AUTHENTICATION_FAILED),
                out,
            );
            return;
        }
        let (Some(idr), Some(auth)) = (
            find(&payloads, |x| match x {
                Payload::IdR(i) => Some(i),
                _ => None,
            }),
            auth_of(&payloads),
        ) else {
            let f = first_error(&payloads).map_or(
                Failure::Invalid("IKE_AUTH response without IDr/AUTH"),
                Failure::Notified,
            );
            self.fail(now, f, out);
            return;
        };
        let p = &st.params;
        let octets = signed_octets(
            st.keys.prf,
            &st.keys.sk,
            Role::Responder,
            &st.msg2,
            &st.ni,
            &idr.rest_of_payload(),
        );
        let id_ok = p.peer_id.as_ref().is_none_or(|want| want == idr);
        if !id_ok
            || !check_auth(
                st.keys.prf,
                &p.peer_auth,
                auth,
                raw_key_cert(&payloads),
                &octets,
            )
        {
            out.counters.auth_failed += 1;
            self.fail(now, Failure::AuthenticationFailed, out);
            return;
        }
        out.counters.ike_sa_up += 1;
        out.events.push_back(Event::IkeSaUp {
            sa: self.id,
            tag: self.tag,
            role: Role::Initiator,
            peer_id: idr.clone(),
            remote: self.remote,
        });
        let est = Established {
            keys: st.keys,
            peer: PeerInfo {
                policy: p.child.clone(),
                not_after: p.not_after,
            },
            children: Vec::new(),
            pending: VecDeque::new(),
            last_heard: now,
            rekey_ike_at: cfg.ike_rekey_after.map(|d| now + d),
            closing: None,
        };
        // The first Child SA (RFC 7296 §1.2), or why there is none.
        let child = (|| {
            if let Some(e) = first_error(&payloads) {
                return Err(Failure::Notified(e));
            }
            let sa = sa_of(&payloads).ok_or(Failure::Invalid("no SAr2"))?;
            let (suite, spi_out) = proposal::accepted_child(sa, &cfg.child_suites, None)
                .ok_or(Failure::NoProposalChosen)?;
            let (tsi, tsr) = (tsi_of(&payloads), tsr_of(&payloads));
            let (Some(tsi), Some(tsr)) = (tsi, tsr) else {
                return Err(Failure::Invalid("no TSi/TSr"));
            };
            if !selectors::answer_within(&tsi.selectors, &p.child.local_ts)
                || !selectors::answer_within(&tsr.selectors, &p.child.remote_ts)
            {
                return Err(Failure::Invalid("traffic selectors wider than proposed"));
            }
            let mode = if has_notify(&payloads, NotifyType::USE_TRANSPORT_MODE) {
                Mode::Transport
            } else {
                Mode::Tunnel
            };
            if mode != p.child.mode {
                return Err(Failure::Invalid("the responder chose another mode"));
            }
            Ok((
                suite,
                spi_out,
                tsi.selectors.clone(),
                tsr.selectors.clone(),
                mode,
            ))
        })();
        self.state = State::Established(Box::new(est));
        match child {
            Ok((suite, spi_out, tsi, tsr, mode)) => {
                let r = self.install_child(
                    cfg,
                    now,
                    true,
                    suite,
                    st.child_spi,
                    spi_out,
                    None,
                    &st.ni,
                    &st.nr,
                    mode,
                    tsi,
                    tsr,
                    None,
                    out,
                );
                if r.is_err() {
                    out.events.push_back(Event::ChildSaFailed {
                        sa: self.id,
                        tag: self.tag,
                        failure: Failure::Invalid("child key derivation"),
                    });
                }
            }
            Err(failure) => {
                out.events.push_back(Event::ChildSaFailed {
                    sa: self.id,
                    tag: self.tag,
                    failure,
                });
                // A pair the responder installed but we refuse (other mode,
                // wider selectors) is deleted (RFC 7296 §1.4.1).
                if sa_of(&payloads).is_some() && first_error(&payloads).is_none() {
                    if let State::Established(e) = &mut self.state {
                        e.pending
                            .push_back(Pending::DeleteChild(vec![st.child_spi]));
                    }
                }
            }
        }
        self.pump(cfg, now, out);
    }

    /// Derives a Child SA's keys (RFC 7296 §2.17), remembers it and
    /// reports it. `exchange_initiator`: we started the exchange that
    /// created it (keys from initiator to responder are ours outbound).
    #[allow(clippy::too_many_arguments)]
    fn install_child(
        &mut self,
        cfg: &Config,
        now: Instant,
        exchange_initiator: bool,
        suite: ChildSuite,
        spi_in: u32,
        spi_out: u32,
        g_ir: Option<&[u8]>,
        ni: &[u8],
        nr: &[u8],
        mode: Mode,
        ts_i: Vec<TrafficSelector>,
        ts_r: Vec<TrafficSelector>,
        rekeyed_from: Option<u32>,
        out: &mut Outputs,
    ) -> Result<(), IkeError> {
        let id = self.id;
        let tag = self.tag;
        let (local, remote, encap, role) = (self.local, self.remote, self.encap, self.role);
        let State::Established(e) = &mut self.state else {
            return Err(IkeError::WrongState);
        };
        let cipher = suite
            .cipher()
            .ok_or(IkeError::Unsupported("Child SA suite"))?;
        let keys = ChildSaKeys::derive(e.keys.prf, &e.keys.sk.sk_d, &cipher, g_ir, ni, nr)?;
        let (keymat_in, keymat_out) = if exchange_initiator {
            (keys.keymat_r_to_i(), keys.keymat_i_to_r())
        } else {
            (keys.keymat_i_to_r(), keys.keymat_r_to_i())
        };
        // TSi/TSr are the exchange initiator's / responder's traffic.
        let (local_ts, remote_ts) = if exchange_initiator {
            (ts_i, ts_r)
        } else {
            (ts_r, ts_i)
        };
        let mut lifetime = e.peer.policy.lifetime;
        if let Some(t) = e.peer.not_after {
            lifetime = lifetime.min(t.saturating_duration_since(now));
        }
        // The original initiator rekeys at 90 % of the lifetime, unless the
        // authorization ends first (then the SA is deleted, not rekeyed).
        // A rekey is worth it only if the authorization leaves the new SA
        // at least half a lifetime.
        let soft = now + lifetime.mul_f64(0.9);
        let rekey_at = (role == Role::Initiator
            && e.peer.not_after.is_none_or(|t| soft + lifetime / 2 < t))
        .then_some(soft);
        e.children.push(Child {
            protocol: suite.protocol,
            suite,
            mode,
            spi_in,
            spi_out,
            local_ts: local_ts.clone(),
            remote_ts: remote_ts.clone(),
            rekey_at,
            rekeyed: false,
            peer_rekey: None,
        });
        out.counters.child_sa_up += 1;
        let local_ep =
            SocketAddr::new(local.ip(), if encap { cfg.natt_port } else { local.port() });
        out.events.push_back(Event::ChildSaUp(Box::new(ChildSa {
            ike: id,
            tag,
            protocol: suite.protocol,
            mode,
            suite,
            cipher,
            spi_in,
            spi_out,
            keymat_in,
            keymat_out,
            local_ts,
            remote_ts,
            local: local_ep,
            remote,
            encap,
            lifetime,
            rekeyed_from,
        })));
        Ok(())
    }
}

/// What happens to the SA after its response is sent.
enum After {
    Nothing,
    /// IKE_AUTH failed: the half-open SA goes.
    Die(Failure),
    /// The peer deleted the IKE SA.
    TearDown(DownReason),
    /// The peer rekeyed the IKE SA: the new one takes over.
    Spawn(Box<IkeSa>),
}

/// The endpoint's table of authorized peers, looked up by IDi.
pub(crate) type Peers = std::collections::HashMap<(u8, Vec<u8>), crate::config::PeerEntry>;

pub(crate) fn peer_key(id: &IdRepr) -> (u8, Vec<u8>) {
    (id.id_type.0, id.data.clone())
}

impl IkeSa {
    /// A responder SA after its IKE_SA_INIT response (built by the
    /// endpoint, which owns the cookie and DoS logic).
    #[allow(clippy::too_many_arguments)]
    pub fn new_responder(
        id: IkeSaId,
        local: SocketAddr,
        remote: SocketAddr,
        spi_i: IkeSpi,
        spi_r: IkeSpi,
        st: InitDone,
        encap: bool,
        frag: bool,
        peer_sig_sha256: bool,
    ) -> Self {
        let msg2 = st.msg2.clone();
        IkeSa {
            id,
            role: Role::Responder,
            spi_i,
            spi_r,
            local,
            remote,
            peer_natt_port: remote.port(),
            encap,
            frag,
            peer_sig_sha256,
            tag: 0,
            state: State::InitDone(Box::new(st)),
            win: Window {
                next_req_id: 0,
                inflight: None,
                peer_next_id: 1,
                last_resp: Some((0, vec![msg2])),
                reassembly: None,
            },
            half_open: true,
            floated: false,
            init_remote: remote,
        }
    }

    /// Sends the cached IKE_SA_INIT response again (a retransmitted
    /// request).
    pub fn replay_init_response(&mut self, out: &mut Outputs) {
        if let Some((0, ds)) = &self.win.last_resp {
            out.counters.responses_replayed += 1;
            for d in ds.clone() {
                out.transmits.push_back(Transmit {
                    local: self.local,
                    remote: self.remote,
                    non_esp_marker: self.floated,
                    payload: d,
                });
            }
        }
    }

    /// Queues a request of ours and starts it if the window is free.
    pub fn request(
        &mut self,
        cfg: &Config,
        now: Instant,
        p: Pending,
        out: &mut Outputs,
    ) -> Result<(), IkeError> {
        let State::Established(e) = &mut self.state else {
            return Err(IkeError::WrongState);
        };
        if let Pending::DeleteIke(reason) = &p {
            if e.closing.is_some() {
                return Ok(());
            }
            e.closing = Some(reason.clone());
        }
        // Nothing new on an IKE SA that is being deleted or replaced: it
        // would only wait behind the DELETE and go with it.
        if e.closing.is_some() && matches!(p, Pending::RekeyChild(_) | Pending::RekeyIke) {
            return Err(IkeError::WrongState);
        }
        e.pending.push_back(p);
        self.pump(cfg, now, out);
        Ok(())
    }

    /// A message for this SA (header already checked by the endpoint).
    /// Returns a new IKE SA when the peer rekeyed this one.
    #[allow(clippy::too_many_arguments)]
    pub fn on_message(
        &mut self,
        cfg: &Config,
        peers: &Peers,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &HeaderRepr,
        raw: &[u8],
        out: &mut Outputs,
    ) -> Option<IkeSa> {
        if hdr.exchange_type == ExchangeType::IKE_SA_INIT {
            if hdr.response && matches!(self.state, State::InitSent(_)) {
                if self
                    .win
                    .inflight
                    .as_ref()
                    .is_none_or(|f| f.msg_id != hdr.message_id)
                {
                    out.counters.unexpected_message += 1;
                    return None;
                }
                match crate::message::MessageRepr::parse(raw) {
                    Ok(m) => self.on_init_response(cfg, now, hdr.spi_r, raw, m.payloads, out),
                    Err(_) => out.counters.malformed += 1,
                }
            } else if !hdr.response && hdr.message_id == 0 {
                self.replay_init_response(out);
            } else {
                out.counters.unexpected_message += 1;
            }
            return None;
        }
        // Everything after IKE_SA_INIT is inside SK or SKF (RFC 7296 §3.14).
        if self.is_dead() {
            if !hdr.response {
                self.replay_if_retransmit(hdr.message_id, out);
            }
            return None;
        }
        let Some(keys) = self.keys() else {
            out.counters.unexpected_message += 1;
            return None;
        };
        let payloads = match hdr.next_payload {
            PayloadType::SK => match keys.inn.open_message(raw) {
                Ok(p) => p,
                Err(_) => {
                    out.counters.bad_icv += 1;
                    return None;
                }
            },
            PayloadType::SKF => {
                let frag = match keys.inn.open_fragment(raw) {
                    Ok(f) => f,
                    Err(_) => {
                        out.counters.bad_icv += 1;
                        return None;
                    }
                };
                // RFC 7383 §2.6.2: a retransmitted request shows by its
                // first fragment; answer it from the cache.
                if !hdr.response && self.win.peer_next_id.wrapping_sub(1) == hdr.message_id {
                    if frag.number == 1 {
                        self.replay_if_retransmit(hdr.message_id, out);
                    }
                    return None;
                }
                let key = (hdr.message_id, hdr.response);
                let fresh = self
                    .win
                    .reassembly
                    .as_ref()
                    .is_none_or(|(m, r, _)| (*m, *r) != key);
                if fresh {
                    self.win.reassembly = Some((
                        hdr.message_id,
                        hdr.response,
                        Reassembler::new(64, 64 * 1024),
                    ));
                }
                let (_, _, re) = self.win.reassembly.as_mut()?;
                match re.add(frag) {
                    Ok(Some(p)) => {
                        self.win.reassembly = None;
                        p
                    }
                    Ok(None) => return None,
                    Err(_) => {
                        self.win.reassembly = None;
                        out.counters.malformed += 1;
                        return None;
                    }
                }
            }
            _ => {
                out.counters.malformed += 1;
                return None;
            }
        };
        // Authenticated from here on. RFC 7296 §2.23: behind a NAT, follow
        // the peer's address; a responder answers on the port the request
        // came to.
        if self.encap && (remote != self.remote || local != self.local) {
            self.local = local;
            self.remote = remote;
            self.floated = local.port() == cfg.natt_port;
        }
        if let State::Established(e) = &mut self.state {
            e.last_heard = now;
        }
        if hdr.response {
            self.on_response(cfg, now, hdr, payloads, out)
        } else {
            self.on_request(cfg, peers, now, hdr, payloads, out)
        }
    }

    fn replay_if_retransmit(&mut self, msg_id: u32, out: &mut Outputs) {
        if let Some((id, ds)) = &self.win.last_resp {
            if *id == msg_id {
                out.counters.responses_replayed += 1;
                for d in ds.clone() {
                    out.transmits.push_back(self.transmit(d));
                }
                return;
            }
        }
        out.counters.unexpected_message += 1;
    }

    #[allow(clippy::too_many_arguments)]
    fn on_request(
        &mut self,
        cfg: &Config,
        peers: &Peers,
        now: Instant,
        hdr: &HeaderRepr,
        payloads: Vec<Payload>,
        out: &mut Outputs,
    ) -> Option<IkeSa> {
        let mid = hdr.message_id;
        if self.win.peer_next_id.wrapping_sub(1) == mid && self.win.last_resp.is_some() {
            self.replay_if_retransmit(mid, out);
            return None;
        }
        if mid != self.win.peer_next_id {
            out.counters.unexpected_message += 1;
            return None;
        }
        let (resp, after) = match (hdr.exchange_type, &self.state) {
            (ExchangeType::IKE_AUTH, State::InitDone(_)) => {
                self.respond_auth(cfg, peers, now, &payloads, out)
            }
            (ExchangeType::CREATE_CHILD_SA, State::Established(_)) => {
                self.respond_create_child(cfg, now, &payloads, out)
            }
            (ExchangeType::INFORMATIONAL, State::Established(_)) => {
                self.respond_informational(&payloads, out)
            }
            _ => {
                out.counters.invalid_requests += 1;
                (
                    vec![notify(NotifyType::INVALID_SYNTAX, Vec::new())],
                    After::Nothing,
                )
            }
        };
        self.win.peer_next_id = mid.wrapping_add(1);
        let rh = self.header(hdr.exchange_type, true, mid);
        match self.seal(cfg, &rh, &resp) {
            Ok(ds) => self.send_response(mid, ds, out),
            Err(_) => out.counters.invalid_requests += 1,
        }
        let spawned = match after {
            After::Nothing => None,
            After::Die(f) => {
                self.fail(now, f, out);
                None
            }
            After::TearDown(r) => {
                // The peer deleted the IKE SA: every answer to its DELETE
                // may be lost, so the cached one stays for as long as a
                // peer timed like us retransmits (RFC 7296 §2.1).
                self.tear_down_for(now, r, peer_retransmit_span(cfg), out);
                None
            }
            After::Spawn(sa) => Some(*sa),
        };
        self.pump(cfg, now, out);
        spawned
    }

    fn respond_auth(
        &mut self,
        cfg: &Config,
        peers: &Peers,
        now: Instant,
        p: &[Payload],
        out: &mut Outputs,
    ) -> (Vec<Payload>, After) {
        let auth_failed = |out: &mut Outputs| {
            out.counters.auth_failed += 1;
            (
                vec![notify(NotifyType::AUTHENTICATION_FAILED, Vec::new())],
                After::Die(Failure::AuthenticationFailed),
            )
        };
        let State::InitDone(st) = &self.state else {
            return (Vec::new(), After::Nothing);
        };
        let Some(idi) = find(p, |x| match x {
            Payload::IdI(i) => Some(i),
            _ => None,
        }) else {
            return auth_failed(out);
        };
        // RFC 7296 §2.21.2: an unknown identity, an authorization that has
        // ended and a wrong AUTH all get the same answer.
        let Some(entry) = peers.get(&peer_key(idi)) else {
            return auth_failed(out);
        };
        if now >= entry.not_after {
            return auth_failed(out);
        }
        let Some(auth) = auth_of(p) else {
            return auth_failed(out);
        };
        let prf = st.keys.prf;
        let octets_i = signed_octets(
            prf,
            &st.keys.sk,
            Role::Initiator,
            &st.msg1,
            &st.nr,
            &idi.rest_of_payload(),
        );
        if !check_auth(prf, &entry.auth, auth, raw_key_cert(p), &octets_i) {
            return auth_failed(out);
        }
        let octets_r = signed_octets(
            prf,
            &st.keys.sk,
            Role::Responder,
            &st.msg2,
            &st.ni,
            &entry.local_id.rest_of_payload(),
        );
        let Ok(my_auth) = make_auth(prf, &entry.credential, &octets_r, self.sig_method(cfg)) else {
            return auth_failed(out);
        };
        let mut resp = vec![Payload::IdR(entry.local_id.clone())];
        resp.extend(cert_payload(&entry.credential, cfg));
        resp.push(Payload::Auth(my_auth));
        let State::InitDone(st) = std::mem::replace(&mut self.state, State::Dead { until: now })
        else {
            return (Vec::new(), After::Nothing);
        };
        let st = *st;
        self.tag = entry.tag;
        self.half_open = false;
        self.state = State::Established(Box::new(Established {
            keys: st.keys,
            peer: PeerInfo {
                policy: entry.child.clone(),
                not_after: Some(entry.not_after),
            },
            children: Vec::new(),
            pending: VecDeque::new(),
            last_heard: now,
            rekey_ike_at: None,
            closing: None,
        }));
        out.counters.ike_sa_up += 1;
        out.events.push_back(Event::IkeSaUp {
            sa: self.id,
            tag: self.tag,
            role: Role::Responder,
            peer_id: idi.clone(),
            remote: self.remote,
        });
        match self.accept_child(cfg, now, p, &[], None, &st.ni, &st.nr, None, out) {
            Ok(mut c) => resp.append(&mut c),
            Err(n) => resp.push(notify(n, Vec::new())),
        }
        (resp, After::Nothing)
    }

    /// RFC 7296 §1.3.1, §2.9, §2.17 (responder): chooses a proposal,
    /// narrows the selectors, derives and reports the Child SA, and returns
    /// the payloads of the answer (SA, TSi, TSr and, for CREATE_CHILD_SA,
    /// Nr and KEr). `Err` is the error notification to send instead.
    #[allow(clippy::too_many_arguments)]
    fn accept_child(
        &mut self,
        cfg: &Config,
        now: Instant,
        p: &[Payload],
        pfs_groups: &[DhGroup],
        nr_for_exchange: Option<Vec<u8>>,
        ni: &[u8],
        nr: &[u8],
        rekey_of: Option<&Child>,
        out: &mut Outputs,
    ) -> Result<Vec<Payload>, NotifyType> {
        let State::Established(e) = &self.state else {
            return Err(NotifyType::INVALID_SYNTAX);
        };
        let policy = e.peer.policy.clone();
        let sa = sa_of(p).ok_or(NotifyType::INVALID_SYNTAX)?;
        let Some(chosen) = proposal::choose_child(sa, &cfg.child_suites, pfs_groups) else {
            out.counters.no_proposal_chosen += 1;
            return Err(NotifyType::NO_PROPOSAL_CHOSEN);
        };
        let (Some(tsi), Some(tsr)) = (tsi_of(p), tsr_of(p)) else {
            return Err(NotifyType::INVALID_SYNTAX);
        };
        // A rekey keeps the selectors of the SA it replaces.
        let (allowed_remote, allowed_local) = match rekey_of {
            Some(c) => (c.remote_ts.clone(), c.local_ts.clone()),
            None => (policy.remote_ts.clone(), policy.local_ts.clone()),
        };
        let tsi_n = selectors::narrow(&tsi.selectors, &allowed_remote);
        let tsr_n = selectors::narrow(&tsr.selectors, &allowed_local);
        if tsi_n.is_empty() || tsr_n.is_empty() {
            out.counters.ts_unacceptable += 1;
            return Err(NotifyType::TS_UNACCEPTABLE);
        }
        let transport = has_notify(p, NotifyType::USE_TRANSPORT_MODE);
        let mode = match (policy.mode, transport) {
            (Mode::Transport, true) => Mode::Transport,
            (Mode::Transport, false) => {
                out.counters.no_proposal_chosen += 1;
                return Err(NotifyType::NO_PROPOSAL_CHOSEN);
            }
            (Mode::Tunnel, _) => Mode::Tunnel,
        };
        let mut g_ir = None;
        let mut ke_out = None;
        if let Some(g) = chosen.pfs {
            let Some(ke) = ke_of(p) else {
                return Err(NotifyType::INVALID_SYNTAX);
            };
            if ke.group != g {
                out.counters.invalid_ke += 1;
                return Err(NotifyType::INVALID_KE_PAYLOAD);
            }
            let dh = DhPrivate::generate(g).map_err(|_| NotifyType::NO_PROPOSAL_CHOSEN)?;
            g_ir = Some(dh.agree(&ke.data).map_err(|_| NotifyType::INVALID_SYNTAX)?);
            ke_out = Some(KeRepr {
                group: g,
                data: dh.public_key().to_vec(),
            });
        }
        let spi_in = random_spi_u32().map_err(|_| NotifyType::TEMPORARY_FAILURE)?;
        self.install_child(
            cfg,
            now,
            false,
            chosen.suite,
            spi_in,
            chosen.peer_spi,
            g_ir.as_ref().map(|s| s.as_bytes()),
            ni,
            nr,
            mode,
            tsi_n.clone(),
            tsr_n.clone(),
            rekey_of.map(|c| c.spi_in),
            out,
        )
        .map_err(|_| NotifyType::NO_PROPOSAL_CHOSEN)?;
        let mut resp = Vec::with_capacity(6);
        if mode == Mode::Transport {
            resp.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
        }
        resp.push(Payload::Sa(SaRepr {
            proposals: vec![chosen.suite.proposal(chosen.number, spi_in, chosen.pfs)],
        }));
        if let Some(nr) = nr_for_exchange {
            resp.push(Payload::Nonce(NonceRepr { data: nr }));
        }
        if let Some(ke) = ke_out {
            resp.push(Payload::Ke(ke));
        }
        resp.push(Payload::TsI(TsRepr { selectors: tsi_n }));
        resp.push(Payload::TsR(TsRepr { selectors: tsr_n }));
        Ok(resp)
    }

    fn respond_create_child(
        &mut self,
        cfg: &Config,
        now: Instant,
        p: &[Payload],
        out: &mut Outputs,
    ) -> (Vec<Payload>, After) {
        let err = |n: NotifyType| (vec![notify(n, Vec::new())], After::Nothing);
        let State::Established(e) = &self.state else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        if e.closing.is_some() {
            return err(NotifyType::TEMPORARY_FAILURE);
        }
        let Some(sa) = sa_of(p) else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        let Some(ni) = nonce_of(p).map(|n| n.data.clone()) else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        if sa
            .proposals
            .first()
            .is_some_and(|x| x.protocol == ProtocolId::IKE)
        {
            return self.respond_rekey_ike(now, sa, &ni, p, out);
        }
        // RFC 7296 §1.3.3: REKEY_SA names the SA by the SPI its sender
        // receives on — our outbound SPI.
        let old = match notifies(p).find(|n| n.notify_type == NotifyType::REKEY_SA) {
            Some(n) => {
                let spi = <[u8; 4]>::try_from(n.spi.as_slice())
                    .map(u32::from_be_bytes)
                    .ok();
                match e
                    .children
                    .iter()
                    .find(|c| Some(c.spi_out) == spi && c.protocol == n.protocol)
                {
                    // RFC 7296 §2.25.1: an SA already replaced is being
                    // closed (its DELETE is queued or in flight).
                    Some(c) if c.rekeyed => return err(NotifyType::TEMPORARY_FAILURE),
                    Some(c) => Some(c.clone()),
                    None => return err(NotifyType::CHILD_SA_NOT_FOUND),
                }
            }
            None => None,
        };
        let mut groups = vec![e.keys.suite.dh];
        if let Some(g) = cfg.child_pfs {
            if g != e.keys.suite.dh {
                groups.push(g);
            }
        }
        let Ok(nr) = random_nonce() else {
            return err(NotifyType::TEMPORARY_FAILURE);
        };
        match self.accept_child(
            cfg,
            now,
            p,
            &groups,
            Some(nr.clone()),
            &ni,
            &nr,
            old.as_ref(),
            out,
        ) {
            Ok(resp) => {
                if let (Some(old), State::Established(e)) = (&old, &mut self.state) {
                    let created = e.children.last().map(|c| c.spi_in);
                    if let Some(c) = e.children.iter_mut().find(|c| c.spi_in == old.spi_in) {
                        c.rekeyed = true;
                        c.rekey_at = None;
                        c.peer_rekey = created.map(|spi| (spi, ni.clone(), nr.clone()));
                    }
                }
                (resp, After::Nothing)
            }
            Err(NotifyType::INVALID_KE_PAYLOAD) => {
                // RFC 7296 §1.3: tell the initiator which group we want.
                let g = proposal::choose_child(sa, &cfg.child_suites, &groups)
                    .and_then(|c| c.pfs)
                    .unwrap_or(groups.first().copied().unwrap_or(DhGroup::CURVE25519));
                (
                    vec![notify(
                        NotifyType::INVALID_KE_PAYLOAD,
                        g.0.to_be_bytes().to_vec(),
                    )],
                    After::Nothing,
                )
            }
            Err(n) => err(n),
        }
    }

    fn respond_rekey_ike(
        &mut self,
        now: Instant,
        sa: &SaRepr,
        ni: &[u8],
        p: &[Payload],
        out: &mut Outputs,
    ) -> (Vec<Payload>, After) {
        let err = |n: NotifyType| (vec![notify(n, Vec::new())], After::Nothing);
        let State::Established(e) = &mut self.state else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        let Some((number, suite, peer_spi)) = proposal::choose_ike(sa, &[e.keys.suite]) else {
            out.counters.no_proposal_chosen += 1;
            return err(NotifyType::NO_PROPOSAL_CHOSEN);
        };
        let Ok(peer_spi) = <IkeSpi>::try_from(peer_spi.as_slice()) else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        let Some(ke) = ke_of(p) else {
            return err(NotifyType::INVALID_SYNTAX);
        };
        if ke.group != suite.dh {
            out.counters.invalid_ke += 1;
            return (
                vec![notify(
                    NotifyType::INVALID_KE_PAYLOAD,
                    suite.dh.0.to_be_bytes().to_vec(),
                )],
                After::Nothing,
            );
        }
        let built = (|| -> Result<(Vec<Payload>, Keys, IkeSpi), IkeError> {
            let dh = DhPrivate::generate(suite.dh)?;
            let g_ir = dh.agree(&ke.data)?;
            let nr = random_nonce()?;
            let new_spi = crate::util::random_ike_spi()?;
            let seed = SkeySeed::rekey(e.keys.prf, &e.keys.sk.sk_d, g_ir.as_bytes(), ni, &nr);
            // RFC 7296 §2.18: the new IKE SA's initiator is the one who
            // started the rekey.
            let keys = Keys::derive(suite, &seed, ni, &nr, &peer_spi, &new_spi, Role::Responder)?;
            let resp = vec![
                Payload::Sa(SaRepr {
                    proposals: vec![suite.proposal(number, new_spi.to_vec())],
                }),
                Payload::Nonce(NonceRepr { data: nr }),
                Payload::Ke(KeRepr {
                    group: suite.dh,
                    data: dh.public_key().to_vec(),
                }),
            ];
            Ok((resp, keys, new_spi))
        })();
        let Ok((resp, keys, new_spi)) = built else {
            return err(NotifyType::TEMPORARY_FAILURE);
        };
        let new = self.successor(now, Role::Responder, peer_spi, new_spi, keys);
        (resp, After::Spawn(Box::new(new)))
    }

    /// The IKE SA that replaces this one after a rekey (RFC 7296 §2.18):
    /// same peer and addresses, new SPIs and keys, Message IDs from 0, and
    /// this SA's Child SAs. This SA keeps only what it needs to finish the
    /// DELETE exchange.
    fn successor(
        &mut self,
        now: Instant,
        role: Role,
        spi_i: IkeSpi,
        spi_r: IkeSpi,
        keys: Keys,
    ) -> IkeSa {
        let (peer, children, pending, rekey_ike_at) = match &mut self.state {
            State::Established(e) => {
                // The endpoint schedules the successor's own rekey.
                let after = None;
                e.closing.get_or_insert(DownReason::Rekeyed);
                (
                    e.peer.clone(),
                    std::mem::take(&mut e.children),
                    std::mem::take(&mut e.pending),
                    after,
                )
            }
            _ => return self.shell(now, role, spi_i, spi_r),
        };
        let mut sa = self.shell(now, role, spi_i, spi_r);
        sa.state = State::Established(Box::new(Established {
            keys,
            peer,
            children,
            pending: pending
                .into_iter()
                .filter(|p| !matches!(p, Pending::DeleteIke(_) | Pending::RekeyIke))
                .collect(),
            last_heard: now,
            rekey_ike_at,
            closing: None,
        }));
        sa
    }

    fn shell(&self, now: Instant, role: Role, spi_i: IkeSpi, spi_r: IkeSpi) -> IkeSa {
        IkeSa {
            id: 0,
            role,
            spi_i,
            spi_r,
            local: self.local,
            remote: self.remote,
            peer_natt_port: self.peer_natt_port,
            encap: self.encap,
            frag: self.frag,
            peer_sig_sha256: self.peer_sig_sha256,
            tag: self.tag,
            state: State::Dead { until: now },
            win: Window::default(),
            half_open: false,
            floated: self.floated,
            init_remote: self.init_remote,
        }
    }

    fn respond_informational(&mut self, p: &[Payload], out: &mut Outputs) -> (Vec<Payload>, After) {
        let id = self.id;
        let tag = self.tag;
        let State::Established(e) = &mut self.state else {
            return (Vec::new(), After::Nothing);
        };
        let mut resp = Vec::new();
        for d in p.iter().filter_map(|x| match x {
            Payload::Delete(d) => Some(d),
            _ => None,
        }) {
            match d {
                // RFC 7296 §1.4.1: deleting the IKE SA deletes its Child SAs;
                // the answer is empty.
                DeleteRepr::IkeSa => {
                    let reason = e
                        .closing
                        .clone()
                        .filter(|r| *r == DownReason::Rekeyed)
                        .unwrap_or(DownReason::DeletedByPeer);
                    return (Vec::new(), After::TearDown(reason));
                }
                DeleteRepr::ChildSas { protocol, spis } => {
                    let mut ours = Vec::new();
                    for spi in spis {
                        if let Some(i) = e
                            .children
                            .iter()
                            .position(|c| c.spi_out == *spi && c.protocol == *protocol)
                        {
                            let c = e.children.remove(i);
                            ours.push(c.spi_in);
                            out.events.push_back(Event::ChildSaDeleted {
                                sa: id,
                                tag,
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                            });
                        }
                    }
                    if !ours.is_empty() {
                        resp.push(Payload::Delete(DeleteRepr::ChildSas {
                            protocol: *protocol,
                            spis: ours,
                        }));
                    }
                }
            }
        }
        (resp, After::Nothing)
    }

    /// Starts the next queued request when the window is free (RFC 7296
    /// §2.3: window size 1).
    fn pump(&mut self, cfg: &Config, now: Instant, out: &mut Outputs) {
        if self.win.inflight.is_some() {
            return;
        }
        loop {
            let State::Established(e) = &mut self.state else {
                return;
            };
            let Some(next) = e.pending.pop_front() else {
                return;
            };
            let built: Result<Option<(ExchangeType, Vec<Payload>, Req)>, IkeError> = (|| {
                Ok(match next {
                    Pending::RekeyChild(spi_in) => {
                        let Some(c) = e.children.iter().find(|c| c.spi_in == spi_in && !c.rekeyed)
                        else {
                            return Ok(None);
                        };
                        let new_spi_in = random_spi_u32()?;
                        let ni = random_nonce()?;
                        let dh = match cfg.child_pfs {
                            Some(g) => Some(DhPrivate::generate(g)?),
                            None => None,
                        };
                        let mut p = vec![Payload::Notify(NotifyRepr {
                            protocol: c.protocol,
                            spi: c.spi_in.to_be_bytes().to_vec(),
                            notify_type: NotifyType::REKEY_SA,
                            data: Vec::new(),
                        })];
                        if c.mode == Mode::Transport {
                            p.push(notify(NotifyType::USE_TRANSPORT_MODE, Vec::new()));
                        }
                        p.push(Payload::Sa(SaRepr {
                            proposals: vec![c.suite.proposal(
                                1,
                                new_spi_in,
                                dh.as_ref().map(DhPrivate::group),
                            )],
                        }));
                        p.push(Payload::Nonce(NonceRepr { data: ni.clone() }));
                        if let Some(dh) = &dh {
                            p.push(Payload::Ke(KeRepr {
                                group: dh.group(),
                                data: dh.public_key().to_vec(),
                            }));
                        }
                        p.push(Payload::TsI(TsRepr {
                            selectors: c.local_ts.clone(),
                        }));
                        p.push(Payload::TsR(TsRepr {
                            selectors: c.remote_ts.clone(),
                        }));
                        Some((
                            ExchangeType::CREATE_CHILD_SA,
                            p,
                            Req::RekeyChild {
                                old_spi_in: spi_in,
                                new_spi_in,
                                suite: c.suite,
                                ni,
                                dh,
                            },
                        ))
                    }
                    Pending::RekeyIke => {
                        if e.closing.is_some() {
                            return Ok(None);
                        }
                        let new_spi = crate::util::random_ike_spi()?;
                        let ni = random_nonce()?;
                        let dh = DhPrivate::generate(e.keys.suite.dh)?;
                        let p = vec![
                            Payload::Sa(SaRepr {
                                proposals: vec![e.keys.suite.proposal(1, new_spi.to_vec())],
                            }),
                            Payload::Nonce(NonceRepr { data: ni.clone() }),
                            Payload::Ke(KeRepr {
                                group: dh.group(),
                                data: dh.public_key().to_vec(),
                            }),
                        ];
                        Some((
                            ExchangeType::CREATE_CHILD_SA,
                            p,
                            Req::RekeyIke { new_spi, ni, dh },
                        ))
                    }
                    Pending::DeleteChild(spis_in) => {
                        let protocol = e
                            .children
                            .iter()
                            .find(|c| spis_in.contains(&c.spi_in))
                            .map_or(ProtocolId::ESP, |c| c.protocol);
                        let p = vec![Payload::Delete(DeleteRepr::ChildSas {
                            protocol,
                            spis: spis_in.clone(),
                        })];
                        Some((ExchangeType::INFORMATIONAL, p, Req::DeleteChild { spis_in }))
                    }
                    Pending::DeleteIke(_) => Some((
                        ExchangeType::INFORMATIONAL,
                        vec![Payload::Delete(DeleteRepr::IkeSa)],
                        Req::DeleteIke,
                    )),
                    Pending::Liveness => {
                        Some((ExchangeType::INFORMATIONAL, Vec::new(), Req::Liveness))
                    }
                })
            })(
            );
            match built {
                Ok(Some((exch, payloads, req))) => {
                    let hdr = self.header(exch, false, self.win.next_req_id);
                    match self.seal(cfg, &hdr, &payloads) {
                        Ok(ds) => self.send_request(cfg, now, req, ds, out),
                        Err(_) => continue,
                    }
                    return;
                }
                Ok(None) | Err(_) => continue,
            }
        }
    }

    fn on_response(
        &mut self,
        cfg: &Config,
        now: Instant,
        hdr: &HeaderRepr,
        p: Vec<Payload>,
        out: &mut Outputs,
    ) -> Option<IkeSa> {
        let matches = self
            .win
            .inflight
            .as_ref()
            .is_some_and(|f| f.msg_id == hdr.message_id);
        if !matches {
            out.counters.unexpected_message += 1;
            return None;
        }
        let f = self.win.inflight.take()?;
        let mut spawned = None;
        match f.req {
            Req::Init => out.counters.unexpected_message += 1,
            Req::Auth => {
                self.on_auth_response(cfg, now, p, out);
                return None;
            }
            Req::RekeyChild {
                old_spi_in,
                new_spi_in,
                suite,
                ni,
                dh,
            } => self
                .on_rekey_child_response(cfg, now, &p, old_spi_in, new_spi_in, suite, &ni, dh, out),
            Req::RekeyIke { new_spi, ni, dh } => {
                spawned = self.on_rekey_ike_response(now, &p, new_spi, &ni, &dh, out);
            }
            Req::DeleteChild { spis_in } => {
                let (id, tag) = (self.id, self.tag);
                if let State::Established(e) = &mut self.state {
                    e.children.retain(|c| {
                        if spis_in.contains(&c.spi_in) {
                            out.events.push_back(Event::ChildSaDeleted {
                                sa: id,
                                tag,
                                spi_in: c.spi_in,
                                spi_out: c.spi_out,
                            });
                            false
                        } else {
                            true
                        }
                    });
                }
            }
            Req::DeleteIke => {
                let reason = match &self.state {
                    State::Established(e) => {
                        e.closing.clone().unwrap_or(DownReason::DeletedLocally)
                    }
                    _ => DownReason::DeletedLocally,
                };
                self.tear_down(now, reason, out);
                return None;
            }
            Req::Liveness => {}
        }
        self.pump(cfg, now, out);
        spawned
    }

    #[allow(clippy::too_many_arguments)]
    fn on_rekey_child_response(
        &mut self,
        cfg: &Config,
        now: Instant,
        p: &[Payload],
        old_spi_in: u32,
        new_spi_in: u32,
        suite: ChildSuite,
        ni: &[u8],
        dh: Option<DhPrivate>,
        out: &mut Outputs,
    ) {
        let (id, tag) = (self.id, self.tag);
        let fail = |out: &mut Outputs, failure| {
            out.events.push_back(Event::ChildSaFailed {
                sa: id,
                tag,
                failure,
            });
        };
        if let Some(e) = first_error(p) {
            fail(out, Failure::Notified(e));
            return;
        }
        let pfs = dh.as_ref().map(DhPrivate::group);
        let (Some(sa), Some(nr), Some(tsi), Some(tsr)) =
            (sa_of(p), nonce_of(p), tsi_of(p), tsr_of(p))
        else {
            fail(
                out,
                Failure::Invalid("CREATE_CHILD_SA response without SA/Nr/TSi/TSr"),
            );
            return;
        };
        let Some((suite, spi_out)) = proposal::accepted_child(sa, &[suite], pfs) else {
            fail(out, Failure::NoProposalChosen);
            return;
        };
        let g_ir = match (&dh, ke_of(p)) {
            (Some(dh), Some(ke)) if ke.group == dh.group() => match dh.agree(&ke.data) {
                Ok(s) => Some(s),
                Err(_) => {
                    fail(out, Failure::Invalid("bad KEr"));
                    return;
                }
            },
            (None, None) => None,
            _ => {
                fail(out, Failure::Invalid("KEr missing or of another group"));
                return;
            }
        };
        let State::Established(e) = &mut self.state else {
            return;
        };
        let Some(old) = e.children.iter_mut().find(|c| c.spi_in == old_spi_in) else {
            // The old SA went meanwhile (the peer's rekey of it won and
            // its DELETE overtook this response): close what we created.
            close_unused_child(e, suite, new_spi_in, spi_out);
            return;
        };
        if !selectors::answer_within(&tsi.selectors, &old.local_ts)
            || !selectors::answer_within(&tsr.selectors, &old.remote_ts)
        {
            fail(
                out,
                Failure::Invalid("rekeyed selectors wider than the old SA's"),
            );
            return;
        }
        old.rekeyed = true;
        old.rekey_at = None;
        let mode = old.mode;
        let nr = nr.data.clone();
        // RFC 7296 §2.8.1: the peer rekeyed the same SA meanwhile.
        let mut replaces = old_spi_in;
        if let Some((peer_new, peer_ni, peer_nr)) = old.peer_rekey.clone() {
            out.counters.rekey_collisions += 1;
            if lowest_nonce_is_in(ni, &nr, &peer_ni, &peer_nr) {
                // Ours is redundant: close it (we created it); the peer,
                // whose SA survives, deletes the old one. Nothing of it is
                // reported: it never carries traffic.
                close_unused_child(e, suite, new_spi_in, spi_out);
                return;
            }
            // Ours survives: it replaces the peer's (already reported),
            // which the peer closes; we delete the old SA as usual.
            replaces = peer_new;
        }
        if self
            .install_child(
                cfg,
                now,
                true,
                suite,
                new_spi_in,
                spi_out,
                g_ir.as_ref().map(|s| s.as_bytes()),
                ni,
                &nr,
                mode,
                tsi.selectors.clone(),
                tsr.selectors.clone(),
                Some(replaces),
                out,
            )
            .is_ok()
        {
            // RFC 7296 §2.8: the initiator of the rekey deletes the old SA.
            if let State::Established(e) = &mut self.state {
                e.pending.push_back(Pending::DeleteChild(vec![old_spi_in]));
            }
        }
    }

    fn on_rekey_ike_response(
        &mut self,
        now: Instant,
        p: &[Payload],
        new_spi: IkeSpi,
        ni: &[u8],
        dh: &DhPrivate,
        out: &mut Outputs,
    ) -> Option<IkeSa> {
        let State::Established(e) = &mut self.state else {
            return None;
        };
        let suite = e.keys.suite;
        let result = (|| -> Result<(Keys, IkeSpi), Failure> {
            if let Some(n) = first_error(p) {
                return Err(Failure::Notified(n));
            }
            let sa = sa_of(p).ok_or(Failure::Invalid("no SA"))?;
            let (_, peer_spi) =
                proposal::accepted_ike(sa, &[suite]).ok_or(Failure::NoProposalChosen)?;
            let peer_spi = IkeSpi::try_from(peer_spi.as_slice())
                .map_err(|_| Failure::Invalid("IKE SPI size"))?;
            let ke = ke_of(p)
                .filter(|k| k.group == suite.dh)
                .ok_or(Failure::Invalid("KEr"))?;
            let nr = nonce_of(p).ok_or(Failure::Invalid("no Nr"))?;
            let g_ir = dh
                .agree(&ke.data)
                .map_err(|_| Failure::Invalid("bad KEr"))?;
            let seed = SkeySeed::rekey(e.keys.prf, &e.keys.sk.sk_d, g_ir.as_bytes(), ni, &nr.data);
            let keys = Keys::derive(
                suite,
                &seed,
                ni,
                &nr.data,
                &new_spi,
                &peer_spi,
                Role::Initiator,
            )
            .map_err(|_| Failure::Invalid("key derivation"))?;
            Ok((keys, peer_spi))
        })();
        match result {
            Ok((keys, peer_spi)) => {
                let new = self.successor(now, Role::Initiator, new_spi, peer_spi, keys);
                // RFC 7296 §2.18: the initiator of the rekey deletes the old
                // IKE SA.
                if let State::Established(e) = &mut self.state {
                    e.closing = Some(DownReason::Rekeyed);
                    e.pending.push_back(Pending::DeleteIke(DownReason::Rekeyed));
                }
                Some(new)
            }
            Err(f) => {
                out.events.push_back(Event::Failed {
                    sa: self.id,
                    tag: self.tag,
                    remote: self.remote,
                    failure: f,
                });
                None
            }
        }
    }

    /// Schedules an IKE SA rekey (RFC 7296 §2.18) at `at`.
    pub fn schedule_ike_rekey(&mut self, at: Instant) {
        if let State::Established(e) = &mut self.state {
            e.rekey_ike_at = Some(at);
        }
    }

    /// Children (for the endpoint's bookkeeping and tests).
    pub fn children(&self) -> &[Child] {
        match &self.state {
            State::Established(e) => &e.children,
            _ => &[],
        }
    }
}
