//! The sans-IO host: one CoAP endpoint reachable over two interfaces.
//!
//! * the **plain** interface: CoAP over UDP (RFC 7252), used only for what the
//!   profile leaves unprotected (`POST /authz-info`, the 4.01 with AS Request
//!   Creation Hints);
//! * the **ESP** interface: ESP in UDP (RFC 3948), transport mode: each ESP
//!   payload is a UDP datagram (Next Header 17) between the two CoAP ports.
//!
//! A CoAP peer is therefore either [`Peer::Plain`] (a UDP address) or
//! [`Peer::Secure`] (an installed SA pair plus the peer's inner UDP port). The
//! node owns the SAD; hosts (AS, RS, Client) install and remove SA pairs and
//! answer CoAP events. No sockets, no clocks: datagrams and time come in,
//! [`Transmit`]s and [`NodeEvent`]s go out.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ace_coap::{Endpoint, Event};
use ipsec_dp::consts::IPPROTO_UDP;
use ipsec_dp::encap::{classify, Classified};
use ipsec_dp::keys::SaKeys;
use ipsec_dp::sa::{InboundSa, OutboundSa};
use ipsec_dp::sad::Sad;
use ipsec_dp::transport::{parse_udp, write_udp};

use crate::tap::{Direction, Tap, TapRecord};

/// Identifies an installed SA pair inside one node.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PairId(pub u64);

impl fmt::Debug for PairId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "pair#{}", self.0)
    }
}

/// Where a CoAP message comes from or goes to.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Peer {
    /// Unprotected CoAP over UDP.
    Plain(SocketAddr),
    /// CoAP inside the SA pair `pair`; `port` is the peer's inner UDP port.
    Secure { pair: PairId, port: u16 },
}

/// Which UDP socket a datagram uses.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Interface {
    /// Plain CoAP.
    Plain,
    /// ESP in UDP (RFC 3948).
    Esp,
}

/// A datagram for the driver to send.
#[derive(Clone, Debug)]
pub struct Transmit {
    pub iface: Interface,
    pub to: SocketAddr,
    pub payload: Vec<u8>,
}

/// What the node tells its host.
#[derive(Debug)]
pub enum NodeEvent {
    Coap(Event<Peer>),
    /// The SA pair reached its hard lifetime and was removed (RFC 4301 §4.4.2.1).
    PairExpired(PairId),
    /// Something happened in the node's IKEv2 endpoint ([`Node::enable_ike`]).
    Ike(ikev2::Event),
}

/// Everything needed to install an SA pair in transport mode.
pub struct SaPairSpec {
    /// SPI of the inbound SA (the one the peer uses towards us).
    pub spi_in: u32,
    pub keys_in: SaKeys,
    /// SPI of the outbound SA.
    pub spi_out: u32,
    pub keys_out: SaKeys,
    /// The peer's ESP-in-UDP address; updated from authenticated packets (RFC 3948 NAT-T).
    pub peer_esp: SocketAddr,
    /// Inner addresses for the UDP pseudo-header of transport mode.
    pub local_ip: IpAddr,
    pub peer_ip: IpAddr,
    /// Hard lifetime of both SAs.
    pub lifetime: Option<Duration>,
    /// A human label for logs ("client1→rs1", "token 3fa2…").
    pub label: String,
    /// A long-lived pair whose counters must survive restarts (the
    /// registration pair between a client and the AS): its name and the
    /// state persisted by the previous run (see [`SeqState`]).
    pub persist: Option<(String, SeqState)>,
}

/// Sequence-number state of a long-lived SA pair, persisted across restarts
/// so that a restarted node never reuses a sequence number (and so an
/// AES-GCM/CCM IV) under the same key, and never accepts the previous run's
/// packets again (RFC 4303 §3.3.3, §3.4.3; RFC 4106 §3.1; RFC 4309 §3.1).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeqState {
    /// Outbound sequence numbers up to this one may have been used.
    pub out_reserved: u32,
    /// The highest inbound sequence number authenticated.
    pub in_highest: u32,
    /// The SPIs the state belongs to (inbound, outbound): a state is only
    /// resumed by the pair it was written for (other SPIs, other keys).
    pub spis: (u32, u32),
}

