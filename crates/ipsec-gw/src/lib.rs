//! `ipsec-gw`: the sans-IO core of the transparent mode.
//!
//! Unmodified programs' IP packets are routed into a TUN device; the driver
//! hands each one to [`Gateway::from_tun`], which looks the packet up in the
//! SPD (RFC 4301 §5.1) and protects it with the SA the policy names (ESP in
//! transport or tunnel mode, UDP-encapsulated or raw; AH raw). Packets from
//! the network go through [`Gateway::from_udp`] / [`Gateway::from_raw`]: SA
//! lookup by SPI, open, the inbound SPD check (RFC 4301 §5.2), and the rebuilt
//! IP packet is handed back for the TUN device. Every refusal is a typed
//! [`Drop`] counted in [`GwCounters`]. No sockets, no clocks: the driver
//! passes `Instant`s in and sends what comes out.
//!
//! A driver with one thread per direction calls [`Gateway::split`]: the
//! [`Outbound`] half owns the outbound SAs and the SPD, the [`Inbound`] half
//! the SAD and a copy of the SPD; nothing is shared between them but the
//! NAT rebindings the driver passes on.
//!
//! Pairs can come and go while the halves run: a [`SplitPair`] has one part
//! per half ([`Outbound::install`], [`Inbound::install`], and `remove` by
//! [`SaRef`]). That is how SA pairs set up by access tokens reach the data
//! path: the ACE node hands its SAs over ([`SplitPair::from_esp_sas`]).
//! When the ESP-in-UDP socket is shared with such a node,
//! [`Inbound::pass_unowned`] makes the inbound half return what it does not
//! own ([`Output::NotOwned`]: an SPI it has no SA for, IKE, keepalives)
//! instead of dropping it, and an [`InboundFilter`] may look into what it
//! delivers ([`Inbound::from_udp_filtered`]).

mod filter;
mod pair;

pub use filter::{InboundFilter, NoFilter, Verdict};
pub use pair::{InboundPart, Mode, OutboundPart, PairConfig, Protocol, Role, SplitPair};

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipsec_dp::ah::AhDrop;
use ipsec_dp::consts::{IPPROTO_AH, IPPROTO_ESP, NAT_T_PORT};
use ipsec_dp::encap::{classify, Classified};
use ipsec_dp::error::{DropReason, EncapError};
use ipsec_dp::ip::IpPacket;
use ipsec_dp::mode::{
    transport_protect, transport_unprotect, tunnel_protect, tunnel_unprotect, EspEncap, Received,
    UnprotectError,
};
pub use ipsec_dp::sa::{SaLifetime, SaOptions};
use ipsec_dp::sad::Sad;
pub use ipsec_dp::spd::SaRef;
use ipsec_dp::spd::{Action, Direction, Spd};
/// The seed's wrapper in [`PairConfig`], re-exported for drivers.
pub use zeroize::Zeroizing;

use pair::{AhIn, InSa, OutSa, OutState};

