//! SA pairs set up by access tokens, feeding the transparent mode (TUN).
//!
//! The profile's own exchange runs in the node as always: the token is
//! posted to `/authz-info`, both sides install the pair in the node, and
//! the RS answers 2.01 (EDHOC: 2.04) over it. Right after that answer is
//! sealed, the pair moves: [`Transparent::hand_over`] takes its SAs out of
//! the node ([`Node::take_pair`], sequence numbers and replay window
//! carrying on) and queues a [`Change::Install`] for the TUN data path
//! (`ipsec-gw`), with policies that select the protected CoAP server's
//! traffic. From then on an unmodified CoAP program's packets use the
//! token's pair; the node neither seals nor opens for it.
//!
//! SPI → owner is explicit on both sides of the hand-over: the data path
//! owns the inbound SPIs it was given (`ipsec_gw::Inbound::owns_spi`) and
//! passes every other ESP datagram of the shared socket to the node; the
//! node keeps a handed-over SPI reserved for its collision checks
//! (draft §2.1) until the data path's pair is removed
//! ([`Node::release_spi`]).
//!
//! Decisions where the issue is silent:
//! * one pair per peer address: a newer token from the same client address
//!   replaces the older pair (the policies select by address and port, and
//!   two pairs with the same selectors would split one flow);
//! * a pair is removed when its hard lifetime ends (the token's `exp` or
//!   the SA's `life`, whichever is first); [`HandedOver::renew_at`] is
//!   three quarters into that lifetime, when a client fetches a new token;
//! * tunnel mode runs between the hosts' own ESP addresses (the inner
//!   packets keep theirs): the AS issues transport-mode `ipsec` structures,
//!   so the mode is a local setting both ends must agree on.
//!
//! Sans-IO like the node: the driver passes time in and [`Change`]s out.

use std::collections::{BTreeMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use ipsec_dp::mode::EspEncap;
use ipsec_dp::spd::{AddrSelector, PortRange, Selector};
use ipsec_gw::{Mode, SaRef, SplitPair};

use crate::host::{Host, Now};
use crate::node::{DpRole, Node, NodeEvent, PairId, TakeError};
use crate::scope::Grants;

/// IPsec mode of the handed-over pairs (both ends must agree).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TunMode {
    /// The UDP datagrams of the protected traffic, between the hosts'
    /// addresses.
    Transport,
    /// Whole IP packets, between the hosts' ESP addresses.
    Tunnel,
}

/// What the transparent mode protects.
#[derive(Clone, Copy, Debug)]
pub struct TransparentConfig {
    /// Client: the pairs protect traffic to `server`; Server (RS): traffic
    /// of `server` with each client.
    pub role: DpRole,
    pub mode: TunMode,
    /// The protected CoAP server, as clients address it (address and UDP
    /// port).
    pub server: SocketAddr,
}

/// What the TUN data path must do, in order.
pub enum Change {
    /// Install the pair; on an RS, bind the token's grants to it.
    Install {
        pair: Box<SplitPair>,
        grants: Option<Grants>,
    },
    /// Remove the pair (its SAs, policies and grants).
    Remove(SaRef),
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Install { pair, grants } => f
                .debug_struct("Install")
                .field("sa_ref", &pair.sa_ref)
                .field("spi_in", &format_args!("{:#010x}", pair.inbound.spi()))
                .field("grants", &grants.as_ref().map(|g| g.len()))
                .finish(),
            Change::Remove(r) => f.debug_tuple("Remove").field(r).finish(),
        }
    }
}

/// A pair the data path owns.
#[derive(Clone, Debug)]
pub struct HandedOver {
    pub sa_ref: SaRef,
    /// The node's id of the pair, before the hand-over.
    pub pair: PairId,
    pub spi_in: u32,
    pub spi_out: u32,
    /// The peer's address as the policies select it.
    pub peer_ip: IpAddr,
    pub peer_esp: SocketAddr,
    pub expires: Option<Instant>,
    /// Three quarters into the lifetime: when a client gets a new token.
    pub renew_at: Option<Instant>,
    pub label: String,
}