/// Outbound numbers are reserved this many at a time: one durable write
/// per `SEQ_RESERVATION` packets.
pub const SEQ_RESERVATION: u32 = 1024;

impl SeqState {
    /// A small text form, one `key value` per line.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "spi_in {}\nspi_out {}\nout_reserved {}\nin_highest {}\n",
            self.spis.0, self.spis.1, self.out_reserved, self.in_highest
        )
        .into_bytes()
    }
    /// Parses [`SeqState::encode`]'s form; None if it is not that.
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut st = SeqState::default();
        let mut seen = [false; 4];
        for line in text.lines() {
            let (k, v) = line.split_once(' ')?;
            let v: u32 = v.trim().parse().ok()?;
            let slot = match k {
                "spi_in" => {
                    st.spis.0 = v;
                    0
                }
                "spi_out" => {
                    st.spis.1 = v;
                    1
                }
                "out_reserved" => {
                    st.out_reserved = v;
                    2
                }
                "in_highest" => {
                    st.in_highest = v;
                    3
                }
                _ => return None,
            };
            if std::mem::replace(&mut seen[slot], true) {
                return None;
            }
        }
        seen.iter().all(|s| *s).then_some(st)
    }
}

struct Persisted {
    name: String,
    state: SeqState,
}

/// Public view of an installed pair.
#[derive(Clone, Debug)]
pub struct PairInfo {
    pub id: PairId,
    pub spi_in: u32,
    pub spi_out: u32,
    pub peer_esp: SocketAddr,
    pub label: String,
}

struct PairState {
    spi_in: u32,
    out: OutboundSa,
    peer_esp: SocketAddr,
    local_ip: IpAddr,
    peer_ip: IpAddr,
    label: String,
    expires: Option<Instant>,
    persist: Option<Persisted>,
}

/// A pair taken out of the node ([`Node::take_pair`]) with the state of
/// its SAs, to carry on elsewhere (the TUN data path of the transparent
/// mode). Its inbound SPI stays reserved in the node until
/// [`Node::release_spi`].
pub struct DetachedPair {
    pub id: PairId,
    /// The inbound SA: keys, replay window, lifetime.
    pub inbound: InboundSa,
    /// The outbound SA: keys, the last sequence number used, lifetime.
    pub outbound: OutboundSa,
    /// The peer's ESP-in-UDP address (as last rebound).
    pub peer_esp: SocketAddr,
    pub local_ip: IpAddr,
    pub peer_ip: IpAddr,
    /// When the pair's hard lifetime ends.
    pub expires: Option<Instant>,
    pub label: String,
}

/// Why a pair cannot be taken out of the node.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TakeError {
    #[error("no such SA pair")]
    NotInstalled,
    /// Its sequence numbers are persisted by this node (the registration
    /// pair): it cannot live anywhere else.
    #[error("the SA pair is persistent")]
    Persistent,
}

/// Why installing a pair failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InstallError {
    #[error("SPI {0:#010x} is already in use in this node's SAD")]
    SpiInUse(u32),
    #[error("the SA pair could not be installed: {0}")]
    Invalid(String),
}

/// Counters of the node's own decisions (the SAD counts ESP drops by reason).
#[derive(Clone, Debug, Default)]
pub struct NodeCounters {
    pub esp_in: u64,
    pub esp_out: u64,
    pub plain_in: u64,
    pub plain_out: u64,
    /// ESP payload that is not UDP (Next Header ≠ 17).
    pub inner_not_udp: u64,
    /// Inner UDP header malformed.
    pub inner_malformed: u64,
    /// Inner UDP datagram for a port nobody listens on.
    pub inner_wrong_port: u64,
    /// ESP for an SPI this node handed to another owner (a packet that
    /// raced the hand-over, or a peer sending to the wrong socket).
    pub handed_over_spi: u64,
    /// IKE messages (non-ESP marker) arriving while no IKE responder is attached.
    pub ike_unhandled: u64,
    /// NAT-keepalives (RFC 3948 §2.3).
    pub keepalives: u64,
    /// Datagrams on the ESP port that are neither ESP, IKE nor keepalive.
    pub encap_malformed: u64,
    /// CoAP messages that could not be sealed (expired SA, sequence exhausted, pair gone).
    pub seal_failures: u64,
}