/// Why a packet was not passed on; the counter label is [`Drop::as_str`].
///
/// The SA-level reasons (RFC 4303 §3.4, RFC 4302 §3.4) are kept apart:
/// a replay, a forgery and a truncated packet are different events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, thiserror::Error)]
pub enum Drop {
    #[error("not an acceptable IP packet")]
    BadPacket,
    #[error("SPD: DISCARD")]
    Discard,
    #[error("SPD: BYPASS has no path from the TUN device")]
    Bypass,
    #[error("the SA refused to protect (expired, sequence numbers exhausted, buffer)")]
    Protect,
    #[error("not ESP, AH or a keepalive")]
    NotIpsec,
    #[error("empty UDP datagram")]
    EmptyDatagram,
    #[error("NAT-keepalive")]
    Keepalive,
    #[error("IKE (no IKE responder attached)")]
    Ike,
    #[error("unknown SPI")]
    UnknownSpi,
    /// Shorter than the SA's headers, IV and ICV, or a malformed AH header.
    #[error("ESP/AH packet truncated")]
    Truncated,
    /// RFC 4303 §3.3.3: sequence number 0.
    #[error("sequence number 0")]
    InvalidSequence,
    /// RFC 4303 §3.4.3: a duplicate inside the anti-replay window.
    #[error("replayed")]
    Replayed,
    /// RFC 4303 §3.4.3: left of the anti-replay window.
    #[error("sequence number left of the replay window")]
    TooOld,
    #[error("SA expired")]
    Expired,
    #[error("ICV verification failed")]
    BadIcv,
    #[error("bad ESP padding")]
    BadPadding,
    /// RFC 4303 §2.6: an authentic dummy packet, silently discarded.
    #[error("dummy packet")]
    Dummy,
    /// RFC 4302 §2.2: AH Payload Len not that of HMAC-SHA-256-128.
    #[error("AH payload length does not fit the SA")]
    AhLength,
    /// An IPv4 option AH cannot handle (RFC 4302 §3.3.3.1.1).
    #[error("IP option AH cannot handle")]
    AhOption,
    /// Authentic, but ESP/AH Next Header does not fit the SA's mode.
    #[error("next header does not fit the mode")]
    NextHeader,
    /// Authentic, but the inner packet (tunnel mode) or transport header
    /// is malformed.
    #[error("decapsulated packet malformed")]
    BadInner,
    /// RFC 6040 §4.2: CE outer header on a Not-ECT inner packet.
    #[error("CE outer header on a Not-ECT inner packet")]
    Ecn,
    /// The rebuilt packet does not fit the output buffer or 65535 octets.
    #[error("rebuilt packet too long")]
    TooLong,
    #[error("the inbound SPD check failed (RFC 4301 §5.2)")]
    Policy,
    /// The inbound filter refused the packet, for this reason.
    #[error("refused by the inbound filter ({0})")]
    Filtered(&'static str),
    /// A filter's answer could not leave over the pair its request came on
    /// (the pair is gone, or the SPD names another one for it).
    #[error("answer without its SA pair")]
    Answer,
}

impl Drop {
    pub fn as_str(self) -> &'static str {
        match self {
            Drop::BadPacket => "bad-packet",
            Drop::Discard => "spd-discard",
            Drop::Bypass => "spd-bypass",
            Drop::Protect => "protect-refused",
            Drop::NotIpsec => "not-ipsec",
            Drop::EmptyDatagram => "empty-datagram",
            Drop::Keepalive => "keepalive",
            Drop::Ike => "ike",
            Drop::UnknownSpi => "unknown-spi",
            Drop::Truncated => "truncated",
            Drop::InvalidSequence => "invalid-sequence",
            Drop::Replayed => "replayed",
            Drop::TooOld => "too-old",
            Drop::Expired => "expired",
            Drop::BadIcv => "bad-icv",
            Drop::BadPadding => "bad-padding",
            Drop::Dummy => "dummy",
            Drop::AhLength => "ah-length",
            Drop::AhOption => "ah-ip-option",
            Drop::NextHeader => "next-header",
            Drop::BadInner => "bad-inner",
            Drop::Ecn => "ecn",
            Drop::TooLong => "too-long",
            Drop::Policy => "inbound-policy",
            Drop::Filtered(reason) => reason,
            Drop::Answer => "answer-refused",
        }
    }

    /// Expected traffic, not an anomaly: counted, not logged as a warning.
    fn is_quiet(self) -> bool {
        matches!(self, Drop::Dummy | Drop::Keepalive)
    }
}

impl From<DropReason> for Drop {
    fn from(r: DropReason) -> Self {
        match r {
            DropReason::Truncated => Drop::Truncated,
            DropReason::UnknownSpi => Drop::UnknownSpi,
            DropReason::InvalidSequence => Drop::InvalidSequence,
            DropReason::Replayed => Drop::Replayed,
            DropReason::TooOld => Drop::TooOld,
            DropReason::Expired => Drop::Expired,
            DropReason::BadIcv => Drop::BadIcv,
            DropReason::BadPadding => Drop::BadPadding,
            DropReason::DummyPacket => Drop::Dummy,
        }
    }
}

impl From<&UnprotectError> for Drop {
    fn from(e: &UnprotectError) -> Self {
        match *e {
            UnprotectError::Outer(_) => Drop::BadPacket,
            UnprotectError::NotEsp(_) => Drop::NotIpsec,
            UnprotectError::Esp(r) => r.into(),
            UnprotectError::UnexpectedNextHeader(_) => Drop::NextHeader,
            UnprotectError::Inner(_) => Drop::BadInner,
            UnprotectError::EcnDrop => Drop::Ecn,
            UnprotectError::BufferTooSmall { .. } | UnprotectError::TooLong => Drop::TooLong,
        }
    }
}

impl From<&AhDrop> for Drop {
    fn from(e: &AhDrop) -> Self {
        match *e {
            AhDrop::Ip(_) => Drop::BadPacket,
            AhDrop::NotAh(_) => Drop::NotIpsec,
            AhDrop::Truncated => Drop::Truncated,
            AhDrop::BadPayloadLength(_) => Drop::AhLength,
            AhDrop::Sa(r) => r.into(),
            AhDrop::UnsupportedOption => Drop::AhOption,
            AhDrop::UnexpectedNextHeader(_) => Drop::NextHeader,
            AhDrop::Inner(_) => Drop::BadInner,
            AhDrop::EcnDrop => Drop::Ecn,
            AhDrop::BufferTooSmall { .. } => Drop::TooLong,
        }
    }
}