/// Counters of the hand-overs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TransparentStats {
    pub handed_over: u64,
    /// Older pairs removed because a newer one arrived for the same peer.
    pub replaced: u64,
    /// Pairs removed at the end of their lifetime.
    pub expired: u64,
    /// Hand-overs that failed (the pair was gone or persistent).
    pub failed: u64,
}

/// The hand-over controller: which pairs the data path owns, and when they end.
pub struct Transparent {
    cfg: TransparentConfig,
    next_ref: u32,
    pairs: BTreeMap<SaRef, HandedOver>,
    changes: VecDeque<Change>,
    stats: TransparentStats,
}

impl Transparent {
    pub fn new(cfg: TransparentConfig) -> Self {
        Transparent {
            cfg,
            next_ref: 1,
            pairs: BTreeMap::new(),
            changes: VecDeque::new(),
            stats: TransparentStats::default(),
        }
    }

    pub fn config(&self) -> &TransparentConfig {
        &self.cfg
    }

    pub fn stats(&self) -> &TransparentStats {
        &self.stats
    }

    /// The pairs the data path owns.
    pub fn pairs(&self) -> impl Iterator<Item = &HandedOver> {
        self.pairs.values()
    }

    /// The selectors of a pair with `peer_ip`, from this host's side
    /// (`local_ip`: its own address).
    fn selectors(&self, local_ip: IpAddr, peer_ip: IpAddr) -> Vec<Selector> {
        let server = self.cfg.server;
        let port = PortRange {
            lo: server.port(),
            hi: server.port(),
        };
        let sel = match self.cfg.role {
            DpRole::Server => {
                Selector::between(AddrSelector::host(server.ip()), AddrSelector::host(peer_ip))
                    .with_local_ports(port)
            }
            DpRole::Client => Selector::between(
                AddrSelector::host(local_ip),
                AddrSelector::host(server.ip()),
            )
            .with_remote_ports(port),
        };
        vec![sel.with_protocol(ipsec_dp::consts::IPPROTO_UDP)]
    }

    /// Moves `pair` out of `node` into the data path (a queued
    /// [`Change::Install`], after a [`Change::Remove`] of an older pair
    /// with the same peer). Call it after the turn that sealed the node's
    /// last message on the pair (the 2.01 / 2.04). `grants`: the token's,
    /// for an RS's scope filter.
    pub fn hand_over(
        &mut self,
        node: &mut Node,
        now: Instant,
        pair: PairId,
        grants: Option<Grants>,
    ) -> Result<SaRef, TakeError> {
        let d = node
            .take_pair(pair)
            .inspect_err(|_| self.stats.failed += 1)?;
        let older: Vec<SaRef> = self
            .pairs
            .values()
            .filter(|p| p.peer_ip == d.peer_ip)
            .map(|p| p.sa_ref)
            .collect();
        for o in older {
            self.stats.replaced += 1;
            self.remove(node, o);
        }
        let sa_ref = SaRef(self.next_ref);
        self.next_ref = self.next_ref.wrapping_add(1).max(1);
        let local_ip = node.local_esp().ip();
        let mode = match self.cfg.mode {
            TunMode::Transport => Mode::Transport,
            TunMode::Tunnel => Mode::Tunnel {
                local: local_ip,
                remote: d.peer_esp.ip(),
            },
        };
        let info = HandedOver {
            sa_ref,
            pair,
            spi_in: d.inbound.spi(),
            spi_out: d.outbound.spi(),
            peer_ip: d.peer_ip,
            peer_esp: d.peer_esp,
            expires: d.expires,
            renew_at: d
                .expires
                .map(|e| now + e.saturating_duration_since(now) * 3 / 4),
            label: d.label.clone(),
        };
        tracing::info!(sa = ?sa_ref, spi_in = format_args!("{:#010x}", info.spi_in), spi_out = format_args!("{:#010x}", info.spi_out), peer = %d.peer_esp, mode = ?self.cfg.mode, server = %self.cfg.server, label = %d.label, "SA pair moved into the TUN data path");
        let split = SplitPair::from_esp_sas(
            sa_ref,
            d.label,
            d.inbound,
            d.outbound,
            EspEncap::Udp,
            mode,
            d.peer_esp,
            self.selectors(local_ip, d.peer_ip),
        );
        self.pairs.insert(sa_ref, info);
        self.changes.push_back(Change::Install {
            pair: Box::new(split),
            grants,
        });
        self.stats.handed_over += 1;
        Ok(sa_ref)
    }