/// The sans-IO host.
pub struct Node {
    name: String,
    local_plain: SocketAddr,
    local_esp: SocketAddr,
    endpoint: Endpoint<Peer>,
    sad: Sad,
    pairs: HashMap<PairId, PairState>,
    by_spi: HashMap<u32, PairId>,
    /// Inbound SPIs of pairs handed to another owner ([`Node::take_pair`]):
    /// not in the SAD, but still in use for the collision checks (draft
    /// §2.1) until [`Node::release_spi`].
    handed_over: HashMap<u32, PairId>,
    next_pair: u64,
    events: VecDeque<NodeEvent>,
    counters: NodeCounters,
    tap: Tap,
    scratch: Vec<u8>,
    /// State blobs the driver must write durably before it sends anything
    /// produced in the same turn, by name (latest wins).
    persist_queue: HashMap<String, Vec<u8>>,
    /// IKEv2 on the ESP-in-UDP port (RFC 3948 non-ESP marker), when enabled.
    ike: Option<Box<ikev2::Endpoint>>,
}

const MAX_DATAGRAM: usize = 65_535;

impl Node {
    /// A node whose plain CoAP socket is `local_plain` and ESP-in-UDP socket is
    /// `local_esp`. The inner CoAP port of transport mode is `local_plain.port()`.
    pub fn new(
        name: impl Into<String>,
        local_plain: SocketAddr,
        local_esp: SocketAddr,
        coap: ace_coap::Config,
        seed: u64,
    ) -> Self {
        Node {
            name: name.into(),
            local_plain,
            local_esp,
            endpoint: Endpoint::new(coap, seed),
            sad: Sad::new(),
            pairs: HashMap::new(),
            by_spi: HashMap::new(),
            handed_over: HashMap::new(),
            next_pair: 1,
            events: VecDeque::new(),
            counters: NodeCounters::default(),
            tap: Tap::default(),
            scratch: vec![0; MAX_DATAGRAM],
            persist_queue: HashMap::new(),
            ike: None,
        }
    }

    /// Runs IKEv2 (RFC 7296) on the ESP-in-UDP socket: IKE messages behind
    /// the non-ESP marker go to an [`ikev2::Endpoint`] whose NAT-T port is
    /// this socket's, its datagrams leave from it, and its events come out
    /// as [`NodeEvent::Ike`].
    pub fn enable_ike(&mut self, mut cfg: ikev2::Config) -> Result<(), ikev2::IkeError> {
        cfg.natt_port = self.local_esp.port();
        self.ike = Some(Box::new(ikev2::Endpoint::new(cfg)?));
        Ok(())
    }

    /// The IKEv2 endpoint, if enabled.
    pub fn ike(&mut self) -> Option<&mut ikev2::Endpoint> {
        self.ike.as_deref_mut()
    }

    /// The IKEv2 endpoint, if enabled (read-only).
    pub fn ike_ref(&self) -> Option<&ikev2::Endpoint> {
        self.ike.as_deref()
    }

    fn drain_ike_events(&mut self) {
        if let Some(ike) = self.ike.as_deref_mut() {
            while let Some(ev) = ike.poll_event() {
                self.events.push_back(NodeEvent::Ike(ev));
            }
        }
    }

    /// Call after driving [`Node::ike`] directly (initiate, rekey, delete).
    pub fn ike_changed(&mut self) {
        self.drain_ike_events();
    }

    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn local_plain(&self) -> SocketAddr {
        self.local_plain
    }
    pub fn local_esp(&self) -> SocketAddr {
        self.local_esp
    }
    /// The inner UDP port CoAP uses inside ESP (transport mode).
    pub fn coap_port(&self) -> u16 {
        self.local_plain.port()
    }
    pub fn endpoint(&mut self) -> &mut Endpoint<Peer> {
        &mut self.endpoint
    }
    pub fn sad(&self) -> &Sad {
        &self.sad
    }
    pub fn counters(&self) -> &NodeCounters {
        &self.counters
    }
    pub fn tap(&mut self) -> &mut Tap {
        &mut self.tap
    }