/// What the driver must do with the output buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// Send `out[..len]` as the payload of a UDP datagram to `to` (RFC 3948).
    Udp { to: SocketAddr, len: usize },
    /// Send `out[..len]`, a whole IP packet of `protocol` (50/51), to `to`.
    Raw {
        to: IpAddr,
        protocol: u8,
        len: usize,
    },
    /// Write `out[..len]`, an IP packet, to the TUN device.
    Tun { len: usize },
    /// The inbound filter answered instead of delivering: `out[..len]` is
    /// an IP packet to protect with the outbound SA of `sa_ref` (the pair
    /// the request came on), see [`Outbound::answer`].
    Answer { sa_ref: SaRef, len: usize },
    /// ESP-in-UDP this gateway does not own (an SPI it has no SA for, IKE,
    /// a keepalive) on a socket it shares ([`Inbound::pass_unowned`]): the
    /// datagram is untouched, for the socket's other user. Counted.
    NotOwned,
    /// Nothing to send; counted.
    Dropped(Drop),
}

/// Packet counters by outcome.
#[derive(Clone, Debug, Default)]
pub struct GwCounters {
    pub protected: u64,
    pub protected_bytes: u64,
    pub delivered: u64,
    pub delivered_bytes: u64,
    /// Packets the inbound filter answered instead of delivering.
    pub answered: u64,
    /// Datagrams passed on to the shared socket's other user.
    pub not_owned: u64,
    pub drops: BTreeMap<&'static str, u64>,
}

/// Why a pair could not be installed.
#[derive(Debug, thiserror::Error)]
pub enum GwError {
    #[error("{0}: {1}")]
    Pair(String, String),
}

/// The TUN → network half: the SPD and the outbound SAs. Owned by the
/// thread that reads the TUN device (see [`Gateway::split`]).
pub struct Outbound {
    spd: Spd,
    out: HashMap<SaRef, OutState>,
    counters: GwCounters,
}

/// The network → TUN half: the SAD (ESP and AH inbound SAs) and a copy of
/// the SPD for the inbound check. Owned by the thread that reads the
/// network sockets (see [`Gateway::split`]).
pub struct Inbound {
    spd: Spd,
    esp_in: Sad,
    /// Inbound ESP SPI → (the pair's SaRef, tunnel mode?).
    esp_in_info: HashMap<u32, (SaRef, bool)>,
    ah_in: HashMap<u32, AhIn>,
    /// Where the outbound SA of each ESP-in-UDP pair sends, as last told to
    /// the [`Outbound`] half (NAT rebinding, RFC 3948 §3.5 / RFC 7296 §2.23).
    udp_peers: HashMap<SaRef, SocketAddr>,
    /// Rebindings not yet taken by the driver, the latest per pair (at
    /// most one entry per pair, however long the driver waits).
    peer_updates: HashMap<SaRef, SocketAddr>,
    /// The socket is shared: return what this half does not own
    /// ([`Output::NotOwned`]) instead of dropping it.
    pass_unowned: bool,
    counters: GwCounters,
}

/// The gateway: both halves, for a single-threaded driver. A driver with
/// one thread per direction calls [`Gateway::split`] once the pairs are
/// installed.
pub struct Gateway {
    outbound: Outbound,
    inbound: Inbound,
    /// The SPD was handed out mutably: copy it to the inbound half before
    /// the next inbound packet.
    spd_changed: bool,
    next_ref: u32,
}

impl Default for Gateway {
    fn default() -> Self {
        Self::new()
    }
}

impl GwCounters {
    /// Adds `other`'s counts to these.
    pub fn merge(&mut self, other: &GwCounters) {
        self.protected += other.protected;
        self.protected_bytes += other.protected_bytes;
        self.delivered += other.delivered;
        self.delivered_bytes += other.delivered_bytes;
        self.answered += other.answered;
        self.not_owned += other.not_owned;
        for (k, v) in &other.drops {
            *self.drops.entry(k).or_default() += v;
        }
    }

    /// Counts a drop the driver saw outside the core (a short TUN read, a
    /// super-packet it could not split, a packet with no socket to leave
    /// by) under `reason`; returns the count so far, for the driver's
    /// throttled log line (which carries the detail).
    pub fn count_drop(&mut self, reason: &'static str) -> u64 {
        let n = self.drops.entry(reason).or_default();
        *n += 1;
        *n
    }

    /// Counts a drop; logs the first ten of each reason, then every power
    /// of two (expected ones, dummy packets and keepalives, at debug level).
    fn drop(&mut self, why: Drop) -> Output {
        let n = self.count_drop(why.as_str());
        if why.is_quiet() {
            tracing::debug!(reason = why.as_str(), count = n, "packet discarded");
        } else if n <= 10 || n.is_power_of_two() {
            tracing::warn!(reason = why.as_str(), count = n, "packet dropped");
        }
        Output::Dropped(why)
    }
}

