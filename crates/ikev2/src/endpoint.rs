//! The sans-IO IKEv2 endpoint: every IKE SA of one host, the responder's
//! IKE_SA_INIT handling with its DoS protection (cookies, RFC 7296 §2.6;
//! per-source rate limits; a bounded half-open table), and the timers.
//!
//! The driver feeds it datagrams ([`Endpoint::handle`], without the
//! non-ESP marker) and the time ([`Endpoint::handle_timeout`] at
//! [`Endpoint::poll_timeout`]), and takes [`Transmit`]s and [`Event`]s out.
//! Nothing here reads a clock or touches a socket.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::auth::Role;
use crate::config::{Config, InitiatorParams, PeerEntry};
use crate::consts::{ExchangeType, NotifyType, PayloadType};
use crate::crypto::DhPrivate;
use crate::error::IkeError;
use crate::event::{Counters, DownReason, Event, IkeSaId, Transmit};
use crate::header::{HeaderRepr, IkeSpi};
use crate::ike_sa::{peer_key, IkeSa, InitDone, Keys, Outputs, Peers, Pending};
use crate::keys::SkeySeed;
use crate::message::{MessageRepr, MessageView};
use crate::payload::{IdRepr, KeRepr, NonceRepr, NotifyRepr, Payload, SaRepr};
use crate::prf::Prf;
use crate::proposal;
use crate::util::{nat_hash, random_bytes, random_ike_spi, random_nonce};

/// RFC 7296 §2.6: the version octet of our cookie secret.
const COOKIE_VERSION: u8 = 1;

/// Token bucket per source address (IKE_SA_INIT without a cookie).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Bound on the rate-limit table (a flood from many addresses must not
/// grow it without limit): when full, it starts afresh.
const MAX_RATE_ENTRIES: usize = 65_536;

/// The header of an IKE_SA_INIT response (RFC 7296 §3.1: Message ID 0,
/// R flag, I flag clear).
fn init_response_header(spi_i: IkeSpi, spi_r: IkeSpi) -> HeaderRepr {
    HeaderRepr {
        spi_i,
        spi_r,
        next_payload: PayloadType::NONE,
        exchange_type: ExchangeType::IKE_SA_INIT,
        initiator: false,
        response: true,
        version_flag: false,
        message_id: 0,
        length: 0,
    }
}