    /// Is `spi` already an inbound SPI here, in the SAD or handed over to
    /// another owner? (draft §2.1 collision checks)
    pub fn spi_in_use(&self, spi: u32) -> bool {
        self.sad.contains_spi(spi) || self.handed_over.contains_key(&spi)
    }

    /// Takes a pair out of the node with its SAs' state (sequence numbers,
    /// replay window, lifetime), for another owner of the same ESP socket
    /// to carry on: from now on the node neither seals nor opens for it.
    /// Its inbound SPI stays reserved until [`Node::release_spi`]; ESP for
    /// it that still reaches the node is dropped as `handed-over-spi`.
    pub fn take_pair(&mut self, id: PairId) -> Result<DetachedPair, TakeError> {
        let p = self.pairs.get(&id).ok_or(TakeError::NotInstalled)?;
        if p.persist.is_some() {
            return Err(TakeError::Persistent);
        }
        let spi_in = p.spi_in;
        let inbound = self
            .sad
            .remove_inbound(spi_in)
            .ok_or(TakeError::NotInstalled)?;
        let p = self.pairs.remove(&id).ok_or(TakeError::NotInstalled)?;
        self.by_spi.remove(&spi_in);
        self.handed_over.insert(spi_in, id);
        tracing::info!(node = %self.name, pair = ?id, spi_in = format_args!("{spi_in:#010x}"), label = %p.label, "SA pair handed over");
        Ok(DetachedPair {
            id,
            inbound,
            outbound: p.out,
            peer_esp: p.peer_esp,
            local_ip: p.local_ip,
            peer_ip: p.peer_ip,
            expires: p.expires,
            label: p.label,
        })
    }

    /// The other owner deleted the pair with inbound SPI `spi`: the SPI is
    /// free again.
    pub fn release_spi(&mut self, spi: u32) -> bool {
        self.handed_over.remove(&spi).is_some()
    }

    /// Whether pair `id` was handed over and its SPI is not yet released.
    pub fn is_handed_over(&self, id: PairId) -> bool {
        self.handed_over.values().any(|p| *p == id)
    }

    /// Installs an SA pair; nothing changes on error.
    pub fn install_pair(&mut self, now: Instant, spec: SaPairSpec) -> Result<PairId, InstallError> {
        if self.spi_in_use(spec.spi_in) {
            return Err(InstallError::SpiInUse(spec.spi_in));
        }
        // A persisted pair continues after everything the previous run may have used.
        // A state written for other SPIs belongs to other keys: start fresh.
        let spis = (spec.spi_in, spec.spi_out);
        let persist = spec.persist.map(|(name, st)| {
            let state = if st.spis == spis {
                st
            } else {
                SeqState {
                    spis,
                    ..SeqState::default()
                }
            };
            Persisted { name, state }
        });
        let (out_from, in_from) = persist
            .as_ref()
            .map_or((0, 0), |p| (p.state.out_reserved, p.state.in_highest));
        let inbound = InboundSa::new(spec.spi_in, spec.keys_in, now, spec.lifetime)
            .map_err(|e| InstallError::Invalid(e.to_string()))?
            .resume_after(in_from);
        let out = OutboundSa::new(spec.spi_out, spec.keys_out, now, spec.lifetime)
            .map_err(|e| InstallError::Invalid(e.to_string()))?
            .resume_after(out_from);

        self.sad
            .insert_inbound(inbound)
            .map_err(|_| InstallError::SpiInUse(spec.spi_in))?;
        let id = PairId(self.next_pair);
        self.next_pair += 1;
        tracing::info!(
            node = %self.name, pair = ?id, spi_in = format_args!("{:#010x}", spec.spi_in),
            spi_out = format_args!("{:#010x}", spec.spi_out), peer = %spec.peer_esp,
            label = %spec.label, "SA pair installed"
        );
        self.by_spi.insert(spec.spi_in, id);
        self.pairs.insert(
            id,
            PairState {
                spi_in: spec.spi_in,
                out,
                peer_esp: spec.peer_esp,
                local_ip: spec.local_ip,
                peer_ip: spec.peer_ip,
                label: spec.label,
                expires: spec.lifetime.map(|l| now + l),
                persist,
            },
        );
        Ok(id)
    }