impl Gateway {
    /// An empty gateway: the SPD discards everything until pairs are added.
    pub fn new() -> Self {
        let spd = Spd::with_default(Action::Discard);
        Gateway {
            outbound: Outbound {
                spd: spd.clone(),
                out: HashMap::new(),
                counters: GwCounters::default(),
            },
            inbound: Inbound {
                spd,
                esp_in: Sad::new(),
                esp_in_info: HashMap::new(),
                ah_in: HashMap::new(),
                udp_peers: HashMap::new(),
                peer_updates: HashMap::new(),
                pass_unowned: false,
                counters: GwCounters::default(),
            },
            spd_changed: false,
            next_ref: 1,
        }
    }

    /// Both halves' counters, summed.
    pub fn counters(&self) -> GwCounters {
        let mut c = self.outbound.counters.clone();
        c.merge(&self.inbound.counters);
        c
    }

    pub fn spd_mut(&mut self) -> &mut Spd {
        self.spd_changed = true;
        &mut self.outbound.spd
    }

    fn sync_spd(&mut self) {
        if self.spd_changed {
            self.inbound.spd = self.outbound.spd.clone();
            self.spd_changed = false;
        }
    }

    /// The two directions, each owning its SAs and a copy of the SPD, for a
    /// driver with one thread per direction. NAT rebindings the inbound
    /// half sees ([`Inbound::take_peer_update`]) are the driver's to pass
    /// to [`Outbound::set_peer`].
    pub fn split(mut self) -> (Outbound, Inbound) {
        self.sync_spd();
        (self.outbound, self.inbound)
    }

    /// Installs an SA pair and PROTECT policies for its selectors.
    pub fn add_pair(&mut self, now: Instant, cfg: PairConfig) -> Result<SaRef, GwError> {
        let sa_ref = SaRef(self.next_ref);
        let pair = SplitPair::from_config(now, sa_ref, cfg)?;
        self.install(pair)?;
        Ok(sa_ref)
    }

    /// Installs a pair built elsewhere (its [`SaRef`] is the caller's and
    /// must be free); nothing changes on error.
    pub fn install(&mut self, pair: SplitPair) -> Result<(), GwError> {
        self.sync_spd();
        if self.outbound.out.contains_key(&pair.sa_ref) {
            return Err(GwError::Pair(
                pair.outbound.state.name.clone(),
                format!("{:?} already in use", pair.sa_ref),
            ));
        }
        self.inbound.install(pair.inbound)?;
        self.outbound.install(pair.outbound);
        self.next_ref = self.next_ref.max(pair.sa_ref.0.saturating_add(1));
        Ok(())
    }

    /// Removes a pair (SAs and policies) from both halves.
    pub fn remove(&mut self, sa_ref: SaRef) -> bool {
        self.sync_spd();
        let o = self.outbound.remove(sa_ref);
        let i = self.inbound.remove(sa_ref);
        o || i
    }

    /// An IP packet read from the TUN device (outbound, RFC 4301 §5.1).
    pub fn from_tun(&mut self, now: Instant, packet: &[u8], out: &mut [u8]) -> Output {
        self.outbound.from_tun(now, packet, out)
    }

    /// A UDP datagram received on the ESP-in-UDP socket (RFC 3948) from `src`
    /// to our address `dst`; it is decrypted in place.
    pub fn from_udp(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: IpAddr,
        datagram: &mut [u8],
        out: &mut [u8],
    ) -> Output {
        self.sync_spd();
        let o = self.inbound.from_udp(now, src, dst, datagram, out);
        while let Some((sa_ref, peer)) = self.inbound.take_peer_update() {
            self.outbound.set_peer(sa_ref, peer);
        }
        o
    }

    /// [`Outbound::answer`] on the outbound half.
    pub fn answer(&mut self, now: Instant, sa_ref: SaRef, packet: &[u8], out: &mut [u8]) -> Output {
        self.outbound.answer(now, sa_ref, packet, out)
    }

    /// [`Inbound::pass_unowned`] on the inbound half.
    pub fn pass_unowned(&mut self, on: bool) {
        self.inbound.pass_unowned(on);
    }

    /// A packet from a raw socket of protocol 50 or 51: the whole IPv4 packet
    /// (raw IPv4 sockets deliver the header).
    pub fn from_raw(&mut self, now: Instant, packet: &mut [u8], out: &mut [u8]) -> Output {
        self.sync_spd();
        self.inbound.from_raw(now, packet, out)
    }
}

impl Outbound {
    pub fn counters(&self) -> &GwCounters {
        &self.counters
    }