/// Every IKE SA of one host.
pub struct Endpoint {
    cfg: Config,
    peers: Peers,
    sas: HashMap<IkeSaId, IkeSa>,
    by_spi: HashMap<IkeSpi, IkeSaId>,
    half_open_index: HashMap<(SocketAddr, IkeSpi), IkeSaId>,
    half_open: usize,
    cookie_secret: [u8; 32],
    rate: HashMap<IpAddr, Bucket>,
    timers: BinaryHeap<Reverse<(Instant, IkeSaId)>>,
    next_id: IkeSaId,
    out: Outputs,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("sas", &self.sas.len())
            .field("half_open", &self.half_open)
            .field("peers", &self.peers.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint (no SAs, no authorized peers).
    pub fn new(cfg: Config) -> Result<Self, IkeError> {
        let mut cookie_secret = [0u8; 32];
        random_bytes(&mut cookie_secret)?;
        Ok(Endpoint {
            cfg,
            peers: HashMap::new(),
            sas: HashMap::new(),
            by_spi: HashMap::new(),
            half_open_index: HashMap::new(),
            half_open: 0,
            cookie_secret,
            rate: HashMap::new(),
            timers: BinaryHeap::new(),
            next_id: 1,
            out: Outputs::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Counters by reason.
    pub fn counters(&self) -> &Counters {
        &self.out.counters
    }

    /// Half-open IKE SAs (responder, IKE_AUTH not yet received).
    pub fn half_open(&self) -> usize {
        self.half_open
    }

    /// IKE SAs held (any state).
    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.out.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.out.events.pop_front()
    }

    /// When [`Endpoint::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((t, _))| *t)
    }

    /// Lets the responder accept IKE_AUTH from `entry.id` (the ACE binding
    /// calls this for each accepted access token). Replaces an entry with
    /// the same ID.
    pub fn authorize_peer(&mut self, entry: PeerEntry) {
        self.peers.insert(peer_key(&entry.id), entry);
    }

    /// Withdraws a peer's authorization and deletes (INFORMATIONAL DELETE)
    /// every IKE SA it authenticated. Returns how many.
    pub fn revoke_peer(&mut self, now: Instant, id: &IdRepr) -> usize {
        let Some(entry) = self.peers.remove(&peer_key(id)) else {
            return 0;
        };
        self.delete_tagged(now, entry.tag)
    }

    /// Deletes every established IKE SA whose tag is `tag`. Returns how
    /// many.
    pub fn delete_tagged(&mut self, now: Instant, tag: u64) -> usize {
        let ids: Vec<IkeSaId> = self
            .sas
            .iter()
            .filter(|(_, sa)| sa.tag == tag && !sa.is_dead())
            .map(|(id, _)| *id)
            .collect();
        let mut n = 0;
        for id in ids {
            if self.delete_ike(now, id).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Starts an IKE SA towards `remote` (RFC 7296 §1.2), sending from
    /// `local` (our IKE port).
    pub fn initiate(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        params: InitiatorParams,
    ) -> Result<IkeSaId, IkeError> {
        let id = self.alloc_id();
        let spi = self.fresh_spi()?;
        let sa = IkeSa::new_initiator(
            id,
            &self.cfg,
            now,
            spi,
            local,
            remote,
            params,
            &mut self.out,
        )?;
        self.by_spi.insert(spi, id);
        self.sas.insert(id, sa);
        self.schedule(id);
        Ok(id)
    }

    fn alloc_id(&mut self) -> IkeSaId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn fresh_spi(&self) -> Result<IkeSpi, IkeError> {
        loop {
            let s = random_ike_spi()?;
            if !self.by_spi.contains_key(&s) {
                return Ok(s);
            }
        }
    }

    /// Rekeys a Child SA (CREATE_CHILD_SA with REKEY_SA, RFC 7296 §2.8),
    /// named by our inbound SPI.
    pub fn rekey_child(&mut self, now: Instant, sa: IkeSaId, spi_in: u32) -> Result<(), IkeError> {
        self.request(now, sa, Pending::RekeyChild(spi_in))
    }

    /// Rekeys the IKE SA (RFC 7296 §2.18).
    pub fn rekey_ike(&mut self, now: Instant, sa: IkeSaId) -> Result<(), IkeError> {
        self.request(now, sa, Pending::RekeyIke)
    }

    /// Deletes a Child SA (INFORMATIONAL DELETE, RFC 7296 §1.4.1).
    pub fn delete_child(&mut self, now: Instant, sa: IkeSaId, spi_in: u32) -> Result<(), IkeError> {
        self.request(now, sa, Pending::DeleteChild(vec![spi_in]))
    }

    /// Deletes the IKE SA and its Child SAs.
    pub fn delete_ike(&mut self, now: Instant, sa: IkeSaId) -> Result<(), IkeError> {
        self.request(now, sa, Pending::DeleteIke(DownReason::DeletedLocally))
    }

    /// Sends a liveness check (an empty INFORMATIONAL, RFC 7296 §1.4).
    pub fn check_liveness(&mut self, now: Instant, sa: IkeSaId) -> Result<(), IkeError> {
        self.request(now, sa, Pending::Liveness)
    }

    fn request(&mut self, now: Instant, id: IkeSaId, p: Pending) -> Result<(), IkeError> {
        let sa = self.sas.get_mut(&id).ok_or(IkeError::NoSuchSa)?;
        sa.request(&self.cfg, now, p, &mut self.out)?;
        self.schedule(id);
        Ok(())
    }

    /// The inbound SPIs of an IKE SA's Child SAs.
    pub fn child_spis(&self, sa: IkeSaId) -> Vec<u32> {
        self.sas
            .get(&sa)
            .map(|s| {
                s.children()
                    .iter()
                    .filter(|c| !c.rekeyed)
                    .map(|c| c.spi_in)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn schedule(&mut self, id: IkeSaId) {
        if let Some(t) = self.sas.get(&id).and_then(IkeSa::next_deadline) {
            self.timers.push(Reverse((t, id)));
        }
    }

    /// Runs every timer due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(Reverse((t, id))) = self.timers.peek().copied() {
            if t > now {
                break;
            }
            self.timers.pop();
            let Some(sa) = self.sas.get_mut(&id) else {
                continue;
            };
            // Lazy entries: the SA decides whether anything is due.
            if sa.next_deadline().is_some_and(|d| d > now) {
                self.schedule(id);
                continue;
            }
            let was_half_open = sa.half_open;
            sa.on_timeout(&self.cfg, now, &mut self.out);
            let dead_and_done =
                matches!(sa.state, crate::ike_sa::State::Dead { until } if until <= now);
            self.after(id, was_half_open);
            if dead_and_done {
                self.remove(id);
            } else if self
                .sas
                .get(&id)
                .and_then(IkeSa::next_deadline)
                .is_some_and(|d| d <= now)
            {
                // Nothing may stay due after its turn: a deadline that did
                // not move is retried later rather than spun on.
                self.out.counters.stuck_timers += 1;
                self.timers
                    .push(Reverse((now + std::time::Duration::from_millis(100), id)));
            } else {
                self.schedule(id);
            }
        }
    }

    /// Half-open accounting after an SA changed.
    fn after(&mut self, id: IkeSaId, was_half_open: bool) {
        if let Some(sa) = self.sas.get_mut(&id) {
            if was_half_open && (!sa.half_open || sa.is_dead()) {
                sa.half_open = false;
                self.half_open = self.half_open.saturating_sub(1);
                self.half_open_index
                    .remove(&(sa.remote_at_init(), sa.spi_i));
            }
        }
    }

    fn remove(&mut self, id: IkeSaId) {
        if let Some(sa) = self.sas.remove(&id) {
            if sa.half_open {
                self.half_open = self.half_open.saturating_sub(1);
            }
            self.half_open_index
                .remove(&(sa.remote_at_init(), sa.spi_i));
            if self.by_spi.get(&sa.local_spi()) == Some(&id) {
                self.by_spi.remove(&sa.local_spi());
            }
        }
    }

    /// One received IKE datagram (the UDP payload; on the NAT-T port,
    /// after the non-ESP marker). `local` is the address it arrived on.
    pub fn handle(&mut self, now: Instant, local: SocketAddr, remote: SocketAddr, datagram: &[u8]) {
        let Ok(view) = MessageView::new_checked(datagram) else {
            self.out.counters.malformed += 1;
            return;
        };
        let Ok(hdr) = HeaderRepr::parse(datagram) else {
            self.out.counters.malformed += 1;
            return;
        };
        let _ = view;
        // RFC 7296 §2.2: the SPI that identifies the SA at our end is SPIi
        // if we are the original initiator (the message came from the
        // original responder: I flag clear), else SPIr.
        if hdr.exchange_type == ExchangeType::IKE_SA_INIT && !hdr.response && hdr.initiator {
            if hdr.spi_r == [0; 8] {
                self.on_init_request(now, local, remote, &hdr, datagram);
            } else {
                self.out.counters.unexpected_message += 1;
            }
            return;
        }
        let ours = if hdr.initiator { hdr.spi_r } else { hdr.spi_i };
        let Some(&id) = self.by_spi.get(&ours) else {
            self.out.counters.unknown_spi += 1;
            return;
        };
        let Some(sa) = self.sas.get_mut(&id) else {
            self.out.counters.unknown_spi += 1;
            return;
        };
        // The peer's role flag must be the opposite of ours.
        if hdr.initiator == (sa.role == Role::Initiator) {
            self.out.counters.unexpected_message += 1;
            return;
        }
        let was_half_open = sa.half_open;
        let spawned = sa.on_message(
            &self.cfg,
            &self.peers,
            now,
            local,
            remote,
            &hdr,
            datagram,
            &mut self.out,
        );
        self.after(id, was_half_open);
        self.schedule(id);
        if let Some(mut new) = spawned {
            let nid = self.alloc_id();
            new.id = nid;
            if new.role == Role::Initiator {
                if let Some(d) = self.cfg.ike_rekey_after {
                    new.schedule_ike_rekey(now + d);
                }
            }
            self.by_spi.insert(new.local_spi(), nid);
            self.sas.insert(nid, new);
            self.out
                .events
                .push_back(Event::IkeSaRekeyed { old: id, new: nid });
            self.schedule(nid);
        }
    }

    /// RFC 7296 §2.6: `Cookie = <VersionIDofSecret> | Hash(Ni | IPi | SPIi | <secret>)`,
    /// here with HMAC-SHA-256 keyed by the secret.
    fn cookie(&self, ni: &[u8], ip: IpAddr, spi_i: &IkeSpi) -> Vec<u8> {
        let ip_octets = match ip {
            IpAddr::V4(a) => a.octets().to_vec(),
            IpAddr::V6(a) => a.octets().to_vec(),
        };
        let mac = Prf::HmacSha256.prf(&self.cookie_secret, &[ni, &ip_octets, spi_i]);
        let mut c = Vec::with_capacity(1 + mac.len());
        c.push(COOKIE_VERSION);
        c.extend_from_slice(mac.as_bytes());
        c
    }

    fn rate_ok(&mut self, ip: IpAddr, now: Instant) -> bool {
        let rate = f64::from(self.cfg.init_rate_per_source.max(1));
        if self.rate.len() >= MAX_RATE_ENTRIES && !self.rate.contains_key(&ip) {
            self.rate.clear();
        }
        let b = self.rate.entry(ip).or_insert(Bucket {
            tokens: rate,
            last: now,
        });
        let dt = now.saturating_duration_since(b.last).as_secs_f64();
        b.tokens = (b.tokens + dt * rate).min(rate);
        b.last = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn reply_unprotected(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &HeaderRepr,
        payload: Payload,
    ) {
        let msg = MessageRepr {
            header: init_response_header(hdr.spi_i, [0; 8]),
            payloads: vec![payload],
        };
        if let Ok(bytes) = msg.emit() {
            self.out.transmits.push_back(Transmit {
                local,
                remote,
                non_esp_marker: local.port() == self.cfg.natt_port,
                payload: bytes,
            });
        }
    }

    /// RFC 7296 §1.2, §2.6, §2.23: the responder's side of IKE_SA_INIT.
    fn on_init_request(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &HeaderRepr,
        raw: &[u8],
    ) {
        self.out.counters.init_requests += 1;
        if hdr.message_id != 0 {
            self.out.counters.malformed += 1;
            return;
        }
        // A retransmission of a request we answered: the same answer.
        if let Some(&id) = self.half_open_index.get(&(remote, hdr.spi_i)) {
            if let Some(sa) = self.sas.get_mut(&id) {
                sa.replay_init_response(&mut self.out);
                return;
            }
        }
        let Ok(msg) = MessageRepr::parse(raw) else {
            self.out.counters.malformed += 1;
            return;
        };
        let p = &msg.payloads;
        let Some(ni) = msg.nonce().map(|n| n.data.clone()) else {
            self.out.counters.malformed += 1;
            return;
        };
        // Cookies (§2.6): a valid one proves the initiator receives at its
        // address; it must be the first payload.
        let cookie_ok = match p.first() {
            Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => {
                let ok = n.data == self.cookie(&ni, remote.ip(), &hdr.spi_i);
                if !ok {
                    self.out.counters.bad_cookie += 1;
                }
                ok
            }
            _ => false,
        };
        if !cookie_ok {
            if self.half_open >= self.cfg.cookie_threshold {
                self.out.counters.cookies_sent += 1;
                let c = self.cookie(&ni, remote.ip(), &hdr.spi_i);
                self.reply_unprotected(
                    local,
                    remote,
                    hdr,
                    Payload::Notify(NotifyRepr::new(NotifyType::COOKIE, c)),
                );
                return;
            }
            if !self.rate_ok(remote.ip(), now) {
                self.out.counters.rate_limited += 1;
                return;
            }
        }
        if self.half_open >= self.cfg.max_half_open {
            self.out.counters.half_open_full += 1;
            return;
        }
        let Some(sa_p) = msg.sa() else {
            self.out.counters.malformed += 1;
            return;
        };
        let Some((number, suite, _)) = proposal::choose_ike(sa_p, &self.cfg.ike_suites) else {
            self.out.counters.no_proposal_chosen += 1;
            self.reply_unprotected(
                local,
                remote,
                hdr,
                Payload::Notify(NotifyRepr::new(NotifyType::NO_PROPOSAL_CHOSEN, Vec::new())),
            );
            return;
        };
        let Some(ke) = msg.ke() else {
            self.out.counters.malformed += 1;
            return;
        };
        if ke.group != suite.dh {
            self.out.counters.invalid_ke += 1;
            self.reply_unprotected(
                local,
                remote,
                hdr,
                Payload::Notify(NotifyRepr::new(
                    NotifyType::INVALID_KE_PAYLOAD,
                    suite.dh.0.to_be_bytes().to_vec(),
                )),
            );
            return;
        }
        match self.accept_init(now, local, remote, hdr, raw, &msg, number, suite, &ni, ke) {
            Ok(()) => {}
            Err(_) => self.out.counters.malformed += 1,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn accept_init(
        &mut self,
        now: Instant,
        local: SocketAddr,
        remote: SocketAddr,
        hdr: &HeaderRepr,
        raw: &[u8],
        msg: &MessageRepr,
        number: u8,
        suite: proposal::IkeSuite,
        ni: &[u8],
        ke: &KeRepr,
    ) -> Result<(), IkeError> {
        let dh = DhPrivate::generate(suite.dh)?;
        let g_ir = dh.agree(&ke.data)?;
        let nr = random_nonce()?;
        let spi_r = self.fresh_spi()?;
        let prf = suite.prf().ok_or(IkeError::Unsupported("PRF"))?;
        let seed = SkeySeed::initial(prf, ni, &nr, g_ir.as_bytes());
        let keys = Keys::derive(suite, &seed, ni, &nr, &hdr.spi_i, &spi_r, Role::Responder)?;
        // NAT detection (§2.23), against the request's hashes (SPIr zero).
        let src: Vec<&NotifyRepr> = msg
            .notifies()
            .filter(|n| n.notify_type == NotifyType::NAT_DETECTION_SOURCE_IP)
            .collect();
        let dst = msg.notify(NotifyType::NAT_DETECTION_DESTINATION_IP);
        let natd = !src.is_empty() && dst.is_some();
        let nat = natd && {
            let peer_ok = src
                .iter()
                .any(|n| n.data == nat_hash(&hdr.spi_i, &[0; 8], remote));
            let me_ok = dst.is_some_and(|n| n.data == nat_hash(&hdr.spi_i, &[0; 8], local));
            !peer_ok || !me_ok
        };
        let frag = self.cfg.fragmentation
            && msg
                .notify(NotifyType::IKEV2_FRAGMENTATION_SUPPORTED)
                .is_some();
        let sig = msg.notify(NotifyType::SIGNATURE_HASH_ALGORITHMS).is_some();
        let mut p = vec![
            Payload::Sa(SaRepr {
                proposals: vec![suite.proposal(number, Vec::new())],
            }),
            Payload::Ke(KeRepr {
                group: suite.dh,
                data: dh.public_key().to_vec(),
            }),
            Payload::Nonce(NonceRepr { data: nr.clone() }),
        ];
        if natd {
            let src = if self.cfg.always_encap {
                random_nonce()?.get(..20).unwrap_or(&[]).to_vec()
            } else {
                nat_hash(&hdr.spi_i, &spi_r, local)
            };
            p.push(Payload::Notify(NotifyRepr::new(
                NotifyType::NAT_DETECTION_SOURCE_IP,
                src,
            )));
            p.push(Payload::Notify(NotifyRepr::new(
                NotifyType::NAT_DETECTION_DESTINATION_IP,
                nat_hash(&hdr.spi_i, &spi_r, remote),
            )));
        }
        if frag {
            p.push(Payload::Notify(NotifyRepr::new(
                NotifyType::IKEV2_FRAGMENTATION_SUPPORTED,
                Vec::new(),
            )));
        }
        if sig {
            p.push(Payload::Notify(NotifyRepr::new(
                NotifyType::SIGNATURE_HASH_ALGORITHMS,
                crate::consts::HashAlgorithm::SHA2_256
                    .0
                    .to_be_bytes()
                    .to_vec(),
            )));
        }
        let resp = MessageRepr {
            header: init_response_header(hdr.spi_i, spi_r),
            payloads: p,
        };
        let msg2 = resp.emit()?;
        let id = self.alloc_id();
        let st = InitDone {
            keys,
            ni: ni.to_vec(),
            nr,
            msg1: raw.to_vec(),
            msg2: msg2.clone(),
            deadline: now + self.cfg.half_open_timeout,
        };
        let sa = IkeSa::new_responder(
            id,
            local,
            remote,
            hdr.spi_i,
            spi_r,
            st,
            natd && (nat || self.cfg.always_encap),
            frag,
            sig,
        );
        self.out.transmits.push_back(Transmit {
            local,
            remote,
            non_esp_marker: local.port() == self.cfg.natt_port,
            payload: msg2,
        });
        self.by_spi.insert(spi_r, id);
        self.half_open_index.insert((remote, hdr.spi_i), id);
        self.half_open += 1;
        self.sas.insert(id, sa);
        self.schedule(id);
        Ok(())
    }
}