    /// Deletes both SAs of a pair (RFC 4301 §4.4.2). Returns whether it existed.
    pub fn remove_pair(&mut self, id: PairId) -> bool {
        match self.pairs.remove(&id) {
            Some(p) => {
                self.sad.remove_inbound(p.spi_in);
                self.by_spi.remove(&p.spi_in);
                tracing::info!(node = %self.name, pair = ?id, label = %p.label, "SA pair removed");
                true
            }
            None => false,
        }
    }

    pub fn pair(&self, id: PairId) -> Option<PairInfo> {
        self.pairs.get(&id).map(|p| PairInfo {
            id,
            spi_in: p.spi_in,
            spi_out: p.out.spi(),
            peer_esp: p.peer_esp,
            label: p.label.clone(),
        })
    }

    /// State blobs to write durably (name, bytes) before sending anything
    /// this turn produced. Drivers call it after [`crate::host::process`].
    pub fn take_persist(&mut self) -> Vec<(String, Vec<u8>)> {
        self.persist_queue.drain().collect()
    }

    /// Gives back blobs the driver could not write: they are taken again next
    /// turn (unless a newer state for the same name was queued meanwhile), so
    /// no datagram is ever sent beyond a durable reservation.
    pub fn requeue_persist(&mut self, blobs: Vec<(String, Vec<u8>)>) {
        for (name, blob) in blobs {
            self.persist_queue.entry(name).or_insert(blob);
        }
    }

    pub fn pair_count(&self) -> usize {
        self.pairs.len()
    }