    /// See [`GwCounters::count_drop`].
    pub fn count_drop(&mut self, reason: &'static str) -> u64 {
        self.counters.count_drop(reason)
    }

    /// NAT rebinding: the outbound SA of `sa_ref` (ESP-in-UDP) now sends to
    /// `peer`, address and port (what [`Inbound::take_peer_update`] reported).
    pub fn set_peer(&mut self, sa_ref: SaRef, peer: SocketAddr) {
        if let Some(st) = self.out.get_mut(&sa_ref) {
            if matches!(st.sa, OutSa::Esp(_, EspEncap::Udp)) {
                st.peer = peer;
            }
        }
    }

    /// Installs the outbound part of a pair: its SA, and PROTECT policies
    /// for its selectors after the existing ones.
    pub fn install(&mut self, part: OutboundPart) {
        for sel in &part.selectors {
            self.spd.push_both(*sel, Action::Protect(part.sa_ref));
        }
        self.out.insert(part.sa_ref, part.state);
    }

    /// Removes a pair's outbound SA and its policies.
    pub fn remove(&mut self, sa_ref: SaRef) -> bool {
        self.spd.remove_sa(sa_ref);
        self.out.remove(&sa_ref).is_some()
    }

    /// RFC 7296 §2.8: a rekeyed Child SA takes over the pair's outbound
    /// direction. The new SA replaces the old one under the same [`SaRef`],
    /// so the pair's policies stay as they are (first match unchanged);
    /// without such a pair, `part` is installed like a new one.
    pub fn rekey(&mut self, part: OutboundPart) {
        if let Some(st) = self.out.get_mut(&part.sa_ref) {
            *st = part.state;
        } else {
            self.install(part);
        }
    }

    /// An IP packet read from the TUN device (outbound, RFC 4301 §5.1).
    pub fn from_tun(&mut self, now: Instant, packet: &[u8], out: &mut [u8]) -> Output {
        let Ok(ip) = IpPacket::parse(packet) else {
            return self.counters.drop(Drop::BadPacket);
        };
        let decision = self.spd.match_packet(Direction::Outbound, &ip);
        let sa_ref = match decision.action {
            Action::Protect(r) => r,
            Action::Discard => return self.counters.drop(Drop::Discard),
            Action::Bypass => return self.counters.drop(Drop::Bypass),
        };
        self.protect(now, sa_ref, packet, out)
    }

    /// The inbound filter's answer to a request that came on `sa_ref`
    /// ([`Output::Answer`]): protected with that pair's outbound SA, and
    /// only if the SPD sends such a packet over the same pair (nothing
    /// leaves on another SA, nothing leaves in clear).
    pub fn answer(&mut self, now: Instant, sa_ref: SaRef, packet: &[u8], out: &mut [u8]) -> Output {
        let Ok(ip) = IpPacket::parse(packet) else {
            return self.counters.drop(Drop::BadPacket);
        };
        let same =
            self.spd.match_packet(Direction::Outbound, &ip).action == Action::Protect(sa_ref);
        if !same || !self.out.contains_key(&sa_ref) {
            return self.counters.drop(Drop::Answer);
        }
        self.protect(now, sa_ref, packet, out)
    }

    /// Protects `packet` with the outbound SA of `sa_ref` (none: DISCARD).
    fn protect(&mut self, now: Instant, sa_ref: SaRef, packet: &[u8], out: &mut [u8]) -> Output {
        let Some(st) = self.out.get_mut(&sa_ref) else {
            return self.counters.drop(Drop::Discard);
        };
        let peer = st.peer;
        let result = match (&mut st.sa, st.tunnel.as_ref()) {
            (OutSa::Esp(sa, encap), None) => transport_protect(sa, now, packet, *encap, out)
                .map(|p| esp_output(*encap, peer, p.dst, p.len))
                .map_err(|e| e.to_string()),
            (OutSa::Esp(sa, encap), Some(t)) => tunnel_protect(sa, now, t, packet, *encap, out)
                .map(|p| esp_output(*encap, peer, p.dst, p.len))
                .map_err(|e| e.to_string()),
            (OutSa::Ah(sa), None) => sa
                .protect_transport(now, packet, out)
                .map(|p| Output::Raw {
                    to: p.dst,
                    protocol: IPPROTO_AH,
                    len: p.len,
                })
                .map_err(|e| e.to_string()),
            (OutSa::Ah(sa), Some(t)) => sa
                .protect_tunnel(now, t, packet, out)
                .map(|p| Output::Raw {
                    to: p.dst,
                    protocol: IPPROTO_AH,
                    len: p.len,
                })
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(o) => {
                self.counters.protected += 1;
                self.counters.protected_bytes += packet.len() as u64;
                o
            }
            Err(e) => {
                tracing::debug!(sa = %st_name(&self.out, sa_ref), error = %e, "protect refused");
                self.counters.drop(Drop::Protect)
            }
        }
    }
}