    /// Removes a pair from the data path and frees its SPI in the node.
    pub fn remove(&mut self, node: &mut Node, sa_ref: SaRef) -> bool {
        let Some(p) = self.pairs.remove(&sa_ref) else {
            return false;
        };
        node.release_spi(p.spi_in);
        self.changes.push_back(Change::Remove(sa_ref));
        tracing::info!(sa = ?sa_ref, label = %p.label, "SA pair removed from the TUN data path");
        true
    }

    /// Removes the pairs whose lifetime ended.
    pub fn handle_timeout(&mut self, node: &mut Node, now: Instant) {
        let due: Vec<SaRef> = self
            .pairs
            .values()
            .filter(|p| p.expires.is_some_and(|e| e <= now))
            .map(|p| p.sa_ref)
            .collect();
        for sa in due {
            self.stats.expired += 1;
            self.remove(node, sa);
        }
    }

    /// When the next pair expires.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pairs.values().filter_map(|p| p.expires).min()
    }

    /// When the earliest pair should be renewed.
    pub fn renew_at(&self) -> Option<Instant> {
        self.pairs.values().filter_map(|p| p.renew_at).min()
    }

    /// The next change for the data path.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.changes.pop_front()
    }
}

/// A pair a host has finished setting up and no longer uses itself.
pub struct ReadyPair {
    pub pair: PairId,
    /// The grants of the token that set it up (an RS's scope filter).
    pub grants: Option<Grants>,
}

/// A host whose established pairs can move to the data path (the RS).
pub trait HandsOver {
    /// The pairs established since the last call, whose confirmation (the
    /// 2.01 / 2.04 over the pair) the host has queued.
    fn take_ready(&mut self) -> Vec<ReadyPair>;
}

/// A host in transparent mode: its established pairs move into the TUN
/// data path after each turn ([`TransparentHost::after_turn`]), and leave
/// it when their lifetime ends (its timers join the host's).
pub struct TransparentHost<H> {
    pub inner: H,
    pub tun: Transparent,
}

impl<H: Host + HandsOver> TransparentHost<H> {
    pub fn new(inner: H, cfg: TransparentConfig) -> Self {
        TransparentHost {
            inner,
            tun: Transparent::new(cfg),
        }
    }

    /// After a turn (its datagrams sealed): hands the ready pairs over.
    pub fn after_turn(&mut self, now: Now) {
        for r in self.inner.take_ready() {
            if let Err(e) = self
                .tun
                .hand_over(self.inner.node(), now.mono, r.pair, r.grants)
            {
                tracing::warn!(pair = ?r.pair, error = %e, "SA pair not handed over");
            }
        }
    }

    /// The next change for the data path.
    pub fn poll_change(&mut self) -> Option<Change> {
        self.tun.poll_change()
    }
}

impl<H: Host + HandsOver> Host for TransparentHost<H> {
    fn node(&mut self) -> &mut Node {
        self.inner.node()
    }
    fn node_ref(&self) -> &Node {
        self.inner.node_ref()
    }
    fn on_event(&mut self, now: Now, event: NodeEvent) {
        self.inner.on_event(now, event);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        match (self.inner.poll_timeout(), self.tun.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
    fn on_timeout(&mut self, now: Now) {
        if self.inner.poll_timeout().is_some_and(|t| t <= now.mono) {
            self.inner.on_timeout(now);
        }
        self.tun.handle_timeout(self.inner.node(), now.mono);
    }
}