    /// A datagram arrived on `iface` from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        iface: Interface,
        from: SocketAddr,
        data: &[u8],
    ) {
        match iface {
            Interface::Plain => {
                self.counters.plain_in += 1;
                self.tap.record(TapRecord::plain(Direction::In, from, data));
                self.endpoint.handle_datagram(now, Peer::Plain(from), data);
            }
            Interface::Esp => self.handle_esp_port(now, from, data),
        }
        self.drain_endpoint_events();
    }

    fn handle_esp_port(&mut self, now: Instant, from: SocketAddr, data: &[u8]) {
        let esp = match classify(data) {
            Ok(Classified::Esp(esp)) => esp,
            Ok(Classified::Keepalive) => {
                self.counters.keepalives += 1;
                return;
            }
            Ok(Classified::Ike(msg)) if self.ike.is_some() => {
                let local = self.local_esp;
                if let Some(ike) = self.ike.as_deref_mut() {
                    self.tap.record(TapRecord::ike(Direction::In, from, msg));
                    ike.handle(now, local, from, msg);
                }
                self.drain_ike_events();
                return;
            }
            Ok(Classified::Ike(_)) => {
                self.counters.ike_unhandled += 1;
                log_drop(
                    &self.name,
                    "ike-unhandled",
                    self.counters.ike_unhandled,
                    from,
                    None,
                );
                return;
            }
            Err(_) => {
                self.counters.encap_malformed += 1;
                log_drop(
                    &self.name,
                    "encap-malformed",
                    self.counters.encap_malformed,
                    from,
                    None,
                );
                return;
            }
        };
        let Node {
            sad,
            pairs,
            by_spi,
            endpoint,
            counters,
            tap,
            name,
            scratch,
            local_plain,
            persist_queue,
            handed_over,
            ..
        } = self;
        let len = esp.len().min(scratch.len());
        scratch[..len].copy_from_slice(&esp[..len]);
        // The highest number authenticated so far on this SPI, before this packet.
        let spi_hint = esp
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        let highest_before = spi_hint
            .and_then(|s| sad.inbound(s))
            .map_or(0, |sa| sa.replay_window().highest());
        if let Some(spi) = spi_hint.filter(|s| handed_over.contains_key(s)) {
            counters.handed_over_spi += 1;
            log_drop(
                name,
                "handed-over-spi",
                counters.handed_over_spi,
                from,
                Some(spi),
            );
            return;
        }
        let (spi, opened) = match sad.open(now, &mut scratch[..len]) {
            Ok(v) => v,
            Err(reason) => {
                let spi = esp
                    .get(..4)
                    .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                let n = sad.drops().get(reason);
                log_drop(name, reason.as_str(), n, from, spi);
                return;
            }
        };
        counters.esp_in += 1;
        if opened.next_header != IPPROTO_UDP {
            counters.inner_not_udp += 1;
            log_drop(
                name,
                "inner-not-udp",
                counters.inner_not_udp,
                from,
                Some(spi),
            );
            return;
        }
        let udp = match parse_udp(opened.payload) {
            Ok(u) => u,
            Err(_) => {
                counters.inner_malformed += 1;
                log_drop(
                    name,
                    "inner-malformed",
                    counters.inner_malformed,
                    from,
                    Some(spi),
                );
                return;
            }
        };
        if udp.dst_port != local_plain.port() {
            counters.inner_wrong_port += 1;
            log_drop(
                name,
                "inner-wrong-port",
                counters.inner_wrong_port,
                from,
                Some(spi),
            );
            return;
        }
        let Some(&pair) = by_spi.get(&spi) else {
            // The SAD and the pair table are updated together; this cannot
            // happen, but peer input must never panic.
            counters.inner_wrong_port += 1;
            return;
        };
        if let Some(p) = pairs.get_mut(&pair) {
            let highest = sad
                .inbound(spi)
                .map_or(0, |sa| sa.replay_window().highest());
            if let Some(per) = p.persist.as_mut() {
                if highest > per.state.in_highest {
                    per.state.in_highest = highest;
                    persist_queue.insert(per.name.clone(), per.state.encode());
                }
            }
            // RFC 3948 §3.5 / RFC 7296 §2.23: follow the peer's address as
            // seen on authenticated packets (NAT rebinding).
            // Only a packet that advanced the window moves the peer: a delayed
            // or raced older packet must not redirect the pair.
            if p.peer_esp != from && highest > highest_before {
                tracing::info!(node = %name, pair = ?pair, old = %p.peer_esp, new = %from, "peer ESP address updated");
                p.peer_esp = from;
            }
        }
        tap.record(TapRecord::esp(
            Direction::In,
            from,
            data.len(),
            udp.payload,
            Some(pair),
        ));
        endpoint.handle_datagram(
            now,
            Peer::Secure {
                pair,
                port: udp.src_port,
            },
            udp.payload,
        );
    }

    fn drain_endpoint_events(&mut self) {
        while let Some(ev) = self.endpoint.poll_event() {
            self.events.push_back(NodeEvent::Coap(ev));
        }
    }

    /// Expires SAs and CoAP timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.drain_endpoint_events();
        if let Some(ike) = self.ike.as_deref_mut() {
            ike.handle_timeout(now);
        }
        self.drain_ike_events();
        let expired: Vec<PairId> = self
            .pairs
            .iter()
            .filter(|(_, p)| p.expires.is_some_and(|e| e <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            self.remove_pair(id);
            self.events.push_back(NodeEvent::PairExpired(id));
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let sa = self
            .pairs
            .values()
            .filter_map(|p| p.expires)
            .chain(self.ike.as_deref().and_then(ikev2::Endpoint::poll_timeout))
            .min();
        match (self.endpoint.poll_timeout(), sa) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    pub fn poll_event(&mut self) -> Option<NodeEvent> {
        self.drain_endpoint_events();
        self.events.pop_front()
    }

    /// The next datagram to send, sealing CoAP for secure peers.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        // IKE leaves from the ESP-in-UDP socket behind the non-ESP marker
        // (RFC 3948 §2.2), whatever port the endpoint thinks it is on: the
        // node has no other IKE socket.
        if let Some(t) = self
            .ike
            .as_deref_mut()
            .and_then(ikev2::Endpoint::poll_transmit)
        {
            self.tap
                .record(TapRecord::ike(Direction::Out, t.remote, &t.payload));
            let mut payload = Vec::with_capacity(4 + t.payload.len());
            payload.extend_from_slice(&[0, 0, 0, 0]);
            payload.extend_from_slice(&t.payload);
            return Some(Transmit {
                iface: Interface::Esp,
                to: t.remote,
                payload,
            });
        }
        loop {
            let (peer, coap) = self.endpoint.poll_transmit()?;
            match peer {
                Peer::Plain(to) => {
                    self.counters.plain_out += 1;
                    self.tap.record(TapRecord::plain(Direction::Out, to, &coap));
                    return Some(Transmit {
                        iface: Interface::Plain,
                        to,
                        payload: coap,
                    });
                }
                Peer::Secure { pair, port } => match self.seal(now, pair, port, &coap) {
                    Ok(t) => return Some(t),
                    Err(why) => {
                        self.counters.seal_failures += 1;
                        tracing::warn!(node = %self.name, pair = ?pair, %why, "CoAP message not sent: cannot seal");
                    }
                },
            }
        }
    }

    fn seal(
        &mut self,
        now: Instant,
        id: PairId,
        port: u16,
        coap: &[u8],
    ) -> Result<Transmit, String> {
        let coap_port = self.local_plain.port();
        let p = self
            .pairs
            .get_mut(&id)
            .ok_or_else(|| "SA pair no longer installed".to_string())?;
        if let Some(per) = p.persist.as_mut() {
            // Reserve ahead: the driver writes the new reservation before it
            // sends anything from this turn, so every number on the wire is
            // covered by a durable reservation.
            let next = p.out.last_seq().saturating_add(1);
            if next > per.state.out_reserved.saturating_sub(SEQ_RESERVATION / 2) {
                per.state.out_reserved = next.saturating_add(SEQ_RESERVATION);
                self.persist_queue
                    .insert(per.name.clone(), per.state.encode());
            }
        }
        let inner_len = write_udp(
            coap_port,
            port,
            p.local_ip,
            p.peer_ip,
            coap,
            &mut self.scratch,
        )
        .map_err(|e| e.to_string())?;
        let mut out = vec![0u8; p.out.sealed_len(inner_len)];
        let n = p
            .out
            .seal(now, IPPROTO_UDP, &self.scratch[..inner_len], &mut out)
            .map_err(|e| e.to_string())?;
        out.truncate(n);
        self.counters.esp_out += 1;
        let mut rec = TapRecord::esp(Direction::Out, p.peer_esp, n, coap, Some(id));
        if self.tap.capturing() {
            rec.bytes = Some(out.clone());
        }
        self.tap.record(rec);
        Ok(Transmit {
            iface: Interface::Esp,
            to: p.peer_esp,
            payload: out,
        })
    }
}