impl Inbound {
    pub fn counters(&self) -> &GwCounters {
        &self.counters
    }

    /// See [`GwCounters::count_drop`].
    pub fn count_drop(&mut self, reason: &'static str) -> u64 {
        self.counters.count_drop(reason)
    }

    /// Shares the ESP-in-UDP socket with another user (the ACE node): what
    /// this half does not own — an SPI it has no SA for, IKE, NAT-keepalives
    /// — comes back as [`Output::NotOwned`], untouched, instead of being
    /// dropped. The SPI decides the owner: this half's SAD first, the other
    /// user for the rest.
    pub fn pass_unowned(&mut self, on: bool) {
        self.pass_unowned = on;
    }

    /// Whether this half owns the inbound SPI `spi`.
    pub fn owns_spi(&self, spi: u32) -> bool {
        self.esp_in_info.contains_key(&spi) || self.ah_in.contains_key(&spi)
    }

    /// Installs the inbound part of a pair: its SA (the SPI must be free
    /// here), and PROTECT policies for its selectors after the existing
    /// ones. Nothing changes on error.
    pub fn install(&mut self, part: InboundPart) -> Result<(), GwError> {
        let name = format!("{:?}", part.sa_ref);
        if self.owns_spi(part.spi) {
            return Err(GwError::Pair(
                name,
                format!("inbound SPI {:#010x} already in use", part.spi),
            ));
        }
        if self.esp_in_info.values().any(|(r, _)| *r == part.sa_ref)
            || self.ah_in.values().any(|a| a.sa_ref == part.sa_ref)
        {
            return Err(GwError::Pair(name, "already installed".into()));
        }
        match part.sa {
            InSa::Esp(sa) => {
                self.esp_in
                    .insert_inbound(sa)
                    .map_err(|e| GwError::Pair(name, e.to_string()))?;
                self.esp_in_info
                    .insert(part.spi, (part.sa_ref, part.tunnel));
            }
            InSa::Ah(ah) => {
                self.ah_in.insert(part.spi, ah);
            }
        }
        if let Some(peer) = part.udp_peer {
            self.udp_peers.insert(part.sa_ref, peer);
        }
        for sel in &part.selectors {
            self.spd.push_both(*sel, Action::Protect(part.sa_ref));
        }
        Ok(())
    }

    /// RFC 7296 §2.8: the inbound SA of a rekeyed Child SA joins its pair
    /// (same [`SaRef`], same policies), so packets on the old and the new
    /// SA both pass the inbound SPD check until the old one is deleted
    /// ([`Inbound::remove_spi`]). Without such a pair, `part` is installed
    /// like a new one. The SPI must be free; nothing changes on error.
    pub fn rekey(&mut self, part: InboundPart) -> Result<(), GwError> {
        let known = self.esp_in_info.values().any(|(r, _)| *r == part.sa_ref);
        if !known {
            return self.install(part);
        }
        let name = format!("{:?}", part.sa_ref);
        if self.owns_spi(part.spi) {
            return Err(GwError::Pair(
                name,
                format!("inbound SPI {:#010x} already in use", part.spi),
            ));
        }
        let InSa::Esp(sa) = part.sa else {
            return Err(GwError::Pair(name, "only ESP pairs are rekeyed".into()));
        };
        self.esp_in
            .insert_inbound(sa)
            .map_err(|e| GwError::Pair(name, e.to_string()))?;
        self.esp_in_info
            .insert(part.spi, (part.sa_ref, part.tunnel));
        if let Some(peer) = part.udp_peer {
            self.udp_peers.insert(part.sa_ref, peer);
        }
        Ok(())
    }

    /// Removes one inbound ESP SA of a pair (the old SA of a rekey); the
    /// pair's policies stay while it has another inbound SA. Returns the
    /// pair's reference and whether the pair is now without inbound SA
    /// (then the caller removes it), or `None` for an SPI not owned here.
    pub fn remove_spi(&mut self, spi: u32) -> Option<(SaRef, bool)> {
        let (sa_ref, _) = self.esp_in_info.remove(&spi)?;
        self.esp_in.remove_inbound(spi);
        let empty = !self.esp_in_info.values().any(|(r, _)| *r == sa_ref);
        Some((sa_ref, empty))
    }

    /// The pair an inbound ESP SPI belongs to.
    pub fn pair_of_spi(&self, spi: u32) -> Option<SaRef> {
        self.esp_in_info.get(&spi).map(|(r, _)| *r)
    }

    /// Removes a pair's inbound SA, its policies and pending rebinding.
    pub fn remove(&mut self, sa_ref: SaRef) -> bool {
        let esp: Vec<u32> = self
            .esp_in_info
            .iter()
            .filter(|(_, (r, _))| *r == sa_ref)
            .map(|(spi, _)| *spi)
            .collect();
        for spi in &esp {
            self.esp_in.remove_inbound(*spi);
            self.esp_in_info.remove(spi);
        }
        let before = self.ah_in.len();
        self.ah_in.retain(|_, a| a.sa_ref != sa_ref);
        let found = !esp.is_empty() || self.ah_in.len() != before;
        self.udp_peers.remove(&sa_ref);
        self.peer_updates.remove(&sa_ref);
        self.spd.remove_sa(sa_ref);
        found
    }

    /// A NAT rebinding seen since the last call (the latest one of a pair;
    /// call until `None`): an ESP-in-UDP packet that was authenticated,
    /// passed the inbound SPD check and moved its SA's replay window
    /// forward came from another address than the pair's outbound SA sends
    /// to. The driver passes it to [`Outbound::set_peer`].
    pub fn take_peer_update(&mut self) -> Option<(SaRef, SocketAddr)> {
        let sa_ref = *self.peer_updates.keys().next()?;
        self.peer_updates.remove_entry(&sa_ref)
    }

    /// The right edge of the replay window of the inbound ESP SA `spi`.
    fn esp_highest(&self, spi: u32) -> Option<u64> {
        self.esp_in
            .inbound(spi)
            .map(|sa| sa.replay_window().highest64())
    }

    /// A UDP datagram received on the ESP-in-UDP socket (RFC 3948) from `src`
    /// to our address `dst`; it is decrypted in place.
    pub fn from_udp(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: IpAddr,
        datagram: &mut [u8],
        out: &mut [u8],
    ) -> Output {
        self.from_udp_filtered(now, src, dst, datagram, out, None)
    }

    /// What the SPI-less kinds of datagram become: passed on to the
    /// socket's other user, or dropped.
    fn unowned(&mut self, why: Drop) -> Output {
        if self.pass_unowned {
            self.counters.not_owned += 1;
            Output::NotOwned
        } else {
            self.counters.drop(why)
        }
    }