/// Every rejected datagram is counted by its owner; the first ten of each
/// reason and then every power of two are logged, so a flood cannot flood the
/// log while no drop goes unreported.
fn log_drop(node: &str, reason: &str, count: u64, from: SocketAddr, spi: Option<u32>) {
    let spi = spi
        .map(|s| format!("{s:#010x}"))
        .unwrap_or_else(|| "-".into());
    if log_throttle(count) {
        tracing::warn!(%node, %reason, %from, %spi, count, "ESP-port datagram dropped");
    } else {
        tracing::debug!(%node, %reason, %from, %spi, count, "ESP-port datagram dropped");
    }
}

/// Whether the `count`-th event of one kind is logged: the first ten, then
/// every power of two — every kind is reported, and a flood cannot drown the log.
pub fn log_throttle(count: u64) -> bool {
    count <= 10 || count.is_power_of_two()
}

/// Which side of a Direct-Provisioning SA pair a node is (draft §2.1): the
/// Client owns SA-C as outbound, the Resource Server (or the AS, for the
/// registration pair) owns it as inbound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DpRole {
    Client,
    Server,
}

/// Derives the SA pair from a seed (the profile's KDF, `ipsec_dp::kdf::derive_dp_sa_pair`)
/// and lays it out for `role`.
#[allow(clippy::too_many_arguments)]
pub fn dp_pair_spec(
    role: DpRole,
    seed: &[u8],
    spi_sa_c: u32,
    spi_sa_rs: u32,
    suite: ipsec_dp::suite::EspSuite,
    peer_esp: SocketAddr,
    local_ip: IpAddr,
    peer_ip: IpAddr,
    lifetime: Option<Duration>,
    label: String,
) -> Result<SaPairSpec, ipsec_dp::error::KdfError> {
    let (keys_c, keys_rs) = ipsec_dp::kdf::derive_dp_sa_pair(seed, spi_sa_c, spi_sa_rs, suite)?;
    let (spi_in, keys_in, spi_out, keys_out) = match role {
        DpRole::Client => (spi_sa_rs, keys_rs, spi_sa_c, keys_c),
        DpRole::Server => (spi_sa_c, keys_c, spi_sa_rs, keys_rs),
    };
    Ok(SaPairSpec {
        spi_in,
        keys_in,
        spi_out,
        keys_out,
        peer_esp,
        local_ip,
        peer_ip,
        lifetime,
        label,
        persist: None,
    })
}