    /// [`Inbound::from_udp`], and what passes the SPD check goes through
    /// `filter` (if any) before it is delivered. `out` also receives the
    /// filter's answer ([`Output::Answer`]), so give it room beyond the
    /// request.
    pub fn from_udp_filtered(
        &mut self,
        now: Instant,
        src: SocketAddr,
        dst: IpAddr,
        datagram: &mut [u8],
        out: &mut [u8],
        filter: Option<&mut dyn InboundFilter>,
    ) -> Output {
        let esp_len = match classify(datagram) {
            Ok(Classified::Esp(esp)) => esp.len(),
            Ok(Classified::Keepalive) => return self.unowned(Drop::Keepalive),
            Ok(Classified::Ike(_)) => return self.unowned(Drop::Ike),
            Err(EncapError::Empty) => return self.counters.drop(Drop::EmptyDatagram),
            Err(_) => return self.counters.drop(Drop::NotIpsec),
        };
        let esp = &mut datagram[..esp_len];
        let Some(spi) = esp
            .get(..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        else {
            return self.counters.drop(Drop::NotIpsec);
        };
        let Some(&(sa_ref, tunnel)) = self.esp_in_info.get(&spi) else {
            return self.unowned(Drop::UnknownSpi);
        };
        let before = self.esp_highest(spi);
        let received = Received::Udp {
            src: src.ip(),
            dst,
            ecn: 0,
            esp,
        };
        let r = if tunnel {
            tunnel_unprotect(&mut self.esp_in, now, received, out)
        } else {
            transport_unprotect(&mut self.esp_in, now, received, out)
        };
        let u = match r {
            Ok(u) => u,
            Err(e) => return self.open_failed(&e, "ESP-in-UDP not opened"),
        };
        let o = self.deliver_filtered(sa_ref, out, u.len, filter);
        // NAT rebinding (RFC 3948 §3.5, RFC 7296 §2.23): answer where
        // packets come from, but only packets that passed the policy (and
        // the filter: delivered or answered) and are the newest the SA has
        // seen: a replayed or reordered old packet from elsewhere moves
        // nothing.
        let newest = matches!(before, Some(b) if self
            .esp_highest(u.spi)
            .is_some_and(|a| a > b && a as u32 == u.seq));
        if matches!(o, Output::Tun { .. } | Output::Answer { .. }) && newest {
            if let Some(peer) = self.udp_peers.get_mut(&sa_ref) {
                if *peer != src {
                    *peer = src;
                    self.peer_updates.insert(sa_ref, src);
                }
            }
        }
        o
    }

    /// A packet from a raw socket of protocol 50 or 51: the whole IPv4 packet
    /// (raw IPv4 sockets deliver the header).
    pub fn from_raw(&mut self, now: Instant, packet: &mut [u8], out: &mut [u8]) -> Output {
        let Ok(proto) = IpPacket::parse(packet).map(|ip| ip.protocol()) else {
            return self.counters.drop(Drop::BadPacket);
        };
        match proto {
            IPPROTO_ESP => {
                let Some(spi) = esp_spi_of_raw(packet) else {
                    return self.counters.drop(Drop::BadPacket);
                };
                let Some(&(sa_ref, tunnel)) = self.esp_in_info.get(&spi) else {
                    return self.counters.drop(Drop::UnknownSpi);
                };
                let r = if tunnel {
                    tunnel_unprotect(&mut self.esp_in, now, Received::RawIp(packet), out)
                } else {
                    transport_unprotect(&mut self.esp_in, now, Received::RawIp(packet), out)
                };
                match r {
                    Ok(u) => self.deliver(sa_ref, out, u.len),
                    Err(e) => self.open_failed(&e, "raw ESP not opened"),
                }
            }
            IPPROTO_AH => {
                let Ok(spi) = ipsec_dp::ah::peek_spi(packet) else {
                    return self.counters.drop(Drop::BadPacket);
                };
                let Some(ah) = self.ah_in.get_mut(&spi) else {
                    return self.counters.drop(Drop::UnknownSpi);
                };
                let sa_ref = ah.sa_ref;
                let r = if ah.tunnel {
                    ah.sa.unprotect_tunnel(now, packet, out).map(|u| u.len)
                } else {
                    ah.sa.unprotect_transport(now, packet, out).map(|u| u.len)
                };
                match r {
                    Ok(len) => self.deliver(sa_ref, out, len),
                    Err(e) => {
                        tracing::debug!(error = %e, "AH not verified");
                        self.counters.drop(Drop::from(&e))
                    }
                }
            }
            _ => self.counters.drop(Drop::NotIpsec),
        }
    }

    fn open_failed(&mut self, e: &UnprotectError, what: &'static str) -> Output {
        tracing::debug!(error = %e, "{what}");
        self.counters.drop(Drop::from(e))
    }

    /// RFC 4301 §5.2 step 4: the decrypted packet must match a policy that
    /// names the SA it arrived on.
    fn deliver(&mut self, sa_ref: SaRef, out: &mut [u8], len: usize) -> Output {
        self.deliver_filtered(sa_ref, out, len, None)
    }

    /// [`Inbound::deliver`], then the filter (if any) decides.
    fn deliver_filtered(
        &mut self,
        sa_ref: SaRef,
        out: &mut [u8],
        len: usize,
        filter: Option<&mut dyn InboundFilter>,
    ) -> Output {
        let Some(pkt) = out.get(..len) else {
            return self.counters.drop(Drop::BadPacket);
        };
        let ok = match IpPacket::parse(pkt) {
            Ok(ip) => self.spd.check_inbound(&ip, Some(sa_ref)).is_ok(),
            Err(_) => false,
        };
        if !ok {
            return self.counters.drop(Drop::Policy);
        }
        match filter.map_or(Verdict::Deliver, |f| f.check(sa_ref, out, len)) {
            Verdict::Deliver => {
                self.counters.delivered += 1;
                self.counters.delivered_bytes += len as u64;
                Output::Tun { len }
            }
            Verdict::Answer { len } if len <= out.len() => {
                self.counters.answered += 1;
                Output::Answer { sa_ref, len }
            }
            Verdict::Answer { .. } => self.counters.drop(Drop::TooLong),
            Verdict::Refuse(reason) => self.counters.drop(Drop::Filtered(reason)),
        }
    }
}

fn st_name(out: &HashMap<SaRef, OutState>, r: SaRef) -> String {
    out.get(&r).map(|s| s.name.clone()).unwrap_or_default()
}

/// ESP-in-UDP goes to the pair's peer (its current address: configured or
/// rebound), raw ESP to the protected packet's outer destination.
fn esp_output(encap: EspEncap, peer: SocketAddr, dst: IpAddr, len: usize) -> Output {
    match encap {
        EspEncap::Udp => Output::Udp {
            to: if peer.port() == 0 {
                SocketAddr::new(peer.ip(), NAT_T_PORT)
            } else {
                peer
            },
            len,
        },
        EspEncap::RawIp => Output::Raw {
            to: dst,
            protocol: IPPROTO_ESP,
            len,
        },
    }
}

/// The SPI of the ESP header of a raw IPv4/IPv6 packet.
fn esp_spi_of_raw(packet: &[u8]) -> Option<u32> {
    let ip = IpPacket::parse(packet).ok()?;
    let off = ip.header_len();
    let b = packet.get(off..off + 4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}