/// The data plane's suite for a Child SA negotiated by IKEv2.
pub fn esp_suite_of(s: &ikev2::ChildSuite) -> Option<ipsec_dp::suite::EspSuite> {
    use ikev2::consts::{EncrId, IntegId, ProtocolId};
    use ipsec_dp::suite::EspSuite as S;
    if s.protocol != ProtocolId::ESP || s.esn {
        return None;
    }
    Some(match (s.encr?, s.integ) {
        ((EncrId::ENCR_AES_GCM_16, Some(128)), IntegId::NONE) => S::AesGcm16_128,
        ((EncrId::ENCR_AES_GCM_16, Some(256)), IntegId::NONE) => S::AesGcm16_256,
        ((EncrId::ENCR_AES_CCM_8, Some(128)), IntegId::NONE) => S::AesCcm8_128,
        ((EncrId::ENCR_AES_CCM_8, Some(256)), IntegId::NONE) => S::AesCcm8_256,
        ((EncrId::ENCR_AES_CCM_16, Some(128)), IntegId::NONE) => S::AesCcm16_128,
        ((EncrId::ENCR_AES_CCM_16, Some(256)), IntegId::NONE) => S::AesCcm16_256,
        ((EncrId::ENCR_CHACHA20_POLY1305, None), IntegId::NONE) => S::ChaCha20Poly1305,
        ((EncrId::ENCR_AES_CBC, Some(128)), IntegId::AUTH_HMAC_SHA2_256_128) => {
            S::AesCbc128HmacSha256
        }
        ((EncrId::ENCR_AES_CBC, Some(256)), IntegId::AUTH_HMAC_SHA2_256_128) => {
            S::AesCbc256HmacSha256
        }
        _ => return None,
    })
}

/// The transport-mode SA pair for a Child SA that IKEv2 set up (RFC 7296
/// §2.17 keying material, the peer's NAT-T address).
pub fn ike_pair_spec(
    c: &ikev2::ChildSa,
    local_ip: IpAddr,
    peer_ip: IpAddr,
    label: String,
) -> Result<SaPairSpec, String> {
    let suite = esp_suite_of(&c.suite).ok_or("Child SA suite not supported by the node")?;
    let keys_in = SaKeys::new(suite, c.keymat_in.as_bytes()).map_err(|e| e.to_string())?;
    let keys_out = SaKeys::new(suite, c.keymat_out.as_bytes()).map_err(|e| e.to_string())?;
    Ok(SaPairSpec {
        spi_in: c.spi_in,
        keys_in,
        spi_out: c.spi_out,
        keys_out,
        peer_esp: c.remote,
        local_ip,
        peer_ip,
        lifetime: Some(c.lifetime),
        label,
        persist: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seq_state_round_trips_and_rejects_garbage() {
        let st = SeqState {
            out_reserved: 4100,
            in_highest: 3076,
            spis: (0x1002, 0x1001),
        };
        assert_eq!(SeqState::decode(&st.encode()), Some(st));
        for bad in [
            &b""[..],
            b"out_reserved 1\n",
            b"out_reserved x\nin_highest 2\n",
            b"\xff\xfe",
            b"a b\nc d\n",
            b"spi_in 1\nspi_in 1\nout_reserved 1\nin_highest 2\n",
        ] {
            assert_eq!(SeqState::decode(bad), None, "{bad:?}");
        }
    }
}
